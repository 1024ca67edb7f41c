import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { globCovers, globMatch, globsIntersect } from './glob.js';

/** Reference semantics: `*` is `.*`, every other character literal. */
function regexMatch(glob: string, name: string): boolean {
  const escaped = glob.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replaceAll('*', '.*');
  return new RegExp(`^${escaped}$`, 's').test(name);
}

const glob = fc.stringMatching(/^[ab.*]{0,6}$/);
const name = fc.stringMatching(/^[ab.]{0,6}$/);

describe('scope globs', () => {
  it('globMatch agrees with the regex reading of the pattern', () => {
    fc.assert(fc.property(glob, name, (g, n) => globMatch(g, n) === regexMatch(g, n)));
  });

  it('globsIntersect is symmetric and true whenever one name matches both', () => {
    fc.assert(
      fc.property(glob, glob, name, (a, b, n) => {
        expect(globsIntersect(a, b)).toBe(globsIntersect(b, a));
        if (globMatch(a, n) && globMatch(b, n)) expect(globsIntersect(a, b)).toBe(true);
      }),
    );
  });

  it('globCovers never claims coverage of a name the outer glob misses', () => {
    fc.assert(
      fc.property(glob, glob, name, (outer, inner, n) => {
        if (globCovers(outer, inner) && globMatch(inner, n)) expect(globMatch(outer, n)).toBe(true);
      }),
    );
  });

  it('treats regex characters literally', () => {
    expect(globMatch('a.b', 'axb')).toBe(false);
    expect(globMatch('a*', 'a.(b)')).toBe(true);
    expect(globMatch('', '')).toBe(true);
  });
});
