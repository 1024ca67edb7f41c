import type { PrimaryKeys, Row, RowValue } from '@cdc/shared';

/**
 * Approximate payload size of one value: 8 per number, 1 per boolean, UTF-8 length of strings, byte length of binary
 * vectors, the sum over lists (vectors, arrays) and the JSON length of objects (JSON documents, sparse vectors). Field
 * names and protocol framing are not counted; the figure feeds throughput metrics, not limits.
 */
export function valueBytes(value: RowValue): number {
  if (value === null) return 0;
  if (typeof value === 'number') return 8;
  if (typeof value === 'boolean') return 1;
  if (typeof value === 'string') return Buffer.byteLength(value, 'utf8');
  if (value instanceof Uint8Array) return value.byteLength;
  if (Array.isArray(value)) {
    let sum = 0;
    for (const v of value as readonly RowValue[]) sum += valueBytes(v);
    return sum;
  }
  return Buffer.byteLength(JSON.stringify(value), 'utf8');
}

export function rowsBytes(rows: readonly Row[]): number {
  let sum = 0;
  for (const row of rows) for (const v of Object.values(row)) sum += valueBytes(v);
  return sum;
}

/** 8 bytes per Int64 key, UTF-8 length per VarChar key. */
export function keysBytes(keys: PrimaryKeys): number {
  if (keys.type === 'Int64') return keys.values.length * 8;
  let sum = 0;
  for (const k of keys.values) sum += Buffer.byteLength(k, 'utf8');
  return sum;
}
