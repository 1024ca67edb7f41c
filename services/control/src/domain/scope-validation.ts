import { invalidArgument } from '@cdc/shared';
import { checkCount, MAX_LIST_ITEMS, MAX_MAP_ENTRIES, quote } from './field-checks.js';
import type { CollectionPattern, NameMappingSpec } from './model.js';

const NAME_PATTERN = /^[A-Za-z0-9_*-]{1,255}$/;
const NAME = /^[A-Za-z0-9_-]{1,255}$/;

export function checkPatterns(field: string, patterns: CollectionPattern[]): CollectionPattern[] {
  checkCount(field, patterns.length, MAX_LIST_ITEMS);
  return patterns.map((p, i) => {
    const database = p.database === '' ? 'default' : p.database;
    const collection = p.collection === '' ? '*' : p.collection;
    if (!NAME_PATTERN.test(database))
      throw invalidArgument(
        `${field}[${i}].database`,
        `${quote(database)} is not a valid name or pattern (1-255 characters of [A-Za-z0-9_*-])`,
      );
    if (!NAME_PATTERN.test(collection))
      throw invalidArgument(
        `${field}[${i}].collection`,
        `${quote(collection)} is not a valid name or pattern (1-255 characters of [A-Za-z0-9_*-])`,
      );
    return { database, collection };
  });
}

export function checkNameMapping(mappings: NameMappingSpec[]): NameMappingSpec[] {
  checkCount('spec.name_mapping', mappings.length, MAX_LIST_ITEMS);
  const seen = new Set<string>();
  // Two source databases (or two collections of one) renamed to the same target would be merged into one.
  const targets = new Map<string, number>();
  return mappings.map((m, i) => {
    const field = `spec.name_mapping[${i}]`;
    if (!NAME.test(m.source_database))
      throw invalidArgument(
        `${field}.source_database`,
        'must be a database name without wildcards',
      );
    if (seen.has(m.source_database))
      throw invalidArgument(
        `${field}.source_database`,
        `${quote(m.source_database)} is mapped twice`,
      );
    seen.add(m.source_database);
    const target = m.target_database === '' ? m.source_database : m.target_database;
    if (!NAME.test(target))
      throw invalidArgument(
        `${field}.target_database`,
        `${quote(target)} is not a valid database name`,
      );
    const other = targets.get(target);
    if (other !== undefined)
      throw invalidArgument(
        `${field}.target_database`,
        `${quote(target)} is also the target of spec.name_mapping[${other}]`,
      );
    targets.set(target, i);
    checkCount(`${field}.collections`, Object.keys(m.collections).length, MAX_MAP_ENTRIES);
    const collectionTargets = new Map<string, string>();
    for (const [from, to] of Object.entries(m.collections)) {
      if (!NAME.test(from))
        throw invalidArgument(
          `${field}.collections`,
          `key ${quote(from)} is not a valid collection name`,
        );
      if (!NAME.test(to))
        throw invalidArgument(
          `${field}.collections[${quote(from)}]`,
          `${quote(to)} is not a valid collection name`,
        );
      const twin = collectionTargets.get(to);
      if (twin !== undefined)
        throw invalidArgument(
          `${field}.collections[${quote(from)}]`,
          `${quote(to)} is also the target of ${quote(twin)}`,
        );
      collectionTargets.set(to, from);
    }
    return { ...m, target_database: target };
  });
}
