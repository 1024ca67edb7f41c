import type * as pb from '../generated/index.js';

/**
 * The one vocabulary for a point in a source channel (proto `cdc.v1.Position`). It names the last applied entry:
 * entry `batchIndex` of the MQ message `msgId`; resuming skips every entry at or before it. It has two shapes, and
 * every conversion between them and the proto is here:
 * - ChannelPosition, in memory (worker): message id bytes, bigint TSO;
 * - StoredPosition, as the control service stores it in etcd and returns it in JSON: the proto's field names,
 *   `msg_id` base64, `timestamp` a decimal TSO.
 */
export interface ChannelPosition {
  /** MQ message id as Milvus serializes it (Kafka: 8-byte little-endian offset; Pulsar: MessageIdData). */
  readonly msgId: Uint8Array;
  /** Source hybrid timestamp (TSO) of the message; 0n when not known. */
  readonly timestamp: bigint;
  /** Index of the last applied entry inside the message. */
  readonly batchIndex: number;
}

/**
 * Entry index of a position that covers its whole message. A msgstream message (Milvus 2.3–2.5) is one entry, and a
 * worker checkpoints only messages it applied completely, so its positions name entry 0.
 */
export const WHOLE_MESSAGE_ENTRY = 0;

/** `T` with the fields named in `R` given other types; `R` may name only fields of `T`. */
export type Override<T, R extends { [K in keyof R]: K extends keyof T ? unknown : never }> = Omit<
  T,
  keyof R
> &
  R;

export type StoredPosition = Override<pb.Position__Output, { msg_id: string }>;

/** A position of a whole message (see WHOLE_MESSAGE_ENTRY). */
export function wholeMessagePosition(msgId: Uint8Array, timestamp: bigint): ChannelPosition {
  return { msgId, timestamp, batchIndex: WHOLE_MESSAGE_ENTRY };
}

export function positionFromProto(p: pb.Position__Output): ChannelPosition {
  return {
    msgId: new Uint8Array(p.msg_id),
    timestamp: BigInt(p.timestamp || '0'),
    batchIndex: p.batch_index,
  };
}

export function positionToProto(p: ChannelPosition): Required<pb.Position> {
  return {
    msg_id: Buffer.from(p.msgId),
    timestamp: p.timestamp.toString(),
    batch_index: p.batchIndex,
  };
}

export function storedPositionFromProto(p: pb.Position__Output): StoredPosition {
  return {
    msg_id: p.msg_id.toString('base64'),
    timestamp: p.timestamp || '0',
    batch_index: p.batch_index,
  };
}

export function storedPositionToProto(p: StoredPosition): Required<pb.Position> {
  return {
    msg_id: Buffer.from(p.msg_id, 'base64'),
    timestamp: p.timestamp,
    batch_index: p.batch_index,
  };
}

/**
 * A proto `map<string, V>` as a record without a prototype, so every key is data: `__proto__` stays an entry and
 * `constructor` is not found unless sent.
 */
export function protoMap<V, W>(
  entries: Readonly<Record<string, V>>,
  convert: (value: V) => W,
): Record<string, W> {
  const out = Object.create(null) as Record<string, W>;
  for (const [key, value] of Object.entries(entries)) out[key] = convert(value);
  return out;
}
