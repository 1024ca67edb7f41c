import { CdcError, errorMessage } from '@cdc/shared';
import type { KnownMessage, Logger } from '@cdc/shared';
import type { LeaseProgress } from '../ports/lease-progress.js';
import { writeFences } from '../ports/write-fence.js';
import type { ChannelRecord, SourceReader } from '../ports/source-reader.js';
import { decodeRecord } from './decode-record.js';
import type { TargetCollection, TargetWriter } from '../ports/target-writer.js';
import type { CollectionCatalog } from './collection-catalog.js';
import { sleep, withRetry } from './retry.js';
import type { TaskScope } from './task-scope.js';
import { normalizeDb } from './task-scope.js';

/** Ops read at once; a shorter read means the channel is drained. */
const READ_BATCH = 100;

export interface ReplicateChannelDeps {
  readonly reader: SourceReader;
  readonly writer: TargetWriter;
  readonly catalog: CollectionCatalog;
  readonly scope: TaskScope;
  readonly progress: LeaseProgress;
  readonly log: Logger;
  /** How long an op waits for its collection to appear on the target before it is quarantined. */
  readonly objectWaitMs: number;
  readonly onRetry?: (err: unknown) => void;
}

/**
 * Replicates the source's replicate channel (`{prefix}-replicate-msg`): database, index, load/release and flush ops,
 * one message at a time and in order, each checkpointed once the target applied it.
 *
 * This channel is not ordered with the DML channels, so an op may arrive before the DML channel created its
 * collection on the target. The op then creates the collection from the source metadata itself (idempotent), or waits
 * for it (bounded by `objectWaitMs`) before it is quarantined with the reason.
 */
export class ReplicateChannelReplicator {
  constructor(private readonly deps: ReplicateChannelDeps) {}

  /** Runs until `signal` aborts (the lease ended) or the channel reached the task's pause point. */
  async run(signal: AbortSignal): Promise<void> {
    const { progress } = this.deps;
    while (!signal.aborted) {
      // Ops are rare and none is urgent: an idle worker may fetch this channel less often (ReadOptions.idle).
      const records = await this.deps.reader.read(READ_BATCH, 500, signal, { idle: true });
      // Ops to apply: a quiet lease renews its bound and write validity now (see LeaseProgress.setCaughtUp).
      if (records.length > 0) progress.setCaughtUp(false);
      for (const record of records) {
        if (signal.aborted) return;
        if ((await this.onRecord(record, signal)) === 'paused') {
          this.stopForPause();
          return;
        }
      }
      progress.setCaughtUp(records.length < READ_BATCH && this.deps.reader.hasMore?.() !== true);
      // This channel has no time ticks: an immediate pause stops between batches, a timestamp pause once nothing
      // more arrives (an op at or before the pause point that arrives later is applied after the resume).
      if (
        progress.pause?.immediate === true ||
        (progress.pause !== undefined && records.length === 0)
      ) {
        this.stopForPause();
        return;
      }
    }
  }

  private stopForPause(): void {
    this.deps.progress.pauseReached();
    this.deps.log.info({ pause: this.deps.progress.pause?.timestamp.toString() }, 'channel paused');
  }

  /**
   * 'paused' for the first op past the pause point (not applied). An op past the lease's apply bound waits for the
   * control service to raise it (it always does while the lease is confirmed).
   */
  private async onRecord(
    record: ChannelRecord,
    signal: AbortSignal,
  ): Promise<'paused' | undefined> {
    const { progress } = this.deps;
    if (record.rejected !== undefined) {
      await progress.quarantine({
        msgId: record.msgId,
        timestamp: 0n,
        reason: record.rejected,
        payload: record.value,
      });
      progress.checkpoint(record.msgId, 0n);
      return;
    }
    let message;
    try {
      message = decodeRecord(record);
    } catch (err) {
      await progress.quarantine({
        msgId: record.msgId,
        timestamp: 0n,
        reason: `undecodable record: ${errorMessage(err)}`,
        payload: record.value,
      });
      progress.checkpoint(record.msgId, 0n);
      return undefined;
    }
    if (message.type === 'Unknown') {
      this.deps.log.debug({ msgType: message.msgType }, 'op not replicated; skipped');
      progress.checkpoint(record.msgId, message.base?.timestamp ?? 0n);
      return undefined;
    }
    const ts = message.base.timestamp;
    for (;;) {
      const pause = progress.pause;
      if (pause !== undefined && !pause.immediate && ts > pause.timestamp) return 'paused';
      const bound = progress.applyUntil;
      if (bound === undefined || ts <= bound || signal.aborted) break;
      await sleep(100, signal).catch(() => undefined);
    }
    try {
      await writeFences.getStore()?.ready?.(signal);
      await this.apply(message, signal);
    } catch (err) {
      if (!(err instanceof CdcError) || err.code !== 'SINK_REJECTED') throw err;
      await progress.quarantine({
        msgId: record.msgId,
        timestamp: message.base.timestamp,
        reason: `target rejected ${message.type}: ${errorMessage(err)}`,
        payload: record.value,
      });
    }
    progress.observeHead(message.base.timestamp);
    progress.checkpoint(record.msgId, message.base.timestamp);
    return undefined;
  }

  private retry<T>(action: string, fn: () => Promise<T>, signal: AbortSignal): Promise<T> {
    const { log, onRetry } = this.deps;
    return withRetry(fn, { signal, log, action, ...(onRetry ? { onRetry } : {}) });
  }

  /** The target collection of an op, created from source metadata if needed; undefined when out of scope or gone. */
  private async target(
    db: string,
    collection: string,
    signal: AbortSignal,
  ): Promise<TargetCollection | undefined> {
    const { catalog, scope } = this.deps;
    const sourceDb = normalizeDb(db);
    if (!scope.includesCollection(sourceDb, collection)) return undefined;
    const c = await this.retry(
      'resolving collection',
      () => catalog.resolveByName(sourceDb, collection),
      signal,
    );
    if (c) {
      await this.retry(
        'creating target collection',
        () => catalog.ensureOnTarget(c, signal),
        signal,
      );
      return c.target;
    }
    // Gone from the source already: apply to the target only if the collection is there.
    const mapped = scope.mapCollection(sourceDb, collection);
    const exists = await this.retry(
      'checking target collection',
      () => this.deps.writer.hasCollection(mapped),
      signal,
    );
    return exists ? mapped : undefined;
  }

  /**
   * Drops a target database, unless each collection that keeps it from being dropped replicates a collection the
   * source holds now in that database: the source dropped the database and made it again, and the DML channels
   * (not ordered with this one) already created the new one's collections. They belong there, so the drop is history.
   */
  private async dropDatabase(db: string): Promise<void> {
    const { writer, catalog, log } = this.deps;
    try {
      await writer.dropDatabase(db);
    } catch (err) {
      if (!(err instanceof CdcError) || err.code !== 'SINK_REJECTED') throw err;
      const owners = await writer.collectionSourceIds(db);
      if (owners.length === 0) throw err;
      for (const id of owners)
        if (id === undefined || !(await catalog.belongsIn(id, db))) throw err;
      log.info(
        { db, collections: owners.length },
        'database made again on the source and its new collections are on the target already; drop not replayed',
      );
    }
  }

  /** Retries an op whose failure may be "not there yet" (index not built, collection being created) for a while. */
  private async patient(
    action: string,
    fn: () => Promise<void>,
    signal: AbortSignal,
  ): Promise<void> {
    const deadline = Date.now() + this.deps.objectWaitMs;
    for (;;) {
      try {
        await this.retry(action, fn, signal);
        return;
      } catch (err) {
        if (!(err instanceof CdcError) || err.code !== 'SINK_REJECTED' || Date.now() > deadline)
          throw err;
        this.deps.log.debug({ err: errorMessage(err), action }, 'op not applicable yet; waiting');
        await new Promise((r) => setTimeout(r, 500));
      }
    }
  }

  /**
   * The partitions of a load that the source still has. The DML channels apply a later DropPartition at their own
   * pace, so when this channel catches up, a partition the source loaded and then dropped may be gone from the target
   * already: loading it would wait for a partition that will never come back (and hold every op behind it).
   */
  private async stillOnSource(
    db: string,
    collection: string,
    partitions: readonly string[],
    signal: AbortSignal,
  ): Promise<string[]> {
    const { catalog, log } = this.deps;
    const c = await this.retry(
      'resolving collection',
      () => catalog.resolveByName(normalizeDb(db), collection),
      signal,
    );
    if (c === undefined) return [...partitions];
    const live = await this.retry(
      'listing partitions',
      () => catalog.sourcePartitions(c.id),
      signal,
    );
    const kept = partitions.filter((p) => live.has(p));
    if (kept.length < partitions.length)
      log.info(
        { collection, dropped: partitions.filter((p) => !live.has(p)) },
        'partitions dropped on the source since this load; not loaded',
      );
    return kept;
  }

  private async apply(m: KnownMessage, signal: AbortSignal): Promise<void> {
    const { writer, scope } = this.deps;
    switch (m.type) {
      case 'CreateDatabase':
        if (scope.includesDatabase(m.dbName)) {
          await this.retry(
            'creating database',
            () => writer.createDatabase(scope.mapDatabase(m.dbName), m.properties),
            signal,
          );
        }
        return;
      case 'DropDatabase':
        if (scope.includesDatabase(m.dbName)) {
          // The DML channels drop the database's collections at their own pace; wait for them.
          const db = scope.mapDatabase(m.dbName);
          await this.patient('dropping database', () => this.dropDatabase(db), signal);
        }
        return;
      case 'AlterDatabase':
        this.deps.log.debug(
          { db: m.dbName },
          'AlterDatabase is not replicated in API mode; skipped',
        );
        return;
      case 'Flush':
        for (const name of m.collectionNames) {
          const t = await this.target(m.dbName, name, signal);
          if (t) await this.patient('flushing', () => writer.flush(t.db, [t.collection]), signal);
        }
        return;
      default:
        await this.applyCollectionOp(m, signal);
    }
  }

  private async applyCollectionOp(m: KnownMessage, signal: AbortSignal): Promise<void> {
    const { writer } = this.deps;
    if (!('collectionName' in m) || !('dbName' in m)) return;
    const t = await this.target(m.dbName, m.collectionName, signal);
    if (!t) return;
    switch (m.type) {
      case 'CreateIndex':
        return this.patient(
          'creating index',
          () => writer.createIndex(t, m.fieldName, m.indexName, m.extraParams),
          signal,
        );
      case 'DropIndex':
        return this.patient(
          'dropping index',
          () => writer.dropIndex(t, m.fieldName, m.indexName),
          signal,
        );
      case 'AlterIndex':
        return this.patient(
          'altering index',
          () => writer.alterIndex(t, m.indexName, m.extraParams, m.deleteKeys),
          signal,
        );
      case 'LoadCollection':
        return this.patient(
          'loading collection',
          () => writer.loadCollection(t, m.replicaNumber || 1),
          signal,
        );
      case 'ReleaseCollection':
        return this.patient('releasing collection', () => writer.releaseCollection(t), signal);
      case 'LoadPartitions': {
        const partitions = await this.stillOnSource(
          m.dbName,
          m.collectionName,
          m.partitionNames,
          signal,
        );
        if (partitions.length === 0) return;
        return this.patient(
          'loading partitions',
          () => writer.loadPartitions(t, partitions, m.replicaNumber || 1),
          signal,
        );
      }
      case 'ReleasePartitions':
        return this.patient(
          'releasing partitions',
          () => writer.releasePartitions(t, m.partitionNames),
          signal,
        );
      default:
        this.deps.log.debug(
          { type: m.type },
          'message type not expected on the replicate channel; skipped',
        );
    }
  }
}
