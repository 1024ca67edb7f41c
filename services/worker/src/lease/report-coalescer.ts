import { CdcError } from '@cdc/shared';
import type {
  CheckpointAnswer,
  ReportCheckpointInput,
  ReportOptions,
} from '../ports/worker-control.js';

/** How the coalescer reaches the control service. */
export interface ReportSender {
  /**
   * One call carrying several leases' reports: one result per report, in order (an error refuses only its report);
   * undefined when the control service does not know the call (an older version).
   */
  sendBatch(
    inputs: readonly ReportCheckpointInput[],
    deadlineMs: number,
  ): Promise<readonly (CheckpointAnswer | CdcError)[] | undefined>;
  sendOne(
    input: ReportCheckpointInput,
    opts: { readonly deadlineMs?: number },
  ): Promise<CheckpointAnswer>;
}

export interface ReportCoalescerOptions {
  /** How long the first report of a batch waits for others. */
  readonly lingerMs: number;
  /** A batch this large goes at once. */
  readonly maxReports: number;
  /** Deadline of a report that names none. */
  readonly defaultDeadlineMs: number;
  readonly now?: () => number;
}

interface Pending {
  readonly input: ReportCheckpointInput;
  readonly deadlineAt: number;
  resolve(answer: CheckpointAnswer): void;
  reject(err: unknown): void;
}

/**
 * Sends the checkpoint reports of all the worker's leases together: a report waits up to `lingerMs` for others, then
 * one call carries them all. Each lease reports again an interval after it handed its report over, so leases whose
 * reports went together (handed over within one linger) report together again: after a few rounds a worker makes a
 * handful of calls per interval instead of one per lease. A lease counts its write validity from when it handed its
 * report over (before the wait), so waiting only shortens it. Against an older control service (no batch call) every
 * report goes alone.
 */
export class ReportCoalescer {
  private pending: Pending[] = [];
  private timer: NodeJS.Timeout | undefined;
  /** When the timer fires: the soonest any waiting report asked to go. */
  private flushAt = Number.POSITIVE_INFINITY;
  private batchUnsupported = false;
  private readonly now: () => number;

  constructor(
    private readonly sender: ReportSender,
    private readonly opts: ReportCoalescerOptions,
  ) {
    this.now = opts.now ?? Date.now;
  }

  /** Queues a report; an urgent one goes at once, with whatever else waits. */
  report(input: ReportCheckpointInput, opts: ReportOptions = {}): Promise<CheckpointAnswer> {
    if (this.batchUnsupported) return this.sender.sendOne(input, opts);
    return new Promise<CheckpointAnswer>((resolve, reject) => {
      const deadlineAt = this.now() + (opts.deadlineMs ?? this.opts.defaultDeadlineMs);
      this.pending.push({ input, deadlineAt, resolve, reject });
      if (opts.urgent === true || this.pending.length >= this.opts.maxReports) this.flush();
      else
        this.flushBy(
          this.now() + Math.min(opts.lingerMs ?? this.opts.lingerMs, this.opts.lingerMs),
        );
    });
  }

  private flushBy(at: number): void {
    if (this.timer !== undefined && this.flushAt <= at) return;
    clearTimeout(this.timer);
    this.flushAt = at;
    this.timer = setTimeout(
      () => {
        this.flush();
      },
      Math.max(0, at - this.now()),
    );
  }

  /** Sends what waits now (e.g. before the client closes). */
  flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.flushAt = Number.POSITIVE_INFINITY;
    const batch = this.pending;
    this.pending = [];
    if (batch.length > 0) void this.send(batch);
  }

  private async send(batch: readonly Pending[]): Promise<void> {
    // The earliest deadline of the batch bounds the call: no report waits longer than it asked.
    const deadlineMs = Math.max(1, Math.min(...batch.map((p) => p.deadlineAt)) - this.now());
    let results: readonly (CheckpointAnswer | CdcError)[] | undefined;
    try {
      results = await this.sender.sendBatch(
        batch.map((p) => p.input),
        deadlineMs,
      );
    } catch (err) {
      for (const p of batch) p.reject(err);
      return;
    }
    if (results === undefined) {
      this.batchUnsupported = true;
      for (const p of batch)
        this.sender.sendOne(p.input, { deadlineMs: p.deadlineAt - this.now() }).then(
          (answer) => {
            p.resolve(answer);
          },
          (err: unknown) => {
            p.reject(err);
          },
        );
      return;
    }
    batch.forEach((p, i) => {
      const result = results[i];
      if (result === undefined)
        p.reject(
          new CdcError('INTERNAL', 'ReportCheckpoints: no result for a report', {
            retryable: true,
          }),
        );
      else if (result instanceof CdcError) p.reject(result);
      else p.resolve(result);
    });
  }
}
