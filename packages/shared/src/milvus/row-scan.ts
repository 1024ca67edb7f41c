/**
 * Reads every row of a collection page by page in primary-key order (keyset paging: `pk > last` with a limit).
 * Offset paging cannot pass 16,384 rows on a 2.3 server and the SDK's queryIterator reads the count and the schema
 * without the database name; keyset paging has neither problem and its cost per page stays flat.
 *
 * The server returns the smallest `limit` keys above the filter in ascending order (proxy reduce merges shards and
 * segments by key; checked on 2.3.5 with sealed and growing segments). The scan still checks every page and fails
 * loudly if a key is out of order, because a silent skip would lose rows.
 *
 * Only an empty page ends a scan. A Milvus 2.3 collection can hold a primary key more than once (insert does not
 * dedupe); the server then fills the limit with copies and drops them when it merges, so a page can come back
 * shorter than the limit while more keys follow.
 */
import { CdcError } from '../errors.js';
import { FIELD_NAME, stringLiteral } from './expr.js';

export type ScannedRow = Readonly<Record<string, unknown>>;

/** One page: rows matching `expr`, at most `limit`, read at a consistency that sees everything written before. */
export type QueryPage = (expr: string, limit: number) => Promise<readonly ScannedRow[]>;

export interface RowScanOptions {
  readonly pkField: string;
  readonly pkType: 'Int64' | 'VarChar';
  /** Rows per page; 2.3 servers cap a query at 16,384. */
  readonly pageSize?: number;
  /** Extra filter ANDed with the key range, e.g. to scan part of a collection. */
  readonly filter?: string;
  /** Resume after this key (exclusive). */
  readonly after?: bigint | string;
}

export const MAX_PAGE_SIZE = 16_384;
const DEFAULT_PAGE_SIZE = 4_000;

type Key = bigint | string;

/** The primary key of a scanned row as a comparable value: Int64 as bigint (the SDK returns strings or numbers). */
export function rowKey(row: ScannedRow, pkField: string, pkType: 'Int64' | 'VarChar'): Key {
  const v = row[pkField];
  if (pkType === 'VarChar') {
    if (typeof v !== 'string') throw badKey(pkField, v);
    return v;
  }
  if (typeof v === 'bigint') return v;
  if (typeof v === 'string' && /^-?\d+$/.test(v)) return BigInt(v);
  if (typeof v === 'number' && Number.isSafeInteger(v)) return BigInt(v);
  throw badKey(pkField, v);
}

function badKey(pkField: string, v: unknown): CdcError {
  return new CdcError('INTERNAL', `scanning rows: a row has no usable primary key "${pkField}"`, {
    retryable: false,
    details: { type: typeof v },
  });
}

/**
 * Server key order: Int64 numerically, VarChar by UTF-8 bytes (Go string comparison). JavaScript compares strings by
 * UTF-16 code units, which orders characters beyond U+FFFF before U+E000–U+FFFF: the reverse of the server.
 */
function keyAfter(key: Key, last: Key): boolean {
  if (typeof key === 'bigint' || typeof last === 'bigint') return key > last;
  return Buffer.compare(Buffer.from(key, 'utf8'), Buffer.from(last, 'utf8')) > 0;
}

function keyLiteral(key: Key): string {
  return typeof key === 'bigint' ? key.toString() : stringLiteral(key);
}

/** Yields pages of rows in ascending key order until the collection (or the filtered part) is exhausted. */
export async function* scanRows(
  query: QueryPage,
  opts: RowScanOptions,
): AsyncGenerator<readonly ScannedRow[]> {
  if (!FIELD_NAME.test(opts.pkField)) {
    throw new CdcError('INVALID_ARGUMENT', 'scanning rows: invalid primary key field name', {
      retryable: false,
      details: { pkField: opts.pkField },
    });
  }
  const pageSize = Math.min(opts.pageSize ?? DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE);
  let last: Key | undefined = opts.after;
  for (;;) {
    const range =
      last === undefined
        ? opts.pkType === 'VarChar'
          ? `${opts.pkField} >= ""`
          : `${opts.pkField} >= -9223372036854775807 or ${opts.pkField} < -9223372036854775807`
        : `${opts.pkField} > ${keyLiteral(last)}`;
    const expr = opts.filter === undefined ? range : `(${opts.filter}) and (${range})`;
    const page = await query(expr, pageSize);
    if (page.length === 0) return;
    for (const row of page) {
      const key = rowKey(row, opts.pkField, opts.pkType);
      if (last !== undefined && !keyAfter(key, last)) {
        throw new CdcError('INTERNAL', 'scanning rows: the server returned keys out of order', {
          retryable: false,
          details: { pkField: opts.pkField },
        });
      }
      last = key;
    }
    yield page;
  }
}
