import type { Logger } from '@cdc/shared';
import type { LeaseProgress } from '../ports/lease-progress.js';
import { sleep } from '../replication/retry.js';

/** What the order of standby changes is decided on: the lease's bounds and the task's channel checkpoints. */
export interface StandbyProgress extends Pick<LeaseProgress, 'pause' | 'applyUntil'> {
  /** Every DML channel's checkpoint timestamp (the control service's last answer); undefined before the first. */
  readonly channelCheckpoints: ReadonlyMap<string, bigint> | undefined;
}

export interface StandbyOrderOptions {
  readonly progress: StandbyProgress;
  readonly log: Logger;
  /**
   * How long a change waits for its collection's channels before it is applied anyway (a channel that never passes
   * it: not leased, or blocked on something that itself waits for this change, e.g. a new collection taking the name
   * a renamed one is leaving).
   */
  readonly channelWaitMs?: number;
  readonly pollMs?: number;
}

export type OrderVerdict = 'apply' | 'paused';

/**
 * The order guarantee of standby changes (README "Aliases, renames, properties and RBAC"): a change made on the
 * source at time T is applied to the target
 * - never past the task's pause point (a pause at P < T stops the follower before it), nor past the lease's apply
 *   bound (like every change a lease applies);
 * - for a change of a collection (alias pointing at it, rename, properties), only once every pchannel of that
 *   collection has a checkpoint at or after T: every row written to it before the change is on the target first, so
 *   an alias re-pointed after a bulk load never points at a half-copied collection.
 */
export class StandbyOrder {
  private readonly channelWaitMs: number;
  private readonly pollMs: number;

  constructor(private readonly opts: StandbyOrderOptions) {
    this.channelWaitMs = opts.channelWaitMs ?? 30_000;
    this.pollMs = opts.pollMs ?? 200;
  }

  /** Waits until the change at `ts` may be applied; 'paused' when the task pauses before it (apply nothing more). */
  async until(
    ts: bigint,
    channels: readonly string[],
    signal: AbortSignal,
    what: string,
  ): Promise<OrderVerdict> {
    const { progress, log } = this.opts;
    const deadline = Date.now() + this.channelWaitMs;
    let warned = false;
    for (;;) {
      const pause = progress.pause;
      if (pause !== undefined && (pause.immediate || ts > pause.timestamp)) return 'paused';
      const bound = progress.applyUntil;
      const withinBound = bound === undefined || ts <= bound;
      const behind = channels.filter((ch) => (progress.channelCheckpoints?.get(ch) ?? 0n) < ts);
      if (withinBound && behind.length === 0) return 'apply';
      if (withinBound && Date.now() > deadline) {
        log.warn(
          { change: what, channels: behind, waitedMs: this.channelWaitMs },
          'channels did not pass the change in time; applying it anyway',
        );
        return 'apply';
      }
      if (!warned && Date.now() > deadline - this.channelWaitMs / 2) {
        warned = true;
        log.info({ change: what, channels: behind }, 'change waits for its channels');
      }
      await sleep(this.pollMs, signal);
    }
  }
}
