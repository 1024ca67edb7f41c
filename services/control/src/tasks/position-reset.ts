import { CdcError, invalidArgument } from '@cdc/shared';
import type { ChannelRecord, StartPoint, TaskRecord } from '../domain/model.js';
import { stateLabel } from '../domain/state-machine.js';
import { validateStartPoint } from '../domain/start-point-validation.js';

export interface ChannelResetInput {
  channel: string;
  start: StartPoint;
}

/**
 * The resets of a ResetTaskPositions call, validated against the paused task: each names one of its channels and
 * carries a start point for that channel alone.
 */
export function checkResets(
  task: TaskRecord,
  resets: readonly ChannelResetInput[],
): { channel: string; start: StartPoint }[] {
  const taskId = task.taskId;
  if (task.state !== 'TASK_STATE_PAUSED')
    throw new CdcError(
      'FAILED_PRECONDITION',
      `task ${taskId} is ${stateLabel(task.state)}; ResetTaskPositions needs a paused task`,
      {
        retryable: false,
      },
    );
  if (resets.length === 0) throw invalidArgument('resets', 'needs at least one channel');
  return resets.map((r, i) => {
    if (!task.channels.includes(r.channel))
      throw invalidArgument(
        `resets[${i}].channel`,
        `"${r.channel}" is not a channel of task ${taskId}`,
      );
    const start = validateStartPoint(
      `resets[${i}].start`,
      r.start,
      task.spec.source.channel_prefix,
    );
    const position = start.positions[r.channel];
    if (start.kind === 'START_KIND_POSITIONS' && position === undefined)
      throw invalidArgument(`resets[${i}].start.positions`, `needs an entry for "${r.channel}"`);
    return {
      channel: r.channel,
      start: { ...start, positions: position === undefined ? {} : { [r.channel]: position } },
    };
  });
}

/**
 * The channel record after a reset: a new epoch fences off the current lease, and the next one starts at `start`
 * instead of the checkpoints, which are dropped.
 */
export function withPendingStart(rec: ChannelRecord, start: StartPoint): ChannelRecord {
  const next: ChannelRecord = {
    ...rec,
    epoch: (BigInt(rec.epoch) + 1n).toString(),
    pendingStart: start,
    released: true,
  };
  delete next.position;
  delete next.fanOutPositions;
  return next;
}
