import { CdcError, errorMessage, type Logger } from '@cdc/shared';
import type { WorkerControl } from '../ports/worker-control.js';
import { sleep } from '../replication/retry.js';

export interface ControlHeartbeatOptions {
  readonly control: Pick<WorkerControl, 'heartbeat'>;
  readonly workerId: string;
  readonly log: Logger;
  /** Between accepted heartbeats, and the first retry delay. */
  readonly intervalMs: number;
  /** Retry delays double up to this. */
  readonly maxBackoffMs: number;
  /**
   * The control service answered again (true) or stopped answering (false), after it first accepted this worker. A
   * worker that cannot reach it cannot acquire a lease either: it gives lease jobs back at once meanwhile, for workers
   * that can (each attempt would hold a job for a call deadline).
   */
  readonly onReachable?: (reachable: boolean) => void;
  /** The control service asks the idle leases of these tasks to report now (HeartbeatResponse). */
  readonly onReportNow?: (taskIds: readonly string[]) => void;
}

const refused = (err: unknown): boolean =>
  err instanceof CdcError && (err.code === 'UNAUTHENTICATED' || err.code === 'PERMISSION_DENIED');

/**
 * Tells the control service this worker is alive (idle workers count for rebalancing) and is the worker's check of
 * its credential: `accepted` resolves on the first heartbeat the control service takes, and main.ts takes leases only
 * after that. A refused credential is logged as an error on every attempt (the reason names no token), retried with
 * exponential backoff: a misconfigured worker waits visibly instead of crash-looping or failing lease jobs.
 */
export class ControlHeartbeat {
  private readonly stopping = new AbortController();
  private accept: () => void = () => undefined;
  readonly accepted = new Promise<void>((resolve) => {
    this.accept = resolve;
  });

  constructor(private readonly opts: ControlHeartbeatOptions) {}

  start(): void {
    void this.loop();
  }

  stop(): void {
    this.stopping.abort(new Error('worker shutting down'));
  }

  private async loop(): Promise<void> {
    const { control, workerId, log, intervalMs, maxBackoffMs } = this.opts;
    let failures = 0;
    let state: 'ok' | 'refused' | 'unreachable' | 'starting' = 'starting';
    let acceptedOnce = false;
    while (!this.stopping.signal.aborted) {
      let delay = intervalMs;
      try {
        const reportNow = await control.heartbeat(workerId);
        if (reportNow.length > 0) this.opts.onReportNow?.(reportNow);
        if (state !== 'ok') {
          log.info({ after: state }, 'control service accepted this worker; taking leases');
          if (acceptedOnce) this.opts.onReachable?.(true);
        }
        state = 'ok';
        acceptedOnce = true;
        failures = 0;
        this.accept();
      } catch (err) {
        failures++;
        delay = Math.min(intervalMs * 2 ** (failures - 1), maxBackoffMs);
        const reason = errorMessage(err);
        if (state === 'ok') this.opts.onReachable?.(false);
        if (refused(err)) {
          state = 'refused';
          log.error(
            { reason, retryInMs: delay },
            "control service refused this worker's credential: WORKER_CONTROL_TOKEN must be one of the control's CONTROL_WORKER_TOKENS; no leases are taken until it is accepted",
          );
        } else if (state !== 'unreachable') {
          state = 'unreachable';
          log.warn(
            { reason, retryInMs: delay },
            'control service unreachable; giving lease jobs back until it answers',
          );
        }
      }
      await sleep(delay, this.stopping.signal).catch(() => undefined);
    }
  }
}
