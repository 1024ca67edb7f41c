import { globMatch } from './scope.js';
import type { CollectionPattern, ScopeSpec, TaskSpec } from './model.js';

const hasWildcard = (s: string): boolean => s.includes('*');

/**
 * The scope of a validated spec as it lands on the target, after `name_mapping` renames: the source-side overlap
 * check alone misses a task whose renamed database collides with another task's database on the same target.
 * Includes are over-approximated (a wildcard keeps its unrenamed form too) and excludes under-approximated (an
 * exclude a rename touches is dropped), so an overlap is never missed; only specs with renames need it.
 */
export function targetScope(spec: TaskSpec): ScopeSpec {
  const mappings = spec.name_mapping;
  const include: CollectionPattern[] = [];
  for (const p of spec.scope.include) {
    let renamedAway = false;
    for (const m of mappings) {
      if (!globMatch(p.database, m.source_database)) continue;
      if (!hasWildcard(p.database)) renamedAway = true;
      // Own entries only: `constructor` or `toString` are valid collection names, not renames.
      const renamed = Object.hasOwn(m.collections, p.collection)
        ? m.collections[p.collection]
        : undefined;
      include.push({ database: m.target_database, collection: renamed ?? p.collection });
      for (const [from, to] of Object.entries(m.collections))
        if (hasWildcard(p.collection) && globMatch(p.collection, from))
          include.push({ database: m.target_database, collection: to });
    }
    if (!renamedAway) include.push(p);
  }
  const touched = (db: string): boolean =>
    mappings.some((m) => globMatch(db, m.source_database) || globMatch(db, m.target_database));
  const exclude = spec.scope.exclude.flatMap((p): CollectionPattern[] => {
    if (!touched(p.database)) return [p];
    const m = mappings.find((x) => x.source_database === p.database);
    return m !== undefined && Object.keys(m.collections).length === 0
      ? [{ database: m.target_database, collection: p.collection }]
      : [];
  });
  return { include, exclude };
}
