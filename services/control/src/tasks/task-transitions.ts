import { composeTs } from '@cdc/shared';
import type { PauseOrigin, TaskRecord, TaskState } from '../domain/model.js';
import { assertTransition } from '../domain/state-machine.js';
import type { Clock } from './ports.js';

/** A state change; leaving PAUSING/PAUSED for anything else drops the pause point. */
export function withState(
  t: TaskRecord,
  state: TaskState,
  reason: string,
  pausedBy: PauseOrigin,
  now: number,
): TaskRecord {
  const next = { ...t, state, reason, pausedBy, updateTimeMs: now };
  if (state !== 'TASK_STATE_PAUSING' && state !== 'TASK_STATE_PAUSED') delete next.pause;
  return next;
}

export interface PauseRequest {
  readonly reason: string;
  readonly origin: PauseOrigin;
  readonly immediate: boolean;
  /** How far ahead of now the pause point lies (LeaseTiming.pauseLeadMs). */
  readonly pauseLeadMs: number;
}

/**
 * The record after a pause request (see TaskService.pause); undefined for "no change". A streaming task goes
 * PAUSING with a pause point, any other PAUSED at once; a PAUSING task can only have its pause made immediate.
 */
export function pausedRecord(
  t: TaskRecord,
  request: PauseRequest,
  clock: Clock,
): TaskRecord | undefined {
  const { reason, origin, immediate } = request;
  if (t.state === 'TASK_STATE_PAUSED') return undefined;
  if (t.state === 'TASK_STATE_PAUSING') {
    if (!immediate || t.pause === undefined || t.pause.immediate) return undefined;
    return { ...t, pause: { ...t.pause, immediate: true }, updateTimeMs: clock.now() };
  }
  const streaming = t.state === 'TASK_STATE_RUNNING' && t.initialSync?.copying !== true;
  if (!streaming) {
    assertTransition(t.taskId, t.state, 'TASK_STATE_PAUSED');
    return withState(t, 'TASK_STATE_PAUSED', reason, origin, clock.now());
  }
  assertTransition(t.taskId, t.state, 'TASK_STATE_PAUSING');
  // Ahead of every bound already granted to the leases (apply_until), so none can be past it yet.
  const at = clock.now() + (immediate ? 0 : request.pauseLeadMs);
  return {
    ...withState(t, 'TASK_STATE_PAUSING', reason, origin, clock.now()),
    pause: { timestamp: composeTs(at).toString(), immediate },
  };
}
