import { invalidArgument, type pb } from '@cdc/shared';
import { checkLength } from '../domain/field-checks.js';
import { validateTaskId } from '../domain/id-validation.js';
import { keyText, type RowKey } from '../verify/key-diff.js';
import type { VerifyReport, VerifyRequest } from '../verify/verify-service.js';
import type { KeyReport } from '../verify/verifier.js';

const MAX_COLLECTIONS = 100;
const MAX_KEYS_REPORTED = 10_000;
const DEFAULT_KEYS_REPORTED = 100;
/** Milvus database and collection names: a letter or underscore, then letters, digits, underscores; ≤ 255. */
const MILVUS_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const MAX_NAME_CHARS = 255;

function checkName(fieldPath: string, value: string): void {
  checkLength(fieldPath, value, MAX_NAME_CHARS);
  if (!MILVUS_NAME.test(value))
    throw invalidArgument(
      fieldPath,
      'is not a Milvus name (a letter or underscore, then letters, digits, underscores)',
    );
}

/** A VerifyTaskRequest, validated field by field (INVALID_ARGUMENT names the field). */
export function verifyRequestFromProto(
  req: pb.VerifyTaskRequest__Output,
): VerifyRequest & { maxKeys: number } {
  const taskId = validateTaskId(req.task_id);
  if (req.collections.length > MAX_COLLECTIONS)
    throw invalidArgument(
      'collections',
      `has ${req.collections.length} entries; at most ${MAX_COLLECTIONS} allowed`,
    );
  const collections = req.collections.map((c, i) => {
    const db = c.database;
    const collection = c.collection;
    if (db !== '') checkName(`collections[${i}].database`, db);
    if (collection === '') throw invalidArgument(`collections[${i}].collection`, 'is required');
    checkName(`collections[${i}].collection`, collection);
    return { db, collection };
  });
  const maxKeys = req.max_keys_reported;
  if (maxKeys > MAX_KEYS_REPORTED)
    throw invalidArgument('max_keys_reported', `must be at most ${MAX_KEYS_REPORTED}`);
  return {
    taskId,
    collections,
    repair: req.repair,
    maxKeys: maxKeys === 0 ? DEFAULT_KEYS_REPORTED : maxKeys,
  };
}

function keysToProto(k: KeyReport, max: number): Required<pb.KeyDifferences> {
  const first = (keys: RowKey[]): string[] => keys.slice(0, max).map(keyText);
  return {
    missing_on_target: String(k.missing.length),
    extra_on_target: String(k.extra.length),
    content_differs: String(k.changed.length),
    missing_keys: first(k.missing),
    extra_keys: first(k.extra),
    differing_keys: first(k.changed),
  };
}

export function verifyReportToProto(
  r: VerifyReport,
  maxKeys: number,
): Required<pb.VerifyTaskResponse> {
  return {
    task_id: r.taskId,
    clean: r.clean,
    rows_compared: String(r.rowsCompared),
    duration_ms: String(r.durationMs),
    collections: r.collections.map((c): Required<pb.CollectionVerification> => ({
      source_database: c.source.db,
      source_collection: c.source.collection,
      target_database: c.target.db,
      target_collection: c.target.collection,
      partitions: c.partitions.map((p): Required<pb.PartitionRowCounts> => ({
        partition: p.partition,
        source_rows: String(p.sourceRows),
        target_rows: String(p.targetRows),
      })),
      source_rows: String(c.sourceRows),
      target_rows: String(c.targetRows),
      differences: keysToProto(c.differences, maxKeys),
      caught_up: c.caughtUp,
      repaired: c.repaired,
      rows_recopied: String(c.rowsRecopied),
      rows_deleted: String(c.rowsDeleted),
      remaining: c.remaining === undefined ? null : keysToProto(c.remaining, maxKeys),
      error: c.error,
    })),
    metadata_differences: r.metadataDifferences.map((d): Required<pb.MetadataDifference> => ({
      kind: d.kind,
      name: d.name,
      source: d.source,
      target: d.target,
    })),
  };
}
