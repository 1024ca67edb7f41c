import { CdcError } from '@cdc/shared';

/** A primary key: Int64 as bigint, VarChar as string. */
export type RowKey = bigint | string;

/** One row as the comparison sees it: its key and its content hash. */
export interface KeyedHash {
  readonly key: RowKey;
  readonly hash: string;
}

/** Differences between two key-ordered streams. */
export interface KeyDiff {
  readonly missing: RowKey[];
  readonly extra: RowKey[];
  readonly changed: RowKey[];
  readonly sourceRows: number;
  readonly targetRows: number;
}

const utf8 = (s: string): Buffer => Buffer.from(s, 'utf8');

/**
 * The server's key order: Int64 numerically, VarChar by UTF-8 bytes (Go string comparison). JavaScript's `<` on
 * strings compares UTF-16 units, which orders some non-BMP characters differently.
 */
export function compareKeys(a: RowKey, b: RowKey): number {
  if (typeof a === 'bigint' && typeof b === 'bigint') return a < b ? -1 : a > b ? 1 : 0;
  return Buffer.compare(utf8(String(a)), utf8(String(b)));
}

export function keyText(key: RowKey): string {
  return typeof key === 'bigint' ? key.toString() : key;
}

/** Flattens pages into rows, failing when a key does not ascend (a merge over unordered input would miss rows). */
async function* ascending(
  pages: AsyncIterable<readonly KeyedHash[]>,
  side: string,
): AsyncGenerator<KeyedHash> {
  let last: RowKey | undefined;
  for await (const page of pages) {
    for (const row of page) {
      if (last !== undefined && compareKeys(row.key, last) <= 0)
        throw new CdcError('INTERNAL', `comparing rows: ${side} keys are not in ascending order`, {
          retryable: false,
        });
      last = row.key;
      yield row;
    }
  }
}

/**
 * Merge-join of two key-ordered streams: keys only in the source are missing on the target, keys only in the target
 * are extra, keys on both sides with different hashes changed. Memory holds the differing keys, never the rows.
 */
export async function diffSorted(
  source: AsyncIterable<readonly KeyedHash[]>,
  target: AsyncIterable<readonly KeyedHash[]>,
): Promise<KeyDiff> {
  const s = ascending(source, 'source');
  const t = ascending(target, 'target');
  const diff = { missing: [] as RowKey[], extra: [] as RowKey[], changed: [] as RowKey[] };
  let sourceRows = 0;
  let targetRows = 0;
  let [a, b] = await Promise.all([s.next(), t.next()]);
  while (!a.done || !b.done) {
    const order = a.done ? 1 : b.done ? -1 : compareKeys(a.value.key, b.value.key);
    if (order < 0 && !a.done) {
      diff.missing.push(a.value.key);
      sourceRows++;
      a = await s.next();
    } else if (order > 0 && !b.done) {
      diff.extra.push(b.value.key);
      targetRows++;
      b = await t.next();
    } else if (!a.done && !b.done) {
      if (a.value.hash !== b.value.hash) diff.changed.push(a.value.key);
      sourceRows++;
      targetRows++;
      [a, b] = await Promise.all([s.next(), t.next()]);
    }
  }
  return { ...diff, sourceRows, targetRows };
}
