import { MsgType } from './messages.js';
import { CdcError } from '../errors.js';
import { readMsgBase } from './msg-type.js';
import type { MsgBaseFields } from './msg-type.js';
import { varint64, walk } from './proto-walk.js';
import type { Field } from './proto-walk.js';
import type { DeleteMessage, InsertMessage } from './messages.js';

/**
 * A header-only view of an Insert or Delete msgstream payload, for replicate mode: the target needs the same bytes with
 * a few header fields changed, so the field-data columns (the bulk of an Insert) are skipped, never decoded. Nothing
 * here allocates per row: the per-row timestamps are scanned for their min and max in place.
 *
 * `InsertRequest` and `DeleteRequest` share field numbers 1–8 and 10 (reference §4); `num_rows` is 14 in an Insert,
 * 11 in a Delete.
 */

/** What replicate mode reads from an Insert or Delete. */
export interface DmlHeader {
  readonly type: 'Insert' | 'Delete';
  readonly msgId: bigint;
  /** `MsgBase.timestamp`. */
  readonly baseTimestamp: bigint;
  /** The vchannel. */
  readonly shardName: string;
  readonly dbName: string;
  readonly collectionName: string;
  readonly partitionName: string;
  readonly dbId: bigint;
  readonly collectionId: bigint;
  /** −1 in a Delete: every partition. */
  readonly partitionId: bigint;
  readonly numRows: bigint;
  /** Min and max of the per-row timestamps (`TsMsg.BeginTs/EndTs`); `baseTimestamp` when there are none. */
  readonly beginTs: bigint;
  readonly endTs: bigint;
}

/** An Insert or Delete payload with its header read; `payload` is the record's value, unchanged. */
export interface DmlView {
  readonly type: 'DmlView';
  readonly header: DmlHeader;
  readonly payload: Uint8Array;
}

/** Header fields a rewrite may replace; absent ones are copied. A default value ('' or 0n) removes the field. */
export interface DmlHeaderChanges {
  readonly shardName?: string;
  readonly dbName?: string;
  readonly collectionName?: string;
  readonly partitionName?: string;
  readonly dbId?: bigint;
  readonly collectionId?: bigint;
  readonly partitionId?: bigint;
}

/** Names are short; a longer one is hostile (it would become a map key and a log line). */
export const MAX_HEADER_STRING_BYTES = 64 * 1024;

/** Field numbers shared by `InsertRequest` and `DeleteRequest`. */
export const DML_FIELDS = {
  base: 1,
  shardName: 2,
  dbName: 3,
  collectionName: 4,
  partitionName: 5,
  dbId: 6,
  collectionId: 7,
  partitionId: 8,
  timestamps: 10,
} as const;
const NUM_ROWS = { Insert: 14, Delete: 11 } as const;
const STRING_FIELDS = ['shardName', 'dbName', 'collectionName', 'partitionName'] as const;
const INT64_FIELDS = ['dbId', 'collectionId', 'partitionId'] as const;

const utf8 = new TextDecoder();

function malformed(problem: string): CdcError {
  return new CdcError('DECODE_FAILED', `reading milvus DML header: ${problem}`, {
    retryable: false,
  });
}

function expectWireType(f: Field, wireType: number, what: string): void {
  if (f.wireType !== wireType) throw malformed(`${what} has wire type ${f.wireType}`);
}

/** 2^(7·k): the weight of a varint's byte 4 + k within its high part. */
const HIGH_SCALE = [1, 2 ** 7, 2 ** 14, 2 ** 21, 2 ** 28, 2 ** 35];

/** Min and max of per-row uint64 timestamps, compared as (high, low) number pairs: no bigint per row. */
class TimestampRange {
  count = 0;
  private minHi = Infinity;
  private minLo = 0;
  private maxHi = -1;
  private maxLo = 0;
  private minAt = -1;
  private maxAt = -1;

  scan(b: Uint8Array, start: number, end: number): void {
    let at = start;
    while (at < end) {
      const from = at;
      let lo = 0;
      let hi = 0;
      for (let i = 0; ; i++) {
        if (at >= end || i === 10) throw malformed('truncated or overlong timestamp');
        const byte = b[at++] as number;
        if (i < 4) lo |= (byte & 0x7f) << (7 * i);
        else hi += (byte & 0x7f) * (HIGH_SCALE[i - 4] as number);
        if (byte < 0x80) break;
      }
      this.count++;
      if (hi < this.minHi || (hi === this.minHi && lo < this.minLo)) {
        this.minHi = hi;
        this.minLo = lo;
        this.minAt = from;
      }
      if (hi > this.maxHi || (hi === this.maxHi && lo > this.maxLo)) {
        this.maxHi = hi;
        this.maxLo = lo;
        this.maxAt = from;
      }
    }
  }

  range(b: Uint8Array, fallback: bigint): [bigint, bigint] {
    if (this.count === 0) return [fallback, fallback];
    const next = { at: 0 };
    return [varint64(b, this.minAt, b.length, next), varint64(b, this.maxAt, b.length, next)];
  }
}

function readString(b: Uint8Array, f: Field, what: string): string {
  expectWireType(f, 2, what);
  if (f.end - f.valueStart > MAX_HEADER_STRING_BYTES)
    throw malformed(`${what} has ${f.end - f.valueStart} bytes, over ${MAX_HEADER_STRING_BYTES}`);
  return utf8.decode(b.subarray(f.valueStart, f.end));
}

/**
 * Reads the header of an Insert or Delete payload (`msgType` as resolved from the record) without decoding its
 * columns. Throws `CdcError('DECODE_FAILED')` on bytes that are not a well-formed message at the top level, or whose
 * `MsgBase.msg_type` is not `msgType` (the target reads the type from there).
 */
export function readDmlView(msgType: number, payload: Uint8Array): DmlView {
  const type = msgType === MsgType.Insert ? 'Insert' : msgType === MsgType.Delete ? 'Delete' : '';
  if (type === '') throw malformed(`message type ${msgType} is not Insert or Delete`);
  const numRowsField = NUM_ROWS[type];
  const h = {
    shardName: '',
    dbName: '',
    collectionName: '',
    partitionName: '',
    dbId: 0n,
    collectionId: 0n,
    partitionId: 0n,
    numRows: 0n,
  };
  let base: MsgBaseFields = { msgType: 0, msgId: 0n, ts: 0n };
  const timestamps = new TimestampRange();
  const next = { at: 0 };
  walk(payload, 0, payload.length, (f) => {
    const n = f.number;
    if (n === DML_FIELDS.base) {
      expectWireType(f, 2, 'base');
      base = readMsgBase(payload, f.valueStart, f.end);
    } else if (n >= DML_FIELDS.shardName && n <= DML_FIELDS.partitionName) {
      const name = STRING_FIELDS[n - DML_FIELDS.shardName] as (typeof STRING_FIELDS)[number];
      h[name] = readString(payload, f, name);
    } else if (n >= DML_FIELDS.dbId && n <= DML_FIELDS.partitionId) {
      const name = INT64_FIELDS[n - DML_FIELDS.dbId] as (typeof INT64_FIELDS)[number];
      expectWireType(f, 0, name);
      h[name] = BigInt.asIntN(64, varint64(payload, f.valueStart, f.end, next));
    } else if (n === DML_FIELDS.timestamps) {
      // Repeated scalars may come packed (what Go writes) or one per key; parsers accept both.
      if (f.wireType !== 0 && f.wireType !== 2)
        throw malformed(`timestamps have wire type ${f.wireType}`);
      timestamps.scan(payload, f.valueStart, f.end);
    } else if (n === numRowsField) {
      expectWireType(f, 0, 'num_rows');
      const v = varint64(payload, f.valueStart, f.end, next);
      h.numRows = type === 'Delete' ? BigInt.asIntN(64, v) : v;
    }
  });
  if (base.msgType !== msgType)
    throw malformed(`MsgBase.msg_type is ${base.msgType}, the record says ${type}`);
  const [beginTs, endTs] = timestamps.range(payload, base.ts);
  return {
    type: 'DmlView',
    header: { type, msgId: base.msgId, baseTimestamp: base.ts, ...h, beginTs, endTs },
    payload,
  };
}

/** The header of a fully decoded Insert or Delete (readers that decode themselves, e.g. the 2.6 WAL). */
export function dmlHeaderOf(m: InsertMessage | DeleteMessage): DmlHeader {
  let beginTs = m.base.timestamp;
  let endTs = m.base.timestamp;
  const first = m.timestamps[0];
  if (first !== undefined) {
    beginTs = first;
    endTs = first;
    for (const t of m.timestamps) {
      if (t < beginTs) beginTs = t;
      if (t > endTs) endTs = t;
    }
  }
  return {
    type: m.type,
    msgId: m.base.msgId,
    baseTimestamp: m.base.timestamp,
    shardName: m.shardName,
    dbName: m.dbName,
    collectionName: m.collectionName,
    partitionName: m.partitionName,
    dbId: m.dbId,
    collectionId: m.collectionId,
    partitionId: m.partitionId,
    numRows: m.numRows,
    beginTs,
    endTs,
  };
}
