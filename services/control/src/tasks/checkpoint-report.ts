import { replicateChannelName } from '@cdc/shared';
import type { ChannelRecord, PausePoint, Position, TaskRecord } from '../domain/model.js';
import { staleEpoch } from './lease-errors.js';
import { goneIn, type LeaseTiming } from './lease-timing.js';
import { hasReplicateTarget } from '../domain/model.js';
import { stateLabel } from '../domain/state-machine.js';
import { channelCheckpoints } from './channel-checkpoints.js';
import { replicateWatermark } from './replicate-watermark.js';
import type { ChannelStore, Clock } from './ports.js';

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
  /** How late the changes applied last since the previous report reached the target (ms; 0: none). */
  applyDelayMs?: number;
  /** Not caught up with nothing more to read: the decimal stamp of the oldest change waiting ('0' or absent: none). */
  waitingTimestamp?: string;
  /** The pause point (decimal TSO) the lease stopped at; '0' or absent while it runs. */
  pauseReached?: string;
}

/** The answer to a checkpoint report (proto ReportCheckpointResponse). */
export interface ReportAnswer {
  readonly keepLease: boolean;
  readonly reason: string;
  readonly replicateWatermark: string;
  readonly applyUntil: string;
  readonly pause?: PausePoint;
  /** The replicate channel's lease: see `channelCheckpoints`. */
  readonly channelCheckpoints?: Record<string, string>;
}

/** How a report is judged from its task record, before its channel record is read. */
export interface ReportJudgement {
  /** Why the lease ends ('' keeps it); the channel record may still end it (`acceptReport`). */
  readonly reason: string;
  /** The pause in force (the task is PAUSING). */
  readonly pause: PausePoint | undefined;
  /** The pause timestamp this report says its lease stopped at, when it is the one in force. */
  readonly pausedAt: string | undefined;
}

/** The judgement of a report against its (existing) task; `rebalancing` is asked only when nothing else ends it. */
export async function judgeReport(
  task: TaskRecord | undefined,
  r: CheckpointReport,
  rebalancing: () => Promise<boolean>,
): Promise<ReportJudgement> {
  const pause = task?.state === 'TASK_STATE_PAUSING' ? task.pause : undefined;
  const reachedPause = pause !== undefined && r.pauseReached === pause.timestamp;
  const reason = await reportEndReason(task, r, pause, reachedPause, rebalancing);
  return { reason, pause, pausedAt: reachedPause ? pause.timestamp : undefined };
}

/**
 * The channel record after an accepted report, and the final reason; throws the stale-epoch refusal when the report's
 * lease is not the current, confirmable one. Once told to stop, a lease is never confirmed again: its write validity
 * runs out.
 */
export function acceptReport(
  rec: ChannelRecord,
  r: CheckpointReport,
  now: number,
  timing: LeaseTiming,
  judged: ReportJudgement,
): { readonly next: ChannelRecord; readonly reason: string } {
  if (rec.epoch !== r.epoch || rec.released === true || goneIn(rec, now, timing) === 0)
    throw staleEpoch(r.taskId, r.channel, r.epoch, rec.epoch);
  const reason =
    rec.endRequested !== undefined && judged.reason === '' ? rec.endRequested : judged.reason;
  return { next: withReport(rec, r, now, reason, judged.pausedAt), reason };
}

/**
 * Why a report ends its lease, from the task as it stands ('' keeps the lease). `rebalancing` is asked last, only
 * when nothing else ends the lease.
 */
export async function reportEndReason(
  task: TaskRecord | undefined,
  r: CheckpointReport,
  pause: PausePoint | undefined,
  reachedPause: boolean,
  rebalancing: () => Promise<boolean>,
): Promise<string> {
  if (task === undefined) return 'task deleted';
  if (reachedPause) return 'task paused';
  if (task.state !== 'TASK_STATE_RUNNING' && pause === undefined)
    return `task ${stateLabel(task.state)}`;
  if (task.initialSync?.copying === true) return 'task is copying initial data';
  if (!task.channels.includes(r.channel)) return 'channel removed from task';
  if (await rebalancing()) return 'rebalancing';
  return '';
}

/** The channel record after an accepted report; `reason` non-empty asks the lease to end. */
export function withReport(
  rec: ChannelRecord,
  r: CheckpointReport,
  now: number,
  reason: string,
  pausedAt: string | undefined,
): ChannelRecord {
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
    applyDelayMs: r.applyDelayMs ?? 0,
    waitingTimestamp: r.waitingTimestamp ?? '0',
    lastError: reason === 'rebalancing' ? 'rebalancing' : rec.lastError,
  };
  if (reason === '') next.confirmedMs = now;
  else next.endRequested = reason;
  if (pausedAt !== undefined) next.pausedAt = pausedAt;
  if (r.position !== undefined) {
    next.position = r.position;
    delete next.pendingStart;
  }
  if (r.fanOutPositions !== undefined && Object.keys(r.fanOutPositions).length > 0)
    next.fanOutPositions = { ...rec.fanOutPositions, ...r.fanOutPositions };
  return next;
}

/**
 * What only the replicate channel's lease hears while it keeps its lease. Only it ticks the target (TargetTicker):
 * the other leases would list every channel record of the task on each report for nothing. The standby follower
 * beside it orders its changes after the data (see channelCheckpoints).
 */
export async function replicateChannelProgress(
  deps: { readonly channels: ChannelStore; readonly clock: Clock },
  task: TaskRecord,
  r: CheckpointReport,
  reason: string,
): Promise<{ replicateWatermark: string; channelCheckpoints?: Record<string, string> }> {
  const opsChannel = replicateChannelName(task.spec.source.channel_prefix);
  if (r.channel !== opsChannel || reason !== '') return { replicateWatermark: '0' };
  // One read of the task's channel records serves both (this lease reports up to ten times a second).
  const records = await deps.channels.list(r.taskId);
  const watermark = hasReplicateTarget(task.spec)
    ? replicateWatermark(
        task.channels.filter((c) => c !== opsChannel).map((c) => records.get(c)),
        deps.clock.now(),
      ).toString()
    : '0';
  return {
    replicateWatermark: watermark,
    channelCheckpoints: channelCheckpoints(records, opsChannel),
  };
}

function maxDecimal(a: string, b: string): string {
  return BigInt(a) >= BigInt(b) ? a : b;
}
