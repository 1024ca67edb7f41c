import type { pb } from '@cdc/shared';
import { bar, duration } from './format.js';

export interface CatchUpSummary {
  /** Task lag (largest channel lag), ms. */
  readonly lagMs: number;
  readonly channels: number;
  /** Channels caught up, or with a worker, a checkpoint and lag at or below the sync threshold. */
  readonly inSync: number;
  /** Channels no worker has taken yet (or since a position reset). */
  readonly unleased: number;
  /** 0..1: how much of the largest lag seen during this watch has been worked off. */
  readonly progress: number;
  /** Estimated time until in sync, ms, from the recent rate the lag shrinks; undefined when not shrinking. */
  readonly etaMs: number | undefined;
}

const RATE_WINDOW_MS = 30_000;

/**
 * Follows a task's lag across WatchTask updates to say whether it is catching up, how far along it is, and roughly
 * when it will be in sync. Pure: the caller passes the time.
 */
export class CatchUpTracker {
  private peakLagMs = 0;
  private samples: { at: number; lagMs: number }[] = [];

  constructor(private readonly syncLagMs: number) {}

  update(status: Pick<pb.TaskStatus__Output, 'channels' | 'lag_ms'>, now: number): CatchUpSummary {
    const channels = status.channels;
    const lagMs = Number(status.lag_ms);
    this.peakLagMs = Math.max(this.peakLagMs, lagMs);
    this.samples.push({ at: now, lagMs });
    while (this.samples.length > 2 && (this.samples[0]?.at ?? now) < now - RATE_WINDOW_MS)
      this.samples.shift();
    const first = this.samples[0];
    let etaMs: number | undefined;
    if (first !== undefined && now > first.at && lagMs > this.syncLagMs) {
      const shrinkPerMs = (first.lagMs - lagMs) / (now - first.at);
      if (shrinkPerMs > 0) etaMs = (lagMs - this.syncLagMs) / shrinkPerMs;
    }
    const span = this.peakLagMs - this.syncLagMs;
    return {
      lagMs,
      channels: channels.length,
      // A channel with nothing in scope to replicate that read to the end of its topic is in sync too.
      inSync: channels.filter(
        (c) =>
          c.caught_up ||
          (c.position !== null && c.worker_id !== '' && Number(c.lag_ms) <= this.syncLagMs),
      ).length,
      unleased: channels.filter((c) => c.worker_id === '').length,
      progress: lagMs <= this.syncLagMs || span <= 0 ? 1 : 1 - (lagMs - this.syncLagMs) / span,
      etaMs,
    };
  }

  get syncThresholdMs(): number {
    return this.syncLagMs;
  }
}

/** One line: "catching up [#####-----] 52% lag 12.3s, 2/3 channels in sync, ~40s left". */
export function summaryLine(
  state: string,
  reason: string,
  s: CatchUpSummary,
  syncLagMs: number,
): string {
  const waiting = s.unleased > 0 ? `, ${s.unleased} waiting for a worker` : '';
  const counts = `${s.inSync}/${s.channels} channels in sync${waiting}`;
  if (state !== 'RUNNING')
    return `${state}${reason === '' ? '' : `: ${reason}`} (lag ${duration(s.lagMs)}, ${counts})`;
  if (s.lagMs > syncLagMs) {
    const eta = s.etaMs === undefined ? '' : `, ~${duration(s.etaMs)} left`;
    return `catching up ${bar(s.progress)} ${Math.floor(s.progress * 100)}% lag ${duration(s.lagMs)}, ${counts}${eta}`;
  }
  if (s.inSync < s.channels) return `starting: lag ${duration(s.lagMs)}, ${counts}`;
  return `in sync: lag ${duration(s.lagMs)}, ${s.channels} channels`;
}
