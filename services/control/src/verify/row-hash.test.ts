import { describe, expect, it } from 'vitest';
import { rowHasher, type HashedField } from './row-hash.js';

const FIELDS: HashedField[] = [
  { name: 'pk', type: 'Int64' },
  { name: 'vec', type: 'FloatVector' },
  { name: 'meta', type: 'JSON' },
  { name: 'score', type: 'Float' },
  { name: 'label', type: 'VarChar' },
  { name: 'tags', type: 'Array', elementType: 'Int64' },
  { name: '$meta', type: 'JSON' },
];
const hash = rowHasher(FIELDS);

const row = {
  pk: '9007199254740993',
  vec: [0.1, 0.2, 0.3],
  meta: { a: 1, b: { c: [1, 'x'] } },
  score: 0.1,
  label: 'l',
  tags: ['9007199254740995', '2'],
  $meta: { note: 'n', size: 2 },
};

describe('rowHasher', () => {
  it('ignores field order, JSON key order and how Int64 values are spelled', () => {
    const reordered = {
      $meta: { size: 2, note: 'n' },
      tags: ['9007199254740995', 2],
      label: 'l',
      score: 0.1,
      meta: { b: { c: [1, 'x'] }, a: 1 },
      vec: [0.1, 0.2, 0.3],
      pk: '9007199254740993',
    };
    expect(hash(reordered)).toBe(hash(row));
  });

  it('compares floats as the float32 values Milvus stores', () => {
    const widened = {
      ...row,
      vec: [0.10000000149011612, 0.20000000298023224, 0.30000001192092896],
    };
    expect(hash({ ...widened, score: 0.10000000149011612 })).toBe(hash(row));
    expect(hash({ ...row, vec: [0.1, 0.2, 0.30001] })).not.toBe(hash(row));
  });

  it('treats dynamic keys spread into the row like the same keys under $meta', () => {
    const { $meta, ...rest } = row;
    expect(hash({ ...rest, ...$meta })).toBe(hash(row));
    expect(hash({ ...rest, $meta: { note: 'n' } })).not.toBe(hash(row));
  });

  it('hashes dynamic keys named like Object.prototype members, under $meta or spread', () => {
    for (const key of ['__proto__', 'constructor', 'toString', 'valueOf', 'hasOwnProperty']) {
      // JSON.parse makes "__proto__" an own property, as the SDK's JSON decoding does.
      const meta = (value: number): Record<string, unknown> =>
        JSON.parse(`{"note":"n","size":2,${JSON.stringify(key)}:${value}}`) as Record<
          string,
          unknown
        >;
      const rest: Record<string, unknown> = { ...row };
      delete rest['$meta'];
      expect(hash({ ...rest, $meta: meta(1) }), key).not.toBe(hash(row));
      expect(hash({ ...rest, $meta: meta(1) }), key).not.toBe(hash({ ...rest, $meta: meta(2) }));
      const spread = Object.assign(Object.create(null) as Record<string, unknown>, rest);
      for (const [k, v] of Object.entries(meta(1))) spread[k] = v;
      expect(hash(spread), key).toBe(hash({ ...rest, $meta: meta(1) }));
    }
  });

  it('sees a change in any field, vectors and JSON included', () => {
    const changes: Record<string, unknown>[] = [
      { pk: '9007199254740992' },
      { meta: { a: 1, b: { c: [1, 'y'] } } },
      { label: 'L' },
      { tags: ['9007199254740995'] },
      { score: 0.2 },
      { vec: [0.1, 0.2] },
      { label: null },
    ];
    const hashes = new Set(changes.map((c) => hash({ ...row, ...c })));
    expect(hashes.size).toBe(changes.length);
    expect(hashes.has(hash(row))).toBe(false);
  });

  it('cannot be fooled by moving characters between adjacent fields', () => {
    const h = rowHasher([
      { name: 'a', type: 'VarChar' },
      { name: 'b', type: 'VarChar' },
    ]);
    expect(h({ a: 'x1', b: '' })).not.toBe(h({ a: 'x', b: '1' }));
  });

  it('reads binary vectors as bytes, as arrays or buffers', () => {
    const h = rowHasher([
      { name: 'pk', type: 'Int64' },
      { name: 'bin', type: 'BinaryVector' },
    ]);
    expect(h({ pk: 1, bin: [1, 255] })).toBe(h({ pk: '1', bin: Buffer.from([1, 255]) }));
    expect(h({ pk: 1, bin: [1, 254] })).not.toBe(h({ pk: 1, bin: [1, 255] }));
  });

  it('treats a missing value and null alike', () => {
    const noLabel: Record<string, unknown> = { ...row };
    delete noLabel['label'];
    expect(hash(noLabel)).toBe(hash({ ...row, label: null }));
  });
});
