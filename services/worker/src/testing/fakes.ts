/**
 * In-memory implementations of the worker's ports and builders of real wire messages, for unit tests only
 * (excluded from the build by tsconfig.build.json). No I/O: messages are encoded with the shared codec, so the
 * replicators decode exactly what Milvus would write.
 */
import {
  CdcError,
  DataType,
  createLogger,
  encodeCollectionSchema,
  decodeKafkaMessageId,
  encodeKafkaMessageId,
  encodeMessage,
  encodeUpsertColumns,
  insertToRows,
  upsertRequestAsInsert,
} from '@cdc/shared';
import type {
  CollectionInfo,
  ColumnSlice,
  InsertColumns,
  CollectionSchema,
  DatabaseInfo,
  CreateCollectionMessage,
  DeleteMessage,
  DropCollectionMessage,
  InsertMessage,
  PartitionMessage,
  TimeTickMessage,
  FieldSchema,
  KnownMessage,
  Logger,
  MetadataEvent,
  MsgBase,
  MsgPosition,
  PartitionInfo,
  PrimaryKeys,
  Row,
  ScannedRow,
  SourceMetadata,
  SourceTso,
} from '@cdc/shared';
import type { DropBarrier } from '../ports/drop-barrier.js';
import type { SourceCollectionRef, SourceIndex, SourceRows } from '../ports/source-rows.js';
import type { ReplicatedCollection } from '../replication/collection-catalog.js';
import { sdkRow } from '../replication/target-rows.js';
import type { LeaseProgress, PausePoint, QuarantinedMessage } from '../ports/lease-progress.js';
import type { ForwardedFrom, ReplicateTarget, TargetLayout } from '../ports/replicate-target.js';
import type { ChannelRecord, ReaderStart, SourceReader } from '../ports/source-reader.js';
import type {
  CreateCollectionSpec,
  TargetCollection,
  TargetWriter,
  WriteResult,
} from '../ports/target-writer.js';
import type {
  CheckpointAnswer,
  LeaseGrant,
  LeaseRef,
  QuarantineReportEntry,
  ReportCheckpointInput,
  ReportOptions,
  ReportSnapshotInput,
  SnapshotGrant,
  StandbyReport,
  WorkerControl,
} from '../ports/worker-control.js';

/** A logger that writes nothing. */
export function silentLogger(): Logger {
  return createLogger({ service: 'test', level: 'silent' });
}

/* ---------------------------------------------------------------- messages ---- */

export const DEFAULT_CHANNEL = 'by-dev-rootcoord-dml_0';

export function msgBase(timestamp: bigint, extra: Partial<MsgBase> = {}): MsgBase {
  return {
    msgType: 0,
    msgId: 0n,
    timestamp,
    sourceId: 0n,
    targetId: 0n,
    properties: {},
    ...extra,
  };
}

export function field(
  f: Partial<FieldSchema> & Pick<FieldSchema, 'fieldId' | 'name'>,
): FieldSchema {
  return {
    description: '',
    dataType: DataType.Int64,
    elementType: 0,
    typeParams: [],
    indexParams: [],
    isPrimaryKey: false,
    autoId: false,
    isDynamic: false,
    isPartitionKey: false,
    isClusteringKey: false,
    nullable: false,
    isFunctionOutput: false,
    state: 0,
    ...f,
  };
}

/** `id` Int64 primary key (100) and `vec` FloatVector dim 2 (101), plus extra fields. */
export function testSchema(name: string, extra: readonly FieldSchema[] = []): CollectionSchema {
  return {
    name,
    description: '',
    autoId: false,
    enableDynamicField: false,
    fields: [
      field({ fieldId: 100n, name: 'id', isPrimaryKey: true }),
      field({
        fieldId: 101n,
        name: 'vec',
        dataType: DataType.FloatVector,
        typeParams: [{ key: 'dim', value: '2' }],
      }),
      ...extra,
    ],
    properties: [],
    functions: [],
    dbName: '',
  };
}

export function collectionInfo(
  c: Partial<CollectionInfo> & Pick<CollectionInfo, 'id' | 'name'>,
): CollectionInfo {
  return {
    dbId: 1n,
    dbName: 'default',
    schema: testSchema(c.name),
    shardsNum: 1,
    consistencyLevel: 'Bounded',
    properties: [],
    virtualChannels: [`${DEFAULT_CHANNEL}_${c.id}v0`],
    physicalChannels: [DEFAULT_CHANNEL],
    startPositions: [],
    state: 'Created',
    createTime: 1n,
    updateTimestamp: 0n,
    ...c,
  };
}

/** A resolved collection as CollectionCatalog builds it (target = source names unless given). */
export function replicatedCollection(
  info: CollectionInfo,
  target: TargetCollection = { db: info.dbName || 'default', collection: info.name },
): ReplicatedCollection {
  return {
    id: info.id,
    sourceDb: info.dbName || 'default',
    sourceName: info.name,
    target,
    schema: info.schema,
    primaryKeyField: info.schema.fields.find((f) => f.isPrimaryKey)?.name ?? '',
    physicalChannels: info.physicalChannels,
    info,
  };
}

export function partitionInfo(collectionId: bigint, id: bigint, name: string): PartitionInfo {
  return { id, name, collectionId, createdTimestamp: 1n, state: 'Created' };
}

export interface InsertSpec {
  readonly collectionId: bigint;
  readonly ids: readonly bigint[];
  readonly ts: bigint;
  readonly partition?: string;
  /** Default 1. */
  readonly partitionId?: bigint;
  /** MsgBase timestamp; 2.3.5 upserts write 0 there and only fill the per-row timestamps. */
  readonly baseTs?: bigint;
  /** Per-row timestamps (default: `ts` for every row). */
  readonly rowTs?: readonly bigint[];
}

export function insertMsg(s: InsertSpec): InsertMessage {
  const n = s.ids.length;
  return {
    type: 'Insert',
    base: msgBase(s.baseTs ?? s.ts),
    shardName: `${DEFAULT_CHANNEL}_${s.collectionId}v0`,
    dbName: '',
    collectionName: '',
    partitionName: s.partition ?? '_default',
    dbId: 1n,
    collectionId: s.collectionId,
    partitionId: s.partitionId ?? 1n,
    segmentId: 1n,
    timestamps: s.rowTs ?? s.ids.map(() => s.ts),
    rowIds: s.ids.map((_, i) => BigInt(i + 1)),
    numRows: BigInt(n),
    version: 1,
    fields: [
      {
        fieldId: 100n,
        fieldName: 'id',
        dataType: DataType.Int64,
        isDynamic: false,
        validData: [],
        values: { kind: 'long', data: [...s.ids] },
      },
      {
        fieldId: 101n,
        fieldName: 'vec',
        dataType: DataType.FloatVector,
        isDynamic: false,
        validData: [],
        values: { kind: 'floatVector', dim: 2, data: s.ids.flatMap((id) => [Number(id), 0.5]) },
      },
    ],
  };
}

/** The row `insertMsg` produces for `id` on the target. */
export function rowOf(id: bigint): Row {
  return { id: id.toString(), vec: [Number(id), 0.5] };
}

export function deleteMsg(s: {
  readonly collectionId: bigint;
  readonly ids: readonly bigint[];
  readonly ts: bigint;
  readonly partition?: string;
}): DeleteMessage {
  return {
    type: 'Delete',
    base: msgBase(s.ts),
    shardName: `${DEFAULT_CHANNEL}_${s.collectionId}v0`,
    dbName: '',
    collectionName: '',
    partitionName: s.partition ?? '',
    dbId: 1n,
    collectionId: s.collectionId,
    partitionId: s.partition === undefined ? -1n : 1n,
    timestamps: s.ids.map(() => s.ts),
    numRows: BigInt(s.ids.length),
    primaryKeys: { type: 'Int64', values: [...s.ids] },
    segmentId: 0n,
  };
}

export function int64Keys(...ids: bigint[]): PrimaryKeys {
  return { type: 'Int64', values: ids };
}

export function timeTickMsg(ts: bigint): TimeTickMessage {
  return { type: 'TimeTick', base: msgBase(ts) };
}

export function createCollectionMsg(info: CollectionInfo, ts: bigint): CreateCollectionMessage {
  return {
    type: 'CreateCollection',
    base: msgBase(ts),
    dbName: '',
    collectionName: '',
    partitionName: '',
    dbId: info.dbId,
    collectionId: info.id,
    partitionId: 0n,
    schemaBytes: encodeCollectionSchema(info.schema),
    schema: info.schema,
    virtualChannelNames: info.virtualChannels,
    physicalChannelNames: info.physicalChannels,
    partitionIds: [],
    partitionNames: [],
  };
}

export function dropCollectionMsg(collectionId: bigint, ts: bigint): DropCollectionMessage {
  return {
    type: 'DropCollection',
    base: msgBase(ts),
    dbName: '',
    collectionName: '',
    dbId: 1n,
    collectionId,
  };
}

export function dropPartitionMsg(
  collectionId: bigint,
  partitionId: bigint,
  partitionName: string,
  ts: bigint,
): PartitionMessage {
  return {
    type: 'DropPartition',
    base: msgBase(ts),
    dbName: '',
    collectionName: '',
    partitionName,
    dbId: 1n,
    collectionId,
    partitionId,
  };
}

/** A payload whose MsgBase names a MsgType the codec does not handle (108 = CreateAlias). */
export const UNKNOWN_TYPE_PAYLOAD = new Uint8Array([0x0a, 0x04, 0x08, 0x6c, 0x18, 0x07]);

/** Bytes that do not parse as the message their header names. */
export const GARBAGE_PAYLOAD = new Uint8Array([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x01]);

/** Sequential Kafka records of one channel, ids = offsets from `firstOffset`. */
export class RecordLog {
  readonly records: ChannelRecord[] = [];
  private offset: bigint;

  constructor(
    readonly channel = DEFAULT_CHANNEL,
    firstOffset = 0n,
  ) {
    this.offset = firstOffset;
  }

  add(...messages: KnownMessage[]): this {
    for (const m of messages) this.raw(encodeMessage(m));
    return this;
  }

  raw(value: Uint8Array, headers: ChannelRecord['headers'] = {}): this {
    this.records.push({
      channel: this.channel,
      msgId: encodeKafkaMessageId(this.offset++),
      value,
      headers,
      publishTimeMs: 0,
    });
    return this;
  }
}

export function offsetId(offset: bigint): Uint8Array {
  return encodeKafkaMessageId(offset);
}

/* ---------------------------------------------------------------- ports ---- */

/**
 * Serves a fixed list of records; once they are all read, the next `read` calls `onDrained` (typically aborting the
 * lease so the replicator returns) and returns `[]`. `failOpen` makes `open` reject (e.g. a topic that does not exist
 * yet).
 */
export class FakeSourceReader implements SourceReader {
  compareIds(a: Uint8Array, b: Uint8Array): number {
    const x = decodeKafkaMessageId(a);
    const y = decodeKafkaMessageId(b);
    return x < y ? -1 : x > y ? 1 : 0;
  }

  opened: ReaderStart | undefined;
  closed = false;
  failOpen: Error | undefined;
  private next = 0;

  constructor(
    private readonly records: readonly ChannelRecord[],
    private readonly onDrained: () => void = () => undefined,
  ) {}

  open(start: ReaderStart): Promise<void> {
    if (this.failOpen) return Promise.reject(this.failOpen);
    this.opened = start;
    return Promise.resolve();
  }

  /** When nothing is left: calls `onDrained`, then waits a little (at most `maxWaitMs`) like a real reader. */
  async read(maxRecords: number, maxWaitMs = 5, signal?: AbortSignal): Promise<ChannelRecord[]> {
    if (this.next >= this.records.length) {
      this.onDrained();
      if (!signal?.aborted) await new Promise((r) => setTimeout(r, Math.min(maxWaitMs, 5)));
      return [];
    }
    const batch = this.records.slice(this.next, this.next + maxRecords);
    this.next += batch.length;
    return batch;
  }

  close(): Promise<void> {
    this.closed = true;
    return Promise.resolve();
  }
}

type WriterMethod = Exclude<keyof TargetWriter, 'close'>;

export interface WriterCall {
  readonly op: WriterMethod;
  readonly args: readonly unknown[];
}

/** Decides whether the n-th call (1-based) of an op fails; returns the error to throw, or undefined to succeed. */
export type FailureRule = (args: readonly unknown[], n: number) => Error | undefined;

/**
 * Records every call in order. `failWith(op, rule)` injects errors; `existing` answers `hasCollection`
 * (keys `db.collection`). upsert/delete acknowledge every row, 10 bytes each.
 */
export class FakeTargetWriter implements TargetWriter {
  readonly calls: WriterCall[] = [];
  readonly existing = new Set<string>();
  /** What the target holds: rows by collection ("db.collection") and primary key (decimal text). */
  readonly rowsOf = new Map<string, Map<string, Row>>();
  /** Source collection id each collection replicates (SOURCE_COLLECTION_ID_PROPERTY). */
  private readonly markers = new Map<string, string | undefined>();
  private readonly keyFields = new Map<string, string>();
  /** Upserts that came as columns (`upsertColumns`), not rows. */
  columnCalls = 0;
  closed = false;
  private readonly rules = new Map<WriterMethod, FailureRule>();
  private readonly counts = new Map<WriterMethod, number>();

  /** Collections that exist on the target from the start, as if created earlier. */
  withCollections(...targets: TargetCollection[]): this {
    for (const t of targets) this.existing.add(`${t.db}.${t.collection}`);
    return this;
  }

  /** A collection on the target from the start that replicates source collection `sourceCollectionId`. */
  withReplicaOf(sourceCollectionId: bigint, target: TargetCollection): this {
    const key = `${target.db}.${target.collection}`;
    this.existing.add(key);
    this.markers.set(key, sourceCollectionId.toString());
    return this;
  }

  failWith(op: WriterMethod, rule: FailureRule): this {
    this.rules.set(op, rule);
    return this;
  }

  /** Op names in call order, optionally without the given ones. */
  ops(...without: WriterMethod[]): WriterMethod[] {
    return this.calls.map((c) => c.op).filter((op) => !without.includes(op));
  }

  callsOf(op: WriterMethod): (readonly unknown[])[] {
    return this.calls.filter((c) => c.op === op).map((c) => c.args);
  }

  private record(op: WriterMethod, args: readonly unknown[]): Promise<void> {
    const n = (this.counts.get(op) ?? 0) + 1;
    this.counts.set(op, n);
    const err = this.rules.get(op)?.(args, n);
    if (err) return Promise.reject(err);
    this.calls.push({ op, args });
    return Promise.resolve();
  }

  createDatabase(db: string, properties: readonly unknown[]): Promise<void> {
    return this.record('createDatabase', [db, properties]);
  }
  /** Refused while the database holds a collection, as Milvus does. */
  dropDatabase(db: string): Promise<void> {
    if ([...this.existing].some((key) => key.startsWith(`${db}.`)))
      return Promise.reject(sinkRejected(`database:${db} not empty, must drop all collections`));
    return this.record('dropDatabase', [db]);
  }
  collectionSourceIds(db: string): Promise<(string | undefined)[]> {
    const keys = [...this.existing].filter((key) => key.startsWith(`${db}.`));
    return Promise.resolve(keys.map((key) => this.markers.get(key)));
  }
  async createCollection(spec: CreateCollectionSpec): Promise<void> {
    await this.record('createCollection', [spec]);
    const key = `${spec.db}.${spec.collection}`;
    if (this.existing.has(key)) return;
    this.existing.add(key);
    this.markers.set(key, spec.sourceCollectionId);
    const pk = spec.schema.fields.find((f) => f.isPrimaryKey);
    if (pk !== undefined) this.keyFields.set(key, pk.name);
  }
  async dropCollection(target: TargetCollection, sourceCollectionId?: string): Promise<void> {
    await this.record('dropCollection', [target, sourceCollectionId]);
    const key = `${target.db}.${target.collection}`;
    const marker = this.markers.get(key);
    // Only the incarnation named (or one without a marker): a replayed drop never drops a successor.
    if (sourceCollectionId !== undefined && marker !== undefined && marker !== sourceCollectionId)
      return;
    this.existing.delete(key);
    this.rowsOf.delete(key);
    this.markers.delete(key);
  }
  async hasCollection(target: TargetCollection): Promise<boolean> {
    await this.record('hasCollection', [target]);
    return this.existing.has(`${target.db}.${target.collection}`);
  }
  createPartition(target: TargetCollection, partition: string): Promise<void> {
    return this.record('createPartition', [target, partition]);
  }
  dropPartition(target: TargetCollection, partition: string): Promise<void> {
    return this.record('dropPartition', [target, partition]);
  }
  createIndex(
    target: TargetCollection,
    fieldName: string,
    indexName: string,
    params: readonly unknown[],
  ): Promise<void> {
    return this.record('createIndex', [target, fieldName, indexName, params]);
  }
  dropIndex(target: TargetCollection, fieldName: string, indexName: string): Promise<void> {
    return this.record('dropIndex', [target, fieldName, indexName]);
  }
  alterIndex(
    target: TargetCollection,
    indexName: string,
    params: readonly unknown[],
    deleteKeys: readonly string[],
  ): Promise<void> {
    return this.record('alterIndex', [target, indexName, params, deleteKeys]);
  }
  loadCollection(target: TargetCollection, replicaNumber: number): Promise<void> {
    return this.record('loadCollection', [target, replicaNumber]);
  }
  releaseCollection(target: TargetCollection): Promise<void> {
    return this.record('releaseCollection', [target]);
  }
  loadPartitions(
    target: TargetCollection,
    partitions: readonly string[],
    replicaNumber: number,
  ): Promise<void> {
    return this.record('loadPartitions', [target, partitions, replicaNumber]);
  }
  releasePartitions(target: TargetCollection, partitions: readonly string[]): Promise<void> {
    return this.record('releasePartitions', [target, partitions]);
  }
  flush(db: string, collections: readonly string[]): Promise<void> {
    return this.record('flush', [db, collections]);
  }
  async upsert(
    target: TargetCollection,
    partition: string,
    rows: readonly Row[],
  ): Promise<WriteResult> {
    await this.record('upsert', [target, partition, rows]);
    const key = `${target.db}.${target.collection}`;
    if (!this.existing.has(key)) throw sinkRejected(`collection ${key} not found`);
    const keyField = this.keyFields.get(key) ?? 'id';
    const table = this.rowsOf.get(key) ?? new Map<string, Row>();
    for (const r of rows) table.set(keyText(r[keyField]), r);
    this.rowsOf.set(key, table);
    return { rows: rows.length, bytes: rows.length * 10 };
  }
  /**
   * Columns as a target takes them: the request `encodeUpsertColumns` builds, read back into rows, then `upsert` (so
   * recorded calls, failure rules and the held rows are the same for both paths).
   */
  async upsertColumns(
    target: TargetCollection,
    partition: string,
    inserts: readonly InsertColumns[],
    keep: (c: ColumnSlice) => boolean,
  ): Promise<WriteResult> {
    this.columnCalls++;
    const request = encodeUpsertColumns({
      dbName: target.db,
      collectionName: target.collection,
      partitionName: partition,
      inserts,
      keep,
    });
    const rows = insertToRows(upsertRequestAsInsert(Buffer.concat(request))).map(sdkRow);
    return this.upsert(target, partition, rows);
  }

  async delete(
    target: TargetCollection,
    partition: string | undefined,
    keys: PrimaryKeys,
  ): Promise<WriteResult> {
    await this.record('delete', [target, partition, keys]);
    const table = this.rowsOf.get(`${target.db}.${target.collection}`);
    for (const k of keys.values) table?.delete(String(k));
    return { rows: keys.values.length, bytes: keys.values.length * 10 };
  }
  close(): Promise<void> {
    this.closed = true;
    return Promise.resolve();
  }
}

/** A primary key value as text (Int64 keys arrive as decimal strings or bigints). */
const keyText = (v: unknown): string =>
  typeof v === 'string' || typeof v === 'number' || typeof v === 'bigint' ? String(v) : '';

export const sinkRejected = (msg = 'refused'): CdcError =>
  new CdcError('SINK_REJECTED', msg, { retryable: false });
export const sinkUnavailable = (msg = 'target down'): CdcError =>
  new CdcError('SINK_UNAVAILABLE', msg, { retryable: true });
export const conflict = (msg = 'earlier incarnation'): CdcError =>
  new CdcError('CONFLICT', msg, { retryable: false });

/** What a replicator reported, in order. */
export class FakeLeaseProgress implements LeaseProgress {
  readonly checkpoints: { msgId: Uint8Array; timestamp: bigint }[] = [];
  /** `appliedAfter` calls: how late applied changes reached the target (ms). */
  readonly applyDelays: number[] = [];
  readonly heads: bigint[] = [];
  readonly quarantined: QuarantinedMessage[] = [];
  rows = 0;
  bytes = 0;
  replicateWatermark = 0n;
  caughtUp = false;
  pause: PausePoint | undefined;
  applyUntil: bigint | undefined;
  pausedAt: number | undefined;

  checkpoint(msgId: Uint8Array, timestamp: bigint): void {
    this.checkpoints.push({ msgId, timestamp });
  }
  /** The stamp of the oldest change waiting, as the last `setCaughtUp` gave it. */
  waitingSince: bigint | undefined;
  setCaughtUp(caughtUp: boolean, waitingSince?: bigint): void {
    this.caughtUp = caughtUp;
    this.waitingSince = waitingSince;
  }
  pauseReached(): void {
    this.pausedAt ??= this.checkpoints.length;
  }
  observeHead(timestamp: bigint): void {
    this.heads.push(timestamp);
  }
  appliedAfter(delayMs: number): void {
    this.applyDelays.push(delayMs);
  }
  addApplied(rows: number, bytes: number): void {
    this.rows += rows;
    this.bytes += bytes;
  }
  quarantine(entry: QuarantinedMessage): Promise<void> {
    this.quarantined.push(entry);
    return Promise.resolve();
  }
}

/** The shared in-memory barrier; give the same instance to replicators of different channels. */
export class FakeDropBarrier implements DropBarrier {
  readonly arrivals = new Map<string, Set<string>>();
  readonly done = new Set<string>();

  arrive(key: string, channel: string): Promise<ReadonlySet<string>> {
    const set = this.arrivals.get(key) ?? new Set<string>();
    set.add(channel);
    this.arrivals.set(key, set);
    return Promise.resolve(new Set(set));
  }
  isDone(key: string): Promise<boolean> {
    return Promise.resolve(this.done.has(key));
  }
  markDone(key: string): Promise<void> {
    this.done.add(key);
    return Promise.resolve();
  }
}

/**
 * Source metadata held in maps. `getCollectionHook` (if set) answers `getCollection` instead, with the 1-based call
 * number, e.g. to report a collection as Creating for the first calls.
 */
export class FakeSourceMetadata implements SourceMetadata {
  readonly collections = new Map<bigint, CollectionInfo>();
  readonly partitions = new Map<bigint, PartitionInfo[]>();
  getCollectionCalls = 0;
  listCollectionsCalls = 0;
  getCollectionHook: ((id: bigint, n: number) => CollectionInfo | undefined) | undefined;

  constructor(...infos: CollectionInfo[]) {
    for (const i of infos) this.collections.set(i.id, i);
  }

  listDatabases(): Promise<DatabaseInfo[]> {
    return Promise.resolve([]);
  }
  listCollections(): Promise<CollectionInfo[]> {
    this.listCollectionsCalls++;
    return Promise.resolve([...this.collections.values()]);
  }
  getCollection(collectionId: bigint): Promise<CollectionInfo | undefined> {
    this.getCollectionCalls++;
    if (this.getCollectionHook)
      return Promise.resolve(this.getCollectionHook(collectionId, this.getCollectionCalls));
    return Promise.resolve(this.collections.get(collectionId));
  }
  listPartitions(collectionId: bigint): Promise<PartitionInfo[]> {
    return Promise.resolve(this.partitions.get(collectionId) ?? []);
  }
  getChannelCheckpoint(): Promise<MsgPosition | undefined> {
    return Promise.resolve(undefined);
  }
  readTso(): Promise<SourceTso> {
    return Promise.resolve({ unixNanos: 0n, hybridTs: 0n });
  }
  currentRevision(): Promise<bigint> {
    return Promise.resolve(0n);
  }
  // eslint-disable-next-line require-yield
  async *watch(): AsyncIterable<MetadataEvent> {
    await Promise.resolve();
  }
  close(): Promise<void> {
    return Promise.resolve();
  }
}

export type FakeCheckpointAnswer =
  { keepLease: boolean; reason: string; replicateWatermark?: bigint; pause?: PausePoint } | Error;

/**
 * The control plane: `reportCheckpoint` answers from `answers` in order (the last one repeats; default keep the
 * lease); an Error answer is thrown.
 */
export class FakeWorkerControl implements WorkerControl {
  readonly reports: ReportCheckpointInput[] = [];
  readonly quarantines: { lease: LeaseRef; entry: QuarantineReportEntry }[] = [];
  readonly failures: { lease: LeaseRef; reason: string; needsPerson: boolean }[] = [];
  readonly releases: LeaseRef[] = [];
  answers: FakeCheckpointAnswer[] = [];
  grant: LeaseGrant | Error = new CdcError('NOT_FOUND', 'no such task', { retryable: false });

  acquireLease(): Promise<LeaseGrant> {
    const g = this.grant;
    return g instanceof Error ? Promise.reject(g) : Promise.resolve(g);
  }
  /** Whether each report in `reports` asked to go at once. */
  readonly urgent: boolean[] = [];
  /** When each report in `reports` was made (performance.now()). */
  readonly reportedAt: number[] = [];
  /** How long a report takes to be answered. */
  answerDelayMs = 0;
  async reportCheckpoint(
    input: ReportCheckpointInput,
    opts?: ReportOptions,
  ): Promise<CheckpointAnswer> {
    this.reports.push(input);
    this.urgent.push(opts?.urgent === true);
    this.reportedAt.push(performance.now());
    if (this.answerDelayMs > 0) await new Promise((r) => setTimeout(r, this.answerDelayMs));
    const answer =
      this.answers.length > 1
        ? this.answers.shift()
        : (this.answers[0] ?? { keepLease: true, reason: '' });
    if (answer instanceof Error) throw answer;
    return { replicateWatermark: 0n, keepLease: true, reason: '', applyUntil: 0n, ...answer };
  }
  /** Answers of `reportQuarantineBatch` in order (an Error is thrown); empty: every call succeeds. */
  quarantineAnswers: (Error | undefined)[] = [];
  quarantineCalls = 0;
  reportQuarantineBatch(
    lease: LeaseRef,
    _workerId: string,
    entries: readonly QuarantineReportEntry[],
  ): Promise<void> {
    this.quarantineCalls++;
    const answer = this.quarantineAnswers.shift();
    if (answer !== undefined) return Promise.reject(answer);
    for (const entry of entries) this.quarantines.push({ lease, entry });
    return Promise.resolve();
  }
  reportFailure(lease: LeaseRef, reason: string, needsPerson: boolean): Promise<void> {
    this.failures.push({ lease, reason, needsPerson });
    return Promise.resolve();
  }
  releaseLease(lease: LeaseRef): Promise<void> {
    this.releases.push(lease);
    return Promise.resolve();
  }
  heartbeat(): Promise<readonly string[]> {
    return Promise.resolve([]);
  }

  // Initial sync: `reportSnapshot` answers from `snapshotAnswers` like `reportCheckpoint` does.
  readonly snapshotReports: ReportSnapshotInput[] = [];
  snapshotAnswers: SnapshotAnswer[] = [];
  snapshotGrant: SnapshotGrant | Error = new CdcError('NOT_FOUND', 'no such snapshot', {
    retryable: false,
  });

  acquireSnapshot(): Promise<SnapshotGrant> {
    const g = this.snapshotGrant;
    return g instanceof Error ? Promise.reject(g) : Promise.resolve(g);
  }
  readonly standbyReports: StandbyReport[] = [];
  reportStandby(_lease: LeaseRef, report: StandbyReport): Promise<void> {
    this.standbyReports.push(report);
    return Promise.resolve();
  }
  reportSnapshot(input: ReportSnapshotInput): Promise<{ keepGoing: boolean; reason: string }> {
    this.snapshotReports.push(input);
    const answer =
      this.snapshotAnswers.length > 1
        ? this.snapshotAnswers.shift()
        : (this.snapshotAnswers[0] ?? { keepGoing: true, reason: '' });
    if (answer instanceof Error) return Promise.reject(answer);
    return Promise.resolve(answer ?? { keepGoing: true, reason: '' });
  }
  close(): Promise<void> {
    return Promise.resolve();
  }
}

export type SnapshotAnswer = { keepGoing: boolean; reason: string } | Error;

/** Resolves once `cond()` holds, polling every few ms; rejects after `timeoutMs`. */
export async function waitFor(cond: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 5));
  }
}

/**
 * The source server's rows in memory, per partition, with Int64 keys in `id`. `query` understands the keyset
 * filters `scanRows` sends (`id > N`, or everything on the first page) and answers in key order like Milvus.
 */
export class FakeSourceRows implements SourceRows {
  readonly rows = new Map<string, ScannedRow[]>();
  readonly queries: { partition: string | undefined; expr: string }[] = [];
  loaded = true;
  indexList: SourceIndex[] = [];
  closed = false;

  add(
    partition: string,
    ids: readonly number[],
    extra: (id: number) => ScannedRow = () => ({}),
  ): this {
    const list = this.rows.get(partition) ?? [];
    for (const id of ids) list.push({ id: String(id), vec: [id, id], ...extra(id) });
    list.sort((a, b) => Number(a['id']) - Number(b['id']));
    this.rows.set(partition, list);
    return this;
  }
  count(): Promise<number> {
    return Promise.resolve([...this.rows.values()].reduce((n, l) => n + l.length, 0));
  }
  query(
    _c: SourceCollectionRef,
    partition: string | undefined,
    expr: string,
    limit: number,
  ): Promise<readonly ScannedRow[]> {
    this.queries.push({ partition, expr });
    const after = /id > (-?\d+)/.exec(expr)?.[1];
    const upTo = /id <= (-?\d+)/.exec(expr)?.[1];
    const source =
      partition === undefined ? [...this.rows.values()].flat() : (this.rows.get(partition) ?? []);
    const rows = source
      .filter((r) => after === undefined || Number(r['id']) > Number(after))
      .filter((r) => upTo === undefined || Number(r['id']) <= Number(upTo))
      .sort((a, b) => Number(a['id']) - Number(b['id']));
    return Promise.resolve(rows.slice(0, limit));
  }
  indexes(): Promise<SourceIndex[]> {
    return Promise.resolve(this.indexList);
  }
  isLoaded(): Promise<boolean> {
    return Promise.resolve(this.loaded);
  }
  close(): Promise<void> {
    this.closed = true;
    return Promise.resolve();
  }
}

/** A replicate-mode target: records every append; `layouts` answers `layout`, `failures` are thrown in order. */
export class FakeReplicateTarget implements ReplicateTarget {
  readonly appended: {
    pchannel: string;
    messages: Uint8Array[];
    beginTs: bigint;
    endTs: bigint;
    from: ForwardedFrom;
  }[] = [];
  readonly layouts = new Map<string, TargetLayout>();
  readonly layoutCalls: string[] = [];
  failures: Error[] = [];
  closed = false;

  layout(target: TargetCollection): Promise<TargetLayout> {
    const key = `${target.db}.${target.collection}`;
    this.layoutCalls.push(key);
    const layout = this.layouts.get(key);
    if (layout === undefined) {
      return Promise.reject(
        new CdcError('SINK_REJECTED', `no collection ${key}`, {
          retryable: false,
          details: { notFound: 'collection' },
        }),
      );
    }
    return Promise.resolve(layout);
  }
  forget(): void {
    // nothing cached
  }
  append(
    pchannel: string,
    messages: readonly Uint8Array[],
    beginTs: bigint,
    endTs: bigint,
    from: ForwardedFrom,
  ): Promise<void> {
    const failure = this.failures.shift();
    if (failure !== undefined) return Promise.reject(failure);
    this.appended.push({ pchannel, messages: [...messages], beginTs, endTs, from });
    return Promise.resolve();
  }
  close(): Promise<void> {
    this.closed = true;
    return Promise.resolve();
  }
}
