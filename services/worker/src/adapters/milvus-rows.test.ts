import { describe, expect, it } from 'vitest';
import { keysBytes, rowsBytes, valueBytes } from './milvus-rows.js';

describe('byte estimates', () => {
  it('sums value sizes', () => {
    expect(valueBytes(1.5)).toBe(8);
    expect(valueBytes(true)).toBe(1);
    expect(valueBytes(null)).toBe(0);
    expect(valueBytes('héllo')).toBe(6);
    expect(valueBytes([0.1, 0.2, 0.3, 0.4])).toBe(32);
    expect(valueBytes(new Uint8Array(16))).toBe(16);
    expect(valueBytes({ a: 1 })).toBe(7);
    expect(rowsBytes([{ id: '12', v: [1, 2], ok: true }])).toBe(2 + 16 + 1);
  });

  it('counts keys', () => {
    expect(keysBytes({ type: 'Int64', values: [1n, 2n] })).toBe(16);
    expect(keysBytes({ type: 'VarChar', values: ['ab', 'é'] })).toBe(4);
  });
});
