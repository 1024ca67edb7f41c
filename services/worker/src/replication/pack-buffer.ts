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

/** Everything between two time ticks of a pchannel (up to a limit), in apply order, and its checkpoint. */
export interface Pack {
  readonly messages: readonly ChannelMessage[];
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
  private pending: { readonly item: ChannelMessage; readonly ts: bigint; readonly seq: number }[] =
    [];
  private seq = 0;

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

  get size(): number {
    return this.pending.length;
  }

  /**
   * Buffers a message. One not after the last tick (Milvus never writes one) is applied with the next pack rather
   * than quarantined: a forged tick far ahead would otherwise cost every real message after it.
   */
  add(item: ChannelMessage): void {
    this.pending.push({ item, ts: messageTimestamp(item.message), seq: this.seq++ });
  }

  /**
   * Closes the pack at a TimeTick: the messages at or before `limit` (the tick, or less: a pause point, the lease's
   * apply bound). Later ones stay for a later pack (Milvus writes messages newer than a tick before it when several
   * proxies write a channel); one stamped too far ahead of the present is taken out (`expired`).
   */
  close(tickMsgId: Uint8Array, tickTs: bigint, limit: bigint = tickTs): Pack {
    const ready = this.pending.filter((p) => p.ts <= limit);
    const presentMs = Math.max(this.clockMs(), tsToUnixMs(tickTs));
    const expired: OutOfOrder[] = [];
    this.pending = this.pending.filter((p) => {
      if (p.ts <= limit) return false;
      const leadMs = tsToUnixMs(p.ts) - presentMs;
      if (leadMs <= this.maxClockLeadMs) return true;
      expired.push({
        item: p.item,
        timestamp: p.ts,
        reason: `timestamp ${p.ts} is ${leadMs} ms ahead of both the worker's clock and the channel's time tick ${tickTs}; no source clock is that far ahead, and the ticks would not cover it before then`,
      });
      return false;
    });
    ready.sort((a, b) => {
      if (a.ts !== b.ts) return a.ts < b.ts ? -1 : 1;
      const rank = (p: typeof a): number => (changeType(p.item.message) === 'Delete' ? 0 : 1);
      return rank(a) - rank(b) || a.seq - b.seq;
    });
    const first = this.pending[0]?.item;
    return {
      messages: ready.map((p) => p.item),
      endMsgId: first === undefined ? tickMsgId : (first.after ?? tickMsgId),
      endTimestamp: limit < tickTs ? limit : tickTs,
      checkpointable: first === undefined || first.after !== undefined,
      expired,
    };
  }
}
