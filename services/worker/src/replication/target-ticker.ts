import { encodeMessage, errorMessage } from '@cdc/shared';
import type { Logger, SourceMetadata } from '@cdc/shared';
import type { LeaseProgress } from '../ports/lease-progress.js';
import type { ReplicateTarget } from '../ports/replicate-target.js';
import { sleep } from './retry.js';
import type { TaskScope } from './task-scope.js';

export interface TargetTickerDeps {
  readonly target: ReplicateTarget;
  /** The ops-channel lease's progress: its checkpoint answers carry the task's replicate watermark. */
  readonly progress: Pick<LeaseProgress, 'replicateWatermark'>;
  readonly metadata: SourceMetadata;
  readonly scope: TaskScope;
  /** The source replicate channel this runs under, recorded as the ticks' position. */
  readonly channel: string;
  readonly log: Logger;
  readonly intervalMs?: number;
  /** How often the set of target pchannels is looked up again (new collections). */
  readonly refreshMs?: number;
}

/** A TimeTick message as Milvus' own time-tick producers write it. */
export function timeTickMessage(ts: bigint): Uint8Array {
  return encodeMessage({
    type: 'TimeTick',
    base: { msgType: 1200, msgId: 0n, timestamp: ts, sourceId: -1n, targetId: 0n, properties: {} },
  });
}

/**
 * Replicate mode: a target with `common.ttMsgEnabled=false` has no time of its own, its pchannels advance only with
 * the ticks replication sends, and loads, flushes and consistent reads wait for them. One ticker per task (it runs
 * with the lease of the source's replicate channel) sends each pchannel used by the task's collections a tick at the
 * task's replicate watermark whenever that grows: every message not applied yet on any channel is newer, so no tick
 * overtakes a message, and replays after a crash stay inside one tick window (see ReplicateForwarder).
 */
export class TargetTicker {
  private channels: readonly string[] = [];
  private refreshedAt = Number.NEGATIVE_INFINITY;
  private readonly sent = new Map<string, bigint>();

  constructor(private readonly deps: TargetTickerDeps) {}

  async run(signal: AbortSignal): Promise<void> {
    const interval = this.deps.intervalMs ?? 200;
    while (!signal.aborted) {
      try {
        await this.tickOnce();
      } catch (err) {
        this.deps.log.warn({ err: errorMessage(err) }, 'sending time ticks to the target failed');
      }
      try {
        await sleep(interval, signal);
      } catch {
        return;
      }
    }
  }

  /** Sends the current watermark to every pchannel that has not had it yet. */
  async tickOnce(): Promise<void> {
    const watermark = this.deps.progress.replicateWatermark;
    if (watermark === 0n) return;
    if (Date.now() - this.refreshedAt > (this.deps.refreshMs ?? 5_000)) await this.refresh();
    const tick = timeTickMessage(watermark);
    const from = { channel: this.deps.channel, msgId: new Uint8Array(0), timestamp: watermark };
    for (const pchannel of this.channels) {
      if ((this.sent.get(pchannel) ?? 0n) >= watermark) continue;
      await this.deps.target.append(pchannel, [tick], watermark, watermark, from);
      this.sent.set(pchannel, watermark);
    }
  }

  /** The target pchannels of the in-scope source collections that exist on the target. */
  private async refresh(): Promise<void> {
    const { metadata, scope, target } = this.deps;
    const found = new Set<string>();
    for (const info of await metadata.listCollections()) {
      const db = info.dbName || 'default';
      if (info.state !== 'Created' || !scope.includesCollection(db, info.name)) continue;
      const mapped = scope.mapCollection(db, info.name);
      try {
        const layout = await target.layout(mapped, true);
        for (const p of layout.physicalChannels) found.add(p);
      } catch {
        // Not created on the target yet: its DML channel creates it; the next refresh picks it up.
      }
    }
    this.channels = [...found].sort();
    this.refreshedAt = Date.now();
  }
}
