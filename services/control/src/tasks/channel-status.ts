import { tsToUnixMs } from '@cdc/shared';
import type { ChannelRecord, TaskRecord } from '../domain/model.js';
import { emptyChannelRecord } from '../domain/model.js';

export interface ChannelStatus {
  channel: string;
  record: ChannelRecord;
  lagMs: number;
  /** A live lease said it read everything the channel held and applied it. */
  caughtUp: boolean;
  /** The channel stopped at the task's pause point. */
  paused: boolean;
}

/**
 * The status of every channel of the task and of every channel with a record (a channel dropped from the task keeps
 * its record), by name. `staleReportMs`: a lease silent for longer adds its silence to the lag.
 */
export function channelStatuses(
  task: TaskRecord,
  records: ReadonlyMap<string, ChannelRecord>,
  now: number,
  staleReportMs: number,
): ChannelStatus[] {
  const names = [...new Set([...task.channels, ...records.keys()])].sort();
  return names.map((channel) => {
    const record = records.get(channel) ?? emptyChannelRecord();
    const caughtUp = record.caughtUp === true && liveReport(record, now, staleReportMs);
    return {
      channel,
      record,
      caughtUp,
      // Caught up, the checkpoint trails what is applied (it moves at time ticks): the lag is how late the last
      // changes reached the target.
      lagMs: caughtUp ? (record.applyDelayMs ?? 0) : lagMs(task, record, now, staleReportMs),
      paused: task.pause !== undefined && record.pausedAt === task.pause.timestamp,
    };
  });
}

/** A report counts while its lease still reports: a silent lease may have fallen behind since. */
function liveReport(r: ChannelRecord, now: number, staleReportMs: number): boolean {
  return (
    r.released !== true &&
    r.endRequested === undefined &&
    r.updateTimeMs > 0 &&
    now - r.updateTimeMs <= staleReportMs
  );
}

/**
 * Lag of a channel that is not caught up: how old the newest time tick whose changes are all applied (the
 * checkpoint) was when the lease last reported, or, when the lease had read everything and changes waited to be
 * applied, how old the oldest of them was (every change before it is on the target); once the lease went silent,
 * how old it is now, so the figure keeps rising while the channel is stalled and is right after a restart. A
 * channel with no checkpoint yet counts from when the task (or its position reset) started. A stopped channel of a
 * PAUSING or PAUSED task has no lag: it stands where it was asked to.
 */
function lagMs(task: TaskRecord, r: ChannelRecord, now: number, staleReportMs: number): number {
  if (task.pause !== undefined && r.pausedAt === task.pause.timestamp) return 0;
  if (task.state !== 'TASK_STATE_RUNNING' && task.state !== 'TASK_STATE_PAUSING') return 0;
  const applied = r.position === undefined ? 0n : BigInt(r.position.timestamp);
  const waiting = BigInt(r.waitingTimestamp ?? '0');
  const since =
    waiting > applied
      ? tsToUnixMs(waiting)
      : applied > 0n
        ? tsToUnixMs(applied)
        : Math.max(task.createTimeMs, r.pendingStart === undefined ? 0 : r.updateTimeMs);
  const asOf = liveReport(r, now, staleReportMs) ? r.updateTimeMs : now;
  return Math.max(0, asOf - since);
}
