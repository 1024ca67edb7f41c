import type { MilvusStatusLike } from '../milvus/status.js';
import { decodeByType } from './decode.js';
import { FIELDS_DATA, NUM_ROWS } from './insert-columns.js';
import type { ColumnSlice, InsertColumns } from './insert-columns.js';
import { MsgType } from './messages.js';
import type { InsertMessage } from './messages.js';
import { protoType } from './proto-root.js';
import { malformed, varint64, walk } from './proto-walk.js';
import { concat, delimited, key, varint } from './proto-write.js';
import { DataType } from './schema-types.js';

/**
 * The `MilvusService.Upsert` request of API mode's column pass-through, built from Inserts' columns as bytes
 * (`insert-columns.ts` finds and checks them), and its answer.
 */

export interface UpsertColumnsRequest {
  readonly dbName: string;
  readonly collectionName: string;
  /** Empty: none (partition-key collections route rows themselves). */
  readonly partitionName: string;
  /** Inserts with `sameColumns`; their rows in order. */
  readonly inserts: readonly InsertColumns[];
  /** Whether a column goes to the target (system fields and function outputs do not). */
  readonly keep: (c: ColumnSlice) => boolean;
}

const text = new TextEncoder();

/**
 * `milvus.proto.milvus.UpsertRequest` bytes: one FieldData per kept column (type, name, values, dynamic flag; no field
 * id, as the SDK sends none: targets match columns by name), whose value is the concatenation of that
 * column's value bytes over the Inserts. For a message with a repeated `data` field (every scalar array, FloatArray,
 * SparseFloatArray's contents) concatenated bodies are that field's values in order, which is how protobuf parses
 * repeated fields; binary-layout vectors are plain bytes. A sparse column ends with the largest `dim` (a later
 * occurrence of a scalar field wins).
 */
export function encodeUpsertColumns(req: UpsertColumnsRequest): Uint8Array[] {
  const first = req.inserts[0];
  if (first === undefined) return [];
  const parts: Uint8Array[] = [];
  const str = (number: number, v: string): void => {
    if (v !== '') parts.push(...delimited(number, [text.encode(v)]));
  };
  str(2, req.dbName);
  str(3, req.collectionName);
  str(4, req.partitionName);
  let rows = 0;
  for (const ins of req.inserts) rows += ins.numRows;
  first.columns.forEach((c, i) => {
    if (!req.keep(c)) return;
    const values: Uint8Array[] = [];
    let maxSparseDim = 0n;
    for (const ins of req.inserts) {
      const col = ins.columns[i] as ColumnSlice;
      values.push(ins.payload.subarray(col.valueStart, col.valueEnd));
      if (col.sparseDim > maxSparseDim) maxSparseDim = col.sparseDim;
    }
    if (c.type === DataType.SparseFloatVector && maxSparseDim > 0n)
      values.push(key(2, 0), varint(BigInt.asUintN(64, maxSparseDim)));
    const container: Uint8Array[] = [];
    if (c.container === 4) container.push(key(1, 0), varint(BigInt.asUintN(64, c.dim)));
    container.push(...delimited(c.valueField, values));
    const field: Uint8Array[] = [key(1, 0), varint(BigInt(c.type))];
    if (c.name !== '') field.push(...delimited(2, [text.encode(c.name)]));
    field.push(...delimited(c.container, container));
    if (c.isDynamic) field.push(key(6, 0), varint(1n));
    parts.push(...delimited(5, field));
  });
  parts.push(key(7, 0), varint(BigInt(rows)));
  return parts;
}

/** The status of a `MutationResult` (the Upsert's answer), in the shape the status classifier reads. */
export function decodeMutationStatus(b: Uint8Array): MilvusStatusLike | undefined {
  const t = protoType('milvus.proto.milvus.MutationResult');
  const o = t.toObject(t.decode(b), {
    enums: String,
    longs: String,
    defaults: true,
  }) as { status?: StatusObject };
  const s = o.status;
  if (s === undefined) return undefined;
  return {
    error_code: s.errorCode ?? 'Success',
    code: s.code ?? 0,
    reason: s.reason ?? '',
    retriable: s.retriable === true,
    detail: s.detail ?? '',
  };
}

/** `common.Status` as protobufjs' toObject gives it (enums as names). */
interface StatusObject {
  readonly errorCode?: string;
  readonly code?: number;
  readonly reason?: string;
  readonly retriable?: boolean;
  readonly detail?: string;
}

/**
 * An Upsert request read back by the msgstream decoder, as the Insert holding its rows: what a target makes of
 * `encodeUpsertColumns` (for tests and fakes; the worker never decodes its own requests).
 */
export function upsertRequestAsInsert(request: Uint8Array): InsertMessage {
  const parts: Uint8Array[] = [...delimited(1, [key(1, 0), varint(BigInt(MsgType.Insert))])];
  let rows = 0n;
  const next = { at: 0 };
  walk(request, 0, request.length, (f) => {
    if (f.number === 5)
      parts.push(...delimited(FIELDS_DATA, [request.subarray(f.valueStart, f.end)]));
    if (f.number === 7) rows = varint64(request, f.valueStart, f.end, next);
  });
  parts.push(key(NUM_ROWS, 0), varint(rows));
  const m = decodeByType(MsgType.Insert, concat(...parts));
  if (m.type !== 'Insert') throw malformed('not an insert');
  return m;
}
