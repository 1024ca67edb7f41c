import type {
  ChannelRecord,
  QuarantineRecord,
  SnapshotRecord,
  TaskRecord,
  TaskSpec,
  Versioned,
} from '../domain/model.js';

/** One page of a list: `more` when records follow it. */
export interface Page<T> {
  readonly records: T[];
  readonly more: boolean;
}

/**
 * Port: durable task records. Writes are compare-and-set on the version returned by reads, so two control replicas
 * never lose each other's updates. `create` returns false when the id exists. Store failures reject with a retryable
 * CdcError('UNAVAILABLE'). The store owns its connection; it does not know task rules.
 */
export interface TaskStore {
  get(taskId: string): Promise<Versioned<TaskRecord> | undefined>;
  /** Every task, ordered by id (read page by page). */
  list(): Promise<TaskRecord[]>;
  /**
   * Tasks ordered by id after `afterId` ('' = from the first): at most `limit`, and no more than `maxBytes` of
   * stored records once the page holds one.
   */
  page(afterId: string, limit: number, maxBytes: number): Promise<Page<TaskRecord>>;
  create(record: TaskRecord): Promise<boolean>;
  /** False when the stored version differs (someone else wrote first). */
  update(record: TaskRecord, version: string): Promise<boolean>;
  /** Removes the task and every channel, quarantine and snapshot record of it. */
  remove(taskId: string): Promise<void>;
}

/**
 * Port: per-(task, channel) lease epoch, checkpoint and counters, and worker liveness. `put` is compare-and-set:
 * `version` undefined means "only if absent". Reads are linearizable.
 */
export interface ChannelStore {
  get(taskId: string, channel: string): Promise<Versioned<ChannelRecord> | undefined>;
  /** Channel → record for one task. */
  list(taskId: string): Promise<Map<string, ChannelRecord>>;
  /** Every channel record of every task, keyed "taskId/channel" (for rebalancing). */
  listAll(): Promise<Map<string, ChannelRecord>>;
  put(
    taskId: string,
    channel: string,
    record: ChannelRecord,
    version: string | undefined,
  ): Promise<boolean>;
  /** Worker liveness for workers that hold no lease. */
  touchWorker(workerId: string, nowMs: number): Promise<void>;
  /** workerId → last seen ms. */
  listWorkers(): Promise<Map<string, number>>;
}

/** A channel record a batch of checkpoint reports writes, fenced on what was read. */
export interface ReportWrite {
  readonly taskId: string;
  readonly channel: string;
  readonly record: ChannelRecord;
  /** Version of the channel record read (undefined: it was absent). */
  readonly version: string | undefined;
  /** Version of the task record the report was judged by: written only if the task did not change meanwhile. */
  readonly taskVersion: string;
}

/**
 * Port: the reads and writes of a batch of checkpoint reports in few round trips (one read, one write per group).
 * Reads are linearizable. `write` is compare-and-set on both versions of every write, all or none per group: a
 * conflict anywhere leaves the whole group unwritten (false for each of its writes), for the caller to redo one by one.
 */
export interface ReportBatchStore {
  read(
    taskIds: readonly string[],
    channels: readonly { readonly taskId: string; readonly channel: string }[],
  ): Promise<{
    readonly tasks: ReadonlyMap<string, Versioned<TaskRecord>>;
    /** Keyed "taskId/channel". */
    readonly channels: ReadonlyMap<string, Versioned<ChannelRecord>>;
  }>;
  /** One flag per write, in order: written, or not (a version changed). */
  write(writes: readonly ReportWrite[]): Promise<boolean[]>;
}

/** A quarantine record to store, with the identity of what it quarantines (channel, position, target). */
export interface QuarantineWrite {
  readonly record: QuarantineRecord;
  /** Entries with a dedupe key already stored are not stored again. */
  readonly dedupeKey: string;
}

export type QuarantineOutcome =
  | { readonly kind: 'added'; readonly quarantineId: string }
  | { readonly kind: 'duplicate'; readonly quarantineId: string }
  /** Not stored: the task holds `maxEntries` records. */
  | { readonly kind: 'full' };

/**
 * Port: the quarantine (dead-letter) list of each task. Writes are atomic per transaction and serialized per task
 * (the count is compare-and-set), so the cap and the deduplication hold with several writers.
 */
export interface QuarantineStore {
  /** Stores entries in order, one outcome each; an entry is 'full' once the task holds `maxEntries` records. */
  add(
    taskId: string,
    entries: readonly QuarantineWrite[],
    maxEntries: number,
  ): Promise<QuarantineOutcome[]>;
  /**
   * Records ordered by id after `afterId` (exclusive): at most `limit`, and no more than `maxBytes` of stored
   * records once the page holds one.
   */
  list(
    taskId: string,
    afterId: string,
    limit: number,
    maxBytes: number,
  ): Promise<Page<QuarantineRecord>>;
  /** Records stored for the task. */
  count(taskId: string): Promise<number>;
  /** Deletes every record of the task; resolves to how many there were. */
  purge(taskId: string): Promise<number>;
}

/**
 * Port: initial-sync progress per (task, source collection). `put` is compare-and-set like ChannelStore's; records
 * are removed with their task (TaskStore.remove).
 */
export interface SnapshotStore {
  get(taskId: string, collectionId: string): Promise<Versioned<SnapshotRecord> | undefined>;
  /** Records of one task, ordered by database and collection name. */
  list(taskId: string): Promise<SnapshotRecord[]>;
  put(taskId: string, record: SnapshotRecord, version: string | undefined): Promise<boolean>;
}

/** A source collection an initial sync copies. */
export interface SnapshotCollection {
  readonly collectionId: string;
  readonly database: string;
  readonly collection: string;
}

/**
 * Port: the in-scope collections that exist in the source now (from its etcd metadata). Rejects with
 * CdcError('FAILED_PRECONDITION') when the metadata can't be read.
 */
export interface SnapshotPlanner {
  collections(spec: TaskSpec): Promise<SnapshotCollection[]>;
}

/** Which secret a sealed value is: it opens only for the same task and field. */
export interface SecretBinding {
  readonly taskId: string;
  /** Dotted path of the secret field, e.g. "target.password". */
  readonly field: string;
}

/** Port: encryption of secrets at rest, over a key ring (the first key seals, all open). */
export interface SecretBox {
  seal(plaintext: string, binding: SecretBinding): string;
  /** `binding` may be omitted only for values sealed before bindings existed (one blob per task). */
  open(sealed: string, binding?: SecretBinding): string;
  /** Sealed under the current key and format: resealing would not change it. */
  isCurrent(sealed: string): boolean;
}

/**
 * Port: checks that a task's source and target answer. Rejects with CdcError('FAILED_PRECONDITION') whose message
 * names the unreachable component and the reason.
 */
export interface Reachability {
  check(spec: TaskSpec): Promise<void>;
}

/**
 * Port: the channels a task must lease: the source DML pchannels used by collections plus the replicate channel.
 * Rejects with CdcError('FAILED_PRECONDITION') when the source metadata can't be read.
 */
export interface ChannelDiscovery {
  discover(spec: TaskSpec, opts?: DiscoverOptions): Promise<string[]>;
}

export interface DiscoverOptions {
  /** A result read this long ago (ms) or less, for any task on the same source, will do (absent: a fresh read). */
  readonly maxAgeMs?: number;
}

export interface Clock {
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };
