import { performance } from 'node:perf_hooks';
import { CdcError } from '@cdc/shared';
import type { LeaseJobData, Logger } from '@cdc/shared';
import type { LeaseGrant, WorkerControl } from '../ports/worker-control.js';
import { sleep } from '../replication/retry.js';

/**
 * How often to ask again for a channel whose previous holder may still be writing, when the control service does not
 * say when it can move (older versions). Otherwise the worker asks again right then, bounded against a wrong clock.
 */
const HELD_RETRY_MS = 1_000;
const HELD_RETRY_MAX_MS = 10_000;
/** Asking a little late, so the answering replica's clock has passed the handover too. */
const HELD_RETRY_SLACK_MS = 20;

/**
 * Takes a new epoch for the job's channel; undefined when the control service refuses the lease (task not running,
 * channel gone) or the worker shuts down. While the previous holder may still be writing (LEASE_HELD), holds the job
 * and asks again when the control service said the channel can move. `sentAt` is when the granted request was sent.
 */
export async function acquireLease(
  deps: {
    readonly control: WorkerControl;
    readonly workerId: string;
    readonly log: Logger;
    readonly controlReachable?: () => boolean;
  },
  job: LeaseJobData,
  shutdown: AbortSignal,
): Promise<{ grant: LeaseGrant; sentAt: number } | undefined> {
  const { control, workerId, log } = deps;
  if (deps.controlReachable?.() === false) {
    // The job goes back at once (after the same pause as a failed call) for a worker that can reach the control
    // service, instead of waiting out a call deadline here.
    await sleep(1_000, shutdown).catch(() => undefined);
    throw new CdcError('UNAVAILABLE', 'control service unreachable: lease job given back', {
      retryable: true,
    });
  }
  for (;;) {
    const sentAt = performance.now();
    try {
      return { grant: await control.acquireLease(job.taskId, job.channel, workerId), sentAt };
    } catch (err) {
      if (
        err instanceof CdcError &&
        (err.code === 'FAILED_PRECONDITION' || err.code === 'NOT_FOUND')
      ) {
        log.info({ ...job, reason: err.message }, 'lease refused');
        return undefined;
      }
      if (err instanceof CdcError && err.code === 'LEASE_HELD' && !shutdown.aborted) {
        log.debug({ ...job, reason: err.message }, 'channel still held; asking again');
        await sleep(heldRetryMs(err), shutdown).catch(() => undefined);
        if (shutdown.aborted) return undefined;
        continue;
      }
      await sleep(1_000, shutdown).catch(() => undefined); // no hot loop while the control plane is unreachable
      throw err;
    }
  }
}

/** When to ask again after LEASE_HELD: the control service's `retryAfterMs` when it gave one. */
export function heldRetryMs(err: CdcError): number {
  const after = err.details['retryAfterMs'];
  if (typeof after !== 'number' || !Number.isFinite(after)) return HELD_RETRY_MS;
  return Math.min(HELD_RETRY_MAX_MS, Math.max(0, after) + HELD_RETRY_SLACK_MS);
}
