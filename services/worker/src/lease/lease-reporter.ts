import { performance } from 'node:perf_hooks';
import { CdcError, errorMessage, isRetryable, wholeMessagePosition } from '@cdc/shared';
import type { Logger } from '@cdc/shared';
import type { LeaseProgress, PausePoint, QuarantinedMessage } from '../ports/lease-progress.js';
import type { CheckpointPosition, LeaseRef, WorkerControl } from '../ports/worker-control.js';
import { abortError, withRetry } from '../replication/retry.js';
import { idleReportSlot } from './idle-report-slots.js';
import { QuarantineBatcher } from './quarantine-batcher.js';

export interface LeaseReporterOptions {
  readonly control: WorkerControl;
  readonly lease: LeaseRef;
  readonly workerId: string;
  readonly intervalMs: number;
  readonly log: Logger;
  /** Called once when the control plane ends the lease (pause, delete, rebalancing, stale epoch). */
  readonly onLeaseEnd: (reason: string) => void;
  /** The control service confirmed the lease in answer to a report sent at `sentAt` (`performance.now()`). */
  readonly onConfirmed?: (sentAt: number) => void;
  /** The lease is fenced off (stale epoch): another worker owns the channel, nothing more may be written. */
  readonly onFenced?: (reason: string) => void;
  readonly onQuarantine?: () => void;
  /** The pause in force when the lease was granted. */
  readonly pause?: PausePoint;
  /** The apply bound the lease was granted (0n: none). */
  readonly applyUntil?: bigint;
  /** Targets the lease replicates into (fan-out): the lease is caught up, or paused, when all of them are. */
  readonly targets?: number;
  /**
   * Report interval while the lease is quiet (one target, caught up, no pause, nothing applied or quarantined since
   * its last report, which was answered); 0 or absent: always `intervalMs`.
   */
  readonly idleIntervalMs?: number;
  /**
   * Quiet reports go at the worker's idle slots (idle-report-slots.ts): `phaseMs + k × idleIntervalMs` on the
   * `performance.now()` clock, never later than an idle interval after the last report. Absent: an idle interval after
   * the last report.
   */
  readonly idleSlotPhaseMs?: number;
  /** The lease became quiet, or stopped being quiet (its write validity may lapse only while quiet). */
  readonly onQuietChange?: (quiet: boolean) => void;
}

/** Key of the main target in the per-target maps; fan-out targets use their URI. */
const MAIN = '';

/**
 * Sends the lease's checkpoint and liveness to the control plane every `intervalMs`, and relays the control plane's
 * answer: `keep_lease=false` or a stale epoch (LEASE_LOST) end the lease. Checkpoints are recorded by the replicator
 * only after the target acknowledged them, so whatever is reported here is safe to resume after. Quarantined messages
 * are sent in batches, always before a checkpoint that passes them.
 */
export class LeaseReporter implements LeaseProgress {
  private position: CheckpointPosition | undefined;
  private reportedPosition: typeof this.position;
  private readonly fanOut = new Map<string, CheckpointPosition>();
  private readonly reportedFanOut = new Map<string, CheckpointPosition>();
  private head = 0n;
  private watermark = 0n;
  private rows = 0;
  private bytes = 0;
  private ended = false;
  /** Ends the wait for the next report early (set while the report loop waits). */
  private reportSoon: (() => void) | undefined;
  /** The next report goes out at once, not batched with the worker's other leases' reports. */
  private urgent = false;
  private announcedCaughtUp = false;
  private loop: Promise<void> | undefined;
  private readonly stopper = new AbortController();
  private pausePoint: PausePoint | undefined;
  private readonly pauseListeners = new Set<() => void>();
  private readonly checkpointListeners = new Set<() => void>();
  private readonly caughtUpBy = new Map<string, boolean>();
  /** By target: how late its last changes applied since the previous report reached it (ms). */
  private readonly applyDelays = new Map<string, number>();
  /** By target that is not caught up but read everything: the stamp of its oldest change waiting to be applied. */
  private readonly waitingBy = new Map<string, bigint>();
  private nothingToRead = false;
  private readonly pausedTargets = new Set<string>();
  private pausedBeforeReading = false;
  private pauseReported = 0n;
  private bound: bigint | undefined;
  private checkpoints: ReadonlyMap<string, bigint> | undefined;
  private quiet = false;
  /** The last report was answered with the lease kept. */
  private answered = false;
  /** Rows applied when the last report went out, and whether any were applied in the interval before it. */
  private rowsAtReport = 0;
  private appliedBeforeReport = false;

  private readonly quarantined: QuarantineBatcher;

  constructor(private readonly opts: LeaseReporterOptions) {
    this.quarantined = new QuarantineBatcher({
      send: (entries) => opts.control.reportQuarantineBatch(opts.lease, opts.workerId, entries),
    });
    this.pausePoint = opts.pause;
    this.bound =
      opts.applyUntil === undefined || opts.applyUntil === 0n ? undefined : opts.applyUntil;
  }

  get applyUntil(): bigint | undefined {
    return this.bound;
  }

  get pause(): PausePoint | undefined {
    return this.pausePoint;
  }

  /**
   * Calls `listener` once a pause is in force (at once if it is already); returns the unsubscribe. For waits that
   * hold no reader to notice the pause with (a channel waiting for its topic), without a timer each.
   */
  onPause(listener: () => void): () => void {
    if (this.pausePoint !== undefined) {
      listener();
      return () => undefined;
    }
    this.pauseListeners.add(listener);
    return () => this.pauseListeners.delete(listener);
  }

  setCaughtUp(caughtUp: boolean, waitingSince?: bigint): void {
    this.markCaughtUp(MAIN, caughtUp, waitingSince);
  }

  private markCaughtUp(target: string, caughtUp: boolean, waitingSince?: bigint): void {
    this.caughtUpBy.set(target, caughtUp);
    if (waitingSince === undefined || caughtUp) this.waitingBy.delete(target);
    else this.waitingBy.set(target, waitingSince);
    this.announceFirstCatchUp();
    // Something to apply on a quiet lease: its bound and validity are as old as its last report, so renew them now,
    // while the change waits for the tick that closes its pack.
    if (!caughtUp && this.quiet) this.requestConfirmation();
  }

  /**
   * Someone waits for this lease's checkpoint, or for it to hear news (a pause): an idle lease reports now. A replicator
   * waiting out idle ticks takes the queued ones first (`onCheckpointWanted`), so the report carries them.
   */
  reportIfIdle(): void {
    if (!this.quiet) return;
    if (this.checkpointListeners.size === 0) {
      this.requestConfirmation();
      return;
    }
    for (const listener of [...this.checkpointListeners]) listener();
  }

  onCheckpointWanted(listener: () => void): () => void {
    this.checkpointListeners.add(listener);
    return () => this.checkpointListeners.delete(listener);
  }

  checkpointFresh(): void {
    this.requestConfirmation();
  }

  /** A write waits for a confirmation, or will soon: report now, and on the busy rhythm from here on. */
  requestConfirmation(): void {
    this.setQuiet(false);
    this.reportNow();
  }

  private setQuiet(quiet: boolean): void {
    if (quiet === this.quiet) return;
    this.quiet = quiet;
    this.opts.onQuietChange?.(quiet);
  }

  /** Whether the lease may report on the idle rhythm now (see `idleIntervalMs`). */
  private idleNow(): boolean {
    return (
      (this.opts.idleIntervalMs ?? 0) > 0 &&
      (this.opts.targets ?? 1) === 1 &&
      this.answered &&
      !this.ended &&
      !this.urgent &&
      this.caughtUp &&
      this.pausePoint === undefined &&
      this.quarantined.size === 0 &&
      !this.appliedBeforeReport &&
      this.rows === this.rowsAtReport
    );
  }

  /**
   * A lease that caught up for the first time (after a failover, a start) says so at once, not up to a report
   * interval later. Only the first time: under load the flag turns on and off with every tick.
   */
  private announceFirstCatchUp(): void {
    if (this.announcedCaughtUp || !this.caughtUp) return;
    this.announcedCaughtUp = true;
    this.reportNow();
  }

  pauseReached(): void {
    this.pausedTargets.add(MAIN);
  }

  /** The channel stopped for the pause before any target read anything (e.g. its topic does not exist). */
  pauseReachedByAll(): void {
    this.pausedBeforeReading = true;
  }

  /** Every target of the lease stopped at the pause point. */
  get paused(): boolean {
    return this.pauseReachedAt !== 0n;
  }

  /** The channel has no topic yet: nothing was written to it, so every target is caught up with it. */
  setNothingToRead(nothing: boolean): void {
    this.nothingToRead = nothing;
    this.announceFirstCatchUp();
  }

  /** Every target caught up. */
  private get caughtUp(): boolean {
    if (this.nothingToRead) return true;
    const targets = this.opts.targets ?? 1;
    return this.caughtUpBy.size === targets && [...this.caughtUpBy.values()].every(Boolean);
  }

  /**
   * Not caught up, and every target behind read everything: the stamp of the oldest change waiting over them (0n when
   * caught up, or when a target is behind with more to read: its checkpoint says more).
   */
  private get waitingTimestamp(): bigint {
    if (this.caughtUp) return 0n;
    let oldest = 0n;
    for (const [target, caughtUp] of this.caughtUpBy) {
      if (caughtUp) continue;
      const since = this.waitingBy.get(target);
      if (since === undefined) return 0n;
      if (oldest === 0n || since < oldest) oldest = since;
    }
    return oldest;
  }

  /** The pause timestamp every target of the lease stopped at, 0n while any still runs. */
  private get pauseReachedAt(): bigint {
    const all = this.pausedBeforeReading || this.pausedTargets.size === (this.opts.targets ?? 1);
    return all && this.pausePoint !== undefined ? this.pausePoint.timestamp : 0n;
  }

  get appliedRows(): number {
    return this.rows;
  }

  get replicateWatermark(): bigint {
    return this.watermark;
  }

  /** The replicate channel's lease: every DML channel's checkpoint, as of the last answer (undefined before it). */
  get channelCheckpoints(): ReadonlyMap<string, bigint> | undefined {
    return this.checkpoints;
  }

  get lastPosition(): CheckpointPosition | undefined {
    return this.position;
  }

  checkpoint(msgId: Uint8Array, timestamp: bigint): void {
    const ts = timestamp > 0n ? timestamp : (this.position?.timestamp ?? 0n);
    this.position = wholeMessagePosition(msgId, ts);
  }

  /** Progress of a fan-out target: its checkpoints are reported beside the main target's, keyed by its URI. */
  forFanOutTarget(uri: string): LeaseProgress {
    const watermark = (): bigint => this.watermark;
    const pause = (): PausePoint | undefined => this.pausePoint;
    const applyUntil = (): bigint | undefined => this.bound;
    return {
      setCaughtUp: (caughtUp, waitingSince) => {
        this.markCaughtUp(uri, caughtUp, waitingSince);
      },
      pauseReached: () => {
        this.pausedTargets.add(uri);
      },
      get pause() {
        return pause();
      },
      get applyUntil() {
        return applyUntil();
      },
      checkpoint: (msgId, timestamp) => {
        this.fanOut.set(uri, wholeMessagePosition(msgId, timestamp));
      },
      observeHead: (timestamp) => {
        this.observeHead(timestamp);
      },
      addApplied: (rows, bytes) => {
        this.addApplied(rows, bytes);
      },
      appliedAfter: (delayMs) => {
        this.applyDelays.set(uri, delayMs);
      },
      quarantine: (entry) =>
        this.enqueueQuarantine({ ...entry, reason: `target ${uri}: ${entry.reason}` }, uri),
      get replicateWatermark() {
        return watermark();
      },
    };
  }

  observeHead(timestamp: bigint): void {
    const first = this.head === 0n && timestamp > 0n;
    if (timestamp > this.head) this.head = timestamp;
    // A channel's first head says "read, not applied yet": in replicate mode it holds the target's ticks back
    // (replicateWatermark) and must reach the control service before they overtake its first pack.
    if (first) this.reportNow();
  }

  private reportNow(): void {
    this.urgent = true;
    this.reportSoon?.();
  }

  addApplied(rows: number, bytes: number): void {
    if (this.rows === 0 && rows > 0) this.opts.log.info({ rows }, 'first rows applied');
    this.rows += rows;
    this.bytes += bytes;
  }

  appliedAfter(delayMs: number): void {
    this.applyDelays.set(MAIN, delayMs);
  }

  quarantine(entry: QuarantinedMessage): Promise<void> {
    return this.enqueueQuarantine(entry, '');
  }

  /** Buffers the message; once a call's worth waits, sends the batch before the replicator goes on. */
  private async enqueueQuarantine(entry: QuarantinedMessage, target: string): Promise<void> {
    this.opts.onQuarantine?.();
    this.opts.log.warn({ reason: entry.reason }, 'message quarantined');
    // An idle lease would hold a part batch for an idle interval: quarantined messages are reported promptly.
    if (this.quiet) this.requestConfirmation();
    if (!this.quarantined.push(entry, target)) return;
    await this.flushQuarantine(() =>
      withRetry(() => this.quarantined.flush(), {
        signal: this.stopper.signal,
        log: this.opts.log,
        action: 'reporting quarantine',
      }),
    );
  }

  /** A refusal (stale epoch, "quarantine full") ends the lease; the unsent entries stay, so no checkpoint passes. */
  private async flushQuarantine(flush: () => Promise<void>): Promise<void> {
    try {
      await flush();
    } catch (err) {
      if (err instanceof CdcError && !err.retryable) this.end(errorMessage(err));
      throw err;
    }
  }

  start(): void {
    this.loop ??= this.run();
  }

  private end(reason: string): void {
    if (this.ended) return;
    this.ended = true;
    this.opts.onLeaseEnd(reason);
  }

  private async run(): Promise<void> {
    const signal = this.stopper.signal;
    while (!signal.aborted) {
      const handedOver = performance.now();
      try {
        await this.reportOnce();
      } catch (err) {
        this.answered = false;
        if (err instanceof CdcError && err.code === 'LEASE_LOST') {
          this.opts.onFenced?.(errorMessage(err));
          this.end(errorMessage(err));
        } else {
          this.opts.log.warn({ err: errorMessage(err) }, 'checkpoint report failed; will retry');
        }
      }
      try {
        // At a fixed rate from when the last report went out, not an interval after its answer: with a slow answer
        // (busy control service or worker) the confirmations would otherwise come further apart than the write
        // validity they renew (3 s against 1 s reports + 2 s answers), and the lease would end although every report
        // was answered.
        this.setQuiet(this.idleNow());
        const interval = this.quiet ? (this.opts.idleIntervalMs ?? 0) : this.opts.intervalMs;
        const due = handedOver + interval;
        const phase = this.opts.idleSlotPhaseMs;
        const at = this.quiet && phase !== undefined ? idleReportSlot(due, interval, phase) : due;
        await this.untilNextReport(signal, at - performance.now());
      } catch {
        return;
      }
    }
  }

  /**
   * Waits `ms` (at most a report interval), cut short by `reportSoon`; rejects when `signal` aborts. One timer and one
   * listener per wait: every lease waits here once per report, so no signal is made per wait.
   */
  private untilNextReport(signal: AbortSignal, ms: number): Promise<void> {
    if (signal.aborted) return Promise.reject(abortError(signal));
    return new Promise((resolve, reject) => {
      const settle = (): void => {
        clearTimeout(timer);
        signal.removeEventListener('abort', onAbort);
        this.reportSoon = undefined;
      };
      const onAbort = (): void => {
        settle();
        reject(abortError(signal));
      };
      const timer = setTimeout(
        () => {
          settle();
          resolve();
        },
        Math.max(0, ms),
      );
      signal.addEventListener('abort', onAbort, { once: true });
      this.reportSoon = () => {
        settle();
        resolve();
      };
    });
  }

  /** One report; exposed for the final report at the end of a lease. */
  async reportOnce(): Promise<void> {
    // The quarantined messages first, then the positions taken before them: a checkpoint never passes a message that
    // is not recorded. While the control service cannot store them (retryable), the report only renews the lease.
    let settled = true;
    const unsettled = this.position !== this.reportedPosition ? this.position : undefined;
    const unsettledFanOut = this.unreportedFanOut();
    const unsettledPause = this.pauseReachedAt;
    try {
      await this.flushQuarantine(() => this.quarantined.flush());
    } catch (err) {
      if (!isRetryable(err)) throw err;
      this.opts.log.warn(
        { err: errorMessage(err) },
        'quarantine report failed; checkpoint held back',
      );
      settled = false;
    }
    const position = settled ? unsettled : undefined;
    const fanOut = settled ? unsettledFanOut : new Map<string, CheckpointPosition>();
    const reached = settled ? unsettledPause : 0n;
    const urgent = this.urgent;
    this.urgent = false;
    const rows = this.rows;
    const applyDelayMs = Math.max(0, ...this.applyDelays.values());
    this.applyDelays.clear();
    const sentAt = performance.now();
    const res = await this.opts.control.reportCheckpoint(
      {
        ...this.opts.lease,
        workerId: this.opts.workerId,
        ...(position ? { position } : {}),
        ...(fanOut.size > 0 ? { fanOutPositions: fanOut } : {}),
        sourceHeadTimestamp: this.head,
        appliedRows: this.rows,
        appliedBytes: this.bytes,
        caughtUp: this.caughtUp,
        applyDelayMs,
        waitingTimestamp: this.waitingTimestamp,
        pauseReached: reached,
      },
      // A report that hangs must not keep the next one from confirming the lease in time.
      // Waiting for other leases' reports costs at most a fifth of the interval (the coalescer's own cap applies too).
      {
        deadlineMs: Math.max(1_000, this.opts.intervalMs * 2),
        urgent,
        lingerMs: this.opts.intervalMs / 5,
      },
    );
    this.opts.log.debug({ rttMs: Math.round(performance.now() - sentAt) }, 'checkpoint reported');
    if (res.keepLease) this.opts.onConfirmed?.(sentAt);
    this.answered = res.keepLease;
    this.appliedBeforeReport = rows !== this.rowsAtReport;
    this.rowsAtReport = rows;
    if (res.keepLease && res.applyUntil > (this.bound ?? 0n)) this.bound = res.applyUntil;
    if (settled) this.pauseReported = reached;
    // A pause the control service no longer asks for (resumed) must not stop the replicators.
    if (unsettledPause === 0n) this.setPause(res.pause);
    if (position) this.reportedPosition = position;
    for (const [uri, p] of fanOut) this.reportedFanOut.set(uri, p);
    if (res.replicateWatermark > this.watermark) this.watermark = res.replicateWatermark;
    if (res.channelCheckpoints !== undefined) this.checkpoints = res.channelCheckpoints;
    if (!res.keepLease) this.end(res.reason || 'lease ended by the control plane');
  }

  private setPause(pause: PausePoint | undefined): void {
    this.pausePoint = pause;
    if (pause === undefined) return;
    const listeners = [...this.pauseListeners];
    this.pauseListeners.clear();
    for (const listener of listeners) listener();
  }

  private unreportedFanOut(): Map<string, CheckpointPosition> {
    const out = new Map<string, CheckpointPosition>();
    for (const [uri, p] of this.fanOut) if (this.reportedFanOut.get(uri) !== p) out.set(uri, p);
    return out;
  }

  /** Stops the periodic reports and sends the last checkpoint (best effort: a stale epoch is simply dropped). */
  async stop(): Promise<void> {
    this.stopper.abort();
    await this.loop;
    if (
      this.position !== this.reportedPosition ||
      this.unreportedFanOut().size > 0 ||
      this.pauseReported !== this.pauseReachedAt ||
      this.quarantined.size > 0
    ) {
      try {
        await this.reportOnce();
      } catch (err) {
        this.opts.log.warn({ err: errorMessage(err) }, 'final checkpoint report failed');
      }
    }
  }
}
