import { describe, expect, it } from 'vitest';
import { isCdcError } from '@cdc/shared';
import { assertTransition, canTransition } from './state-machine.js';

describe('task state machine', () => {
  it('lets nothing leave DELETING, and says why with FAILED_PRECONDITION', () => {
    for (const to of ['TASK_STATE_RUNNING', 'TASK_STATE_PAUSED', 'TASK_STATE_FAILED'] as const)
      expect(canTransition('TASK_STATE_DELETING', to)).toBe(false);
    let thrown: unknown;
    try {
      assertTransition('t1', 'TASK_STATE_DELETING', 'TASK_STATE_PAUSED');
    } catch (err) {
      thrown = err;
    }
    expect(isCdcError(thrown) && thrown.code).toBe('FAILED_PRECONDITION');
    expect((thrown as Error).message).toBe('task t1 is deleting; cannot move to paused');
  });

  it('allows pause and resume both ways, and delete from every live state', () => {
    expect(canTransition('TASK_STATE_RUNNING', 'TASK_STATE_PAUSED')).toBe(true);
    expect(canTransition('TASK_STATE_PAUSED', 'TASK_STATE_RUNNING')).toBe(true);
    for (const from of [
      'TASK_STATE_CREATING',
      'TASK_STATE_RUNNING',
      'TASK_STATE_PAUSED',
      'TASK_STATE_FAILED',
    ] as const)
      expect(canTransition(from, 'TASK_STATE_DELETING')).toBe(true);
  });
});
