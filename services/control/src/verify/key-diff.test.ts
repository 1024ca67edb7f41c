import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CdcError } from '@cdc/shared';
import { compareKeys, diffSorted, type KeyedHash, type RowKey } from './key-diff.js';

async function* pages(rows: KeyedHash[], size: number): AsyncGenerator<readonly KeyedHash[]> {
  for (let i = 0; i < rows.length; i += size) {
    await Promise.resolve();
    yield rows.slice(i, i + size);
  }
}

const rows = (entries: [RowKey, string][]): KeyedHash[] =>
  entries.map(([key, hash]) => ({ key, hash }));

describe('diffSorted', () => {
  it('sorts keys into missing, extra and changed across unequal pages', async () => {
    const source = rows([
      [1n, 'a'],
      [2n, 'b'],
      [4n, 'd'],
      [5n, 'e'],
      [9n, 'i'],
    ]);
    const target = rows([
      [2n, 'b'],
      [3n, 'c'],
      [4n, 'D'],
      [9n, 'i'],
      [10n, 'j'],
    ]);
    const diff = await diffSorted(pages(source, 2), pages(target, 3));
    expect(diff).toEqual({
      missing: [1n, 5n],
      extra: [3n, 10n],
      changed: [4n],
      sourceRows: 5,
      targetRows: 5,
    });
  });

  it('handles an empty side', async () => {
    const source = rows([
      ['a', 'x'],
      ['b', 'y'],
    ]);
    const diff = await diffSorted(pages(source, 1), pages([], 1));
    expect(diff).toMatchObject({ missing: ['a', 'b'], extra: [], changed: [], targetRows: 0 });
  });

  it('fails instead of guessing when a side is out of order', async () => {
    const bad = rows([
      [2n, 'b'],
      [1n, 'a'],
    ]);
    await expect(diffSorted(pages(bad, 5), pages([], 1))).rejects.toThrow(CdcError);
  });

  it('orders VarChar keys by UTF-8 bytes, as the server does', () => {
    // UTF-16 puts the surrogate pair of U+1F600 before U+FFFF; UTF-8 (and Milvus) after.
    expect(compareKeys('\uFFFF', '😀')).toBeLessThan(0);
    expect(compareKeys('a', 'b')).toBeLessThan(0);
    expect(compareKeys(-5n, 3n)).toBeLessThan(0);
  });

  it('agrees with set arithmetic on random key sets', async () => {
    const side = fc.dictionary(
      fc.integer({ min: -50, max: 50 }).map(String),
      fc.constantFrom('h1', 'h2'),
    );
    await fc.assert(
      fc.asyncProperty(side, side, fc.integer({ min: 1, max: 7 }), async (s, t, size) => {
        const sorted = (d: Record<string, string>): KeyedHash[] =>
          Object.entries(d)
            .map(([k, hash]) => ({ key: BigInt(k), hash }))
            .sort((a, b) => compareKeys(a.key, b.key));
        const diff = await diffSorted(pages(sorted(s), size), pages(sorted(t), size + 1));
        const keys = (pred: (k: string) => boolean, d: Record<string, string>): bigint[] =>
          sorted(d)
            .map((r) => r.key as bigint)
            .filter((k) => pred(String(k)));
        expect(diff.missing).toEqual(keys((k) => !(k in t), s));
        expect(diff.extra).toEqual(keys((k) => !(k in s), t));
        expect(diff.changed).toEqual(keys((k) => k in t && t[k] !== s[k], s));
      }),
    );
  });
});
