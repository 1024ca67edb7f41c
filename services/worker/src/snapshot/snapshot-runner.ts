import {
  CdcError,
  DataType,
  errorMessage,
  rowKey,
  scanRows,
  stringLiteral,
  type Logger,
  type Row,
  type ScannedRow,
  type SnapshotJobData,
  type SourceMetadata,
  MAX_PAGE_SIZE,
} from '@cdc/shared';
import type { Borrowed } from '../lease/lease-runner.js';
import { needsPerson } from '../lease/needs-person.js';
import type { SourceCollectionRef, SourceRows } from '../ports/source-rows.js';
import type { TargetWriter } from '../ports/target-writer.js';
import type { SnapshotProgress, SnapshotRef, WorkerControl } from '../ports/worker-control.js';
import { CollectionCatalog, type ReplicatedCollection } from '../replication/collection-catalog.js';
import { sleep, withRetry } from '../replication/retry.js';
import { sdkRow } from '../replication/target-rows.js';
import { TaskScope } from '../replication/task-scope.js';
import { mappingsOf, scopeOf, type TaskSpecWire } from '../task-spec.js';

export interface SnapshotFactories {
  sourceMetadata(taskId: string, spec: TaskSpecWire): Promise<Borrowed<SourceMetadata>>;
  targetWriter(taskId: string, spec: TaskSpecWire): Promise<Borrowed<TargetWriter>>;
  sourceRows(taskId: string, spec: TaskSpecWire): Promise<Borrowed<SourceRows>>;
}

export interface SnapshotRunnerDeps {
  readonly control: WorkerControl;
  readonly factories: SnapshotFactories;
  readonly workerId: string;
  readonly log: Logger;
  /** Pause before a failed copy's job ends, so the re-scheduled job does not retry in a hot loop. */
  readonly failureBackoffMs?: number;
}

/** 'copied': done; 'stopped': the control said stop (pause/delete) or shutdown; 'failed': reported, will be retried. */
export type SnapshotOutcome = 'copied' | 'stopped' | 'failed' | 'refused';

const DEFAULT_BATCH_ROWS = 4_000;
/** Copies of a partition whose key count a second read does not confirm, before a person is asked. */
const MAX_PARTITION_COPIES = 3;

interface PartitionIo {
  readonly rows: SourceRows;
  readonly writer: TargetWriter;
  readonly catalog: CollectionCatalog;
  readonly batchRows: number;
  readonly retry: <T>(action: string, fn: () => Promise<T>) => Promise<T>;
}

/** A scanned row as the target SDK wants it: the query's `$meta` object passed whole (see target-rows.ts). */
export function snapshotRow(row: ScannedRow): Row {
  return sdkRow(row);
}

class Stopped extends Error {}

function scanKeyType(c: ReplicatedCollection): 'Int64' | 'VarChar' {
  const type = c.schema.fields.find((f) => f.isPrimaryKey)?.dataType;
  if (type === DataType.Int64) return 'Int64';
  if (type === DataType.VarChar) return 'VarChar';
  throw new CdcError('SCHEMA_MISMATCH', `primary key type ${String(type)} cannot be scanned`, {
    retryable: false,
  });
}

/**
 * Copies one source collection to the target for initial sync (one BullMQ snapshot job): takes the copy from the
 * control service (a new epoch), creates the target collection as the stream would (schema, partitions, incarnation
 * marker), then its indexes, then reads every partition in primary-key order at Strong consistency and upserts each
 * page, reporting (partition, last key, rows) after every page. A copy taken over by another worker (this one died or
 * stalled) resumes after the last reported key; rewriting a page is harmless (upserts by key). The target collection
 * is loaded last, like the source (which must be loaded: queries need it). Shutdown stops the copy at its next call.
 * Streaming of the task starts only when every collection reported DONE (snapshot-service.ts).
 */
export class SnapshotRunner {
  constructor(private readonly deps: SnapshotRunnerDeps) {}

  async run(job: SnapshotJobData, shutdown: AbortSignal): Promise<SnapshotOutcome> {
    const { control, workerId } = this.deps;
    let grant;
    try {
      grant = await control.acquireSnapshot(job.taskId, job.collectionId, workerId);
    } catch (err) {
      if (
        err instanceof CdcError &&
        (err.code === 'FAILED_PRECONDITION' || err.code === 'NOT_FOUND')
      ) {
        this.deps.log.info({ ...job, reason: err.message }, 'snapshot refused');
        return 'refused';
      }
      await sleep(1_000, shutdown).catch(() => undefined);
      throw err;
    }
    const ref: SnapshotRef = { ...job, epoch: grant.epoch };
    const log = this.deps.log.child({ ...job, epoch: grant.epoch });
    const batchRows = grant.spec.initial_sync?.batch_rows || DEFAULT_BATCH_ROWS;
    const copy = new CollectionCopy(control, ref, workerId, grant.progress, log);
    const startedAt = Date.now();
    log.info({ resumeAfter: grant.progress.lastKey || undefined }, 'snapshot started');
    try {
      await this.withConnections(job.taskId, grant.spec, (meta, writer, rows) =>
        copy.run(meta, writer, rows, grant.spec, batchRows, shutdown),
      );
      const seconds = (Date.now() - startedAt) / 1000;
      log.info(
        { rows: copy.progress.rowsCopied, rowsPerSecond: Math.round(copy.copiedNow / seconds) },
        'snapshot copied',
      );
      return 'copied';
    } catch (err) {
      if (err instanceof Stopped || shutdown.aborted) {
        log.info({ reason: errorMessage(err) }, 'snapshot stopped');
        return 'stopped';
      }
      const person = needsPerson(err);
      log.error({ err: errorMessage(err), needsPerson: person }, 'snapshot failed');
      await copy.fail(errorMessage(err), person).catch((e: unknown) => {
        log.warn({ err: errorMessage(e) }, 'reporting snapshot failure failed');
      });
      await sleep(this.deps.failureBackoffMs ?? 2_000, shutdown).catch(() => undefined);
      return 'failed';
    }
  }

  private async withConnections(
    taskId: string,
    spec: TaskSpecWire,
    fn: (meta: SourceMetadata, writer: TargetWriter, rows: SourceRows) => Promise<void>,
  ): Promise<void> {
    const { factories } = this.deps;
    const borrowed: Borrowed<unknown>[] = [];
    try {
      const meta = await factories.sourceMetadata(taskId, spec);
      borrowed.push(meta);
      const writer = await factories.targetWriter(taskId, spec);
      borrowed.push(writer);
      const rows = await factories.sourceRows(taskId, spec);
      borrowed.push(rows);
      await fn(meta.value, writer.value, rows.value);
    } finally {
      for (const b of borrowed.reverse()) await b.release();
    }
  }
}

/** One copy attempt of one collection, with its progress. */
class CollectionCopy {
  progress: SnapshotProgress;
  /** Rows written by this attempt (for the rate in the log). */
  copiedNow = 0;
  private signal: AbortSignal = new AbortController().signal;

  constructor(
    private readonly control: WorkerControl,
    private readonly ref: SnapshotRef,
    private readonly workerId: string,
    start: SnapshotProgress,
    private readonly log: Logger,
  ) {
    this.progress = start;
  }

  async run(
    meta: SourceMetadata,
    writer: TargetWriter,
    rows: SourceRows,
    spec: TaskSpecWire,
    batchRows: number,
    signal: AbortSignal,
  ): Promise<void> {
    this.signal = signal;
    const catalog = new CollectionCatalog(
      meta,
      new TaskScope(scopeOf(spec), mappingsOf(spec)),
      writer,
    );
    const retry = <T>(action: string, fn: () => Promise<T>): Promise<T> =>
      withRetry(fn, { signal, log: this.log, action });
    const c = await retry('reading source metadata', () =>
      catalog.resolve(BigInt(this.ref.collectionId)),
    );
    // Dropped since the plan (or out of scope after all): nothing to copy; the stream replays its history as usual.
    if (c === undefined) return this.report(true);
    const src: SourceCollectionRef = { db: c.sourceDb, collection: c.sourceName };
    const loaded = await retry('reading source load state', () => rows.isLoaded(src));
    if (!loaded)
      throw new CdcError(
        'FAILED_PRECONDITION',
        `source collection ${src.db}.${src.collection} is not loaded: initial sync reads it with queries; load it and resume the task`,
        { retryable: false },
      );
    await retry('creating target collection', () => catalog.ensureOnTarget(c, signal));
    for (const index of await retry('reading source indexes', () => rows.indexes(src)))
      await retry('creating target index', () =>
        writer.createIndex(c.target, index.fieldName, index.indexName, index.params),
      );
    if (this.progress.rowsTotal === 0) {
      const total = await retry('counting source rows', () => rows.count(src));
      this.progress = { ...this.progress, rowsTotal: total };
    }

    const partitions = await this.partitionsOf(meta, c);
    const resumeAt = Math.max(0, partitions.indexOf(this.progress.partition));
    for (let i = resumeAt; i < partitions.length; i++) {
      const partition = partitions[i] ?? '';
      const resumeKey =
        partition === this.progress.partition && this.progress.lastKey !== ''
          ? this.progress.lastKey
          : undefined;
      await this.copyAndCheck(c, partition, resumeKey, { rows, writer, catalog, batchRows, retry });
    }
    // Load last: the target serves queries like the source once its rows are in.
    await retry('loading target collection', () => writer.loadCollection(c.target, 0));
    await this.report(true);
  }

  /**
   * Copies a partition, then checks the copy against a second, keys-only read of the source: the distinct keys up to
   * the last one copied must not outnumber the keys the copy wrote. (Keys above it, inserted during the copy, and
   * deletes are the stream's to apply from T0.) If they do, the copy missed rows: it is repeated from the partition's
   * start (upserts, so repeating is harmless), and after MAX_PARTITION_COPIES a person is asked, with the figures,
   * instead of calling the collection done. A copy resumed after a takeover is checked on its next full copy only.
   */
  private async copyAndCheck(
    c: ReplicatedCollection,
    partition: string,
    resumeKey: string | undefined,
    io: PartitionIo,
  ): Promise<void> {
    let from = resumeKey;
    for (let attempt = 1; ; attempt++) {
      const copied = await this.copyPartition(c, partition, from, io);
      if (from !== undefined || copied.lastKey === undefined) return;
      const found = await this.countKeysUpTo(c, partition, copied.lastKey, io);
      if (found <= copied.keys) return;
      const figures = `copied ${copied.keys} distinct keys of ${c.sourceDb}.${c.sourceName} partition ${partition || '(all)'} up to key ${copied.lastKey}, but a second read of the source finds ${found}`;
      if (attempt >= MAX_PARTITION_COPIES)
        throw new CdcError(
          'FAILED_PRECONDITION',
          `initial sync ${figures} (after ${attempt} copies); keys inserted below the copy position while copying also cause this: resume the task to copy again`,
          { retryable: false },
        );
      this.log.warn({ attempt }, `initial sync ${figures}: copying the partition again`);
      from = undefined;
    }
  }

  private async countKeysUpTo(
    c: ReplicatedCollection,
    partition: string,
    lastKey: string,
    io: PartitionIo,
  ): Promise<number> {
    const src: SourceCollectionRef = { db: c.sourceDb, collection: c.sourceName };
    const pkType = scanKeyType(c);
    const bound = pkType === 'Int64' ? BigInt(lastKey).toString() : stringLiteral(lastKey);
    let keys = 0;
    const pages = scanRows(
      (expr, limit) =>
        io.retry('re-reading source keys', () =>
          io.rows.query(src, partition === '' ? undefined : partition, expr, limit, [
            c.primaryKeyField,
          ]),
        ),
      {
        pkField: c.primaryKeyField,
        pkType,
        pageSize: MAX_PAGE_SIZE,
        filter: `${c.primaryKeyField} <= ${bound}`,
      },
    );
    for await (const page of pages) keys += page.length;
    return keys;
  }

  /** Copies a partition from `resumeKey` (exclusive) or its start; returns the distinct keys written and the last. */
  private async copyPartition(
    c: ReplicatedCollection,
    partition: string,
    resumeKey: string | undefined,
    io: PartitionIo,
  ): Promise<{ keys: number; lastKey: string | undefined }> {
    let keys = 0;
    let lastKey: string | undefined;
    const src: SourceCollectionRef = { db: c.sourceDb, collection: c.sourceName };
    const pkType = scanKeyType(c);
    await io.retry('creating target partition', () => io.catalog.ensurePartition(c, partition));
    const pages = scanRows(
      (expr, limit) =>
        io.retry('reading source rows', () =>
          io.rows.query(src, partition === '' ? undefined : partition, expr, limit),
        ),
      {
        pkField: c.primaryKeyField,
        pkType,
        pageSize: io.batchRows,
        ...(resumeKey === undefined
          ? {}
          : { after: pkType === 'Int64' ? BigInt(resumeKey) : resumeKey }),
      },
    );
    // Read the next page while the current one is written: the source and the target are different servers. A read
    // still in flight when the copy ends is dropped (a closed connection ends its retries).
    let next = pages.next();
    for (;;) {
      const result = await next;
      if (result.done === true) return { keys, lastKey };
      const page = result.value;
      next = pages.next();
      next.catch(() => undefined); // awaited on the next turn; unobserved only when this turn fails
      const last = page[page.length - 1];
      if (last === undefined) continue;
      const targetRows = page.map(snapshotRow);
      await io.retry('writing rows', () => io.writer.upsert(c.target, partition, targetRows));
      this.copiedNow += page.length;
      keys += page.length; // keys ascend strictly within a scan: a page's keys are distinct
      lastKey = String(rowKey(last, c.primaryKeyField, pkType));
      this.progress = {
        ...this.progress,
        rowsCopied: this.progress.rowsCopied + page.length,
        partition,
        lastKey,
      };
      await this.report(false);
    }
  }

  /** Partitions in a fixed order (by id), so a resumed copy knows which are done; one '' for partition-key ones. */
  private async partitionsOf(meta: SourceMetadata, c: ReplicatedCollection): Promise<string[]> {
    if (c.schema.fields.some((f) => f.isPartitionKey)) return [''];
    const list = await meta.listPartitions(c.id);
    return list
      .filter((p) => p.state === 'Created')
      .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
      .map((p) => p.name);
  }

  private async report(done: boolean): Promise<void> {
    const input = { ...this.ref, ...this.progress, workerId: this.workerId, done };
    const answer = await withRetry(() => this.control.reportSnapshot(input), {
      signal: this.signal,
      log: this.log,
      action: 'reporting snapshot progress',
    }).catch((err: unknown) => {
      // A stale epoch: another worker took the copy over. Write nothing more.
      if (err instanceof CdcError && err.code === 'LEASE_LOST') throw new Stopped(err.message);
      throw err;
    });
    if (!answer.keepGoing && !done) throw new Stopped(answer.reason);
  }

  fail(reason: string, needsPerson: boolean): Promise<unknown> {
    return this.control.reportSnapshot({
      ...this.ref,
      ...this.progress,
      workerId: this.workerId,
      done: false,
      error: reason,
      needsPerson,
    });
  }
}
