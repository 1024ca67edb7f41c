import { AsyncLocalStorage } from 'node:async_hooks';

/**
 * A lease's right to write to the target, as the adapters that write see it (guarantee 1: one owner per channel, also
 * for writes). The target cannot check lease epochs, so a worker must stop writing on its own before the control
 * service may hand the channel to another worker.
 */
export interface WriteFence {
  /**
   * The latest moment (ms since the epoch, `Date.now()` clock) a target call issued now may still run: the caller
   * gives the call that deadline, or an earlier one. Throws `LEASE_LOST` once the lease may no longer write, and a
   * retryable error while too little validity is left for a call (until the control service confirms the lease).
   */
  callDeadline(): number;
  /**
   * Resolves once a call may start: at once while the lease is confirmed, else when a confirmation comes (a quiet
   * lease lets its validity lapse between reports). Rejects once the lease may no longer write. Writers call it before
   * a batch of calls, so they wait for the confirmation instead of failing and backing off.
   */
  ready?(signal: AbortSignal): Promise<void>;
}

/**
 * The fence of the lease whose work is running. Leases share target connections (one per task and target in a
 * process), so the fence travels with the lease's async work, not with the connection: the target adapters read it
 * when a call is actually issued. Outside a lease (tests, tools) there is none and nothing is fenced.
 */
export const writeFences = new AsyncLocalStorage<WriteFence>();
