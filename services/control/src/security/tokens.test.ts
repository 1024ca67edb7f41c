import { timingSafeEqual } from 'node:crypto';
import { Metadata } from '@grpc/grpc-js';
import { describe, expect, it, vi } from 'vitest';
import { parseTokenList, presentedToken, TokenSet } from './tokens.js';

const A = 'token-a-0123456789abcdef';
const B = 'token-b-0123456789abcdef';

describe('TokenSet', () => {
  it('accepts exactly the configured tokens', () => {
    const set = new TokenSet([A, B]);
    expect(set.size).toBe(2);
    expect(set.matches(A)).toBe(true);
    expect(set.matches(B)).toBe(true);
    for (const other of ['', A.slice(0, -1), `${A}x`, A.toUpperCase(), ` ${A}`])
      expect(set.matches(other)).toBe(false);
    expect(() => new TokenSet([])).toThrow(/at least one token/);
  });

  it('keeps digests only and compares equal-length digests with every configured token', () => {
    const compare = vi.fn(timingSafeEqual);
    const set = new TokenSet([A, B], compare);
    expect(JSON.stringify(set)).not.toContain(A);
    expect(set.matches(A)).toBe(true); // the first one matches: the second is still compared
    expect(compare).toHaveBeenCalledTimes(2);
    for (const [x, y] of compare.mock.calls) {
      expect((x as Buffer).length).toBe(32);
      expect((y as Buffer).length).toBe(32);
    }
    compare.mockClear();
    set.matches('short'); // a shorter token is hashed to the same length, no length error or early exit
    expect(compare).toHaveBeenCalledTimes(2);
  });
});

describe('parseTokenList', () => {
  it('splits on commas, whitespace and lines, skipping comment lines', () => {
    expect(parseTokenList(` ${A} ,${B},, `)).toEqual([A, B]);
    expect(parseTokenList(`# ops team\n${A}\n\n  # rotated 2026-11\n${B}\n`)).toEqual([A, B]);
    expect(parseTokenList('')).toEqual([]);
  });
});

describe('presentedToken', () => {
  const md = (...values: string[]): Metadata => {
    const m = new Metadata();
    for (const v of values) m.add('authorization', v);
    return m;
  };

  it('reads "Bearer <token>", the scheme in any case', () => {
    expect(presentedToken(md(`Bearer ${A}`))).toEqual({ kind: 'bearer', token: A });
    expect(presentedToken(md(`bearer ${A}`))).toEqual({ kind: 'bearer', token: A });
  });

  it('tells a missing entry from a malformed one', () => {
    expect(presentedToken(new Metadata())).toEqual({ kind: 'missing' });
    for (const bad of [A, `Basic ${A}`, 'Bearer ', `Bearer ${A} extra`])
      expect(presentedToken(md(bad))).toEqual({ kind: 'malformed' });
    expect(presentedToken(md(`Bearer ${A}`, `Bearer ${B}`))).toEqual({ kind: 'malformed' });
  });
});
