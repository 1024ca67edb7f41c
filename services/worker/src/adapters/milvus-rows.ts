import { CdcError, type PrimaryKeys, type Row, type RowValue } from '@cdc/shared';

/** Milvus field names: a letter or underscore, then letters, digits, underscores (proxy `validateFieldName`). */
const FIELD_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * A VarChar literal for a Milvus boolean expression. JSON string syntax is a subset of what the expression grammar
 * accepts (`"` delimiters; `\"`, `\\`, `\n`, `\uXXXX` escapes, which the parser unquotes with Go's `strconv.Unquote`),
 * and `JSON.stringify` escapes every quote, backslash and control character, so a key cannot end the literal early.
 */
export function stringLiteral(value: string): string {
  return JSON.stringify(value);
}

const INT64_MIN = -(2n ** 63n);

/**
 * `pk in [...]` selecting exactly `keys`. Int64 keys are printed from the bigint (the server parses them as int64, so
 * values beyond 2^53 stay exact); VarChar keys are escaped literals.
 *
 * INT64_MIN cannot be written as a literal (the parser negates 9223372036854775808, which overflows), so it is matched
 * as `pk < -9223372036854775807` instead. That makes the delete a non-term expression, which 2.3 servers evaluate
 * with a query first (the collection must be loaded); only a batch holding that one key pays for it.
 */
export function primaryKeyFilter(pkField: string, keys: PrimaryKeys): string {
  if (!FIELD_NAME.test(pkField)) {
    throw new CdcError('SINK_REJECTED', `building delete filter: invalid primary key field name`, {
      retryable: false,
      details: { pkField },
    });
  }
  if (keys.type === 'VarChar') return `${pkField} in [${keys.values.map(stringLiteral).join(',')}]`;
  const literals = keys.values.filter((v) => v !== INT64_MIN).map((v) => v.toString());
  if (literals.length === keys.values.length) return `${pkField} in [${literals.join(',')}]`;
  const min = `${pkField} < ${INT64_MIN + 1n}`;
  return literals.length === 0 ? min : `${pkField} in [${literals.join(',')}] or ${min}`;
}

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
