import { CdcError, invalidArgument, replicateChannelName } from '@cdc/shared';
import { hasReplicateTarget } from '../domain/model.js';
import type { ChannelRecord, PausePoint, Position, TaskRecord, TaskSpec } from '../domain/model.js';
import { stateLabel } from '../domain/state-machine.js';
import { validateWorkerId } from '../domain/id-validation.js';
import {
  acceptReport,
  judgeReport,
  replicateChannelProgress,
  type CheckpointReport,
  type ReportAnswer,
  type ReportJudgement,
} from './checkpoint-report.js';
import { updateChannelRecord } from './compare-and-set.js';
import { FairShare } from './fair-share.js';
import { leaseHeld, staleEpoch } from './lease-errors.js';
import { leaseStartFor, type LeaseStart } from './lease-start.js';
import { applyUntil, handoverIn, reportSilenceMs, type LeaseTiming } from './lease-timing.js';
import { settlePause } from './pause-settlement.js';
import type { ChannelStore, Clock, ReportBatchStore } from './ports.js';
import { reportBatch, settleReport, type ReportOutcome } from './report-batch.js';
import type { ReportDemand } from './report-demand.js';
import { notFound } from './task-record-update.js';
import type { TaskService } from './task-service.js';

export interface LeaseServiceDeps {
  readonly tasks: TaskService;
  readonly channels: ChannelStore;
  readonly clock: Clock;
  /** A worker is live when it reported within this window. */
  readonly liveWindowMs: number;
  readonly reportIntervalMs: number;
  /**
   * Report interval of leases of tasks with a replicate-mode target (the smaller one applies): such a target's time
   * moves only up to the checkpoints reported (replicate watermark), so its rows become visible only that often.
   */
  readonly replicateReportIntervalMs?: number;
  /**
   * Report interval of the replicate channel's lease of such a task (the smaller one applies): it moves the target's
   * time to the watermark its report answers bring, so each report saves the rows behind it that wait. One lease per
   * task: cheap where every lease at this rate would not be.
   */
  readonly replicateTickerReportIntervalMs?: number;
  readonly timing: LeaseTiming;
  /** Batched reads and writes for ReportCheckpoints; without it each report goes the single way. */
  readonly batch?: ReportBatchStore;
  /**
   * A channel moved for rebalancing wants its lease job back soon: its holder released it, or the worker it was moved
   * from was refused it (the scheduler's `nudgeSoon`).
   */
  readonly onRebalanceMove?: () => void;
  /** Tasks whose idle leases should report now, told in heartbeat answers. */
  readonly demand?: ReportDemand;
}

/**
 * A worker that gave a channel up for rebalancing may not take it straight back, so that a less loaded worker can.
 * Kept short: the peer it was given up for may have died (it counts as live for the live window), and then this
 * worker must resume the channel soon.
 */
const REBALANCE_HOLD_MS = 6_000;

/** The worker side of the lease protocol (proto/cdc/v1/worker.proto). Epochs are fenced with compare-and-set. */
export class LeaseService {
  private readonly fairShare: FairShare;

  constructor(private readonly deps: LeaseServiceDeps) {
    // Idle leases report less often: one of their gaps must not make the worker look as if it held fewer channels.
    this.fairShare = new FairShare(
      deps.channels,
      deps.clock,
      deps.liveWindowMs,
      reportSilenceMs(deps.liveWindowMs, deps.timing),
    );
  }

  async acquire(
    taskId: string,
    channel: string,
    workerId: string,
  ): Promise<{
    epoch: string;
    spec: TaskSpec;
    start: LeaseStart;
    targetPositions: Record<string, Position>;
    writeValidityMs: number;
    idleReportIntervalMs: number;
    reportIntervalMs: number;
    applyUntil: string;
    pause?: PausePoint;
  }> {
    validateWorkerId(workerId);
    const task = await this.runningTask(taskId, channel);
    const key = `${taskId}/${channel}`;
    let takenFrom: string | undefined;
    const record = await this.cas(taskId, channel, (rec) => {
      const now = this.deps.clock.now();
      const heldBack =
        rec.endRequested === 'rebalancing' && rec.workerId === workerId && rec.released === true;
      if (heldBack && now - rec.updateTimeMs < REBALANCE_HOLD_MS) {
        this.deps.onRebalanceMove?.();
        throw new CdcError(
          'FAILED_PRECONDITION',
          'rebalancing: channel was moved away from this worker',
          { retryable: true },
        );
      }
      if (task.pause !== undefined && rec.pausedAt === task.pause.timestamp)
        throw new CdcError(
          'FAILED_PRECONDITION',
          `task ${taskId} is pausing and channel ${channel} has stopped`,
          { retryable: false, details: { taskId } },
        );
      const retryAfterMs = handoverIn(rec, now, this.deps.timing);
      if (retryAfterMs > 0) throw leaseHeld(taskId, channel, rec.workerId, retryAfterMs);
      takenFrom = rec.released === true ? undefined : rec.workerId;
      const next: ChannelRecord = {
        ...rec,
        epoch: (BigInt(rec.epoch) + 1n).toString(),
        workerId,
        appliedRows: '0',
        appliedBytes: '0',
        updateTimeMs: now,
        confirmedMs: now,
        // Not caught up until the new holder says so: the grant's report time must not make the channel idle
        // (replicate watermark) while messages the old holder never read wait on it.
        caughtUp: false,
        released: false,
        lastError: rec.endRequested === 'rebalancing' ? '' : rec.lastError,
      };
      delete next.endRequested;
      // What the old holder had waiting says nothing of the new one: its lag counts from the checkpoint.
      delete next.waitingTimestamp;
      delete next.applyDelayMs;
      return next;
    });
    this.fairShare.noteLease(key, workerId, takenFrom);
    return {
      epoch: record.epoch,
      spec: this.deps.tasks.fullSpec(task),
      ...leaseStartFor(record, task, channel),
      writeValidityMs: this.deps.timing.writeValidityMs,
      reportIntervalMs: this.reportIntervalFor(task, channel),
      // Replicate-mode leases keep reporting: the target's time moves only as far as their checkpoints.
      idleReportIntervalMs: hasReplicateTarget(task.spec)
        ? 0
        : (this.deps.timing.idleReportMs ?? 0),
      applyUntil: applyUntil(this.deps.clock.now(), this.deps.timing),
      ...(task.pause === undefined ? {} : { pause: task.pause }),
    };
  }

  private reportIntervalFor(task: TaskRecord, channel: string): number {
    const { reportIntervalMs, replicateReportIntervalMs, replicateTickerReportIntervalMs } =
      this.deps;
    if (!hasReplicateTarget(task.spec)) return reportIntervalMs;
    const ticker = channel === replicateChannelName(task.spec.source.channel_prefix);
    return Math.min(
      reportIntervalMs,
      replicateReportIntervalMs ?? reportIntervalMs,
      (ticker ? replicateTickerReportIntervalMs : undefined) ?? reportIntervalMs,
    );
  }

  async report(r: CheckpointReport): Promise<ReportAnswer> {
    validateWorkerId(r.workerId);
    const found = await this.deps.tasks.get(r.taskId).catch((err: unknown) => {
      if (err instanceof CdcError && err.code === 'NOT_FOUND') return undefined;
      throw err;
    });
    const judged = await this.judge(found, r);
    if (found === undefined) {
      const rec = await this.deps.channels.get(r.taskId, r.channel);
      if (rec !== undefined && rec.value.epoch !== r.epoch)
        throw staleEpoch(r.taskId, r.channel, r.epoch, rec.value.epoch);
      return { keepLease: false, reason: judged.reason, replicateWatermark: '0', applyUntil: '0' };
    }
    const now = this.deps.clock.now();
    let reason = judged.reason;
    await this.cas(r.taskId, r.channel, (rec) => {
      const accepted = acceptReport(rec, r, now, this.deps.timing, judged);
      reason = accepted.reason;
      return accepted.next;
    });
    return this.answer(found, r, { ...judged, reason });
  }

  /**
   * Several leases' reports (ReportCheckpoints), each answered as `report` would answer it. With a batch store, one
   * read for all their task and channel records and one compare-and-set write per group; a report whose write lost a
   * race, or whose task is gone, goes the single way. A refused report gets its error; the others are not affected.
   */
  reportMany(reports: readonly CheckpointReport[]): Promise<ReportOutcome[]> {
    const single = (r: CheckpointReport) => this.report(r);
    const store = this.deps.batch;
    if (store === undefined) return Promise.all(reports.map((r) => settleReport(() => single(r))));
    return reportBatch(
      {
        store,
        clock: this.deps.clock,
        timing: this.deps.timing,
        judge: (task, r) => this.judge(task, r),
        answer: (task, r, judged) => this.answer(task, r, judged),
        single,
      },
      reports,
    );
  }

  private judge(task: TaskRecord | undefined, r: CheckpointReport): Promise<ReportJudgement> {
    return judgeReport(task, r, () =>
      this.fairShare.shouldRelease(`${r.taskId}/${r.channel}`, r.workerId),
    );
  }

  /** The answer to a report whose channel record was written; the bound counts from now, after the write. */
  private async answer(
    task: TaskRecord,
    r: CheckpointReport,
    judged: ReportJudgement,
  ): Promise<ReportAnswer> {
    const progress = await replicateChannelProgress(this.deps, task, r, judged.reason);
    if (judged.pausedAt !== undefined) await this.settlePause(r.taskId);
    return {
      keepLease: judged.reason === '',
      reason: judged.reason,
      ...progress,
      applyUntil: judged.reason === '' ? applyUntil(this.deps.clock.now(), this.deps.timing) : '0',
      ...(judged.pause === undefined ? {} : { pause: judged.pause }),
    };
  }

  /**
   * PAUSING → PAUSED once every channel of the task has stopped (see pause-settlement.ts). Called after each channel
   * that reached the pause, on release, and by the scheduler's every pass.
   */
  settlePause(taskId: string): Promise<{ readonly running: readonly string[] }> {
    return settlePause(this.deps, taskId);
  }

  /** The standby follower's open items, from the replicate channel's current lease (stale epochs are refused). */
  async reportStandby(input: {
    taskId: string;
    channel: string;
    epoch: string;
    usersNeedingPerson: string[];
    skipped: string[];
  }): Promise<void> {
    await this.assertCurrent(input.taskId, input.channel, input.epoch);
    await this.deps.tasks.setStandby(input.taskId, {
      usersNeedingPerson: input.usersNeedingPerson,
      skipped: input.skipped,
      updateTimeMs: this.deps.clock.now(),
    });
  }

  async failure(input: {
    taskId: string;
    channel: string;
    epoch: string;
    reason: string;
    needsPerson: boolean;
  }): Promise<void> {
    await this.cas(input.taskId, input.channel, (rec) => {
      if (rec.epoch !== input.epoch)
        throw staleEpoch(input.taskId, input.channel, input.epoch, rec.epoch);
      return {
        ...rec,
        lastError: input.reason,
        released: true,
        updateTimeMs: this.deps.clock.now(),
      };
    });
    if (!input.needsPerson) return;
    const task = await this.deps.tasks.get(input.taskId);
    if (
      task.state === 'TASK_STATE_RUNNING' ||
      task.state === 'TASK_STATE_FAILED' ||
      task.state === 'TASK_STATE_PAUSING'
    )
      await this.deps.tasks.pause(
        input.taskId,
        `${input.channel}: ${input.reason}`,
        'worker',
        true,
      );
    await this.settlePause(input.taskId);
  }

  async release(taskId: string, channel: string, epoch: string): Promise<void> {
    let moved = false;
    await this.cas(taskId, channel, (rec) => {
      if (rec.epoch !== epoch) throw staleEpoch(taskId, channel, epoch, rec.epoch);
      moved = rec.endRequested === 'rebalancing';
      return { ...rec, released: true };
    });
    if (moved) this.deps.onRebalanceMove?.();
    await this.settlePause(taskId).catch(() => undefined); // the scheduler settles it otherwise
  }

  /** Records the worker as live; returns the tasks whose idle leases should report now (ReportDemand). */
  async heartbeat(workerId: string): Promise<string[]> {
    validateWorkerId(workerId);
    await this.deps.channels.touchWorker(workerId, this.deps.clock.now());
    return this.deps.demand?.wanted() ?? [];
  }

  private async assertCurrent(taskId: string, channel: string, epoch: string): Promise<void> {
    const found = await this.deps.channels.get(taskId, channel);
    if (found === undefined) throw notFound(taskId);
    if (found.value.epoch !== epoch) throw staleEpoch(taskId, channel, epoch, found.value.epoch);
  }

  private async runningTask(taskId: string, channel: string): Promise<TaskRecord> {
    const task = await this.deps.tasks.get(taskId);
    // A pausing task still leases its channels: each applies the source up to the pause point.
    if (task.state !== 'TASK_STATE_RUNNING' && task.state !== 'TASK_STATE_PAUSING')
      throw new CdcError('FAILED_PRECONDITION', `task ${taskId} is ${stateLabel(task.state)}`, {
        retryable: false,
        details: { taskId },
      });
    if (channel === '') throw invalidArgument('channel', 'is required');
    // Streaming during the copy could let a stale copied row resurrect a row the stream deleted (snapshot-service.ts).
    if (task.initialSync?.copying === true)
      throw new CdcError('FAILED_PRECONDITION', `task ${taskId} is copying initial data`, {
        retryable: false,
        details: { taskId },
      });
    if (!task.channels.includes(channel))
      throw new CdcError('NOT_FOUND', `channel ${channel} is not a channel of task ${taskId}`, {
        retryable: false,
      });
    return task;
  }

  private cas(
    taskId: string,
    channel: string,
    fn: (r: ChannelRecord) => ChannelRecord,
  ): Promise<ChannelRecord> {
    return updateChannelRecord(this.deps.channels, taskId, channel, fn);
  }
}
