import { setImmediate as nextTurn } from 'node:timers/promises';
import { CdcError, errorMessage, sameColumns } from '@cdc/shared';
import type { ColumnSlice, InsertColumns, Logger, PrimaryKeys, Row } from '@cdc/shared';
import type { LeaseProgress } from '../ports/lease-progress.js';
import type { TargetWriter } from '../ports/target-writer.js';
import type { ReplicatedCollection } from './collection-catalog.js';
import { changeType, messageTimestamp, undecodableInsert } from './pack-buffer.js';
import type { ChannelMessage } from './pack-buffer.js';
import { reachedDeadline, withRetry } from './retry.js';

/** An Insert whose columns go to the target as the source wrote them, or as rows when they cannot. */
export interface ColumnsUpsert {
  readonly columns: InsertColumns;
  /** Its primary keys as Map keys: one call never carries a key twice. */
  readonly keys: readonly (number | string)[];
  /** Its rows, for the row path; throws DECODE_FAILED on an Insert the row decoder refuses. */
  readonly rows: () => readonly Row[];
  /** The columns the target gets (not system fields, not function outputs). */
  readonly keep: (c: ColumnSlice) => boolean;
}

type Change =
  | { readonly kind: 'upsert'; readonly rows: readonly Row[]; readonly source: ChannelMessage }
  | { readonly kind: 'upsert'; readonly columns: ColumnsUpsert; readonly source: ChannelMessage }
  | { readonly kind: 'delete'; readonly keys: PrimaryKeys; readonly source: ChannelMessage };
type UpsertChange = Extract<Change, { kind: 'upsert' }>;

interface Batch {
  readonly kind: Change['kind'];
  readonly collection: ReplicatedCollection;
  readonly partition: string | undefined;
  readonly changes: Change[];
  rowCount: number;
}

export interface BatcherContext {
  readonly writer: TargetWriter;
  readonly progress: LeaseProgress;
  readonly signal: AbortSignal;
  readonly log: Logger;
  readonly maxBatchRows: number;
  readonly onRetry?: (err: unknown) => void;
  /** Where a collection went whose target is no longer there (a rename); undefined when it did not move. */
  readonly relocate?: (c: ReplicatedCollection) => Promise<ReplicatedCollection | undefined>;
}

/** A write refused because its collection (or database) is not on the target. */
function isGone(err: CdcError): boolean {
  const nf = err.details['notFound'];
  return nf === 'collection' || nf === 'database';
}

/**
 * Merges consecutive changes of one kind to one (collection, partition) into a single SDK call, for throughput,
 * without ever reordering: a change of another kind or target flushes what is pending first.
 * Within an upsert batch the last row per primary key wins, so one call never carries a key twice.
 */
export class WriteBatcher {
  private batch: Batch | undefined;
  /** Inserts already quarantined as undecodable (a batch may be applied again change by change). */
  private readonly undecodable = new Set<ChannelMessage>();

  constructor(private readonly ctx: BatcherContext) {}

  /** An Insert as columns: written as bytes when the whole batch can be, else decoded into rows at apply time. */
  async upsertColumns(
    collection: ReplicatedCollection,
    partition: string,
    columns: ColumnsUpsert,
    source: ChannelMessage,
  ): Promise<void> {
    await this.add(
      collection,
      partition,
      { kind: 'upsert', columns, source },
      columns.columns.numRows,
    );
  }

  async upsert(
    collection: ReplicatedCollection,
    partition: string,
    rows: readonly Row[],
    source: ChannelMessage,
  ): Promise<void> {
    await this.add(collection, partition, { kind: 'upsert', rows, source }, rows.length);
  }

  async delete(
    collection: ReplicatedCollection,
    partition: string | undefined,
    keys: PrimaryKeys,
    source: ChannelMessage,
  ): Promise<void> {
    await this.add(collection, partition, { kind: 'delete', keys, source }, keys.values.length);
  }

  private async add(
    collection: ReplicatedCollection,
    partition: string | undefined,
    change: Change,
    rows: number,
  ): Promise<void> {
    const b = this.batch;
    if (
      b &&
      (b.kind !== change.kind || b.collection.id !== collection.id || b.partition !== partition)
    ) {
      await this.flush();
    }
    this.batch ??= { kind: change.kind, collection, partition, changes: [], rowCount: 0 };
    this.batch.changes.push(change);
    this.batch.rowCount += rows;
    if (this.batch.rowCount >= this.ctx.maxBatchRows) await this.flush();
  }

  /** Applies what is pending. Resolves once the target acknowledged it (or quarantined what it rejected). */
  async flush(): Promise<void> {
    const b = this.batch;
    this.batch = undefined;
    if (!b || b.changes.length === 0) return;
    try {
      await this.apply(b, b.changes);
    } catch (err) {
      if (!(err instanceof CdcError) || err.code !== 'SINK_REJECTED') throw err;
      // Renamed on the target meanwhile: the rows belong where the collection went.
      const moved = isGone(err) ? await this.ctx.relocate?.(b.collection) : undefined;
      const batch = moved === undefined ? b : { ...b, collection: moved };
      if (moved !== undefined) {
        try {
          await this.apply(batch, batch.changes);
          return;
        } catch (again) {
          if (!(again instanceof CdcError) || again.code !== 'SINK_REJECTED') throw again;
        }
      }
      // Find the message(s) the target refuses: apply each alone, quarantine the refused ones, keep going.
      for (const change of batch.changes) {
        try {
          await this.apply(batch, [change]);
        } catch (inner) {
          if (!(inner instanceof CdcError) || inner.code !== 'SINK_REJECTED') throw inner;
          await this.ctx.progress.quarantine({
            msgId: change.source.msgId,
            timestamp: messageTimestamp(change.source.message),
            reason: `target rejected ${changeType(change.source.message)}: ${errorMessage(inner)}`,
            payload: change.source.payload,
          });
        }
      }
    }
  }

  private async apply(b: Batch, changes: readonly Change[]): Promise<void> {
    const { writer } = this.ctx;
    const target = b.collection.target;
    if (b.kind === 'upsert') {
      const upserts = changes.filter((c): c is UpsertChange => c.kind === 'upsert');
      if (await this.appliedAsColumns(b, upserts)) return;
      const rows = dedupeByPrimaryKey(await this.rowsOf(upserts), b.collection.primaryKeyField);
      await this.write('upsert', rows, (part) =>
        writer.upsert(target, b.partition ?? '_default', part),
      );
    } else {
      const keys = mergeKeys(changes);
      const values: readonly (bigint | string)[] = keys.values;
      await this.write('delete', values, (part) =>
        writer.delete(
          target,
          b.partition,
          keys.type === 'Int64'
            ? { type: 'Int64', values: part as bigint[] }
            : { type: 'VarChar', values: part as string[] },
        ),
      );
    }
  }

  /**
   * The batch as one upsert of the Inserts' own columns, when every change is columns of the same layout with no key
   * twice. Whatever the target refuses or cannot take in time that way goes through the row path once more (it checks
   * every value, and splits a slow batch row by row), so this path only ever saves work. False: not applied.
   */
  private async appliedAsColumns(b: Batch, changes: readonly UpsertChange[]): Promise<boolean> {
    const write = this.ctx.writer.upsertColumns?.bind(this.ctx.writer);
    if (write === undefined) return false;
    const all: ColumnsUpsert[] = [];
    for (const c of changes) if ('columns' in c) all.push(c.columns);
    const first = all[0];
    if (first === undefined || all.length !== changes.length || !mergeable(all)) return false;
    try {
      await this.write(
        'upsert',
        all,
        (part) =>
          write(
            b.collection.target,
            b.partition ?? '_default',
            part.map((p) => p.columns),
            first.keep,
          ),
        { handOverSingle: true },
      );
      return true;
    } catch (err) {
      const again =
        err instanceof CdcError &&
        (err.code === 'SINK_REJECTED' || reachedDeadline(err)) &&
        !this.ctx.signal.aborted;
      if (!again) throw err;
      this.ctx.log.debug({ err: errorMessage(err) }, 'columns not taken as they are; writing rows');
      return false;
    }
  }

  /** The rows of the changes; an Insert the row decoder refuses is quarantined (once) and left out. */
  private async rowsOf(changes: readonly UpsertChange[]): Promise<(readonly Row[])[]> {
    const out: (readonly Row[])[] = [];
    for (const c of changes) {
      if ('rows' in c) {
        out.push(c.rows);
        continue;
      }
      try {
        out.push(c.columns.rows());
      } catch (err) {
        if (!(err instanceof CdcError) || err.code !== 'DECODE_FAILED') throw err;
        if (this.undecodable.has(c.source)) continue;
        this.undecodable.add(c.source);
        await this.ctx.progress.quarantine(undecodableInsert(c.source, err));
      }
      // A batch's rows take a second or more to decode on a busy machine: lease confirmations go through meanwhile.
      await nextTurn();
    }
    return out;
  }

  /**
   * One target call for `items`, retried while the failure is retryable. A call that ran out of time (the lease's write
   * deadline is short; a busy target may take longer for a large batch) is not repeated at the same size: the items
   * are split in halves, applied one after the other (keys are distinct after dedupe, so their order does not matter).
   */
  private async write<T>(
    action: 'upsert' | 'delete',
    items: readonly T[],
    call: (part: T[]) => Promise<{ rows: number; bytes: number }>,
    opts: { readonly handOverSingle?: boolean } = {},
  ): Promise<void> {
    const { signal, log, onRetry } = this.ctx;
    const splittable = items.length > 1;
    const handsOver = splittable || opts.handOverSingle === true;
    try {
      const res = await withRetry(() => call([...items]), {
        signal,
        log,
        action,
        ...(onRetry ? { onRetry } : {}),
        handOver: (err) => handsOver && reachedDeadline(err),
      });
      this.ctx.progress.addApplied(res.rows, res.bytes);
    } catch (err) {
      if (!splittable || !reachedDeadline(err) || signal.aborted) throw err;
      onRetry?.(err);
      const half = Math.ceil(items.length / 2);
      log.info(
        { action, rows: items.length, err: errorMessage(err) },
        'target call ran out of time; splitting the batch',
      );
      await this.write(action, items.slice(0, half), call, opts);
      await this.write(action, items.slice(half), call, opts);
    }
  }
}

/** Inserts that can go in one call as columns: one layout, no primary key twice. */
function mergeable(all: readonly ColumnsUpsert[]): boolean {
  const first = all[0];
  if (first === undefined) return false;
  const seen = new Set<number | string>();
  for (const u of all) {
    if (u !== first && !sameColumns(u.columns.columns, first.columns.columns)) return false;
    for (const k of u.keys) {
      if (seen.has(k)) return false;
      seen.add(k);
    }
  }
  return true;
}

function dedupeByPrimaryKey(batches: readonly (readonly Row[])[], pk: string): Row[] {
  const byKey = new Map<string, Row>();
  const unkeyed: Row[] = [];
  for (const rows of batches) {
    for (const row of rows) {
      const key = row[pk];
      if (typeof key === 'string' || typeof key === 'number') {
        byKey.delete(String(key)); // re-insert so the map keeps last-write order
        byKey.set(String(key), row);
      } else {
        unkeyed.push(row);
      }
    }
  }
  return [...byKey.values(), ...unkeyed];
}

function mergeKeys(changes: readonly Change[]): PrimaryKeys {
  const ints: bigint[] = [];
  const strs: string[] = [];
  for (const c of changes) {
    if (c.kind !== 'delete') continue;
    if (c.keys.type === 'Int64') ints.push(...c.keys.values);
    else strs.push(...c.keys.values);
  }
  return strs.length > 0 ? { type: 'VarChar', values: strs } : { type: 'Int64', values: ints };
}
