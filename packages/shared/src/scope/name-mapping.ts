/**
 * Target names under a task's `name_mapping`: one rule for the worker (where it writes) and the control service
 * (what VerifyTask compares against), so the two can never disagree on a name.
 */

/** Milvus sends '' for the default database in many requests. */
export function normalizeDatabase(db: string): string {
  return db === '' ? 'default' : db;
}

export interface NameMappingRule {
  readonly sourceDatabase: string;
  /** Empty: the source database's name. */
  readonly targetDatabase: string;
  /** source collection name → target collection name, within `sourceDatabase`. */
  readonly collections: Readonly<Record<string, string>>;
}

export interface MappedName {
  readonly db: string;
  readonly collection: string;
}

function ruleFor(rules: readonly NameMappingRule[], db: string): NameMappingRule | undefined {
  return rules.find((m) => normalizeDatabase(m.sourceDatabase) === db);
}

/** The target database of a source database. */
export function mapDatabaseName(rules: readonly NameMappingRule[], db: string): string {
  const d = normalizeDatabase(db);
  return ruleFor(rules, d)?.targetDatabase || d;
}

/** The target database and name of a source collection: the database rule first, then its collection renames. */
export function mapCollectionName(
  rules: readonly NameMappingRule[],
  db: string,
  collection: string,
): MappedName {
  const d = normalizeDatabase(db);
  const rule = ruleFor(rules, d);
  return {
    db: rule?.targetDatabase || d,
    // own properties only: 'constructor' or 'toString' are valid collection names
    collection:
      rule !== undefined && Object.hasOwn(rule.collections, collection)
        ? (rule.collections[collection] ?? collection)
        : collection,
  };
}
