import { CdcError, invalidArgument, mapCollectionName, normalizeDatabase } from '@cdc/shared';
import type { NameMappingSpec, TaskRecord, TaskSpec } from '../domain/model.js';
import { scopeMatches } from '../domain/scope.js';
import type { AppliedCheckpoints, CollectionRef, RowSide, RowSideFactory } from './ports.js';
import { metadataDifferences, type MetadataDifference } from './metadata-diff.js';
import { Verifier, type CollectionReport } from './verifier.js';

export interface VerifyRequest {
  readonly taskId: string;
  /** Source collections; empty: every source collection in the task's scope. */
  readonly collections: readonly CollectionRef[];
  readonly repair: boolean;
}

export interface VerifyReport {
  readonly taskId: string;
  readonly collections: CollectionReport[];
  /** Aliases, collection properties and (with RBAC replication) roles, grants and bindings that differ. */
  readonly metadataDifferences: readonly MetadataDifference[];
  readonly clean: boolean;
  readonly rowsCompared: number;
  readonly durationMs: number;
}

export interface VerifyServiceDeps {
  /** The task with its secrets (NOT_FOUND for an unknown task). */
  readonly task: (taskId: string) => Promise<{ record: TaskRecord; spec: TaskSpec }>;
  readonly openSide: RowSideFactory;
  readonly applied: AppliedCheckpoints;
  readonly now?: () => number;
  readonly sleep?: (ms: number) => Promise<void>;
  readonly settleBudgetMs?: number;
}

/** The target name of a source collection under `name_mapping` (the same rule the worker writes with). */
export function mappedName(
  mappings: readonly NameMappingSpec[],
  ref: CollectionRef,
): CollectionRef {
  const rules = mappings.map((m) => ({
    sourceDatabase: m.source_database,
    targetDatabase: m.target_database,
    collections: m.collections,
  }));
  return mapCollectionName(rules, ref.db, ref.collection);
}

const byName = (a: CollectionRef, b: CollectionRef): number =>
  a.db === b.db ? (a.collection < b.collection ? -1 : 1) : a.db < b.db ? -1 : 1;

/** VerifyTask: picks the collections, opens both servers, compares (and repairs) one collection at a time. */
export class VerifyService {
  constructor(private readonly deps: VerifyServiceDeps) {}

  async verify(req: VerifyRequest): Promise<VerifyReport> {
    const started = Date.now();
    const { record, spec } = await this.deps.task(req.taskId);
    req.collections.forEach((c, i) => {
      if (!scopeMatches(spec.scope, c.db, c.collection))
        throw invalidArgument(
          `collections[${i}]`,
          `${normalizeDatabase(c.db)}.${c.collection} is not in the scope of task ${record.taskId}`,
        );
    });
    if (spec.source.milvus.uri === '')
      throw new CdcError(
        'FAILED_PRECONDITION',
        `task ${record.taskId} has no spec.source.milvus: verification reads rows from the source server, so the task needs its uri`,
        { retryable: false },
      );
    const sides: RowSide[] = [];
    try {
      const source = await this.deps.openSide('source', spec.source.milvus);
      sides.push(source);
      const target = await this.deps.openSide('target', spec.target);
      sides.push(target);
      const refs = await this.collections(source, spec, req.collections);
      const verifier = new Verifier(record.taskId, source, target, {
        applied: this.deps.applied,
        now: this.deps.now ?? Date.now,
        sleep: this.deps.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms))),
        ...(this.deps.settleBudgetMs === undefined
          ? {}
          : { settleBudgetMs: this.deps.settleBudgetMs }),
      });
      // Every requested collection must exist before any is compared (NOT_FOUND names the first that does not).
      const layouts = [];
      for (const { ref, index } of refs) {
        const layout = await source.describe(ref);
        if (layout !== undefined) layouts.push({ ref, layout });
        else if (index !== undefined)
          throw new CdcError(
            'NOT_FOUND',
            `collections[${index}]: source collection ${ref.db}.${ref.collection} not found`,
            { retryable: false },
          );
      }
      const reports: CollectionReport[] = [];
      for (const { ref, layout } of layouts)
        reports.push(
          await verifier.collection(ref, layout, mappedName(spec.name_mapping, ref), req.repair),
        );
      // Aliases, properties (and RBAC) of the collections that were compared.
      const sourceMeta = source.metadata?.();
      const targetMeta = target.metadata?.();
      const metadata =
        sourceMeta === undefined || targetMeta === undefined
          ? []
          : await metadataDifferences(
              sourceMeta,
              targetMeta,
              spec,
              layouts.map((l) => l.ref),
            );
      const clean =
        metadata.length === 0 &&
        reports.every((r) => {
          const left = r.remaining ?? r.differences;
          return (
            r.error === '' && left.missing.length + left.extra.length + left.changed.length === 0
          );
        });
      return {
        taskId: record.taskId,
        collections: reports,
        metadataDifferences: metadata,
        clean,
        rowsCompared: reports.reduce((n, r) => n + r.sourceRows + r.targetRows, 0),
        durationMs: Date.now() - started,
      };
    } finally {
      await Promise.allSettled(sides.map((s) => s.close()));
    }
  }

  /** The requested collections (with their request index), or every source collection in scope. */
  private async collections(
    source: RowSide,
    spec: TaskSpec,
    requested: readonly CollectionRef[],
  ): Promise<{ ref: CollectionRef; index?: number }[]> {
    if (requested.length > 0)
      return requested.map((c, index) => ({
        ref: { db: normalizeDatabase(c.db), collection: c.collection },
        index,
      }));
    const all = await source.listCollections();
    return all
      .filter((c) => scopeMatches(spec.scope, c.db, c.collection))
      .sort(byName)
      .map((ref) => ({ ref }));
  }
}
