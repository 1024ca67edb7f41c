import { CdcError } from '@cdc/shared';
import type { TaskState } from './model.js';

/**
 * Task lifecycle:
 *   CREATING → RUNNING | PAUSED (start_paused) | FAILED | DELETING
 *   RUNNING  → PAUSING | PAUSED (nothing streams yet: copying initial data) | FAILED | DELETING
 *   PAUSING  → PAUSED (every channel stopped at the pause point) | RUNNING (resumed first) | DELETING
 *   PAUSED   → RUNNING | DELETING
 *   FAILED   → RUNNING (resume retries) | PAUSED | DELETING
 *   DELETING → (removed)
 */
const ALLOWED: Readonly<Record<TaskState, readonly TaskState[]>> = {
  TASK_STATE_CREATING: [
    'TASK_STATE_RUNNING',
    'TASK_STATE_PAUSED',
    'TASK_STATE_FAILED',
    'TASK_STATE_DELETING',
  ],
  TASK_STATE_RUNNING: [
    'TASK_STATE_PAUSING',
    'TASK_STATE_PAUSED',
    'TASK_STATE_FAILED',
    'TASK_STATE_DELETING',
  ],
  TASK_STATE_PAUSING: ['TASK_STATE_PAUSED', 'TASK_STATE_RUNNING', 'TASK_STATE_DELETING'],
  TASK_STATE_PAUSED: ['TASK_STATE_RUNNING', 'TASK_STATE_DELETING'],
  TASK_STATE_FAILED: ['TASK_STATE_RUNNING', 'TASK_STATE_PAUSED', 'TASK_STATE_DELETING'],
  TASK_STATE_DELETING: [],
};

export function canTransition(from: TaskState, to: TaskState): boolean {
  return ALLOWED[from].includes(to);
}

export function stateLabel(state: TaskState): string {
  return state.replace('TASK_STATE_', '').toLowerCase();
}

/** Throws FAILED_PRECONDITION naming both states when the transition is not allowed. */
export function assertTransition(taskId: string, from: TaskState, to: TaskState): void {
  if (!canTransition(from, to))
    throw new CdcError(
      'FAILED_PRECONDITION',
      `task ${taskId} is ${stateLabel(from)}; cannot move to ${stateLabel(to)}`,
      {
        retryable: false,
        details: { taskId, from, to },
      },
    );
}
