import { CdcError, errorMessage } from '@cdc/shared';
import type { DmlHeader, DmlHeaderChanges, Logger } from '@cdc/shared';
import type { LeaseProgress } from '../ports/lease-progress.js';
import type { ReplicateTarget, TargetLayout } from '../ports/replicate-target.js';
import type { ReplicatedCollection } from './collection-catalog.js';
import { changeType, messageTimestamp } from './pack-buffer.js';
import type { ChannelMessage } from './pack-buffer.js';
import { reachedDeadline, withRetry } from './retry.js';

/** One ReplicateMessage call stays well under the target's gRPC request limit. */
const MAX_CALL_BYTES = 16 * 1024 * 1024;

interface Forwarded {
  readonly bytes: Uint8Array;
  readonly source: ChannelMessage;
  readonly ts: bigint;
  readonly rows: number;
}

export interface ForwarderContext {
  readonly target: ReplicateTarget;
  readonly progress: LeaseProgress;
  /** The source pchannel, recorded as the position of what is forwarded. */
  readonly channel: string;
  readonly log: Logger;
  readonly onRetry?: (err: unknown) => void;
}

/** The payload with the given header fields replaced, every other field (the columns) as it was. */
export type DmlRewrite = (changes: DmlHeaderChanges) => Uint8Array;

/**
 * Replicate mode's DML path: Insert and Delete messages are forwarded as msgstream bytes, rewritten only where the
 * target must differ (collection and partition ids, database and collection names, vchannel of the same shard), so
 * rows keep the source's primary keys, row ids, message ids and timestamps. Only the header is read: the columns go
 * through as bytes (`rewriteDml`), never decoded. Messages are grouped per target pchannel and sent at `flush`, in
 * arrival order.
 *
 * No time ticks here: TargetTicker sends them, never past the task's checkpoint watermark. That is also what makes a
 * replay after a crash harmless: the replayed messages land in the same tick window as the originals, and Milvus drops
 * DML messages repeated by `MsgBase.msgID` within a window.
 */
export class ReplicateForwarder {
  private readonly layouts = new Map<bigint, TargetLayout>();
  private pending = new Map<string, Forwarded[]>();

  constructor(private readonly ctx: ForwarderContext) {}

  /** Call when the source collection was dropped (its target may be re-created under the same name). */
  forgetCollection(collectionId: bigint): void {
    this.layouts.delete(collectionId);
  }

  async add(
    c: ReplicatedCollection,
    m: DmlHeader,
    rewrite: DmlRewrite,
    item: ChannelMessage,
    signal: AbortSignal,
  ): Promise<void> {
    let bytes: Uint8Array;
    let pchannel: string;
    try {
      const layout = await this.layoutFor(c, m, signal);
      const shard = shardIndex(c, m.shardName);
      const vchannel = layout.virtualChannels[shard];
      const physical = layout.physicalChannels[shard];
      if (vchannel === undefined || physical === undefined) {
        throw new CdcError(
          'SINK_REJECTED',
          `source shard ${shard} (${m.shardName}) has no counterpart: the target collection has ${layout.virtualChannels.length} shards`,
          { retryable: false },
        );
      }
      pchannel = physical;
      bytes = rewrite({
        collectionId: layout.collectionId,
        partitionId: targetPartitionId(m, layout),
        shardName: vchannel,
        dbName: c.target.db,
        collectionName: c.target.collection,
        dbId: 0n,
      });
    } catch (err) {
      if (!(err instanceof CdcError) || err.code !== 'SINK_REJECTED') throw err;
      await this.quarantine(item, err);
      return;
    }
    const list = this.pending.get(pchannel) ?? [];
    list.push({ bytes, source: item, ts: m.endTs, rows: Number(m.numRows) });
    this.pending.set(pchannel, list);
  }

  /** Sends what is pending, one call per target pchannel (split by size); resolves once the target acknowledged it. */
  async flush(signal: AbortSignal): Promise<void> {
    const pending = this.pending;
    this.pending = new Map();
    for (const [pchannel, list] of pending) {
      for (const chunk of chunksBySize(list)) await this.send(pchannel, chunk, signal);
    }
  }

  private async send(
    pchannel: string,
    list: readonly Forwarded[],
    signal: AbortSignal,
  ): Promise<void> {
    try {
      await this.call(pchannel, list, signal);
    } catch (err) {
      // Out of time (the lease's write deadline is short): the same call would fail again; send it in halves.
      if (list.length > 1 && reachedDeadline(err) && !signal.aborted) {
        const half = Math.ceil(list.length / 2);
        await this.send(pchannel, list.slice(0, half), signal);
        await this.send(pchannel, list.slice(half), signal);
        return;
      }
      if (!(err instanceof CdcError) || err.code !== 'SINK_REJECTED') throw err;
      const only = list.length === 1 ? list[0] : undefined;
      if (only !== undefined) {
        await this.quarantine(only.source, err);
        return;
      }
      // Find the message(s) the target refuses: send each alone, quarantine the refused ones, keep going.
      for (const one of list) await this.send(pchannel, [one], signal);
    }
  }

  private async call(
    pchannel: string,
    list: readonly Forwarded[],
    signal: AbortSignal,
  ): Promise<void> {
    const first = list[0];
    const last = list[list.length - 1];
    if (first === undefined || last === undefined) return;
    let begin = first.ts;
    let end = first.ts;
    for (const f of list) {
      if (f.ts < begin) begin = f.ts;
      if (f.ts > end) end = f.ts;
    }
    const from = { channel: this.ctx.channel, msgId: last.source.msgId, timestamp: end };
    const { log, onRetry } = this.ctx;
    await withRetry(
      () =>
        this.ctx.target.append(
          pchannel,
          list.map((f) => f.bytes),
          begin,
          end,
          from,
        ),
      {
        signal,
        log,
        action: 'replicating messages',
        ...(onRetry ? { onRetry } : {}),
        handOver: (err) => list.length > 1 && reachedDeadline(err),
      },
    );
    let rows = 0;
    let bytes = 0;
    for (const f of list) {
      rows += f.rows;
      bytes += f.bytes.byteLength;
    }
    this.ctx.progress.addApplied(rows, bytes);
  }

  /** The target layout, fetched once per source collection; again when a partition is not in it yet. */
  private async layoutFor(
    c: ReplicatedCollection,
    m: DmlHeader,
    signal: AbortSignal,
  ): Promise<TargetLayout> {
    const { log, onRetry } = this.ctx;
    const fetch = (fresh: boolean): Promise<TargetLayout> =>
      withRetry(() => this.ctx.target.layout(c.target, fresh), {
        signal,
        log,
        action: 'describing target collection',
        ...(onRetry ? { onRetry } : {}),
      });
    let layout = this.layouts.get(c.id) ?? (await fetch(true));
    if (needsPartition(m) && !layout.partitionIds.has(partitionOf(m))) layout = await fetch(true);
    this.layouts.set(c.id, layout);
    return layout;
  }

  private async quarantine(item: ChannelMessage, err: unknown): Promise<void> {
    await this.ctx.progress.quarantine({
      msgId: item.msgId,
      timestamp: messageTimestamp(item.message),
      reason: `target rejected ${changeType(item.message)}: ${errorMessage(err)}`,
      payload: item.payload,
    });
  }
}

function partitionOf(m: DmlHeader): string {
  return m.partitionName || '_default';
}

/** A Delete with partitionID -1 applies to every partition, on the target as on the source. */
function needsPartition(m: DmlHeader): boolean {
  return !(m.type === 'Delete' && (m.partitionId === -1n || m.partitionName === ''));
}

function targetPartitionId(m: DmlHeader, layout: TargetLayout): bigint {
  if (!needsPartition(m)) return -1n;
  const id = layout.partitionIds.get(partitionOf(m));
  if (id === undefined) {
    throw new CdcError('SINK_REJECTED', `target has no partition ${partitionOf(m)}`, {
      retryable: false,
    });
  }
  return id;
}

/** Shard of a source vchannel: its index in the collection's vchannels, else the `v<shard>` suffix of its name. */
export function shardIndex(c: ReplicatedCollection, vchannel: string): number {
  const i = c.info.virtualChannels.indexOf(vchannel);
  if (i >= 0) return i;
  const suffix = /v(\d+)$/.exec(vchannel);
  return suffix?.[1] === undefined ? -1 : Number(suffix[1]);
}

function* chunksBySize(list: readonly Forwarded[]): Generator<Forwarded[]> {
  let chunk: Forwarded[] = [];
  let size = 0;
  for (const f of list) {
    if (chunk.length > 0 && size + f.bytes.byteLength > MAX_CALL_BYTES) {
      yield chunk;
      chunk = [];
      size = 0;
    }
    chunk.push(f);
    size += f.bytes.byteLength;
  }
  if (chunk.length > 0) yield chunk;
}
