import { globCovers, globMatch, globsIntersect } from '@cdc/shared';
import type { CollectionPattern, ScopeSpec } from './model.js';

export { globMatch };

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
