import { CdcError, errorMessage, isCdcError } from '../errors.js';
import type { MsgPosition } from '../meta/source-metadata.js';
import { P, decodeError, decodeProto, encodeProto, protoType } from './proto-root.js';
import { big, bigStrs, bigs, bytes, num, pruned, str, sub } from './obj.js';
import type { Obj } from './obj.js';

/**
 * MQ positions (reference §3.4): Kafka MessageIDs (8-byte little-endian int64 offset), Pulsar `MessageIdData`
 * (proto2), `msgpb.MsgPosition`, and base64 position strings as the Go milvus-cdc writes them
 * (`base64.StdEncoding` of the marshaled MsgPosition).
 */

const INT64_MIN = -(1n << 63n);
const INT64_MAX = (1n << 63n) - 1n;

export function encodeKafkaMessageId(offset: bigint): Uint8Array {
  if (offset < INT64_MIN || offset > INT64_MAX) {
    throw new CdcError('INVALID_ARGUMENT', 'encoding kafka message id: offset out of int64 range', {
      retryable: false,
    });
  }
  const b = Buffer.alloc(8);
  b.writeBigInt64LE(offset, 0);
  return new Uint8Array(b);
}

export function decodeKafkaMessageId(id: Uint8Array): bigint {
  if (id.length !== 8) {
    throw new CdcError('DECODE_FAILED', 'decoding kafka message id: expected 8 bytes', {
      retryable: false,
      details: { length: id.length },
    });
  }
  return Buffer.from(id.buffer, id.byteOffset, 8).readBigInt64LE(0);
}

/** Pulsar `MessageIdData`. Milvus compares only (ledgerId, entryId, batchIndex). */
export interface PulsarMessageId {
  readonly ledgerId: bigint;
  readonly entryId: bigint;
  /** Default −1 when absent. */
  readonly partition: number;
  /** Default −1 when absent. */
  readonly batchIndex: number;
  readonly ackSet: readonly bigint[];
  /** Set by pulsar-client-go v0.10+; absent in the 2.3 fork. */
  readonly batchSize?: number;
  readonly firstChunkMessageId?: PulsarMessageId;
}

function pulsarFromObject(o: Obj, present: (k: string) => boolean): PulsarMessageId {
  const first = sub(o, 'firstChunkMessageId');
  return {
    ledgerId: big(o, 'ledgerId'),
    entryId: big(o, 'entryId'),
    partition: present('partition') ? num(o, 'partition') : -1,
    batchIndex: present('batchIndex') ? num(o, 'batchIndex') : -1,
    ackSet: bigs(o, 'ackSet'),
    ...(present('batchSize') ? { batchSize: num(o, 'batchSize') } : {}),
    ...(first === undefined ? {} : { firstChunkMessageId: pulsarFromObject(first, () => true) }),
  };
}

export function decodePulsarMessageId(id: Uint8Array): PulsarMessageId {
  try {
    const t = protoType(P.MessageIdData);
    const m = t.decode(id);
    const o: Obj = t.toObject(m, { longs: String, arrays: true });
    return pulsarFromObject(o, (k) => Object.hasOwn(m, k));
  } catch (err) {
    if (isCdcError(err)) throw err;
    throw decodeError('pulsar message id', err);
  }
}

function pulsarToObject(m: PulsarMessageId): Record<string, unknown> {
  return {
    ledgerId: m.ledgerId.toString(),
    entryId: m.entryId.toString(),
    partition: m.partition,
    batchIndex: m.batchIndex,
    ...pruned({ ackSet: bigStrs(m.ackSet) }),
    ...(m.batchSize === undefined ? {} : { batchSize: m.batchSize }),
    ...(m.firstChunkMessageId === undefined
      ? {}
      : { firstChunkMessageId: pulsarToObject(m.firstChunkMessageId) }),
  };
}

/** Encodes as pulsar-client-go does: ledgerId, entryId, partition and batchIndex always; batchSize when set. */
export function encodePulsarMessageId(m: PulsarMessageId): Uint8Array {
  return encodeProto(P.MessageIdData, pulsarToObject(m));
}

export function decodeMsgPosition(b: Uint8Array): MsgPosition {
  const o = decodeProto(P.MsgPosition, b);
  return {
    channelName: str(o, 'channelName'),
    msgId: bytes(o, 'msgID'),
    msgGroup: str(o, 'msgGroup'),
    timestamp: big(o, 'timestamp'),
    walName: num(o, 'WALName'),
  };
}

export function encodeMsgPosition(p: MsgPosition): Uint8Array {
  return encodeProto(
    P.MsgPosition,
    pruned({
      channelName: p.channelName,
      msgID: p.msgId,
      msgGroup: p.msgGroup,
      timestamp: p.timestamp,
      WALName: p.walName,
    }),
  );
}

/** `base64(proto.Marshal(MsgPosition))`, the milvus-cdc checkpoint string (`util.Base64MsgPosition`). */
export function msgPositionToBase64(p: MsgPosition): string {
  return Buffer.from(encodeMsgPosition(p)).toString('base64');
}

export function msgPositionFromBase64(s: string): MsgPosition {
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(s) || s.length % 4 !== 0) {
    throw decodeError('base64 position: not standard base64');
  }
  return decodeMsgPosition(new Uint8Array(Buffer.from(s, 'base64')));
}

/**
 * Where a Pulsar message id sorts: (ledgerId, entryId, batchIndex) as signed 64-bit values, as Pulsar and Milvus
 * (`pulsar_id.go`) compare them, so the earliest id (-1, -1) comes first although the proto declares uint64.
 */
export interface PulsarIdOrder {
  readonly ledgerId: bigint;
  readonly entryId: bigint;
  /** -1 when absent (a message that is not part of a batch). */
  readonly batchIndex: bigint;
}

/** The order key of serialized `MessageIdData`; INVALID_ARGUMENT when the bytes are not one. */
export function pulsarIdOrder(id: Uint8Array): PulsarIdOrder {
  let m: PulsarMessageId;
  try {
    m = decodePulsarMessageId(id);
  } catch (err) {
    throw new CdcError('INVALID_ARGUMENT', `decoding pulsar message id: ${errorMessage(err)}`, {
      retryable: false,
      cause: err,
    });
  }
  return {
    ledgerId: BigInt.asIntN(64, m.ledgerId),
    entryId: BigInt.asIntN(64, m.entryId),
    batchIndex: BigInt(m.batchIndex),
  };
}

/** Negative, zero or positive as `a` is before, at or after `b`. */
export function comparePulsarIds(a: PulsarIdOrder, b: PulsarIdOrder): number {
  const d =
    a.ledgerId !== b.ledgerId
      ? a.ledgerId - b.ledgerId
      : a.entryId !== b.entryId
        ? a.entryId - b.entryId
        : a.batchIndex - b.batchIndex;
  return d < 0n ? -1 : d > 0n ? 1 : 0;
}
