/**
 * The worker's read-ahead budget: records read from the MQ and not yet taken by a replicator, in bytes, over every
 * channel the worker reads, and the JS heap in use. Past either bound, a reader that still has records queued fetches
 * no more until it drained them; a reader with an empty queue always may, so no channel starves. Per-channel queues
 * keep their own bound (RecordQueue).
 */
import { getHeapStatistics } from 'node:v8';

export interface ReadBudgetLimits {
  /** Bytes queued over all channels (WORKER_READ_AHEAD_BYTES). */
  readonly maxQueuedBytes: number;
  /** JS heap in use past which readers with records queued wait (WORKER_HEAP_BUDGET_MB). 0: no heap bound. */
  readonly maxHeapBytes: number;
}

const HEAP_SAMPLE_MS = 100;

export class ReadBudget {
  private queued = 0;
  private heapAt = 0;
  private heap = 0;

  constructor(
    private limits: ReadBudgetLimits,
    private readonly heapUsed: () => number = () => getHeapStatistics().used_heap_size,
    private readonly now: () => number = Date.now,
  ) {}

  configure(limits: ReadBudgetLimits): void {
    this.limits = limits;
  }

  get queuedBytes(): number {
    return this.queued;
  }

  add(bytes: number): void {
    this.queued += bytes;
  }

  release(bytes: number): void {
    this.queued = Math.max(0, this.queued - bytes);
  }

  /** Whether a reader holding `queuedRecords` records may fetch more now. */
  allows(queuedRecords: number): boolean {
    if (queuedRecords === 0) return true;
    if (this.queued >= this.limits.maxQueuedBytes) return false;
    if (this.limits.maxHeapBytes <= 0) return true;
    const t = this.now();
    if (t - this.heapAt >= HEAP_SAMPLE_MS) {
      this.heap = this.heapUsed();
      this.heapAt = t;
    }
    return this.heap < this.limits.maxHeapBytes;
  }
}

/** Defaults: 256 MiB queued in all, no heap bound (main.ts sets both from the configuration). */
export const workerReadBudget = new ReadBudget({
  maxQueuedBytes: 256 * 1024 * 1024,
  maxHeapBytes: 0,
});
