import { performance } from 'node:perf_hooks';
import { CdcError } from '@cdc/shared';
import type { WriteFence } from '../ports/write-fence.js';

/** A call must end this long before the validity does, so its cancellation reaches the target in time. */
const CALL_GUARD_MS = 250;
/** Less validity than this left (plus the guard): wait for a confirmation rather than start a call bound to fail. */
const MIN_CALL_MS = 500;

export interface LeaseValidityOptions {
  /** Write validity granted by the control service (AcquireLease `write_validity_ms`). */
  readonly validityMs: number;
  /** When the AcquireLease request was sent (`performance.now()` clock). */
  readonly grantSentAt: number;
  readonly monotonicNow?: () => number;
  readonly wallNow?: () => number;
}

/**
 * The write validity of one lease: valid until `validityMs` after sending the last request the control service
 * answered by confirming the lease. Counting from the send time (not the answer) keeps the worker's deadline before
 * the control service's, whatever the network delay. It expires on its own (a timer aborts `signal`), or is revoked
 * when the lease is known lost (stale epoch, lost job lock); either way the lease then writes nothing more.
 */
export class LeaseValidity implements WriteFence {
  private validUntil: number;
  private readonly ended = new AbortController();
  private timer: NodeJS.Timeout | undefined;
  private readonly monotonicNow: () => number;
  private readonly wallNow: () => number;

  constructor(private readonly opts: LeaseValidityOptions) {
    this.monotonicNow = opts.monotonicNow ?? (() => performance.now());
    this.wallNow = opts.wallNow ?? Date.now;
    this.validUntil = opts.grantSentAt + opts.validityMs;
    this.arm();
  }

  /** Aborts when the lease may no longer write. */
  get signal(): AbortSignal {
    return this.ended.signal;
  }

  /** Milliseconds of validity left (0 once ended). */
  remainingMs(): number {
    if (this.ended.signal.aborted) return 0;
    return Math.max(0, this.validUntil - this.monotonicNow());
  }

  /** The control service confirmed the lease in answer to a request sent at `sentAt` (`performance.now()`). */
  confirm(sentAt: number): void {
    if (this.ended.signal.aborted) return;
    this.validUntil = Math.max(this.validUntil, sentAt + this.opts.validityMs);
    this.arm();
  }

  revoke(reason: string): void {
    clearTimeout(this.timer);
    if (!this.ended.signal.aborted) this.ended.abort(new Error(reason));
  }

  stop(): void {
    clearTimeout(this.timer);
  }

  callDeadline(): number {
    if (this.ended.signal.aborted)
      throw new CdcError(
        'LEASE_LOST',
        `lease may no longer write: ${String((this.ended.signal.reason as Error | undefined)?.message)}`,
        { retryable: false },
      );
    const left = this.validUntil - this.monotonicNow() - CALL_GUARD_MS;
    if (left < MIN_CALL_MS)
      throw new CdcError(
        'UNAVAILABLE',
        'waiting for the control service to confirm the lease before writing',
        { retryable: true, details: { validityLeftMs: Math.round(left + CALL_GUARD_MS) } },
      );
    return this.wallNow() + left;
  }

  private arm(): void {
    clearTimeout(this.timer);
    const left = this.validUntil - this.monotonicNow();
    if (left <= 0) {
      this.revoke('write validity expired: the control service did not confirm the lease in time');
      return;
    }
    this.timer = setTimeout(() => {
      this.arm();
    }, left + 1);
    this.timer.unref();
  }
}
