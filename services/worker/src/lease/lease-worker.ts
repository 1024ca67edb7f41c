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

/**
 * Takes lease jobs from BullMQ. One job = one (task, channel) lease; the processor runs for the life of the lease and
 * BullMQ renews the job lock meanwhile. If this process dies, the lock expires and BullMQ's stalled-job check hands the
 * job to another worker, which acquires a new epoch from the control plane. Snapshot jobs (initial sync) run the same
 * way from their own queue.
 */
export class LeaseWorker<T = LeaseJobData> {
  private readonly worker: Worker<T>;
  private readonly stopping = new AbortController();
  private closing: Promise<void> | undefined;

  constructor(
    private readonly runner: JobRunner<T>,
    private readonly opts: LeaseWorkerOptions,
  ) {
    // Every held lease listens on the shutdown signal; dozens per process are normal.
    setMaxListeners(0, this.stopping.signal);
    this.worker = new Worker<T>(opts.queueName ?? LEASE_QUEUE_NAME, (job) => this.process(job), {
      connection: opts.connection,
      prefix: opts.prefix,
      concurrency: opts.concurrency,
      lockDuration: opts.lockDurationMs,
      stalledInterval: opts.stalledIntervalMs,
      // A stalled lease job is a crashed worker, not a poison job: hand it over however often that happens.
      maxStalledCount: Number.MAX_SAFE_INTEGER,
      autorun: false,
    });
    this.worker.on('error', (err) => {
      opts.log.warn({ err: errorMessage(err) }, 'bullmq worker error');
    });
  }

  start(): void {
    void this.worker.run().catch((err: unknown) => {
      this.opts.log.error({ err: errorMessage(err) }, 'bullmq worker stopped');
    });
  }

  get activeLeases(): number {
    return (this.worker as unknown as { running?: number }).running ?? 0;
  }

  private async process(job: Job<T>): Promise<string> {
    return this.runner.run(job.data, this.stopping.signal);
  }

  /**
   * Soft stop: take no new lease, end every held lease (each finishes or abandons its batch, reports its last
   * checkpoint and releases), then close. Idempotent.
   */
  close(): Promise<void> {
    this.closing ??= (async () => {
      const done = this.worker.close();
      this.stopping.abort(new Error('worker shutting down'));
      await done;
    })();
    return this.closing;
  }
}
