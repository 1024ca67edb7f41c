import { CdcError } from '@cdc/shared';
import { describe, expect, it } from 'vitest';
import {
  keysBytes,
  primaryKeyFilter,
  rowsBytes,
  stringLiteral,
  valueBytes,
} from './milvus-rows.js';

describe('primaryKeyFilter', () => {
  it('prints int64 keys exactly, beyond 2^53 and negative', () => {
    const keys = { type: 'Int64', values: [9007199254740993n, -9223372036854775807n, 0n] } as const;
    expect(primaryKeyFilter('id', keys)).toBe('id in [9007199254740993,-9223372036854775807,0]');
  });

  it('matches INT64_MIN, which has no literal, by range', () => {
    const min = -9223372036854775808n;
    expect(primaryKeyFilter('id', { type: 'Int64', values: [min] })).toBe(
      'id < -9223372036854775807',
    );
    expect(primaryKeyFilter('id', { type: 'Int64', values: [1n, min] })).toBe(
      'id in [1] or id < -9223372036854775807',
    );
  });

  it('escapes quotes, backslashes and control characters in varchar keys', () => {
    const keys = {
      type: 'VarChar',
      values: ['a"b', 'c\\d', "e'f", 'g\nh', 'x" || pk != "'],
    } as const;
    expect(primaryKeyFilter('pk', keys)).toBe(
      String.raw`pk in ["a\"b","c\\d","e'f","g\nh","x\" || pk != \""]`,
    );
  });

  it('refuses a field name that is not an identifier', () => {
    expect(() => primaryKeyFilter('id] or [1', { type: 'Int64', values: [1n] })).toThrow(CdcError);
  });

  it('quotes each literal so it round-trips through a JSON-style unquote', () => {
    for (const s of ['plain', '"', '\\', '\u0000\u001f', 'ünïcödé ✓', '\\"']) {
      expect(JSON.parse(stringLiteral(s))).toBe(s);
    }
  });
});

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
