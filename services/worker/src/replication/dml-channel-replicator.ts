import {
  CdcError,
  decodeByType,
  dmlHeaderOf,
  encodeMessage,
  errorMessage,
  MsgType,
  primaryKeyValues,
  readInsertColumns,
  rewriteDml,
  tsToUnixMs,
} from '@cdc/shared';
import type {
  DeleteMessage,
  DmlHeader,
  DmlHeaderChanges,
  DmlView,
  InsertMessage,
  Logger,
  PrimaryKeys,
} from '@cdc/shared';
import type { DropBarrier } from '../ports/drop-barrier.js';
import type { DelayObserver } from '../ports/delay-observer.js';
import { writeFences } from '../ports/write-fence.js';
import type { LeaseProgress, PausePoint } from '../ports/lease-progress.js';
import type { ReplicateTarget } from '../ports/replicate-target.js';
import type { ChannelRecord, SourceReader } from '../ports/source-reader.js';
import { decodeRecord, decodeRecordForPassThrough } from './decode-record.js';
import type { TargetWriter } from '../ports/target-writer.js';
import type { CollectionCatalog, ReplicatedCollection } from './collection-catalog.js';
import { CollectionDdl } from './collection-ddl.js';
import { KeysAppliedAhead } from './keys-applied-ahead.js';
import type { KeyValue } from './keys-applied-ahead.js';
import { changeType, PackBuffer, messageTimestamp, undecodableInsert } from './pack-buffer.js';
import type { ApplyOrder, OrderedMessage, OutOfOrder } from './pack-buffer.js';
import { ReplicateForwarder } from './replicate-forwarder.js';
import type { ChannelMessage, Pack } from './pack-buffer.js';
import { retryStep, type RetryStep } from './retry-step.js';
import { keptColumns, targetRows } from './target-rows.js';
import { WriteBatcher, type ColumnsUpsert } from './write-batcher.js';
import type { TaskScope } from './task-scope.js';

/** One read of the run loop; `cutShort` and `checkpointWanted`: see `readCoalesced`. */
interface CoalescedRead {
  readonly records: ChannelRecord[];
  readonly cutShort: boolean;
  readonly checkpointWanted?: boolean;
}

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
  /** How far a message may be stamped ahead of the present before it is quarantined (PackBuffer). */
  readonly maxClockLeadMs?: number;
  /** The worker's clock in Unix ms (tests set it; default Date.now). */
  readonly clockMs?: () => number;
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
  readonly delays?: DelayObserver;
  /**
   * While the channel is caught up with nothing buffered, read with time ticks coalesced (ReadOptions) and wait this
   * long for a change: the checkpoint then moves about once per wait instead of on every source tick. Set it to the
   * lease's report interval, when nothing needs the checkpoint sooner; 0 or absent: every tick is handled.
   */
  readonly idleTickWaitMs?: number;
  /**
   * API mode: once the reader has nothing more to give, apply the Inserts and Deletes read so far without waiting for
   * the tick that closes their pack (see `applyAhead`); default true. Replicate mode forwards whole packs and ignores
   * it.
   */
  readonly applyAheadOfTicks?: boolean;
}

/** How one change is applied: its place in the apply order, and whether it goes ahead of its closing tick. */
interface ApplyStep {
  readonly order: ApplyOrder;
  readonly ahead: boolean;
}

/** No limit on what may be applied ahead of a tick (above every 64-bit timestamp). */
const NO_LIMIT = 1n << 64n;

/** How long a read waits for a record: normally, and while changes read at the head wait to be applied (see run). */
const READ_WAIT_MS = 500;
const HELD_READ_WAIT_MS = 20;

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
  private readonly retry: RetryStep;
  /** Collection DDL, and the target collections and partitions that Inserts and Deletes need. */
  private readonly ddl: CollectionDdl;
  private lastMsgId: Uint8Array | undefined;
  private paused = false;
  private readonly keysAhead = new KeysAppliedAhead();
  /**
   * The channel was caught up before the current read: what this read brings is the source's latest writes, so how
   * late they reach the target is the channel's lag (`appliedAfter`). The tail of a backlog says nothing of it.
   */
  private caughtUpBeforeRead = false;
  /**
   * The last tick, when its pack left changes at or before it buffered because the lease's apply bound was below it.
   * They are applied as soon as the bound rises: the source may write no further tick (a test producer, a source shut
   * down after its last writes), and waiting for one would hold them back indefinitely.
   */
  private heldTick:
    { readonly msgId: Uint8Array; readonly ts: bigint; readonly limit: bigint } | undefined;

  constructor(private readonly deps: DmlReplicatorDeps) {
    this.lastMsgId = deps.resumeAfter;
    const { replicateTarget, progress, channel, log, onRetry } = deps;
    this.buffer = new PackBuffer(deps.maxClockLeadMs, deps.clockMs);
    this.forwarder = replicateTarget
      ? new ReplicateForwarder({
          target: replicateTarget,
          progress,
          channel,
          log,
          ...(onRetry ? { onRetry } : {}),
        })
      : undefined;
    this.retry = retryStep(log, onRetry);
    const { writer, catalog, barrier } = deps;
    this.ddl = new CollectionDdl({ channel, writer, catalog, barrier, log, retry: this.retry });
  }

  /**
   * Runs until `signal` aborts (the lease ended) or the channel reached the task's pause point; rejects on errors that
   * need a person.
   */
  async run(signal: AbortSignal): Promise<void> {
    const { reader, readBatchSize, progress } = this.deps;
    const idleWaitMs = this.deps.idleTickWaitMs ?? 0;
    let checkpointed = false;
    let held = false;
    while (!signal.aborted) {
      const coalesce: boolean = checkpointed && idleWaitMs > 0 && progress.pause === undefined;
      // Changes at the head held back (by the lease's apply bound, most often: a quiet lease's is as old as its last
      // report, and the report it asked for raises it within a round trip) are tried again soon, not at the next
      // record, which may be the tick ~0.5 s away.
      const waitMs = held ? HELD_READ_WAIT_MS : READ_WAIT_MS;
      const read: CoalescedRead = coalesce
        ? await this.readCoalesced(idleWaitMs, signal)
        : { records: await reader.read(readBatchSize, waitMs, signal), cutShort: false };
      const records: ChannelRecord[] = read.records;
      for (const record of records) {
        if (signal.aborted) return;
        // A tick that waited for the coalescing says nothing of how late ticks are read.
        await this.onRecord(record, signal, !coalesce);
        this.lastMsgId = record.msgId;
        if (this.paused) return;
      }
      if (signal.aborted) return;
      await this.releaseHeld(signal);
      if (this.paused) return;
      const drained = records.length < readBatchSize && reader.hasMore?.() !== true;
      if (drained) held = await this.applyAhead(signal);
      // A short read with nothing more known to the reader drained the channel; with nothing left to apply, the
      // target holds everything the source wrote (caught up), and with nothing buffered, the checkpoint says so too.
      // Ticks are coalesced only then: they would hold back the checkpoint past changes applied ahead.
      const waiting = drained ? this.buffer.oldestUnappliedTs() : undefined;
      this.caughtUpBeforeRead = drained && waiting === undefined;
      progress.setCaughtUp(this.caughtUpBeforeRead, waiting);
      checkpointed = drained && this.buffer.size === 0;
      if (read.checkpointWanted === true) progress.checkpointFresh?.();
      // Not even a time tick for a whole read: the source no longer writes this channel, nothing is left to reach.
      if (
        progress.pause !== undefined &&
        !read.cutShort &&
        records.length === 0 &&
        this.buffer.size === 0
      ) {
        this.stopForPause();
        return;
      }
    }
  }

  /**
   * A read of an idle channel (ReadOptions.coalesceTicks), which waits up to `idleTickWaitMs` for a change. A pause
   * heard meanwhile cuts it short (`cutShort`: its emptiness says nothing of the source), so the channel heads for the
   * pause point at once. So does someone waiting for this lease's checkpoint (`checkpointWanted`): the ticks the wait
   * held back are taken at once, so the report that follows carries them.
   */
  private async readCoalesced(waitMs: number, signal: AbortSignal): Promise<CoalescedRead> {
    const { reader, readBatchSize, progress } = this.deps;
    const wake = new AbortController();
    let checkpointWanted = false;
    const cut = (): void => {
      wake.abort();
    };
    const cutForCheckpoint = (): void => {
      checkpointWanted = true;
      wake.abort();
    };
    signal.addEventListener('abort', cut, { once: true });
    const unwatchPause = progress.onPause?.(cut);
    const unwatchCheckpoint = progress.onCheckpointWanted?.(cutForCheckpoint);
    try {
      const records = await reader.read(readBatchSize, waitMs, wake.signal, {
        coalesceTicks: true,
      });
      const cutShort = wake.signal.aborted;
      if (!checkpointWanted || signal.aborted || records.length >= readBatchSize) {
        return { records, cutShort, checkpointWanted };
      }
      const queued = await reader.read(readBatchSize - records.length, 0, signal, {
        coalesceTicks: true,
      });
      return { records: [...records, ...queued], cutShort, checkpointWanted };
    } finally {
      signal.removeEventListener('abort', cut);
      unwatchPause?.();
      unwatchCheckpoint?.();
    }
  }

  /** The record's message, or undefined once it is quarantined as undecodable. */
  private async decodeOrQuarantine<T>(
    record: ChannelRecord,
    decode: (r: ChannelRecord) => T,
  ): Promise<T | undefined> {
    try {
      return decode(record);
    } catch (err) {
      await this.deps.progress.quarantine({
        msgId: record.msgId,
        timestamp: 0n,
        reason: `undecodable record: ${errorMessage(err)}`,
        payload: record.value,
      });
      return undefined;
    }
  }

  private stopForPause(): void {
    this.paused = true;
    this.deps.progress.pauseReached();
    this.deps.log.info({ pause: this.deps.progress.pause?.timestamp.toString() }, 'channel paused');
  }

  private async onRecord(
    record: ChannelRecord,
    signal: AbortSignal,
    observeTick: boolean,
  ): Promise<void> {
    if (record.rejected !== undefined) {
      await this.deps.progress.quarantine({
        msgId: record.msgId,
        timestamp: 0n,
        reason: record.rejected,
        payload: record.value,
      });
      return;
    }
    // Insert/Delete are read only as far as their header first: the scope decides on it, so the columns of another
    // collection's rows (another task's, on a shared source) are never decoded. Replicate mode forwards them as bytes;
    // API mode decodes the columns of those in scope.
    const message = await this.decodeOrQuarantine(record, decodeRecordForPassThrough);
    if (message === undefined) return;
    if (message.type === 'Unknown') return; // other MsgTypes on DML channels (e.g. DataNodeTt) carry no changes
    if (message.type === 'TimeTick') {
      if (observeTick)
        this.deps.delays?.tickRead(
          Date.now() - tsToUnixMs(message.base.timestamp),
          record.publishTimeMs > 0 ? Date.now() - record.publishTimeMs : undefined,
        );
      await this.onTick(record.msgId, message.base.timestamp, signal);
      return;
    }
    const dml =
      message.type === 'DmlView'
        ? message.header
        : message.type === 'Insert' || message.type === 'Delete'
          ? message
          : undefined;
    if (dml !== undefined && (await this.outOfScope(dml, signal))) return;
    if (messageTimestamp(message) <= (this.deps.floor ?? 0n)) return; // applied before the checkpoint
    // API mode keeps an Insert's view (its columns may go to the target as bytes) when the writer can write columns.
    const keepView =
      this.forwarder !== undefined ||
      (dml?.type === 'Insert' && this.deps.writer.upsertColumns !== undefined);
    const change =
      message.type === 'DmlView' && !keepView
        ? await this.decodeOrQuarantine(record, decodeRecord)
        : message;
    if (change === undefined || change.type === 'Unknown' || change.type === 'TimeTick') return;
    this.buffer.add({
      message: change,
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
    this.heldTick =
      limit === bound && limit < tickTs && this.buffer.size > 0
        ? { msgId: tickMsgId, ts: tickTs, limit }
        : undefined;
    if (pause !== undefined && (pause.immediate || (limit === pause.timestamp && tickTs >= limit)))
      this.stopForPause();
  }

  /** Closes the last tick's pack again once the apply bound rose past where it held changes back. */
  private async releaseHeld(signal: AbortSignal): Promise<void> {
    const held = this.heldTick;
    if (held === undefined) return;
    const bound = this.deps.progress.applyUntil;
    if (bound !== undefined && bound <= held.limit) return;
    await this.onTick(held.msgId, held.ts, signal);
  }

  private quarantineOutOfOrder(bad: OutOfOrder): Promise<void> {
    return this.deps.progress.quarantine({
      msgId: bad.item.msgId,
      timestamp: bad.timestamp,
      reason: `${changeType(bad.item.message)} breaks the channel's tick order: ${bad.reason}`,
      payload: bad.item.payload,
    });
  }

  /**
   * Scope check before buffering, so an out-of-scope message (say with a timestamp far ahead) never holds the channel
   * back: a collection whose name is in scope is kept at once; otherwise its id decides (an insert through an alias
   * carries the alias name). A collection the source etcd does not show yet is kept for the pack to decide.
   */
  private async outOfScope(
    m: Pick<DmlHeader, 'collectionId' | 'dbName' | 'collectionName'>,
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

  /**
   * Applies the Inserts and Deletes buffered so far, before the tick that closes their pack: the tick comes ~0.2–0.6 s
   * after the change (Milvus publishes it well after stamping it), and waiting for it was most of the lag at the
   * head of a channel. Called only when the reader has nothing more to give, so a backlog still goes pack by pack in
   * large batches. A change that arrives later but comes earlier in the apply order skips the keys a change applied
   * ahead already wrote (KeysAppliedAhead), which leaves each key as the pack order would. DDL, and what follows it,
   * waits for its tick; nothing goes past the pause point or the lease's apply bound. Returns whether a change waits
   * for the apply bound to rise (the report that raises it is on its way).
   */
  private async applyAhead(signal: AbortSignal): Promise<boolean> {
    if (this.deps.applyAheadOfTicks === false || this.forwarder !== undefined) return false;
    const { pause, applyUntil } = this.deps.progress;
    if (pause?.immediate === true) return false;
    let limit = limitOf(pause);
    if (applyUntil !== undefined && applyUntil < limit) limit = applyUntil;
    const taken = this.buffer.takeAhead(limit);
    if (taken.length > 0) await this.applyInOrder(taken, true, signal);
    const next = this.buffer.nextAheadTs();
    const bound = this.deps.progress.applyUntil;
    return next !== undefined && bound !== undefined && next > bound && next <= limitOf(pause);
  }

  private async applyPack(pack: Pack, signal: AbortSignal): Promise<void> {
    await this.applyInOrder(pack.changes, false, signal);
    this.keysAhead.forgetThrough(pack.endTimestamp);
    if (pack.checkpointable) this.deps.progress.checkpoint(pack.endMsgId, pack.endTimestamp);
  }

  /** Applies changes in apply order; `ahead`: before their closing tick (`applyAhead`). */
  private async applyInOrder(
    changes: readonly OrderedMessage[],
    ahead: boolean,
    signal: AbortSignal,
  ): Promise<void> {
    if (changes.length > 0) await writeFences.getStore()?.ready?.(signal);
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
    for (const { item, order } of changes) {
      const m = item.message;
      const step: ApplyStep = { order, ahead };
      switch (m.type) {
        case 'Insert':
          await this.onInsert(m, item, step, batcher, signal);
          break;
        case 'Delete':
          await this.onDelete(m, item, step, batcher, signal);
          break;
        case 'DmlView':
          if (this.forwarder) await this.forward(m.header, (c) => rewriteDml(m, c), item, signal);
          else await this.onInsertView(m, item, step, batcher, signal);
          break;
        case 'CreateCollection':
          await flush();
          await this.ddl.createCollection(m, signal);
          break;
        case 'DropCollection':
          await flush();
          if (await this.ddl.dropCollection(m, signal))
            this.forwarder?.forgetCollection(m.collectionId);
          break;
        case 'CreatePartition':
        case 'DropPartition':
          await flush();
          await this.ddl.partition(m, signal);
          break;
        default:
          this.deps.log.debug(
            { type: m.type },
            'message type not expected on a DML channel; skipped',
          );
      }
    }
    await flush();
    const oldest = changes[0];
    if (oldest === undefined) return;
    const delayMs = Date.now() - tsToUnixMs(messageTimestamp(oldest.item.message));
    this.deps.delays?.applied(delayMs);
    if (this.caughtUpBeforeRead) this.deps.progress.appliedAfter?.(delayMs);
  }

  /**
   * What of a change to write: the items whose key no change applied ahead of its tick and later in the apply order
   * already wrote. A change applied ahead notes the keys it writes.
   */
  private writable<T>(
    collectionId: bigint,
    items: readonly T[],
    keyOf: (item: T) => KeyValue,
    step: ApplyStep,
  ): readonly T[] {
    const keys = this.keysAhead;
    const kept = keys.empty
      ? items
      : items.filter((x) => !keys.superseded(collectionId, keyOf(x), step.order));
    if (step.ahead) keys.note(collectionId, kept.map(keyOf), step.order);
    return kept;
  }

  private async onInsert(
    m: InsertMessage,
    item: ChannelMessage,
    step: ApplyStep,
    batcher: WriteBatcher,
    signal: AbortSignal,
  ): Promise<void> {
    if (this.forwarder) {
      await this.forwardDecoded(m, item, signal);
      return;
    }
    const c = await this.ddl.collectionFor(m.collectionId, signal);
    if (c) await this.upsertRows(m, c, item, step, batcher, signal);
  }

  /** The row path: an Insert's rows decoded and checked (quarantined if they cannot be), then upserted. */
  private async upsertRows(
    m: InsertMessage,
    c: ReplicatedCollection,
    item: ChannelMessage,
    step: ApplyStep,
    batcher: WriteBatcher,
    signal: AbortSignal,
  ): Promise<void> {
    const partition = m.partitionName || '_default';
    let decoded;
    try {
      decoded = targetRows(m, c);
    } catch (err) {
      await this.deps.progress.quarantine(undecodableInsert(item, err));
      return;
    }
    if (!(await this.ddl.ensurePartition(c, partition, m.partitionId, signal))) return;
    const pk = c.primaryKeyField;
    const rows = this.writable(m.collectionId, decoded, (r) => r[pk] as KeyValue, step);
    if (rows.length > 0) await batcher.upsert(c, partition, rows, item);
  }

  /**
   * API mode, an Insert read only as far as its header: its columns go to the batcher as bytes, decoded into rows only
   * if they cannot go as they are (see `WriteBatcher.upsertColumns`).
   */
  private async onInsertView(
    view: DmlView,
    item: ChannelMessage,
    step: ApplyStep,
    batcher: WriteBatcher,
    signal: AbortSignal,
  ): Promise<void> {
    const c = await this.ddl.collectionFor(view.header.collectionId, signal);
    if (!c) return;
    const collectionId = view.header.collectionId;
    let carried: ColumnsUpsert | InsertMessage;
    try {
      const columns = readInsertColumns(view.payload);
      const keys = columns && primaryKeyValues(columns, c.primaryKeyField);
      // Columns go as they are only whole: when a change applied ahead of its tick and later in the apply order wrote
      // one of their keys, the row path leaves that key out.
      const whole =
        keys !== undefined &&
        (this.keysAhead.empty ||
          !keys.some((k) => this.keysAhead.superseded(collectionId, k, step.order)));
      carried =
        columns && keys && whole
          ? { columns, keys, rows: () => targetRows(insertOf(view), c), keep: keptColumns(c) }
          : insertOf(view);
    } catch (err) {
      await this.deps.progress.quarantine(undecodableInsert(item, err));
      return;
    }
    if ('type' in carried) {
      await this.upsertRows(carried, c, item, step, batcher, signal);
      return;
    }
    const partition = view.header.partitionName || '_default';
    if (!(await this.ddl.ensurePartition(c, partition, view.header.partitionId, signal))) return;
    if (step.ahead) this.keysAhead.note(collectionId, carried.keys, step.order);
    await batcher.upsertColumns(c, partition, carried, item);
  }

  private async onDelete(
    m: DeleteMessage,
    item: ChannelMessage,
    step: ApplyStep,
    batcher: WriteBatcher,
    signal: AbortSignal,
  ): Promise<void> {
    if (this.forwarder) {
      await this.forwardDecoded(m, item, signal);
      return;
    }
    const c = await this.ddl.collectionFor(m.collectionId, signal);
    if (!c) return;
    // partitionID -1 means "all partitions"; a named partition restricts the delete.
    const partition = m.partitionId === -1n || m.partitionName === '' ? undefined : m.partitionName;
    const keys = writableKeys(m.primaryKeys, (values) =>
      this.writable<KeyValue>(m.collectionId, values, (k) => k, step),
    );
    if (keys.values.length > 0) await batcher.delete(c, partition, keys, item);
  }

  /** Replicate mode, a message a reader decoded itself (2.6 WAL): re-encoded with the target's header. */
  private forwardDecoded(
    m: InsertMessage | DeleteMessage,
    item: ChannelMessage,
    signal: AbortSignal,
  ): Promise<void> {
    return this.forward(dmlHeaderOf(m), (c) => encodeMessage({ ...m, ...c }), item, signal);
  }

  /** Replicate mode: forwards an Insert/Delete to the target collection (an Insert's partition is created first). */
  private async forward(
    h: DmlHeader,
    rewrite: (c: DmlHeaderChanges) => Uint8Array,
    item: ChannelMessage,
    signal: AbortSignal,
  ): Promise<void> {
    const forwarder = this.forwarder;
    if (!forwarder) {
      throw new CdcError('INTERNAL', 'a DML header view outside replicate mode', {
        retryable: false,
      });
    }
    const c = await this.ddl.collectionFor(h.collectionId, signal);
    if (!c) return;
    const partition = h.partitionName || '_default';
    if (
      h.type === 'Insert' &&
      !(await this.ddl.ensurePartition(c, partition, h.partitionId, signal))
    )
      return;
    await forwarder.add(c, h, rewrite, item, signal);
  }
}

/** The latest timestamp a pause lets a channel apply. */
function limitOf(pause: PausePoint | undefined): bigint {
  return pause === undefined ? NO_LIMIT : pause.timestamp;
}

/** A Delete's keys narrowed by `keep` (the same object when it keeps them all). */
function writableKeys(
  keys: PrimaryKeys,
  keep: (values: readonly KeyValue[]) => readonly KeyValue[],
): PrimaryKeys {
  const kept = keep(keys.values);
  if (kept.length === keys.values.length) return keys;
  return keys.type === 'Int64'
    ? { type: 'Int64', values: kept as readonly bigint[] }
    : { type: 'VarChar', values: kept as readonly string[] };
}

/** The Insert a header view stands for, fully decoded (throws DECODE_FAILED). */
function insertOf(view: DmlView): InsertMessage {
  const m = decodeByType(MsgType.Insert, view.payload);
  if (m.type !== 'Insert')
    throw new CdcError('DECODE_FAILED', 'not an insert', { retryable: false });
  return m;
}
