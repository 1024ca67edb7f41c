import { CdcError, invalidArgument, replicateChannelName, composeTs } from '@cdc/shared';
import type {
  ChannelRecord,
  PausePoint,
  Position,
  StartKind,
  StartPoint,
  TaskRecord,
  TaskSpec,
} from '../domain/model.js';
import { targetsOf } from '../domain/model.js';
import { stateLabel } from '../domain/state-machine.js';
import { validateWorkerId } from '../domain/validation.js';
import { staleEpochError, updateChannelRecord } from './compare-and-set.js';
import { FairShare } from './fair-share.js';
import { channelCheckpoints } from './channel-checkpoints.js';
import { replicateWatermark } from './replicate-watermark.js';
import type { ChannelStore, Clock } from './ports.js';
import { notFound, type TaskService } from './task-service.js';

/**
 * Fencing of target writes (guarantee 1). A worker writes only within `writeValidityMs` of sending a request that the
 * control service answered by confirming its lease, and every target call it makes ends before that. The control
 * service hands a channel to another worker only when its holder released it, or `handoverMs` after the last
 * confirmation; `handoverMs` > `writeValidityMs` + the clock margin (config.ts refuses anything else), so the old
 * holder's last write ended before the new holder's first.
 */
export interface LeaseTiming {
  readonly writeValidityMs: number;
  readonly handoverMs: number;
  /**
   * Leases apply no change newer than the control clock plus this lead at their last answer, and a pause point is set
   * this far ahead (TaskService.pause), so a channel hears of a pause before it could pass it.
   */
  readonly pauseLeadMs: number;
}

export interface LeaseServiceDeps {
  readonly tasks: TaskService;
  readonly channels: ChannelStore;
  readonly clock: Clock;
  /** A worker is live when it reported within this window. */
  readonly liveWindowMs: number;
  readonly reportIntervalMs: number;
  readonly timing: LeaseTiming;
}

export interface LeaseStart {
  kind: StartKind;
  position?: Position;
  timestamp: string;
  fromCheckpoint: boolean;
}

export interface CheckpointReport {
  taskId: string;
  channel: string;
  epoch: string;
  workerId: string;
  position?: Position;
  /** Fan-out targets' checkpoints that moved, by target URI. */
  fanOutPositions?: Record<string, Position>;
  sourceHeadTimestamp: string;
  appliedRows: string;
  appliedBytes: string;
  /** The lease read everything the channel held and applied it. */
  caughtUp?: boolean;
  /** The pause point (decimal TSO) the lease stopped at; '0' or absent while it runs. */
  pauseReached?: string;
}

/**
 * A worker that gave a channel up for rebalancing may not take it straight back, so that a less loaded worker can.
 * Kept short: the peer it was given up for may have died (it counts as live for the live window), and then this
 * worker must resume the channel soon.
 */
const REBALANCE_HOLD_MS = 6_000;

export function staleEpoch(
  taskId: string,
  channel: string,
  epoch: string,
  current: string,
): CdcError {
  return staleEpochError('lease', { taskId, channel, epoch, currentEpoch: current });
}

/** The channel's previous holder may still be writing: retry once its write validity must have ended. */
export function leaseHeld(
  taskId: string,
  channel: string,
  holder: string,
  retryAfterMs: number,
): CdcError {
  return new CdcError(
    'LEASE_HELD',
    `channel ${channel} of task ${taskId} is held by worker ${holder}; it can move in ${String(retryAfterMs)} ms`,
    { retryable: true, details: { taskId, channel, retryAfterMs } },
  );
}

/** True for the error `staleEpoch` creates (a call fenced off because its lease epoch is no longer current). */
export function isStaleEpoch(err: unknown): boolean {
  return err instanceof CdcError && err.code === 'LEASE_LOST';
}

/** The worker side of the lease protocol (proto/cdc/v1/worker.proto). Epochs are fenced with compare-and-set. */
export class LeaseService {
  private readonly fairShare: FairShare;

  constructor(private readonly deps: LeaseServiceDeps) {
    this.fairShare = new FairShare(deps.channels, deps.clock, deps.liveWindowMs);
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
    applyUntil: string;
    pause?: PausePoint;
  }> {
    validateWorkerId(workerId);
    const task = await this.runningTask(taskId, channel);
    const key = `${taskId}/${channel}`;
    const record = await this.cas(taskId, channel, (rec) => {
      const now = this.deps.clock.now();
      const heldBack =
        rec.endRequested === 'rebalancing' && rec.workerId === workerId && rec.released === true;
      if (heldBack && now - rec.updateTimeMs < REBALANCE_HOLD_MS)
        throw new CdcError(
          'FAILED_PRECONDITION',
          'rebalancing: channel was moved away from this worker',
          { retryable: true },
        );
      if (task.pause !== undefined && rec.pausedAt === task.pause.timestamp)
        throw new CdcError(
          'FAILED_PRECONDITION',
          `task ${taskId} is pausing and channel ${channel} has stopped`,
          { retryable: false, details: { taskId } },
        );
      const retryAfterMs = this.handoverIn(rec, now);
      if (retryAfterMs > 0) throw leaseHeld(taskId, channel, rec.workerId, retryAfterMs);
      const next: ChannelRecord = {
        ...rec,
        epoch: (BigInt(rec.epoch) + 1n).toString(),
        workerId,
        appliedRows: '0',
        appliedBytes: '0',
        updateTimeMs: now,
        confirmedMs: now,
        released: false,
        lastError: rec.endRequested === 'rebalancing' ? '' : rec.lastError,
      };
      delete next.endRequested;
      return next;
    });
    this.fairShare.noteLease(key, workerId);
    return {
      epoch: record.epoch,
      spec: this.deps.tasks.fullSpec(task),
      ...leaseStartFor(record, task, channel),
      writeValidityMs: this.deps.timing.writeValidityMs,
      applyUntil: this.applyUntil(),
      ...(task.pause === undefined ? {} : { pause: task.pause }),
    };
  }

  /** How far a lease may apply until its next answer (see LeaseTiming.pauseLeadMs). */
  private applyUntil(): string {
    return composeTs(this.deps.clock.now() + this.deps.timing.pauseLeadMs).toString();
  }

  /** Milliseconds until the channel may go to another worker: 0 once its holder released it or went silent. */
  private handoverIn(rec: ChannelRecord, now: number): number {
    if (rec.released === true || rec.workerId === '') return 0;
    // Records written before confirmations were stored count from their last update.
    const confirmed = rec.confirmedMs ?? rec.updateTimeMs;
    return Math.max(0, confirmed + this.deps.timing.handoverMs - now);
  }

  async report(r: CheckpointReport): Promise<{
    keepLease: boolean;
    reason: string;
    replicateWatermark: string;
    applyUntil: string;
    pause?: PausePoint;
    /** The replicate channel's lease: see `channelCheckpoints`. */
    channelCheckpoints?: Record<string, string>;
  }> {
    validateWorkerId(r.workerId);
    const found = await this.deps.tasks.get(r.taskId).catch((err: unknown) => {
      if (err instanceof CdcError && err.code === 'NOT_FOUND') return undefined;
      throw err;
    });
    const pause = found?.state === 'TASK_STATE_PAUSING' ? found.pause : undefined;
    const reachedPause = pause !== undefined && r.pauseReached === pause.timestamp;
    let reason = '';
    if (found === undefined) reason = 'task deleted';
    else if (reachedPause) reason = 'task paused';
    else if (found.state !== 'TASK_STATE_RUNNING' && pause === undefined)
      reason = `task ${stateLabel(found.state)}`;
    else if (found.initialSync?.copying === true) reason = 'task is copying initial data';
    else if (!found.channels.includes(r.channel)) reason = 'channel removed from task';
    else if (await this.fairShare.shouldRelease(`${r.taskId}/${r.channel}`, r.workerId))
      reason = 'rebalancing';
    if (found === undefined) {
      const rec = await this.deps.channels.get(r.taskId, r.channel);
      if (rec !== undefined && rec.value.epoch !== r.epoch)
        throw staleEpoch(r.taskId, r.channel, r.epoch, rec.value.epoch);
      return { keepLease: false, reason, replicateWatermark: '0', applyUntil: '0' };
    }
    const now = this.deps.clock.now();
    await this.cas(r.taskId, r.channel, (rec) => {
      if (rec.epoch !== r.epoch || rec.released === true || this.handoverIn(rec, now) === 0)
        throw staleEpoch(r.taskId, r.channel, r.epoch, rec.epoch);
      // Once told to stop, a lease is never confirmed again: its write validity runs out.
      if (rec.endRequested !== undefined && reason === '') reason = rec.endRequested;
      const next: ChannelRecord = {
        ...rec,
        workerId: r.workerId,
        sourceHeadTimestamp: maxDecimal(rec.sourceHeadTimestamp, r.sourceHeadTimestamp),
        headAdvancedMs:
          BigInt(r.sourceHeadTimestamp) > BigInt(rec.sourceHeadTimestamp)
            ? now
            : (rec.headAdvancedMs ?? now),
        appliedRows: r.appliedRows,
        appliedBytes: r.appliedBytes,
        updateTimeMs: now,
        caughtUp: r.caughtUp === true,
        lastError: reason === 'rebalancing' ? 'rebalancing' : rec.lastError,
      };
      if (reason === '') next.confirmedMs = now;
      else next.endRequested = reason;
      if (reachedPause) next.pausedAt = pause.timestamp;
      if (r.position !== undefined) {
        next.position = r.position;
        delete next.pendingStart;
      }
      if (r.fanOutPositions !== undefined && Object.keys(r.fanOutPositions).length > 0)
        next.fanOutPositions = { ...rec.fanOutPositions, ...r.fanOutPositions };
      return next;
    });
    // Only the replicate channel's lease ticks the target (TargetTicker): the other leases would list every channel
    // record of the task on each report for nothing.
    const opsChannel = replicateChannelName(found.spec.source.channel_prefix);
    const replicateWatermark =
      r.channel === opsChannel &&
      reason === '' &&
      targetsOf(found.spec).some((t) => t.mode === 'TARGET_MODE_REPLICATE')
        ? await this.replicateWatermark(r.taskId, found.channels, opsChannel)
        : '0';
    // The standby follower beside the replicate channel orders its changes after the data (see channelCheckpoints).
    const checkpoints =
      r.channel === opsChannel && reason === ''
        ? channelCheckpoints(await this.deps.channels.list(r.taskId), opsChannel)
        : undefined;
    if (reachedPause) await this.settlePause(r.taskId);
    return {
      keepLease: reason === '',
      reason,
      ...(checkpoints === undefined ? {} : { channelCheckpoints: checkpoints }),
      replicateWatermark,
      applyUntil: reason === '' ? this.applyUntil() : '0',
      ...(pause === undefined ? {} : { pause }),
    };
  }

  /**
   * PAUSING → PAUSED once every channel of the task has stopped: it released its lease (or its holder went silent
   * past the handover time) after reaching the pause point; for an immediate pause, stopping anywhere will do. Called
   * after each channel that reached the pause, on release, and by the scheduler's every pass.
   */
  async settlePause(taskId: string): Promise<{ readonly running: readonly string[] }> {
    const task = await this.deps.tasks.get(taskId);
    const pause = task.pause;
    if (task.state !== 'TASK_STATE_PAUSING' || pause === undefined)
      return { running: task.state === 'TASK_STATE_RUNNING' ? task.channels : [] };
    const records = await this.deps.channels.list(taskId);
    const now = this.deps.clock.now();
    const stopped = (rec: ChannelRecord | undefined): boolean => {
      const idle = rec === undefined || rec.epoch === '0' || this.handoverIn(rec, now) === 0;
      if (pause.immediate) return idle;
      return rec !== undefined && rec.pausedAt === pause.timestamp && idle;
    };
    const running = task.channels.filter((c) => !stopped(records.get(c)));
    if (running.length === 0) await this.deps.tasks.completePause(taskId, pause.timestamp);
    return { running };
  }

  private async replicateWatermark(
    taskId: string,
    channels: readonly string[],
    opsChannel: string,
  ): Promise<string> {
    const records = await this.deps.channels.list(taskId);
    const dml = channels.filter((c) => c !== opsChannel).map((c) => records.get(c));
    return replicateWatermark(dml, this.deps.clock.now()).toString();
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
    await this.cas(taskId, channel, (rec) => {
      if (rec.epoch !== epoch) throw staleEpoch(taskId, channel, epoch, rec.epoch);
      return { ...rec, released: true };
    });
    await this.settlePause(taskId).catch(() => undefined); // the scheduler settles it otherwise
  }

  async heartbeat(workerId: string): Promise<void> {
    validateWorkerId(workerId);
    await this.deps.channels.touchWorker(workerId, this.deps.clock.now());
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

/**
 * "Latest" means latest when the task was created (or the position reset), not when a worker happens to take the
 * lease: it becomes a timestamp start, so writes between task creation and the first lease are not skipped, and a
 * restart before the first checkpoint starts at the same place again.
 */
/**
 * Where a lease starts reading, and (fan-out) each target's own checkpoint. With fan-out the channel is read once for
 * every target, so reading starts at the earliest checkpoint; a target that has none yet starts where the task does,
 * and so does the read.
 */
export function leaseStartFor(
  record: ChannelRecord,
  task: TaskRecord,
  channel: string,
): { start: LeaseStart; targetPositions: Record<string, Position> } {
  const fanOut = task.spec.fan_out ?? [];
  const start = startFor(record, task.spec.start, channel, task.createTimeMs);
  if (fanOut.length === 0 || record.pendingStart !== undefined)
    return { start, targetPositions: {} };
  // Keyed by target URIs from the request: a null-prototype map keeps any URI an ordinary key.
  const targetPositions = Object.create(null) as Record<string, Position>;
  if (record.position !== undefined) targetPositions[task.spec.target.uri] = record.position;
  for (const t of fanOut) {
    const own = record.fanOutPositions?.[t.uri];
    if (own !== undefined) targetPositions[t.uri] = own;
  }
  const own = [task.spec.target, ...fanOut].map((t) => targetPositions[t.uri]);
  let earliest: Position | undefined;
  for (const p of own) {
    if (p === undefined)
      return {
        start: fromStartPoint(task.spec.start, channel, task.createTimeMs),
        targetPositions,
      };
    if (earliest === undefined || BigInt(p.timestamp) < BigInt(earliest.timestamp)) earliest = p;
  }
  return {
    start: earliest === undefined ? start : { ...start, position: earliest },
    targetPositions,
  };
}

function startFor(
  record: ChannelRecord,
  taskStart: StartPoint,
  channel: string,
  taskCreateTimeMs: number,
): LeaseStart {
  if (record.pendingStart !== undefined)
    return fromStartPoint(record.pendingStart, channel, record.updateTimeMs);
  if (record.position !== undefined)
    return {
      kind: 'START_KIND_POSITIONS',
      position: record.position,
      timestamp: '0',
      fromCheckpoint: true,
    };
  return fromStartPoint(taskStart, channel, taskCreateTimeMs);
}

function fromStartPoint(start: StartPoint, channel: string, latestAtMs: number): LeaseStart {
  const latest: LeaseStart = {
    kind: 'START_KIND_TIMESTAMP',
    timestamp: composeTs(latestAtMs).toString(),
    fromCheckpoint: false,
  };
  if (start.kind === 'START_KIND_POSITIONS') {
    const position = start.positions[channel];
    if (position === undefined) return latest;
    return { kind: 'START_KIND_POSITIONS', position, timestamp: '0', fromCheckpoint: false };
  }
  if (start.kind === 'START_KIND_UNSPECIFIED' || start.kind === 'START_KIND_LATEST') return latest;
  return { kind: start.kind, timestamp: start.timestamp, fromCheckpoint: false };
}

function maxDecimal(a: string, b: string): string {
  return BigInt(a) >= BigInt(b) ? a : b;
}
