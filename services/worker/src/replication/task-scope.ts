/**
 * Which source collections a task replicates and what they are called on the target.
 * Patterns use `*` as a wildcard (any run of characters); an empty include list means everything.
 */
import { globMatch } from '@cdc/shared';

export interface CollectionPattern {
  readonly database: string;
  readonly collection: string;
}

export interface ScopeSpec {
  readonly include: readonly CollectionPattern[];
  readonly exclude: readonly CollectionPattern[];
}

export interface NameMapping {
  readonly sourceDatabase: string;
  readonly targetDatabase: string;
  /** source collection name → target collection name, within `sourceDatabase`. */
  readonly collections: Readonly<Record<string, string>>;
}

export interface MappedName {
  readonly db: string;
  readonly collection: string;
}

const DEFAULT_DB = 'default';

interface CompiledPattern {
  readonly db: string;
  readonly collection: string;
}

function compile(p: CollectionPattern): CompiledPattern {
  return {
    db: p.database === '' ? DEFAULT_DB : p.database,
    collection: p.collection === '' ? '*' : p.collection,
  };
}

/** Milvus sends '' for the default database in many requests. */
export function normalizeDb(db: string): string {
  return db === '' ? DEFAULT_DB : db;
}

export class TaskScope {
  private readonly include: readonly CompiledPattern[];
  private readonly exclude: readonly CompiledPattern[];

  constructor(
    spec: ScopeSpec,
    private readonly mappings: readonly NameMapping[] = [],
  ) {
    this.include = spec.include.map(compile);
    this.exclude = spec.exclude.map(compile);
  }

  includesCollection(db: string, collection: string): boolean {
    const d = normalizeDb(db);
    const hit = (p: CompiledPattern): boolean =>
      globMatch(p.db, d) && globMatch(p.collection, collection);
    if (this.exclude.some(hit)) return false;
    return this.include.length === 0 || this.include.some(hit);
  }

  /** True when some collection of `db` may be in scope (database-level DDL is replicated then). */
  includesDatabase(db: string): boolean {
    const d = normalizeDb(db);
    // A database whose every collection is excluded is out of scope, its own DDL included.
    if (this.exclude.some((p) => globMatch(p.db, d) && p.collection === '*')) {
      return false;
    }
    if (this.include.length === 0) return true;
    return this.include.some((p) => globMatch(p.db, d));
  }

  mapDatabase(db: string): string {
    const d = normalizeDb(db);
    return this.mappings.find((m) => normalizeDb(m.sourceDatabase) === d)?.targetDatabase || d;
  }

  mapCollection(db: string, collection: string): MappedName {
    const d = normalizeDb(db);
    const mapping = this.mappings.find((m) => normalizeDb(m.sourceDatabase) === d);
    return {
      db: mapping?.targetDatabase || d,
      // own properties only: 'constructor' or 'toString' are valid collection names
      collection:
        mapping !== undefined && Object.hasOwn(mapping.collections, collection)
          ? (mapping.collections[collection] ?? collection)
          : collection,
    };
  }
}
