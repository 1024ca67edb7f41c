import { errorMessage, tsToUnixMs } from '@cdc/shared';
import type { DmlView, KnownMessage } from '@cdc/shared';
import type { QuarantinedMessage } from '../ports/lease-progress.js';

/**
 * A message of a DML channel: decoded, or in replicate mode an Insert/Delete read only as far as its header (its
 * columns are forwarded as bytes).
 */
export type ChannelChange = KnownMessage | DmlView;

/** A message with where it came from on the channel. */
export interface ChannelMessage {
  readonly message: ChannelChange;
  readonly msgId: Uint8Array;
  /** Raw payload, kept for quarantine and replicate mode. */
  readonly payload: Uint8Array;
  /**
   * Id of the record read just before this one: resuming after it reads this message again. Undefined for the first
   * record after a start that is not a message id (earliest, latest, timestamp).
   */
  readonly after?: Uint8Array;
}

/**
 * Where a change stands in the order Milvus applies a channel: by timestamp, a Delete before anything else stamped the
 * same (an upsert's Delete follows its Insert on the channel), then by arrival.
 */
export interface ApplyOrder {
  readonly ts: bigint;
  readonly rank: number;
  readonly seq: number;
}

/** Negative when `a` is applied before `b`. */
export function compareApplyOrder(a: ApplyOrder, b: ApplyOrder): number {
  if (a.ts !== b.ts) return a.ts < b.ts ? -1 : 1;
  return a.rank - b.rank || a.seq - b.seq;
}

/** A buffered message with its place in the apply order. */
export interface OrderedMessage {
  readonly item: ChannelMessage;
  readonly order: ApplyOrder;
}

/**
 * Everything between two time ticks of a pchannel (up to a limit) not applied ahead of the tick, in apply order, and
 * its checkpoint.
 */
export interface Pack {
  readonly changes: readonly OrderedMessage[];
  /**
   * The checkpoint once the pack is applied: resume after `endMsgId`, every change at or before `endTimestamp`
   * applied. That is the closing tick, or, when messages read before it stay buffered (newer than the tick or the
   * limit), the record just before the first of them: a resumed reader reads them again and skips what is at or
   * before `endTimestamp` (the DML replicator's floor).
   */
  readonly endMsgId: Uint8Array;
  readonly endTimestamp: bigint;
  /** False only when a buffered message has no record before it to resume after (the checkpoint stays). */
  readonly checkpointable: boolean;
  /**
   * Messages taken out of the buffer because they break tick order: stamped further ahead of both the worker's clock
   * and the channel's ticks than any source clock can be. They are quarantined; the pack's tick may then become a
   * checkpoint.
   */
  readonly expired: readonly OutOfOrder[];
}

/** A message that breaks the channel's tick order, and why. */
export interface OutOfOrder {
  readonly item: ChannelMessage;
  readonly timestamp: bigint;
  readonly reason: string;
}

/**
 * Default of `maxClockLeadMs`: Milvus stamps a message from its clock when it writes it, so a legitimate one is never
 * ahead of the present by more than the clock skew between the source and the worker.
 */
export const DEFAULT_MAX_CLOCK_LEAD_MS = 60_000;

/** Timestamp used to order a message: Insert/Delete carry per-row timestamps, everything else MsgBase's. */
export function messageTimestamp(m: ChannelChange): bigint {
  if (m.type === 'DmlView') return m.header.endTs;
  if ((m.type === 'Insert' || m.type === 'Delete') && m.timestamps.length > 0) {
    let max = 0n;
    for (const ts of m.timestamps) if (ts > max) max = ts;
    return max;
  }
  return m.base.timestamp;
}

/** The quarantine entry of an Insert whose rows cannot be decoded. */
export function undecodableInsert(item: ChannelMessage, err: unknown): QuarantinedMessage {
  return {
    msgId: item.msgId,
    timestamp: messageTimestamp(item.message),
    reason: `insert rows could not be decoded: ${errorMessage(err)}`,
    payload: item.payload,
  };
}

/** The message type of a change ('Insert' or 'Delete' for a header view). */
export function changeType(m: ChannelChange): KnownMessage['type'] {
  return m.type === 'DmlView' ? m.header.type : m.type;
}

/**
 * Groups a DML pchannel's messages into packs closed by time ticks, the way Milvus' own consumers do.
 *
 * Why: Milvus guarantees that after TimeTick(T) no message with ts ≤ T appears on the channel, but between two ticks
 * messages from different proxies may be out of timestamp order, and an upsert is written as Insert then Delete with
 * one timestamp while its meaning is "delete the old row, then insert the new one". So a pack is sorted by
 * (timestamp, Delete before anything else, arrival order) before it is applied.
 */
export class PackBuffer {
  private pending: Pending[] = [];
  private seq = 0;
  /** The last tick a pack was closed at (0n: none yet). */
  private lastTickTs = 0n;

  /**
   * Tick order (what makes a pack the source order): after TimeTick(T) no message with ts ≤ T appears, and a message
   * written just before a tick may be ahead of it until later ticks cover it. How long that takes is not bounded by
   * tick time: after a broker outage the source publishes the outage's ticks after changes stamped later, and they
   * cover them only once they caught up (a tick-time limit quarantined such a change). What a legitimate message never
   * is, is ahead of the present: one stamped more than `maxClockLeadMs` after both the worker's clock and the latest
   * tick (a source clock ahead of the worker's shows in its ticks) would hold the channel's checkpoint back until the
   * ticks reach it, years for a forged timestamp, so it is taken out at the next tick.
   */
  constructor(
    private readonly maxClockLeadMs = DEFAULT_MAX_CLOCK_LEAD_MS,
    private readonly clockMs: () => number = Date.now,
  ) {}

  /** Messages buffered: not yet applied, or applied ahead of a tick that has not covered them yet. */
  get size(): number {
    return this.pending.length;
  }

  /** The stamp of the oldest buffered message not applied yet (undefined: none). */
  oldestUnappliedTs(): bigint | undefined {
    let oldest: bigint | undefined;
    for (const p of this.pending)
      if (!p.appliedAhead && (oldest === undefined || p.order.ts < oldest)) oldest = p.order.ts;
    return oldest;
  }

  /**
   * Buffers a message. One not after the last tick (Milvus never writes one) is applied with the next pack rather
   * than quarantined: a forged tick far ahead would otherwise cost every real message after it.
   */
  add(item: ChannelMessage): void {
    const ts = messageTimestamp(item.message);
    const rank = changeType(item.message) === 'Delete' ? 0 : 1;
    this.pending.push({ item, order: { ts, rank, seq: this.seq++ }, appliedAhead: false });
  }

  /** The timestamp of the next Insert or Delete `takeAhead` would take with a limit high enough (undefined: none). */
  nextAheadTs(): bigint | undefined {
    const next = this.pending.find((p) => !p.appliedAhead);
    return next !== undefined && this.mayGoAhead(next) ? next.order.ts : undefined;
  }

  /** An Insert or Delete not stamped beyond the present (such a message is expired at the next tick, never written). */
  private mayGoAhead(p: Pending): boolean {
    const type = changeType(p.item.message);
    if (type !== 'Insert' && type !== 'Delete') return false;
    const presentMs = Math.max(this.clockMs(), tsToUnixMs(this.lastTickTs));
    return tsToUnixMs(p.order.ts) - presentMs <= this.maxClockLeadMs;
  }

  /**
   * Takes the Inserts and Deletes that may be applied before their closing tick, in apply order, and marks them
   * applied: those read before the first message that is anything else (DDL waits for its tick, and so does what
   * follows it), stamped at or before `limit` (a pause point, the lease's apply bound) and not ahead of the present
   * (such a message is expired at the next tick, never written). They stay buffered for the checkpoint: the tick that
   * covers them is the first checkpoint past them.
   */
  takeAhead(limit: bigint): OrderedMessage[] {
    const taken: Pending[] = [];
    for (const p of this.pending) {
      if (p.appliedAhead) continue;
      if (p.order.ts > limit || !this.mayGoAhead(p)) break;
      p.appliedAhead = true;
      taken.push(p);
    }
    return taken.sort((a, b) => compareApplyOrder(a.order, b.order));
  }

  /**
   * Closes the pack at a TimeTick: the messages at or before `limit` (the tick, or less: a pause point, the lease's
   * apply bound) not applied ahead of it. Later ones stay for a later pack (Milvus writes messages newer than a tick
   * before it when several proxies write a channel); one stamped too far ahead of the present is taken out (`expired`).
   */
  close(tickMsgId: Uint8Array, tickTs: bigint, limit: bigint = tickTs): Pack {
    if (tickTs > this.lastTickTs) this.lastTickTs = tickTs;
    const ready = this.pending.filter((p) => p.order.ts <= limit && !p.appliedAhead);
    const presentMs = Math.max(this.clockMs(), tsToUnixMs(tickTs));
    const expired: OutOfOrder[] = [];
    this.pending = this.pending.filter((p) => {
      if (p.order.ts <= limit) return false;
      const leadMs = tsToUnixMs(p.order.ts) - presentMs;
      if (p.appliedAhead || leadMs <= this.maxClockLeadMs) return true;
      expired.push({
        item: p.item,
        timestamp: p.order.ts,
        reason: `timestamp ${p.order.ts} is ${leadMs} ms ahead of both the worker's clock and the channel's time tick ${tickTs}; no source clock is that far ahead, and the ticks would not cover it before then`,
      });
      return false;
    });
    ready.sort((a, b) => compareApplyOrder(a.order, b.order));
    const first = this.pending[0]?.item;
    return {
      changes: ready,
      endMsgId: first === undefined ? tickMsgId : (first.after ?? tickMsgId),
      endTimestamp: limit < tickTs ? limit : tickTs,
      checkpointable: first === undefined || first.after !== undefined,
      expired,
    };
  }
}

interface Pending {
  readonly item: ChannelMessage;
  readonly order: ApplyOrder;
  /** Applied before its closing tick (`takeAhead`); kept until a tick covers it, for the checkpoint. */
  appliedAhead: boolean;
}
