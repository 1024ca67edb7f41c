import { setMaxListeners } from 'node:events';
import { Worker } from 'bullmq';
import type { Job } from 'bullmq';
import type { Redis } from 'ioredis';
import { LEASE_QUEUE_NAME, errorMessage } from '@cdc/shared';
import type { LeaseJobData, Logger } from '@cdc/shared';

/** Runs one job for as long as it lasts (a channel lease, or a snapshot copy); ends early when `signal` aborts. */
export interface JobRunner<T> {
  run(job: T, signal: AbortSignal): Promise<string>;
}

export interface LeaseWorkerOptions {
  /** Queue to take jobs from; default the lease queue. */
  readonly queueName?: string;
  readonly connection: Redis;
  readonly prefix: string;
  readonly concurrency: number;
  readonly lockDurationMs: number;
  readonly stalledIntervalMs: number;
  readonly log: Logger;
}

/** A job whose lock was not renewed for this share of the lock duration may have been handed on: end it. */
const LOCK_DOUBT_SHARE = 0.8;

/**
 * Takes lease jobs from BullMQ. One job = one (task, channel) lease; the processor runs for the life of the lease and
 * BullMQ renews the job lock meanwhile. If this process dies, the lock expires and BullMQ's stalled-job check hands the
 * job to another worker, which acquires a new epoch from the control plane. Snapshot jobs (initial sync) run the same
 * way from their own queue.
 *
 * A job whose lock is lost (renewal refused) or can no longer be confirmed (Redis unreachable for most of the lock
 * duration) is ended at once: another worker may hold it already.
 */
export class LeaseWorker<T = LeaseJobData> {
  private readonly worker: Worker<T>;
  private readonly stopping = new AbortController();
  private closing: Promise<void> | undefined;
  /** Active job id → when its lock was last known held (ms). */
  private readonly lockHeld = new Map<string, number>();
  private readonly lockWatch: NodeJS.Timeout;

  constructor(
    private readonly runner: JobRunner<T>,
    private readonly opts: LeaseWorkerOptions,
  ) {
    // Every held lease listens on the shutdown signal; dozens per process are normal.
    setMaxListeners(0, this.stopping.signal);
    this.worker = new Worker<T>(
      opts.queueName ?? LEASE_QUEUE_NAME,
      (job, _token, signal) => this.process(job, signal),
      {
        connection: opts.connection,
        prefix: opts.prefix,
        concurrency: opts.concurrency,
        lockDuration: opts.lockDurationMs,
        stalledInterval: opts.stalledIntervalMs,
        // A stalled lease job is a crashed worker, not a poison job: hand it over however often that happens.
        maxStalledCount: Number.MAX_SAFE_INTEGER,
        autorun: false,
      },
    );
    this.worker.on('error', (err) => {
      opts.log.warn({ err: errorMessage(err) }, 'bullmq worker error');
    });
    this.worker.on('lockRenewalFailed', (jobIds) => {
      for (const id of jobIds) this.endJob(id, 'job lock lost: another worker may hold the lease');
    });
    this.worker.on('locksRenewed', ({ jobIds }) => {
      const now = Date.now();
      for (const id of jobIds) if (this.lockHeld.has(id)) this.lockHeld.set(id, now);
    });
    this.lockWatch = setInterval(() => {
      const doubtAfter = Date.now() - opts.lockDurationMs * LOCK_DOUBT_SHARE;
      for (const [id, at] of this.lockHeld)
        if (at < doubtAfter) this.endJob(id, 'job lock not confirmed: Redis unreachable');
    }, 500);
    this.lockWatch.unref();
  }

  private endJob(id: string, reason: string): void {
    if (!this.lockHeld.delete(id)) return;
    this.opts.log.warn({ jobId: id, reason }, 'ending job');
    this.worker.cancelJob(id, reason);
  }

  start(): void {
    void this.worker.run().catch((err: unknown) => {
      this.opts.log.error({ err: errorMessage(err) }, 'bullmq worker stopped');
    });
  }

  private async process(job: Job<T>, lockLost: AbortSignal | undefined): Promise<string> {
    const id = job.id ?? '';
    this.lockHeld.set(id, Date.now());
    try {
      const signal =
        lockLost === undefined
          ? this.stopping.signal
          : AbortSignal.any([this.stopping.signal, lockLost]);
      return await this.runner.run(job.data, signal);
    } finally {
      this.lockHeld.delete(id);
    }
  }

  /**
   * Soft stop: take no new lease, end every held lease (each finishes or abandons its batch, reports its last
   * checkpoint and releases), then close. Idempotent.
   */
  close(): Promise<void> {
    this.closing ??= (async () => {
      clearInterval(this.lockWatch);
      const done = this.worker.close();
      this.stopping.abort(new Error('worker shutting down'));
      await done;
    })();
    return this.closing;
  }
}
