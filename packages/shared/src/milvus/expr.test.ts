import { describe, expect, it } from 'vitest';
import { CdcError } from '../errors.js';
import { primaryKeyFilter, stringLiteral } from './expr.js';

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
