import { CdcError, errorMessage } from '@cdc/shared';
import type {
  CreateCollectionMessage,
  DeleteMessage,
  DropCollectionMessage,
  InsertMessage,
  Logger,
  PartitionMessage,
} from '@cdc/shared';
import type { DropBarrier } from '../ports/drop-barrier.js';
import type { LeaseProgress } from '../ports/lease-progress.js';
import type { ReplicateTarget } from '../ports/replicate-target.js';
import type { ChannelRecord, SourceReader } from '../ports/source-reader.js';
import { decodeRecord } from './decode-record.js';
import type { TargetWriter } from '../ports/target-writer.js';
import type { CollectionCatalog, ReplicatedCollection } from './collection-catalog.js';
import { PackBuffer, messageTimestamp } from './pack-buffer.js';
import type { OutOfOrder } from './pack-buffer.js';
import { ReplicateForwarder } from './replicate-forwarder.js';
import type { ChannelMessage, Pack } from './pack-buffer.js';
import { sleep, withRetry } from './retry.js';
import { targetRows } from './target-rows.js';
import { WriteBatcher } from './write-batcher.js';
import type { TaskScope } from './task-scope.js';

export interface DmlReplicatorDeps {
  readonly channel: string;
  readonly reader: SourceReader;
  readonly writer: TargetWriter;
  readonly catalog: CollectionCatalog;
  readonly barrier: DropBarrier;
  readonly progress: LeaseProgress;
  readonly log: Logger;
  readonly maxBatchRows: number;
  readonly readBatchSize: number;
  /** Lets out-of-scope Inserts and Deletes be dropped before they are buffered (without it: at apply time). */
  readonly scope?: TaskScope;
  /** How long a message may stay ahead of the channel's ticks before it is quarantined (PackBuffer). */
  readonly maxTickCarryMs?: number;
  /** Replicate mode: Insert/Delete are forwarded as messages through this target instead of written as rows. */
  readonly replicateTarget?: ReplicateTarget;
  readonly onRetry?: (err: unknown) => void;
  /** The message id the reader resumed after (undefined: it started at a time, the earliest or the latest record). */
  readonly resumeAfter?: Uint8Array;
  /**
   * Changes at or before this source timestamp are skipped: the checkpoint says they are applied (see Pack), or the
   * task starts after them. 0n: none.
   */
  readonly floor?: bigint;
}

/**
 * Replicates one source DML pchannel: Insert/Delete (upserts included) and the collection DDL that Milvus broadcasts
 * into it (CreateCollection, DropCollection, DropPartition). Messages are applied pack by pack (see PackBuffer), and
 * the closing time tick of a pack becomes the checkpoint only after the target acknowledged the whole pack.
 *
 * Exactly-once effect: rows are written with upsert (replace by primary key), deletes and DDL are idempotent, so the
 * part of the channel replayed after a crash or lease handover (everything after the last checkpoint) leaves the target
 * exactly as if it had been applied once.
 */
export class DmlChannelReplicator {
  private readonly buffer: PackBuffer;
  private readonly forwarder: ReplicateForwarder | undefined;
  private lastMsgId: Uint8Array | undefined;
  private paused = false;

  constructor(private readonly deps: DmlReplicatorDeps) {
    this.lastMsgId = deps.resumeAfter;
    const { replicateTarget, progress, channel, log, onRetry } = deps;
    this.buffer = new PackBuffer(deps.maxTickCarryMs);
    this.forwarder = replicateTarget
      ? new ReplicateForwarder({
          target: replicateTarget,
          progress,
          channel,
          log,
          ...(onRetry ? { onRetry } : {}),
        })
      : undefined;
  }

  /**
   * Runs until `signal` aborts (the lease ended) or the channel reached the task's pause point; rejects on errors that
   * need a person.
   */
  async run(signal: AbortSignal): Promise<void> {
    const { reader, readBatchSize, progress } = this.deps;
    while (!signal.aborted) {
      const records = await reader.read(readBatchSize, 500, signal);
      for (const record of records) {
        if (signal.aborted) return;
        await this.onRecord(record, signal);
        this.lastMsgId = record.msgId;
        if (this.paused) return;
      }
      if (signal.aborted) return;
      // A short read drained what the reader held; with nothing buffered, everything read is applied.
      progress.setCaughtUp(records.length < readBatchSize && this.buffer.size === 0);
      // Not even a time tick for a whole read: the source no longer writes this channel, nothing is left to reach.
      if (progress.pause !== undefined && records.length === 0 && this.buffer.size === 0) {
        this.stopForPause();
        return;
      }
    }
  }

  private stopForPause(): void {
    this.paused = true;
    this.deps.progress.pauseReached();
    this.deps.log.info({ pause: this.deps.progress.pause?.timestamp.toString() }, 'channel paused');
  }

  private async onRecord(record: ChannelRecord, signal: AbortSignal): Promise<void> {
    if (record.rejected !== undefined) {
      await this.deps.progress.quarantine({
        msgId: record.msgId,
        timestamp: 0n,
        reason: record.rejected,
        payload: record.value,
      });
      return;
    }
    let message;
    try {
      message = decodeRecord(record);
    } catch (err) {
      await this.deps.progress.quarantine({
        msgId: record.msgId,
        timestamp: 0n,
        reason: `undecodable record: ${errorMessage(err)}`,
        payload: record.value,
      });
      return;
    }
    if (message.type === 'Unknown') return; // other MsgTypes on DML channels (e.g. DataNodeTt) carry no changes
    if (message.type === 'TimeTick') {
      await this.onTick(record.msgId, message.base.timestamp, signal);
      return;
    }
    if (
      (message.type === 'Insert' || message.type === 'Delete') &&
      (await this.outOfScope(message, signal))
    )
      return;
    if (messageTimestamp(message) <= (this.deps.floor ?? 0n)) return; // applied before the checkpoint
    this.buffer.add({
      message,
      msgId: record.msgId,
      payload: record.value,
      ...(this.lastMsgId === undefined ? {} : { after: this.lastMsgId }),
    });
  }

  /**
   * Applies what the tick closes, up to the pause point and the lease's apply bound (the rest waits in the buffer),
   * then checkpoints; stops at the pause point once the tick has passed it (no change at or before it can follow).
   */
  private async onTick(tickMsgId: Uint8Array, tickTs: bigint, signal: AbortSignal): Promise<void> {
    const { progress } = this.deps;
    progress.observeHead(tickTs);
    const pause = progress.pause;
    let limit = tickTs;
    if (pause !== undefined && !pause.immediate && pause.timestamp < limit) limit = pause.timestamp;
    const bound = progress.applyUntil;
    if (bound !== undefined && bound < limit) limit = bound;
    const pack = this.buffer.close(tickMsgId, tickTs, limit);
    for (const bad of pack.expired) await this.quarantineOutOfOrder(bad);
    await this.applyPack(pack, signal);
    if (pause !== undefined && (pause.immediate || (limit === pause.timestamp && tickTs >= limit)))
      this.stopForPause();
  }

  private quarantineOutOfOrder(bad: OutOfOrder): Promise<void> {
    return this.deps.progress.quarantine({
      msgId: bad.item.msgId,
      timestamp: bad.timestamp,
      reason: `${bad.item.message.type} breaks the channel's tick order: ${bad.reason}`,
      payload: bad.item.payload,
    });
  }

  /**
   * Scope check before buffering, so an out-of-scope message (say with a timestamp far ahead) never holds the channel
   * back: a collection whose name is in scope is kept at once; otherwise its id decides (an insert through an alias
   * carries the alias name). A collection the source etcd does not show yet is kept for the pack to decide.
   */
  private async outOfScope(
    m: InsertMessage | DeleteMessage,
    signal: AbortSignal,
  ): Promise<boolean> {
    const { catalog, scope } = this.deps;
    if (catalog.skips(m.collectionId)) return true;
    if (
      scope !== undefined &&
      m.collectionName !== '' &&
      scope.includesCollection(m.dbName, m.collectionName)
    )
      return false;
    return this.retry('checking collection scope', () => catalog.excludes(m.collectionId), signal);
  }

  private async applyPack(pack: Pack, signal: AbortSignal): Promise<void> {
    const batcher = new WriteBatcher({
      writer: this.deps.writer,
      progress: this.deps.progress,
      signal,
      log: this.deps.log,
      maxBatchRows: this.deps.maxBatchRows,
      ...(this.deps.onRetry ? { onRetry: this.deps.onRetry } : {}),
      relocate: (c) => this.deps.catalog.relocate(c),
    });
    // Everything before a DDL message reaches the target before the DDL does.
    const flush = async (): Promise<void> => {
      await batcher.flush();
      await this.forwarder?.flush(signal);
    };
    for (const item of pack.messages) {
      const m = item.message;
      switch (m.type) {
        case 'Insert':
          await this.onInsert(m, item, batcher, signal);
          break;
        case 'Delete':
          await this.onDelete(m, item, batcher, signal);
          break;
        case 'CreateCollection':
          await flush();
          await this.onCreateCollection(m, signal);
          break;
        case 'DropCollection':
          await flush();
          await this.onDropCollection(m, signal);
          break;
        case 'CreatePartition':
        case 'DropPartition':
          await flush();
          await this.onPartition(m, signal);
          break;
        default:
          this.deps.log.debug(
            { type: m.type },
            'message type not expected on a DML channel; skipped',
          );
      }
    }
    await flush();
    if (pack.checkpointable) this.deps.progress.checkpoint(pack.endMsgId, pack.endTimestamp);
  }

  private retry<T>(action: string, fn: () => Promise<T>, signal: AbortSignal): Promise<T> {
    const { log, onRetry } = this.deps;
    return withRetry(fn, { signal, log, action, ...(onRetry ? { onRetry } : {}) });
  }

  private async collectionFor(
    collectionId: bigint,
    signal: AbortSignal,
  ): Promise<ReplicatedCollection | undefined> {
    const { catalog } = this.deps;
    const c = await this.retry('resolving collection', () => catalog.resolve(collectionId), signal);
    if (c === undefined) return undefined;
    return (await this.ensureOnTarget(c, signal)) ? c : undefined;
  }

  /** False: a later incarnation of the name replaced this collection, whose messages are then skipped. */
  private ensureOnTarget(c: ReplicatedCollection, signal: AbortSignal): Promise<boolean> {
    return this.retry(
      'creating target collection',
      () =>
        this.deps.catalog.ensureOnTarget(c, signal, this.leftEarlierIncarnation(c.target, signal)),
      signal,
    );
  }

  private async onInsert(
    m: InsertMessage,
    item: ChannelMessage,
    batcher: WriteBatcher,
    signal: AbortSignal,
  ): Promise<void> {
    const c = await this.collectionFor(m.collectionId, signal);
    if (!c) return;
    const partition = m.partitionName || '_default';
    if (this.forwarder) {
      await this.ensurePartition(c, partition, signal);
      await this.forwarder.add(c, m, item, signal);
      return;
    }
    let rows;
    try {
      rows = targetRows(m, c);
    } catch (err) {
      await this.deps.progress.quarantine({
        msgId: item.msgId,
        timestamp: messageTimestamp(m),
        reason: `insert rows could not be decoded: ${errorMessage(err)}`,
        payload: item.payload,
      });
      return;
    }
    await this.ensurePartition(c, partition, signal);
    await batcher.upsert(c, partition, rows, item);
  }

  private ensurePartition(
    c: ReplicatedCollection,
    partition: string,
    signal: AbortSignal,
  ): Promise<void> {
    return this.retry(
      'creating target partition',
      () => this.deps.catalog.ensurePartition(c, partition),
      signal,
    );
  }

  private async onDelete(
    m: DeleteMessage,
    item: ChannelMessage,
    batcher: WriteBatcher,
    signal: AbortSignal,
  ): Promise<void> {
    const c = await this.collectionFor(m.collectionId, signal);
    if (!c) return;
    if (this.forwarder) {
      await this.forwarder.add(c, m, item, signal);
      return;
    }
    // partitionID -1 means "all partitions"; a named partition restricts the delete.
    const partition = m.partitionId === -1n || m.partitionName === '' ? undefined : m.partitionName;
    await batcher.delete(c, partition, m.primaryKeys, item);
  }

  private async onCreateCollection(m: CreateCollectionMessage, signal: AbortSignal): Promise<void> {
    const { catalog } = this.deps;
    const c = await this.retry(
      'resolving created collection',
      () => catalog.resolveCreated(m, signal),
      signal,
    );
    if (c) await this.ensureOnTarget(c, signal);
  }

  private async onDropCollection(m: DropCollectionMessage, signal: AbortSignal): Promise<void> {
    const { catalog, writer } = this.deps;
    const c = await this.retry(
      'resolving dropped collection',
      () => catalog.resolve(m.collectionId),
      signal,
    );
    const key = `drop-collection-${m.collectionId}`;
    if (!c) {
      await this.passBarrier(key, signal);
      return;
    }
    await this.atBarrier(key, c.physicalChannels, signal, () =>
      this.retry(
        'dropping target collection',
        () => writer.dropCollection(c.target, c.id.toString()),
        signal,
      ),
    );
    catalog.forget(m.collectionId);
    this.forwarder?.forgetCollection(m.collectionId);
  }

  private async onPartition(m: PartitionMessage, signal: AbortSignal): Promise<void> {
    const { catalog, writer } = this.deps;
    const c = await this.collectionFor(m.collectionId, signal);
    if (!c) {
      if (m.type === 'DropPartition') {
        await this.passBarrier(`drop-partition-${m.collectionId}-${m.partitionId}`, signal);
      }
      return;
    }
    if (m.type === 'CreatePartition') {
      await this.retry(
        'creating target partition',
        () => catalog.ensurePartition(c, m.partitionName),
        signal,
      );
      return;
    }
    await this.atBarrier(
      `drop-partition-${m.collectionId}-${m.partitionId}`,
      c.physicalChannels,
      signal,
      async () => {
        // Milvus refuses to drop a loaded partition; the source released it before dropping, so do the same.
        await this.retry(
          'releasing target partition',
          () => writer.releasePartitions(c.target, [m.partitionName]),
          signal,
        );
        await this.retry(
          'dropping target partition',
          () => writer.dropPartition(c.target, m.partitionName),
          signal,
        );
      },
    );
    catalog.forgetPartition(c, m.partitionName);
  }

  /**
   * A new incarnation of a name is waiting for the old one's drop. Milvus writes a DropCollection message only when it
   * garbage-collects the collection, with a fresh timestamp, so on a pchannel both incarnations use the old one's drop
   * can come after the new one's create, and the channel would wait for itself. It need not: the old collection's
   * rows were all written before the drop request, hence before the create being applied now, so this channel has
   * passed all of them and joins the old drop's barrier now. If that completes the barrier, or the old collection is
   * gone from the source altogether (no channel resolves it, so none writes its rows any more), the drop is applied
   * here.
   */
  private leftEarlierIncarnation(
    target: ReplicatedCollection['target'],
    signal: AbortSignal,
  ): (earlierSourceId: string) => Promise<void> {
    const { barrier, catalog, channel, writer, log } = this.deps;
    return async (earlier) => {
      // Renamed on the source, not dropped: the standby follower frees the name by renaming it on the target.
      if (
        await this.retry(
          'checking earlier incarnation',
          () => catalog.renamedAway(BigInt(earlier), target),
          signal,
        )
      )
        return;
      const key = `drop-collection-${earlier}`;
      const arrived = await this.retry(
        'joining drop barrier',
        () => barrier.arrive(key, channel),
        signal,
      );
      if (await barrier.isDone(key)) return;
      const old = await this.retry(
        'resolving earlier incarnation',
        () => catalog.resolve(BigInt(earlier)),
        signal,
      );
      if (old !== undefined && !old.physicalChannels.every((ch) => arrived.has(ch))) return;
      await this.retry(
        'dropping earlier incarnation',
        () => writer.dropCollection(target, earlier),
        signal,
      );
      await this.retry('completing drop barrier', () => barrier.markDone(key), signal);
      log.info({ barrier: key }, 'earlier incarnation dropped before its DropCollection message');
    };
  }

  /**
   * A channel that cannot resolve the collection (out of scope, or its metadata already garbage-collected after a
   * restart) still reports that it reached the drop, so channels that did resolve it are not left waiting for it.
   */
  private async passBarrier(key: string, signal: AbortSignal): Promise<void> {
    const { barrier, channel } = this.deps;
    await this.retry('joining drop barrier', () => barrier.arrive(key, channel), signal);
  }

  /**
   * Waits until every pchannel of the collection reached the drop, applies it once, and only then lets this channel
   * continue (see DropBarrier for why).
   */
  private async atBarrier(
    key: string,
    channels: readonly string[],
    signal: AbortSignal,
    apply: () => Promise<void>,
  ): Promise<void> {
    const { barrier, channel, log } = this.deps;
    const expected = channels.length > 0 ? channels : [channel];
    for (;;) {
      const arrived = await this.retry(
        'joining drop barrier',
        () => barrier.arrive(key, channel),
        signal,
      );
      if (await barrier.isDone(key)) return;
      if (expected.every((ch) => arrived.has(ch))) {
        await apply();
        await this.retry('completing drop barrier', () => barrier.markDone(key), signal);
        log.info({ barrier: key }, 'drop applied after every channel reached it');
        return;
      }
      await sleep(250, signal);
      if (signal.aborted)
        throw new CdcError('LEASE_LOST', 'lease ended at a drop barrier', { retryable: false });
    }
  }
}
