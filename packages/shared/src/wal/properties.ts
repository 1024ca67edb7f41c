import { CdcError } from '../errors.js';
import { headerText } from '../wire/msg-type.js';
import type { MessageHeaders } from '../wire/messages.js';
import { W } from './wal-descriptors.js';
import { decodeWalProto } from './wal-proto.js';

/**
 * The properties of a Milvus 2.6 WAL message (milvus `pkg/streaming/util/message/properties.go`): Kafka record
 * headers, Pulsar message properties or DumpMessages' `properties` map. Integers such as `_tt` are base36
 * (`encoder.go`); `_h`, `_tx`, `_bh`, `_ch`, `_rh` are base64 protobuf.
 */
export interface WalProperties {
  /** `_v`: 0 = legacy msgstream record (no `_v`), 1 = body in msgstream serialization, 2 = body in messagespb. */
  readonly version: number;
  /** `_t`: `messagespb.MessageType`. */
  readonly messageType: number;
  /** `_tt`: the hybrid timestamp the WAL assigned. */
  readonly timeTick: bigint;
  /** `_vc`: the vchannel; '' for a message of every vchannel of the pchannel (time ticks). */
  readonly vchannel: string;
  /** `_lc`: the last confirmed message id (string form of the WAL), when not `_lcs`. */
  readonly lastConfirmed: string | undefined;
  /** `_h`: the specialized header, protobuf bytes (empty when absent). */
  readonly header: Uint8Array;
  /** `_tx`: the transaction this message belongs to. */
  readonly txn: { readonly txnId: bigint; readonly keepaliveMs: bigint } | undefined;
  /** `_bh`: the vchannels a broadcast message went to (informational). */
  readonly broadcastVChannels: readonly string[];
  /** `_ch`: the payload is encrypted with the cluster's cipher plugin. */
  readonly cipher: { readonly ezId: bigint; readonly collectionId: bigint } | undefined;
  /** `_ci`/`_ct`: one chunk of a payload split across records. */
  readonly chunk: { readonly index: number; readonly total: number } | undefined;
  /** `_rh`: a message replicated from another cluster by 2.6's own CDC. */
  readonly replicated: boolean;
}

/** Bounds on what a record may carry before anything is decoded from it. */
export const WAL_LIMITS = {
  maxProperties: 64,
  maxPropertyBytes: 1 << 20,
  /** A chunked payload is reassembled only up to this many chunks and this many bytes. */
  maxChunks: 4096,
  maxAssembledBytes: 256 << 20,
} as const;

function bad(what: string): CdcError {
  return new CdcError('DECODE_FAILED', `decoding WAL properties: ${what}`, { retryable: false });
}

const BASE36 = /^[0-9a-z]{1,13}$/;
const MAX_U64 = (1n << 64n) - 1n;

/** Parses a canonical base36 uint64 (no sign, no leading zero), as Milvus's `EncodeUint64` writes it. */
export function parseBase36(text: string, what: string): bigint {
  if (!BASE36.test(text) || (text.length > 1 && text.startsWith('0'))) {
    throw bad(`${what} is not a base36 integer: ${JSON.stringify(text.slice(0, 32))}`);
  }
  let v = 0n;
  for (const c of text) v = v * 36n + BigInt(parseInt(c, 36));
  if (v > MAX_U64) throw bad(`${what} exceeds uint64`);
  return v;
}

export function formatBase36(v: bigint): string {
  return v.toString(36);
}

const DECIMAL = /^(0|[1-9][0-9]{0,8})$/;

function decimal(text: string, what: string): number {
  if (!DECIMAL.test(text))
    throw bad(`${what} is not a canonical decimal: ${JSON.stringify(text.slice(0, 32))}`);
  return Number(text);
}

function base64Proto(text: string, what: string): Uint8Array {
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(text)) throw bad(`${what} is not base64`);
  return new Uint8Array(Buffer.from(text, 'base64'));
}

/** Header values as strings; the number and size of properties is checked first. */
export function propertyMap(
  headers: MessageHeaders | Readonly<Record<string, string>>,
): Record<string, string> {
  const keys = Object.keys(headers);
  if (keys.length > WAL_LIMITS.maxProperties)
    throw bad(`${keys.length} properties (at most ${WAL_LIMITS.maxProperties})`);
  const out: Record<string, string> = {};
  for (const k of keys) {
    const v = headerText(headers, k);
    if (v === undefined) continue;
    if (v.length > WAL_LIMITS.maxPropertyBytes) throw bad(`property ${k} has ${v.length} bytes`);
    out[k] = v;
  }
  return out;
}

/** True for a streaming-WAL message (`_v` set), false for a legacy msgstream record. */
export function isWalMessage(props: Readonly<Record<string, string>>): boolean {
  return (props['_v'] ?? '') !== '';
}

export function parseWalProperties(props: Readonly<Record<string, string>>): WalProperties {
  const v = props['_v'] ?? '';
  const version = v === '' ? 0 : decimal(v, '_v');
  const t = props['_t'];
  if (t === undefined) throw bad('no message type (_t)');
  const messageType = decimal(t, '_t');
  const tt = props['_tt'];
  if (tt === undefined && version > 0) throw bad('no time tick (_tt)');
  const timeTick = tt === undefined ? 0n : parseBase36(tt, '_tt');
  let txn: WalProperties['txn'];
  if (props['_tx'] !== undefined) {
    const o = decodeWalProto(W.TxnContext, base64Proto(props['_tx'], '_tx'));
    txn = {
      txnId: BigInt(String(o['txnId'])),
      keepaliveMs: BigInt(String(o['keepaliveMilliseconds'])),
    };
  }
  let broadcastVChannels: string[] = [];
  if (props['_bh'] !== undefined) {
    const o = decodeWalProto(W.BroadcastHeader, base64Proto(props['_bh'], '_bh'));
    broadcastVChannels = (o['vchannels'] as unknown[]).map(String);
  }
  let cipher: WalProperties['cipher'];
  if (props['_ch'] !== undefined) {
    const o = decodeWalProto(W.CipherHeader, base64Proto(props['_ch'], '_ch'));
    cipher = { ezId: BigInt(String(o['ezId'])), collectionId: BigInt(String(o['collectionId'])) };
  }
  let chunk: WalProperties['chunk'];
  const ci = props['_ci'];
  const ct = props['_ct'];
  if (ci !== undefined || ct !== undefined) {
    if (ci === undefined || ct === undefined)
      throw bad('chunk markers _ci and _ct must appear together');
    const index = decimal(ci, '_ci');
    const total = decimal(ct, '_ct');
    if (total < 2 || total > WAL_LIMITS.maxChunks || index >= total) {
      throw bad(`invalid chunk markers _ci=${ci} _ct=${ct}`);
    }
    if (tt === undefined) throw bad('a chunk without a time tick');
    chunk = { index, total };
  }
  return {
    version,
    messageType,
    timeTick,
    vchannel: props['_vc'] ?? '',
    lastConfirmed: props['_lc'],
    header: props['_h'] === undefined ? new Uint8Array(0) : base64Proto(props['_h'], '_h'),
    txn,
    broadcastVChannels,
    cipher,
    chunk,
    replicated: props['_rh'] !== undefined,
  };
}
