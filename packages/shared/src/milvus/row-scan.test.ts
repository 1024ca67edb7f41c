import { describe, expect, it } from 'vitest';
import { CdcError } from '../errors.js';
import { scanRows, type QueryPage, type ScannedRow } from './row-scan.js';

/** A fake server over sorted keys that understands exactly the range expressions the scan builds. */
function fakeServer(
  keys: readonly bigint[],
  shuffle = false,
): { query: QueryPage; exprs: string[] } {
  const exprs: string[] = [];
  const sorted = [...keys].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const query: QueryPage = (expr, limit) => {
    exprs.push(expr);
    const after = /pk > (-?\d+)\)?$/.exec(expr)?.[1];
    const rows = sorted
      .filter((k) => after === undefined || k > BigInt(after))
      .slice(0, limit)
      .map((k): ScannedRow => ({ pk: k.toString() }));
    return Promise.resolve(shuffle ? rows.reverse() : rows);
  };
  return { query, exprs };
}

async function collect(gen: AsyncGenerator<readonly ScannedRow[]>): Promise<string[]> {
  const out: string[] = [];
  for await (const page of gen) for (const r of page) out.push(String(r['pk']));
  return out;
}

describe('scanRows', () => {
  const keys = [5n, -3n, 9007199254740993n, 0n, 42n, -9223372036854775807n, 7n];

  it('reads every key once, in order, across pages including beyond 2^53', async () => {
    const { query, exprs } = fakeServer(keys);
    const got = await collect(scanRows(query, { pkField: 'pk', pkType: 'Int64', pageSize: 3 }));
    expect(got).toEqual(
      ['-9223372036854775807', '-3', '0', '5', '7', '42', '9007199254740993'].map(String),
    );
    expect(exprs[1]).toBe('pk > 0');
    expect(exprs).toHaveLength(4); // three pages, then the empty one that ends the scan
  });

  it('goes on after a short page: Milvus 2.3 fills the limit with copies of a repeated key', async () => {
    // Each key stored three times; the server takes `limit` stored rows, then merges copies into one.
    const stored = Array.from({ length: 30 }, (_, i) => BigInt(Math.floor(i / 3)));
    const exprs: string[] = [];
    const query: QueryPage = (expr, limit) => {
      exprs.push(expr);
      const after = /pk > (-?\d+)\)?$/.exec(expr)?.[1];
      const taken = stored.filter((k) => after === undefined || k > BigInt(after)).slice(0, limit);
      return Promise.resolve([...new Set(taken)].map((k): ScannedRow => ({ pk: k.toString() })));
    };
    const got = await collect(scanRows(query, { pkField: 'pk', pkType: 'Int64', pageSize: 6 }));
    expect(got).toEqual(Array.from({ length: 10 }, (_, i) => String(i)));
  });

  it('resumes after a key and ANDs a filter', async () => {
    const { query, exprs } = fakeServer(keys);
    const got = await collect(
      scanRows(query, {
        pkField: 'pk',
        pkType: 'Int64',
        after: 5n,
        filter: 'x == 1',
        pageSize: 10,
      }),
    );
    expect(got).toEqual(['7', '42', '9007199254740993']);
    expect(exprs[0]).toBe('(x == 1) and (pk > 5)');
  });

  it('fails instead of skipping when a page is out of order', async () => {
    const { query } = fakeServer(keys, true);
    await expect(collect(scanRows(query, { pkField: 'pk', pkType: 'Int64' }))).rejects.toThrow(
      CdcError,
    );
  });

  it('quotes varchar keys in the next page filter', async () => {
    const exprs: string[] = [];
    const pages: ScannedRow[][] = [[{ id: 'a"b' }], []];
    const query: QueryPage = (expr) => {
      exprs.push(expr);
      return Promise.resolve(pages.shift() ?? []);
    };
    await collect(scanRows(query, { pkField: 'id', pkType: 'VarChar', pageSize: 1 }));
    expect(exprs).toEqual(['id >= ""', String.raw`id > "a\"b"`]);
  });

  it('accepts varchar keys in UTF-8 byte order, as the server sorts them', async () => {
    // U+FFFD sorts before U+1F600 in UTF-8 but after it in UTF-16 code units.
    const pages: ScannedRow[][] = [[{ pk: 'a' }, { pk: '\uFFFD' }, { pk: '\u{1F600}' }], []];
    const query: QueryPage = () => Promise.resolve(pages.shift() ?? []);
    const got = await collect(scanRows(query, { pkField: 'pk', pkType: 'VarChar', pageSize: 3 }));
    expect(got).toEqual(['a', '\uFFFD', '\u{1F600}']);
  });

  it('refuses a primary key name that is not an identifier', async () => {
    const { query } = fakeServer(keys);
    await expect(collect(scanRows(query, { pkField: 'pk or 1', pkType: 'Int64' }))).rejects.toThrow(
      CdcError,
    );
  });
});
