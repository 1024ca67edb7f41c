import { describe, expect, it } from 'vitest';
import { snapshotRow } from '../snapshot/snapshot-runner.js';
import { sdkRow } from './target-rows.js';

/** Dynamic keys a plain object would lose: `__proto__` sets the prototype, the others are found by an `in` check. */
const TRICKY = ['__proto__', 'constructor', 'toString', 'valueOf', 'hasOwnProperty'];

function metaWithTrickyKeys(): Record<string, unknown> {
  // JSON.parse makes "__proto__" an own property, as the codec's JSON cells and the SDK's query replies do.
  return JSON.parse(
    JSON.stringify(Object.fromEntries([...TRICKY.map((k, i) => [k, i]), ['plain', 'p']])),
  ) as Record<string, unknown>;
}

describe('rows for the target SDK', () => {
  it('passes the dynamic field whole, with keys named like Object.prototype members', () => {
    for (const make of [sdkRow, snapshotRow]) {
      const row = make({ id: '1', vec: [1, 2], $meta: metaWithTrickyKeys() });
      expect(Object.keys(row)).toEqual(['id', 'vec', '$meta']);
      const meta = row['$meta'] as Record<string, unknown>;
      expect(Object.keys(meta)).toEqual([...TRICKY, 'plain']);
      TRICKY.forEach((k, i) => {
        expect(meta[k]).toBe(i);
      });
      // What the SDK serializes for the dynamic field.
      expect(JSON.parse(JSON.stringify(row))).toEqual({ id: '1', vec: [1, 2], $meta: meta });
    }
  });

  it('keeps schema fields named like Object.prototype members', () => {
    const source = JSON.parse('{"__proto__":"7","constructor":"k"}') as Record<string, unknown>;
    const row = sdkRow(source);
    expect(Object.hasOwn(row, '__proto__')).toBe(true);
    expect(row['__proto__']).toBe('7');
    expect(row['constructor']).toBe('k');
  });

  it('leaves out a dynamic field that is not an object', () => {
    expect(Object.keys(sdkRow({ id: '1', $meta: null }))).toEqual(['id']);
    expect(Object.keys(sdkRow({ id: '1', $meta: [1] }))).toEqual(['id']);
  });
});
