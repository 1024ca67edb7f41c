import { CdcError } from '@cdc/shared';
import { staleEpochError } from './compare-and-set.js';

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
