/**
 * Which source collections a task replicates and what they are called on the target.
 * Patterns use `*` as a wildcard (any run of characters); an empty include list means everything.
 */
import {
  globMatch,
  mapCollectionName,
  mapDatabaseName,
  normalizeDatabase,
  type MappedName,
  type NameMappingRule as NameMapping,
} from '@cdc/shared';

export interface CollectionPattern {
  readonly database: string;
  readonly collection: string;
}

export interface ScopeSpec {
  readonly include: readonly CollectionPattern[];
  readonly exclude: readonly CollectionPattern[];
}

export type { MappedName, NameMappingRule as NameMapping } from '@cdc/shared';

interface CompiledPattern {
  readonly db: string;
  readonly collection: string;
}

function compile(p: CollectionPattern): CompiledPattern {
  return {
    db: normalizeDatabase(p.database),
    collection: p.collection === '' ? '*' : p.collection,
  };
}

/** Milvus sends '' for the default database in many requests. */
export const normalizeDb = normalizeDatabase;

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
    return mapDatabaseName(this.mappings, db);
  }

  mapCollection(db: string, collection: string): MappedName {
    return mapCollectionName(this.mappings, db, collection);
  }
}
