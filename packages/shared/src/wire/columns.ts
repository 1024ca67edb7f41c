import { CdcError } from '../errors.js';
import { inputMap } from './obj.js';
import type {
  CollectionSchema,
  ColumnValues,
  DeleteMessage,
  FieldColumn,
  InsertMessage,
  JsonValue,
  Row,
  RowValue,
} from './messages.js';

/**
 * Decoded Insert/Delete → what `@zilliz/milvus2-sdk-node` 2.6.17 accepts, losslessly:
 * - Int64 values become decimal strings: the SDK hands row values to proto-loader `fromObject`, which parses strings
 *   with `Long.fromString` (exact); a `bigint` would be silently encoded as 0 and a number loses precision > 2^53.
 * - Float16/BFloat16 rows are number[] (every half/bfloat value is exact in float32, and the SDK's converters map
 *   them back bit-exactly). Raw bytes would not survive the SDK's `JSON.parse(JSON.stringify(row))` clone that runs
 *   for dynamic-field collections.
 * - `$meta` (dynamic field) is passed as the `$meta` key holding the parsed object; the SDK keeps it as the dynamic field.
 *
 * Known limits, inherent to the SDK's row API: integers inside JSON documents beyond 2^53 lose precision (the SDK
 * re-serializes JSON with `JSON.stringify`), and a JSON value that is falsy (`0`, `false`, `""`) is written as empty.
 */

export const DYNAMIC_FIELD_NAME = '$meta';

function fail(problem: string, details: Record<string, unknown> = {}): CdcError {
  return new CdcError('DECODE_FAILED', `converting insert to rows: ${problem}`, {
    retryable: false,
    details,
  });
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Parses a Milvus JSON cell (UTF-8 JSON text); an empty cell is `null`. */
export function parseJsonBytes(b: Uint8Array): JsonValue {
  if (b.length === 0) return null;
  try {
    return JSON.parse(utf8.decode(b)) as JsonValue;
  } catch (err) {
    throw new CdcError('DECODE_FAILED', 'parsing json cell', { retryable: false, cause: err });
  }
}

/** IEEE-754 half → number (exact). */
export function halfToNumber(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 0x1f) return frac === 0 ? sign * Infinity : NaN;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

function u16le(b: Uint8Array, i: number): number {
  return (b[i] ?? 0) | ((b[i + 1] ?? 0) << 8);
}

function bfloatToNumber(b: Uint8Array, i: number): number {
  const buf = new DataView(new ArrayBuffer(4));
  buf.setUint16(2, u16le(b, i), true);
  buf.setUint16(0, 0, true);
  return buf.getFloat32(0, true);
}

/** Sparse row bytes (uint32 LE index, float32 LE value)* → `{ index: value }`. */
export function sparseRowToObject(b: Uint8Array): Record<string, number> {
  if (b.length % 8 !== 0) throw fail('sparse row length is not a multiple of 8');
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const out: Record<string, number> = {};
  for (let i = 0; i < b.length; i += 8) {
    out[String(v.getUint32(i, true))] = v.getFloat32(i + 4, true);
  }
  return out;
}

/** Splits a flat column into rows; slices, because a per-element callback dominated the worker's profile. */
function chunk<T>(data: ArrayLike<T>, size: number, rows: number): T[][] {
  const out: T[][] = [];
  if (Array.isArray(data)) {
    const flat = data as readonly T[];
    for (let r = 0; r < rows; r++) out.push(flat.slice(r * size, (r + 1) * size));
    return out;
  }
  for (let r = 0; r < rows; r++) {
    const row = new Array<T>(size);
    for (let k = 0; k < size; k++) row[k] = data[r * size + k] as T;
    out.push(row);
  }
  return out;
}

/** One RowValue per stored element of `values` (before nullable expansion). */
export function columnCells(values: ColumnValues, name = ''): RowValue[] {
  switch (values.kind) {
    case 'bool':
    case 'int':
    case 'float':
    case 'double':
    case 'string':
      return [...values.data];
    case 'long':
      return values.data.map((v) => v.toString());
    case 'json':
      return values.data.map(parseJsonBytes);
    case 'bytes':
      return values.data.map((b) => Array.from(b));
    case 'array':
      return values.data.map((e) => columnCells(e, name));
    case 'floatVector': {
      if (values.dim <= 0) throw fail('float vector without dim', { field: name });
      return chunk(values.data, values.dim, values.data.length / values.dim);
    }
    case 'binaryVector':
    case 'int8Vector': {
      const width = values.kind === 'binaryVector' ? values.dim / 8 : values.dim;
      if (width <= 0 || !Number.isInteger(width)) throw fail('bad vector dim', { field: name });
      const src =
        values.kind === 'int8Vector'
          ? new Int8Array(values.data.buffer, values.data.byteOffset, values.data.byteLength)
          : values.data;
      return chunk(src, width, values.data.length / width);
    }
    case 'float16Vector':
    case 'bfloat16Vector': {
      const width = values.dim * 2;
      if (width <= 0) throw fail('bad vector dim', { field: name });
      const rows: number[][] = [];
      for (let off = 0; off + width <= values.data.length; off += width) {
        const row: number[] = [];
        for (let i = off; i < off + width; i += 2) {
          row.push(
            values.kind === 'float16Vector'
              ? halfToNumber(u16le(values.data, i))
              : bfloatToNumber(values.data, i),
          );
        }
        rows.push(row);
      }
      return rows;
    }
    case 'sparseFloatVector':
      return values.data.map(sparseRowToObject);
    case 'unsupported':
      throw fail(`unsupported column data (${values.detail})`, { field: name });
  }
}

/**
 * Number of cells `columnCells` would produce, computed from lengths alone (nothing allocated), or an error when the
 * declared vector dim does not divide the bytes present.
 */
export function columnLength(values: ColumnValues, name = ''): number {
  const per = (width: number, size: number): number => {
    if (!Number.isSafeInteger(width) || width <= 0) throw fail('bad vector dim', { field: name });
    if (size % width !== 0) {
      throw fail('vector data is not a whole number of rows of the declared dim', {
        field: name,
        bytesOrValues: size,
        rowWidth: width,
      });
    }
    return size / width;
  };
  switch (values.kind) {
    case 'floatVector':
      return per(values.dim, values.data.length);
    case 'binaryVector':
      return per(values.dim / 8, values.data.length);
    case 'int8Vector':
      return per(values.dim, values.data.length);
    case 'float16Vector':
    case 'bfloat16Vector':
      return per(values.dim * 2, values.data.length);
    case 'unsupported':
      throw fail(`unsupported column data (${values.detail})`, { field: name });
    default:
      return values.data.length;
  }
}

/** Checks a column against `numRows` from lengths alone, before any cell is materialized. */
function checkColumnShape(col: FieldColumn, numRows: number): void {
  const length = columnLength(col.values, col.fieldName);
  if (col.validData.length === 0) {
    if (length !== numRows) {
      throw fail(`column length ${length} differs from num_rows ${numRows}`, {
        field: col.fieldName,
        length,
        numRows,
      });
    }
    return;
  }
  if (col.validData.length !== numRows) {
    throw fail('valid_data length differs from num_rows', { field: col.fieldName });
  }
  if (length === numRows) return;
  let validCount = 0;
  for (const ok of col.validData) if (ok) validCount++;
  if (length !== validCount) {
    throw fail('nullable column length matches neither rows nor valid count', {
      field: col.fieldName,
    });
  }
}

/** Cells of a column expanded to `numRows`, `null` where `valid_data` is false (full or compact layout). */
export function columnRowValues(col: FieldColumn, numRows: number): RowValue[] {
  checkColumnShape(col, numRows);
  const cells = columnCells(col.values, col.fieldName);
  if (col.validData.length === 0 || cells.length === numRows) {
    return col.validData.length === 0 ? cells : cells.map((c, i) => (col.validData[i] ? c : null));
  }
  let next = 0;
  return col.validData.map((ok) => (ok ? (cells[next++] ?? null) : null));
}

/**
 * The row count of an Insert, checked against what the message carries: `num_rows` is only a declaration (a 111-byte
 * record can declare 1e8), so it must equal the per-row timestamps and every column's length before rows are
 * allocated.
 */
function rowCount(msg: InsertMessage, columns: readonly FieldColumn[]): number {
  const declared = msg.numRows > 0n ? msg.numRows : BigInt(msg.timestamps.length);
  if (msg.timestamps.length > 0 && declared !== BigInt(msg.timestamps.length)) {
    throw fail(`num_rows ${declared} differs from the ${msg.timestamps.length} row timestamps`, {
      numRows: msg.numRows.toString(),
      timestamps: msg.timestamps.length,
    });
  }
  if (declared > 0n && msg.fields.length === 0) {
    throw fail(`insert declares ${declared} rows but carries no columns`, {
      numRows: declared.toString(),
    });
  }
  if (declared > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw fail('num_rows out of range', { numRows: declared.toString() });
  }
  const n = Number(declared);
  for (const col of columns) checkColumnShape(col, n);
  return n;
}

/**
 * Rows for `client.upsert({ collection_name, partition_name, data: rows })`. System fields (< 100) and fields the
 * schema marks as function outputs (e.g. BM25 sparse vectors, recomputed by the target) are left out. Every count the
 * message declares is checked against the data present before anything is allocated.
 */
export function insertToRows(msg: InsertMessage, schema?: CollectionSchema): Row[] {
  if (msg.version === 0 && msg.fields.length === 0 && msg.numRows > 0n) {
    throw fail('row-based insert (pre-2.2) is not supported');
  }
  const functionOutputs = new Set(
    (schema?.fields ?? []).filter((f) => f.isFunctionOutput).map((f) => f.name),
  );
  const columns = msg.fields.filter(
    (col) => !((col.fieldId > 0n && col.fieldId < 100n) || functionOutputs.has(col.fieldName)),
  );
  const n = rowCount(msg, columns);
  // Field names come from the source: a field may be called `__proto__` or `constructor` (valid Milvus names).
  const rows: Row[] = Array.from({ length: n }, () => inputMap<RowValue>());
  for (const col of columns) {
    const values = columnRowValues(col, n);
    const name = col.isDynamic ? DYNAMIC_FIELD_NAME : col.fieldName;
    values.forEach((v, i) => {
      const row = rows[i];
      if (row !== undefined) row[name] = v;
    });
  }
  return rows;
}

/** Primary keys of a Delete as the SDK's `delete({ ids })` wants them: Int64 as exact decimal strings. */
export interface DeleteKeys {
  readonly type: 'Int64' | 'VarChar';
  readonly ids: readonly string[];
}

export function deletePrimaryKeys(msg: DeleteMessage): DeleteKeys {
  const pk = msg.primaryKeys;
  return pk.type === 'Int64'
    ? { type: 'Int64', ids: pk.values.map((v) => v.toString()) }
    : { type: 'VarChar', ids: [...pk.values] };
}
