import { CdcError } from '../errors.js';
import { varint32, varint64, walk } from './proto-walk.js';
import type { Field } from './proto-walk.js';
import { DataType } from './schema-types.js';

/**
 * API mode's column pass-through: an Insert's field data, located in its payload and checked, then copied as bytes
 * into a `MilvusService.Upsert` request. The columns a source proxy wrote are the columns a target proxy takes, so
 * no row, no number and no vector is decoded on the way; only the primary keys are read (for de-duplication).
 *
 * Every column's row count is checked against `num_rows` here, so merging several Inserts can never shift values
 * between rows. What this does not carry (nullable columns, row-based inserts, types without a fixed row layout
 * here) is `undefined` from `readInsertColumns`: the caller decodes rows instead.
 */

/** One `FieldData` of an Insert: who it is, and where its values sit in the payload. */
export interface ColumnSlice {
  readonly fieldId: bigint;
  readonly name: string;
  readonly type: number;
  readonly isDynamic: boolean;
  /** 3 (`scalars`) or 4 (`vectors`). */
  readonly container: 3 | 4;
  /** `VectorField.dim`; 0n for scalars. */
  readonly dim: bigint;
  /** The field number of the value inside the container (e.g. `long_data` 3, `float_vector` 2). */
  readonly valueField: number;
  /** The value's bytes: a message with a repeated `data` field, or the raw bytes of a binary-layout vector. */
  readonly valueStart: number;
  readonly valueEnd: number;
  /** Sparse vectors: `SparseFloatArray.dim`. */
  readonly sparseDim: bigint;
}

export interface InsertColumns {
  readonly payload: Uint8Array;
  readonly numRows: number;
  readonly columns: readonly ColumnSlice[];
}

/** `msg.InsertRequest` field numbers. */
export const FIELDS_DATA = 13;
export const NUM_ROWS = 14;
const ROW_DATA = 12;
const MAX_COLUMNS = 4096;

type Element = 'varint' | 'fixed32' | 'fixed64' | 'entry';

/** Scalar types: the `ScalarField` value that holds them, and how one value is written in its repeated `data`. */
const SCALAR_LAYOUT: Readonly<
  Record<number, { readonly field: number; readonly element: Element }>
> = {
  [DataType.Bool]: { field: 1, element: 'varint' },
  [DataType.Int8]: { field: 2, element: 'varint' },
  [DataType.Int16]: { field: 2, element: 'varint' },
  [DataType.Int32]: { field: 2, element: 'varint' },
  [DataType.Int64]: { field: 3, element: 'varint' },
  [DataType.Float]: { field: 4, element: 'fixed32' },
  [DataType.Double]: { field: 5, element: 'fixed64' },
  [DataType.String]: { field: 6, element: 'entry' },
  [DataType.VarChar]: { field: 6, element: 'entry' },
  [DataType.Array]: { field: 8, element: 'entry' },
  [DataType.JSON]: { field: 9, element: 'entry' },
};

/** Vector types: the `VectorField` value that holds them, and the bytes of one row for the binary layouts. */
const VECTOR_LAYOUT: Readonly<
  Record<number, { readonly field: number; readonly rowBytes?: (dim: number) => number }>
> = {
  [DataType.BinaryVector]: { field: 3, rowBytes: (dim) => dim / 8 },
  [DataType.FloatVector]: { field: 2 },
  [DataType.Float16Vector]: { field: 4, rowBytes: (dim) => dim * 2 },
  [DataType.BFloat16Vector]: { field: 5, rowBytes: (dim) => dim * 2 },
  [DataType.SparseFloatVector]: { field: 6 },
  [DataType.Int8Vector]: { field: 7, rowBytes: (dim) => dim },
};

function malformed(problem: string): CdcError {
  return new CdcError('DECODE_FAILED', `reading insert columns: ${problem}`, { retryable: false });
}

const utf8 = new TextDecoder();

/** Count of elements of repeated field 1 in b[start, end): packed (wire 2) or one per key. */
function countRepeated(b: Uint8Array, start: number, end: number, element: Element): number {
  let n = 0;
  walk(b, start, end, (f) => {
    if (f.number !== 1) return;
    if (element === 'entry') {
      if (f.wireType !== 2) throw malformed(`an entry has wire type ${f.wireType}`);
      n++;
    } else if (f.wireType === 2) {
      if (element === 'varint') {
        for (let i = f.valueStart; i < f.end; i++) if ((b[i] as number) < 0x80) n++;
        if (f.end > f.valueStart && (b[f.end - 1] as number) >= 0x80)
          throw malformed('truncated packed varint');
      } else {
        const size = element === 'fixed32' ? 4 : 8;
        if ((f.end - f.valueStart) % size !== 0) throw malformed('packed values of a partial size');
        n += (f.end - f.valueStart) / size;
      }
    } else {
      n++;
    }
  });
  return n;
}

/** Rows a column holds; undefined for a layout this module does not count. */
function columnRows(b: Uint8Array, c: ColumnSlice): number | undefined {
  if (c.container === 3) {
    const layout = SCALAR_LAYOUT[c.type];
    return layout && countRepeated(b, c.valueStart, c.valueEnd, layout.element);
  }
  if (c.type === DataType.SparseFloatVector)
    return countRepeated(b, c.valueStart, c.valueEnd, 'entry');
  if (c.dim <= 0n || c.dim > 1_000_000n) return undefined;
  const dim = Number(c.dim);
  if (c.type === DataType.FloatVector) {
    // FloatArray { repeated float data = 1 }
    const floats = countRepeated(b, c.valueStart, c.valueEnd, 'fixed32');
    return floats % dim === 0 ? floats / dim : undefined;
  }
  const size = VECTOR_LAYOUT[c.type]?.rowBytes?.(dim);
  const bytes = c.valueEnd - c.valueStart;
  if (size === undefined || !Number.isInteger(size) || size === 0 || bytes % size !== 0)
    return undefined;
  return bytes / size;
}

/** The one value field of a container (ScalarField / VectorField), and a vector's dim. */
function readContainer(
  b: Uint8Array,
  f: Field,
): { valueField: number; valueStart: number; valueEnd: number; dim: bigint; values: number } {
  let valueField = 0;
  let valueStart = 0;
  let valueEnd = 0;
  let dim = 0n;
  let values = 0;
  const next = { at: 0 };
  walk(b, f.valueStart, f.end, (g) => {
    if (f.number === 4 && g.number === 1 && g.wireType === 0) {
      dim = BigInt.asIntN(64, varint64(b, g.valueStart, g.end, next));
      return;
    }
    if (g.wireType !== 2)
      throw malformed(`column value field ${g.number} has wire type ${g.wireType}`);
    values++;
    valueField = g.number;
    valueStart = g.valueStart;
    valueEnd = g.end;
  });
  return { valueField, valueStart, valueEnd, dim, values };
}

function sparseDim(b: Uint8Array, start: number, end: number): bigint {
  let dim = 0n;
  const next = { at: 0 };
  walk(b, start, end, (g) => {
    if (g.number === 2 && g.wireType === 0)
      dim = BigInt.asIntN(64, varint64(b, g.valueStart, g.end, next));
  });
  return dim;
}

/** One FieldData's slice; undefined when it is nullable or has a layout this module does not carry. */
function readColumn(b: Uint8Array, f: Field): ColumnSlice | undefined {
  let type = 0;
  let name = '';
  let fieldId = 0n;
  let isDynamic = false;
  let container: Field | undefined;
  let other = false;
  const next = { at: 0 };
  walk(b, f.valueStart, f.end, (g) => {
    switch (g.number) {
      case 1:
        if (g.wireType !== 0) throw malformed('field type has a bad wire type');
        type = varint32(b, g.valueStart, g.end, next);
        break;
      case 2:
        if (g.wireType !== 2 || g.end - g.valueStart > 64 * 1024) throw malformed('bad field name');
        name = utf8.decode(b.subarray(g.valueStart, g.end));
        break;
      case 3:
      case 4:
        if (g.wireType !== 2 || container !== undefined) throw malformed('bad column container');
        container = { ...g };
        break;
      case 5:
        if (g.wireType !== 0) throw malformed('field id has a bad wire type');
        fieldId = BigInt.asIntN(64, varint64(b, g.valueStart, g.end, next));
        break;
      case 6:
        if (g.wireType !== 0) throw malformed('is_dynamic has a bad wire type');
        isDynamic = varint64(b, g.valueStart, g.end, next) !== 0n;
        break;
      default:
        other = true; // valid_data (nullable), struct arrays, fields of a newer proto
    }
  });
  if (other || container === undefined) return undefined;
  const expected = (container.number === 3 ? SCALAR_LAYOUT[type] : VECTOR_LAYOUT[type])?.field;
  const v = readContainer(b, container);
  if (expected === undefined || v.values !== 1 || v.valueField !== expected) return undefined;
  return {
    fieldId,
    name,
    type,
    isDynamic,
    container: container.number as 3 | 4,
    dim: v.dim,
    valueField: v.valueField,
    valueStart: v.valueStart,
    valueEnd: v.valueEnd,
    sparseDim: type === DataType.SparseFloatVector ? sparseDim(b, v.valueStart, v.valueEnd) : 0n,
  };
}

/**
 * The columns of a msgstream Insert payload, each checked to hold `num_rows` rows; undefined when the Insert has a
 * column this pass-through does not carry (the caller decodes rows instead). Throws DECODE_FAILED on bytes that are
 * not well-formed.
 */
export function readInsertColumns(payload: Uint8Array): InsertColumns | undefined {
  const columns: ColumnSlice[] = [];
  let numRows = 0n;
  let carried = true;
  const next = { at: 0 };
  walk(payload, 0, payload.length, (f) => {
    if (f.number === FIELDS_DATA) {
      if (f.wireType !== 2) throw malformed('fields_data has a bad wire type');
      if (columns.length >= MAX_COLUMNS) throw malformed(`more than ${MAX_COLUMNS} columns`);
      const c = readColumn(payload, f);
      if (c === undefined) carried = false;
      else columns.push(c);
    } else if (f.number === NUM_ROWS) {
      if (f.wireType !== 0) throw malformed('num_rows has a bad wire type');
      numRows = varint64(payload, f.valueStart, f.end, next);
    } else if (f.number === ROW_DATA) {
      carried = false; // row-based (pre-2.2) insert
    }
  });
  if (!carried || columns.length === 0 || numRows > 1_000_000_000n) return undefined;
  const n = Number(numRows);
  for (const c of columns) if (columnRows(payload, c) !== n) return undefined;
  return { payload, numRows: n, columns };
}

/**
 * The primary keys of the Int64 or VarChar key column `name`, as Map keys (numbers, or strings past 2^53 and for
 * VarChar); undefined when the Insert has no such column.
 */
export function primaryKeyValues(
  ins: InsertColumns,
  name: string,
): (number | string)[] | undefined {
  const column = ins.columns.find((c) => c.name === name);
  if (column === undefined) return undefined;
  const b = ins.payload;
  const out: (number | string)[] = [];
  const next = { at: 0 };
  walk(b, column.valueStart, column.valueEnd, (f) => {
    if (f.number !== 1) return;
    if (column.type === DataType.VarChar || column.type === DataType.String) {
      out.push(utf8.decode(b.subarray(f.valueStart, f.end)));
      return;
    }
    const one = (at: number): number => {
      const v = BigInt.asIntN(64, varint64(b, at, f.end, next));
      out.push(v >= -(2n ** 53n) && v <= 2n ** 53n ? Number(v) : v.toString());
      return next.at;
    };
    if (f.wireType === 2) for (let at = f.valueStart; at < f.end;) at = one(at);
    else one(f.valueStart);
  });
  return out;
}

/** Whether two Inserts' columns can be merged into one request: the same fields, types, dims and layouts. */
export function sameColumns(a: readonly ColumnSlice[], b: readonly ColumnSlice[]): boolean {
  if (a.length !== b.length) return false;
  return a.every((c, i) => {
    const d = b[i];
    return (
      d !== undefined &&
      c.name === d.name &&
      c.fieldId === d.fieldId &&
      c.type === d.type &&
      c.isDynamic === d.isDynamic &&
      c.dim === d.dim &&
      c.valueField === d.valueField
    );
  });
}
