/**
 * Literals and filters for Milvus boolean expressions (the `expr`/`filter` of query and delete), built so that no key
 * value can change the expression's meaning.
 */
import { CdcError } from '../errors.js';
import type { PrimaryKeys } from '../wire/messages.js';

/** Milvus field names: a letter or underscore, then letters, digits, underscores (proxy `validateFieldName`). */
export const FIELD_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

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
