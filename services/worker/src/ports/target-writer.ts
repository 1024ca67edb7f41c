import type {
  CollectionSchema,
  ColumnSlice,
  ConsistencyLevel,
  InsertColumns,
  KeyValue,
  PrimaryKeys,
  Row,
} from '@cdc/shared';

/** A database-qualified collection on the target (names after the task's name mapping). */
export interface TargetCollection {
  readonly db: string;
  readonly collection: string;
}

/**
 * Property that records on a target collection which source collection (by id) it replicates. Names are reused
 * across drop-and-recreate, ids never are, so this tells an old incarnation from the current one.
 */
export const SOURCE_COLLECTION_ID_PROPERTY = 'cdc.source.collection_id';

export interface CreateCollectionSpec extends TargetCollection {
  /** Id of the source collection; stored as SOURCE_COLLECTION_ID_PROPERTY on the target collection. */
  readonly sourceCollectionId?: string;
  /**
   * Creation timestamp (TSO) of the source collection. Replicate mode creates the target collection at this time, so
   * the replicated messages, which keep their source timestamps, are never older than the collection.
   */
  readonly sourceCreateTimestamp?: bigint;
  /** User fields (IDs ≥ 100) as read from the source etcd; primary keys are always created with autoID off. */
  readonly schema: CollectionSchema;
  readonly shardsNum: number;
  readonly consistencyLevel: ConsistencyLevel;
  readonly properties: readonly KeyValue[];
  /** Partitions to create besides `_default` (partition-key collections excluded). */
  readonly partitions: readonly string[];
}

export interface WriteResult {
  readonly rows: number;
  readonly bytes: number;
}

/**
 * Applies replicated changes to one target Milvus (API mode, through the SDK).
 *
 * Every method is idempotent, so replaying a message after a crash is harmless: DDL that already took effect is a
 * success (create of an existing identical object, drop of a missing one), and rows are written with `upsert`, which
 * replaces by primary key instead of adding a duplicate. Every SDK response's status is checked.
 *
 * Errors are `CdcError`s: `SINK_UNAVAILABLE` (retryable: network, target down, rate limited, busy),
 * `SINK_REJECTED` (not retryable: the target refuses this particular change; the caller quarantines it),
 * `SCHEMA_MISMATCH` (not retryable: an existing target object conflicts with the source; a person must decide),
 * `CONFLICT` (not retryable by itself: the target collection replicates another source collection of the same name,
 * an earlier incarnation whose drop has not been applied yet; the caller waits for that drop).
 * `close()` is idempotent.
 */
export interface TargetWriter {
  createDatabase(db: string, properties: readonly KeyValue[]): Promise<void>;
  dropDatabase(db: string): Promise<void>;
  /**
   * The source collection ids recorded on the collections of target database `db` (SOURCE_COLLECTION_ID_PROPERTY;
   * undefined for one without it), in no order; empty when the database does not exist.
   */
  collectionSourceIds(db: string): Promise<(string | undefined)[]>;
  createCollection(spec: CreateCollectionSpec): Promise<void>;
  /**
   * Drops the collection. With `sourceCollectionId`, only if the target collection replicates that source collection
   * (or carries no marker): a replayed drop of an old incarnation must never drop its successor.
   */
  dropCollection(target: TargetCollection, sourceCollectionId?: string): Promise<void>;
  hasCollection(target: TargetCollection): Promise<boolean>;
  createPartition(target: TargetCollection, partition: string): Promise<void>;
  dropPartition(target: TargetCollection, partition: string): Promise<void>;
  createIndex(
    target: TargetCollection,
    fieldName: string,
    indexName: string,
    params: readonly KeyValue[],
  ): Promise<void>;
  dropIndex(target: TargetCollection, fieldName: string, indexName: string): Promise<void>;
  alterIndex(
    target: TargetCollection,
    indexName: string,
    params: readonly KeyValue[],
    deleteKeys: readonly string[],
  ): Promise<void>;
  loadCollection(target: TargetCollection, replicaNumber: number): Promise<void>;
  releaseCollection(target: TargetCollection): Promise<void>;
  loadPartitions(
    target: TargetCollection,
    partitions: readonly string[],
    replicaNumber: number,
  ): Promise<void>;
  releasePartitions(target: TargetCollection, partitions: readonly string[]): Promise<void>;
  flush(db: string, collections: readonly string[]): Promise<void>;
  /** Writes rows by primary key (upsert): replays never duplicate. */
  upsert(target: TargetCollection, partition: string, rows: readonly Row[]): Promise<WriteResult>;
  /**
   * Writes Inserts' columns as the source wrote them, in one upsert (no row decoded). The Inserts have the same
   * columns (`sameColumns`) and no primary key twice; `keep` leaves out system fields and function outputs. Optional:
   * for a writer without it the caller decodes rows.
   */
  upsertColumns?(
    target: TargetCollection,
    partition: string,
    inserts: readonly InsertColumns[],
    keep: (c: ColumnSlice) => boolean,
  ): Promise<WriteResult>;
  /** Deletes by primary key; `partition` undefined = all partitions. */
  delete(
    target: TargetCollection,
    partition: string | undefined,
    keys: PrimaryKeys,
  ): Promise<WriteResult>;
  close(): Promise<void>;
}
