import type { CollectionPattern, ScopeSpec } from './model.js';

/** Glob with `*` as the only wildcard (any run of characters, possibly empty). */
export function globMatch(pattern: string, name: string): boolean {
  return intersectFrom(pattern, 0, name.replaceAll('*', '\u0000'), 0, new Map());
}

/**
 * True when some name matches both globs. Dynamic programming over (i, j): a `*` on either side may consume
 * one character of the other side or nothing.
 */
export function globsIntersect(a: string, b: string): boolean {
  return intersectFrom(a, 0, b, 0, new Map());
}

function intersectFrom(
  a: string,
  i: number,
  b: string,
  j: number,
  memo: Map<string, boolean>,
): boolean {
  const key = `${i},${j}`;
  const known = memo.get(key);
  if (known !== undefined) return known;
  let result: boolean;
  if (i === a.length && j === b.length) result = true;
  else if (i < a.length && a[i] === '*')
    result =
      intersectFrom(a, i + 1, b, j, memo) || (j < b.length && intersectFrom(a, i, b, j + 1, memo));
  else if (j < b.length && b[j] === '*')
    result =
      intersectFrom(a, i, b, j + 1, memo) || (i < a.length && intersectFrom(a, i + 1, b, j, memo));
  else
    result =
      i < a.length && j < b.length && a[i] === b[j] && intersectFrom(a, i + 1, b, j + 1, memo);
  memo.set(key, result);
  return result;
}

/**
 * True when every name matched by `inner` is matched by `outer` (sufficient test: `outer` matches `inner` read
 * literally, where a `*` of `inner` can only be matched by a `*` of `outer`).
 */
export function globCovers(outer: string, inner: string): boolean {
  return coverFrom(outer, 0, inner, 0, new Map());
}

function coverFrom(
  o: string,
  i: number,
  n: string,
  j: number,
  memo: Map<string, boolean>,
): boolean {
  const key = `${i},${j}`;
  const known = memo.get(key);
  if (known !== undefined) return known;
  let result: boolean;
  if (i === o.length) result = j === n.length;
  else if (o[i] === '*')
    result = coverFrom(o, i + 1, n, j, memo) || (j < n.length && coverFrom(o, i, n, j + 1, memo));
  else
    result = j < n.length && n[j] !== '*' && o[i] === n[j] && coverFrom(o, i + 1, n, j + 1, memo);
  memo.set(key, result);
  return result;
}

export function normalizePattern(p: CollectionPattern): CollectionPattern {
  return {
    database: p.database === '' ? 'default' : p.database,
    collection: p.collection === '' ? '*' : p.collection,
  };
}

export function patternText(p: CollectionPattern): string {
  const n = normalizePattern(p);
  return `${n.database}.${n.collection}`;
}

function patternsIntersect(a: CollectionPattern, b: CollectionPattern): boolean {
  const x = normalizePattern(a);
  const y = normalizePattern(b);
  return globsIntersect(x.database, y.database) && globsIntersect(x.collection, y.collection);
}

function patternCovers(outer: CollectionPattern, inner: CollectionPattern): boolean {
  const o = normalizePattern(outer);
  const n = normalizePattern(inner);
  return globCovers(o.database, n.database) && globCovers(o.collection, n.collection);
}

/** Whether a collection is in scope: matches an include and no exclude. */
export function scopeMatches(scope: ScopeSpec, database: string, collection: string): boolean {
  const db = database === '' ? 'default' : database;
  const hit = (p: CollectionPattern): boolean => {
    const n = normalizePattern(p);
    return globMatch(n.database, db) && globMatch(n.collection, collection);
  };
  return scope.include.some(hit) && !scope.exclude.some(hit);
}

/**
 * The first pair of include patterns through which two scopes can select the same collection, or undefined.
 * An include pair is disregarded when an exclude of the other scope covers it entirely.
 */
export function scopeOverlap(
  a: ScopeSpec,
  b: ScopeSpec,
): { a: CollectionPattern; b: CollectionPattern } | undefined {
  for (const pa of a.include) {
    if (b.exclude.some((e) => patternCovers(e, pa))) continue;
    for (const pb of b.include) {
      if (a.exclude.some((e) => patternCovers(e, pb))) continue;
      if (patternsIntersect(pa, pb)) return { a: pa, b: pb };
    }
  }
  return undefined;
}
