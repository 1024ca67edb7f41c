import { performance } from 'node:perf_hooks';
import { CdcError, errorMessage, wholeMessagePosition } from '@cdc/shared';
import type { Logger } from '@cdc/shared';
import type { LeaseProgress, QuarantinedMessage } from '../ports/lease-progress.js';
import type { CheckpointPosition, LeaseRef, WorkerControl } from '../ports/worker-control.js';
import { sleep, withRetry } from '../replication/retry.js';

export interface LeaseReporterOptions {
  readonly control: WorkerControl;
  readonly lease: LeaseRef;
  readonly workerId: string;
  readonly intervalMs: number;
  readonly log: Logger;
  /** Called once when the control plane ends the lease (pause, delete, rebalancing, stale epoch). */
  readonly onLeaseEnd: (reason: string) => void;
  /** The control service confirmed the lease in answer to a report sent at `sentAt` (`performance.now()`). */
  readonly onConfirmed?: (sentAt: number) => void;
  /** The lease is fenced off (stale epoch): another worker owns the channel, nothing more may be written. */
  readonly onFenced?: (reason: string) => void;
  readonly onQuarantine?: () => void;
}

/**
 * Sends the lease's checkpoint and liveness to the control plane every `intervalMs`, and relays the control plane's
 * answer: `keep_lease=false` or a stale epoch (LEASE_LOST) end the lease. Checkpoints are recorded by the replicator
 * only after the target acknowledged them, so whatever is reported here is safe to resume after.
 */
export class LeaseReporter implements LeaseProgress {
  private position: CheckpointPosition | undefined;
  private reportedPosition: typeof this.position;
  private readonly fanOut = new Map<string, CheckpointPosition>();
  private readonly reportedFanOut = new Map<string, CheckpointPosition>();
  private head = 0n;
  private watermark = 0n;
  private rows = 0;
  private bytes = 0;
  private ended = false;
  private loop: Promise<void> | undefined;
  private readonly stopper = new AbortController();

  constructor(private readonly opts: LeaseReporterOptions) {}

  get appliedRows(): number {
    return this.rows;
  }

  get replicateWatermark(): bigint {
    return this.watermark;
  }

  get lastPosition(): CheckpointPosition | undefined {
    return this.position;
  }

  checkpoint(msgId: Uint8Array, timestamp: bigint): void {
    const ts = timestamp > 0n ? timestamp : (this.position?.timestamp ?? 0n);
    this.position = wholeMessagePosition(msgId, ts);
  }

  /** Progress of a fan-out target: its checkpoints are reported beside the main target's, keyed by its URI. */
  forFanOutTarget(uri: string): LeaseProgress {
    const watermark = (): bigint => this.watermark;
    return {
      checkpoint: (msgId, timestamp) => {
        this.fanOut.set(uri, wholeMessagePosition(msgId, timestamp));
      },
      observeHead: (timestamp) => {
        this.observeHead(timestamp);
      },
      addApplied: (rows, bytes) => {
        this.addApplied(rows, bytes);
      },
      quarantine: (entry) =>
        this.quarantine({ ...entry, reason: `target ${uri}: ${entry.reason}` }),
      get replicateWatermark() {
        return watermark();
      },
    };
  }

  observeHead(timestamp: bigint): void {
    if (timestamp > this.head) this.head = timestamp;
  }

  addApplied(rows: number, bytes: number): void {
    this.rows += rows;
    this.bytes += bytes;
  }

  async quarantine(entry: QuarantinedMessage): Promise<void> {
    this.opts.onQuarantine?.();
    this.opts.log.warn({ reason: entry.reason }, 'message quarantined');
    await withRetry(() => this.opts.control.reportQuarantine(this.opts.lease, entry), {
      signal: this.stopper.signal,
      log: this.opts.log,
      action: 'reporting quarantine',
    });
  }

  start(): void {
    this.loop ??= this.run();
  }

  private end(reason: string): void {
    if (this.ended) return;
    this.ended = true;
    this.opts.onLeaseEnd(reason);
  }

  private async run(): Promise<void> {
    const signal = this.stopper.signal;
    while (!signal.aborted) {
      try {
        await this.reportOnce();
      } catch (err) {
        if (err instanceof CdcError && err.code === 'LEASE_LOST') {
          this.opts.onFenced?.(errorMessage(err));
          this.end(errorMessage(err));
        } else {
          this.opts.log.warn({ err: errorMessage(err) }, 'checkpoint report failed; will retry');
        }
      }
      try {
        await sleep(this.opts.intervalMs, signal);
      } catch {
        return;
      }
    }
  }

  /** One report; exposed for the final report at the end of a lease. */
  async reportOnce(): Promise<void> {
    const position = this.position !== this.reportedPosition ? this.position : undefined;
    const fanOut = this.unreportedFanOut();
    const sentAt = performance.now();
    const res = await this.opts.control.reportCheckpoint(
      {
        ...this.opts.lease,
        workerId: this.opts.workerId,
        ...(position ? { position } : {}),
        ...(fanOut.size > 0 ? { fanOutPositions: fanOut } : {}),
        sourceHeadTimestamp: this.head,
        appliedRows: this.rows,
        appliedBytes: this.bytes,
      },
      // A report that hangs must not keep the next one from confirming the lease in time.
      { deadlineMs: Math.max(1_000, this.opts.intervalMs * 2) },
    );
    if (res.keepLease) this.opts.onConfirmed?.(sentAt);
    if (position) this.reportedPosition = position;
    for (const [uri, p] of fanOut) this.reportedFanOut.set(uri, p);
    if (res.replicateWatermark > this.watermark) this.watermark = res.replicateWatermark;
    if (!res.keepLease) this.end(res.reason || 'lease ended by the control plane');
  }

  private unreportedFanOut(): Map<string, CheckpointPosition> {
    const out = new Map<string, CheckpointPosition>();
    for (const [uri, p] of this.fanOut) if (this.reportedFanOut.get(uri) !== p) out.set(uri, p);
    return out;
  }

  /** Stops the periodic reports and sends the last checkpoint (best effort: a stale epoch is simply dropped). */
  async stop(): Promise<void> {
    this.stopper.abort();
    await this.loop;
    if (this.position !== this.reportedPosition || this.unreportedFanOut().size > 0) {
      try {
        await this.reportOnce();
      } catch (err) {
        this.opts.log.warn({ err: errorMessage(err) }, 'final checkpoint report failed');
      }
    }
  }
}
