import type { KnownMessage } from '@cdc/shared';

/** A decoded message with where it came from on the channel. */
export interface ChannelMessage {
  readonly message: KnownMessage;
  readonly msgId: Uint8Array;
  /** Raw payload, kept for quarantine and replicate mode. */
  readonly payload: Uint8Array;
}

/** Everything between two time ticks of a pchannel, in apply order, and the tick that closed it. */
export interface Pack {
  readonly messages: readonly ChannelMessage[];
  /** Message id and timestamp of the closing TimeTick: the checkpoint once the pack is applied. */
  readonly endMsgId: Uint8Array;
  readonly endTimestamp: bigint;
  /**
   * False when messages older on the channel than the tick stay buffered: the tick must not become a checkpoint,
   * or a restart would skip them.
   */
  readonly checkpointable: boolean;
}

/** Timestamp used to order a message: Insert/Delete carry per-row timestamps, everything else MsgBase's. */
export function messageTimestamp(m: KnownMessage): bigint {
  if ((m.type === 'Insert' || m.type === 'Delete') && m.timestamps.length > 0) {
    let max = 0n;
    for (const ts of m.timestamps) if (ts > max) max = ts;
    return max;
  }
  return m.base.timestamp;
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

  get size(): number {
    return this.pending.length;
  }

  add(item: ChannelMessage): void {
    this.pending.push({ item, ts: messageTimestamp(item.message), seq: this.seq++ });
  }

  /** Closes the pack at a TimeTick. Messages with ts > tick stay for the next pack (defensive; Milvus never sends them). */
  close(tickMsgId: Uint8Array, tickTs: bigint): Pack {
    const ready = this.pending.filter((p) => p.ts <= tickTs);
    this.pending = this.pending.filter((p) => p.ts > tickTs);
    ready.sort((a, b) => {
      if (a.ts !== b.ts) return a.ts < b.ts ? -1 : 1;
      const rank = (p: typeof a): number => (p.item.message.type === 'Delete' ? 0 : 1);
      return rank(a) - rank(b) || a.seq - b.seq;
    });
    return {
      messages: ready.map((p) => p.item),
      endMsgId: tickMsgId,
      endTimestamp: tickTs,
      checkpointable: this.pending.length === 0,
    };
  }
}
