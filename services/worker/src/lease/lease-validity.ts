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
  /** A write waits for a confirmation (the validity lapsed): ask the control service for one now. */
  readonly onConfirmationNeeded?: () => void;
  readonly monotonicNow?: () => number;
  readonly wallNow?: () => number;
}

/**
 * The write validity of one lease: valid until `validityMs` after sending the last request the control service
 * answered by confirming the lease. Counting from the send time (not the answer) keeps the worker's deadline before
 * the control service's, whatever the network delay. It is revoked when the lease is known lost (stale epoch, lost
 * job lock); the lease then writes nothing more (`signal` aborts).
 *
 * When it runs out, a quiet lease (idle, its last report answered: `setQuiet`) only lapses: it writes nothing until a
 * confirmation renews it, which the control service gives while nobody took the channel over. Any other lease, or a
 * lapsed one that wants to write (a write waits in `ready`, or it stops being quiet) and is not confirmed within
 * `validityMs`, is revoked as before: a worker cut off from the control service gives its channels up.
 */
export class LeaseValidity implements WriteFence {
  private validUntil: number;
  private readonly ended = new AbortController();
  private timer: NodeJS.Timeout | undefined;
  private quiet = false;
  private lapsed = false;
  /** Revokes a lapsed lease that needs a confirmation and did not get one in time. */
  private lapseDeadline: NodeJS.Timeout | undefined;
  private readonly waiters = new Set<() => void>();
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

  /** The validity ran out on a quiet lease, and no confirmation renewed it yet. */
  get isLapsed(): boolean {
    return this.lapsed;
  }

  /** Milliseconds of validity left (0 once ended or lapsed). */
  remainingMs(): number {
    if (this.ended.signal.aborted) return 0;
    return Math.max(0, this.validUntil - this.monotonicNow());
  }

  /** The control service confirmed the lease in answer to a request sent at `sentAt` (`performance.now()`). */
  confirm(sentAt: number): void {
    if (this.ended.signal.aborted) return;
    this.validUntil = Math.max(this.validUntil, sentAt + this.opts.validityMs);
    if (this.validUntil <= this.monotonicNow()) return; // an answer too late to renew anything
    if (this.lapsed) {
      this.lapsed = false;
      clearTimeout(this.lapseDeadline);
      this.lapseDeadline = undefined;
    }
    this.arm();
    this.wakeWaiters();
  }

  /**
   * Whether the lease may let its validity lapse instead of ending: idle, with its last report answered. A lapsed lease
   * that stops being quiet needs a confirmation, and asks for it.
   */
  setQuiet(quiet: boolean): void {
    this.quiet = quiet;
    if (!quiet && this.lapsed) this.needConfirmation();
  }

  /**
   * Resolves at once unless the validity lapsed, else once a confirmation renews it; rejects once the lease may no
   * longer write. (A confirmed lease with little validity left is `callDeadline`'s to refuse, as before.)
   */
  async ready(signal: AbortSignal): Promise<void> {
    for (;;) {
      if (this.ended.signal.aborted) throw this.lostError();
      if (!this.lapsed) return;
      if (signal.aborted) throw new CdcError('LEASE_LOST', 'lease ended', { retryable: false });
      this.needConfirmation();
      await new Promise<void>((resolve) => {
        const done = (): void => {
          this.waiters.delete(done);
          signal.removeEventListener('abort', done);
          this.ended.signal.removeEventListener('abort', done);
          resolve();
        };
        this.waiters.add(done);
        signal.addEventListener('abort', done, { once: true });
        this.ended.signal.addEventListener('abort', done, { once: true });
      });
    }
  }

  revoke(reason: string): void {
    clearTimeout(this.timer);
    clearTimeout(this.lapseDeadline);
    if (!this.ended.signal.aborted) this.ended.abort(new Error(reason));
  }

  stop(): void {
    clearTimeout(this.timer);
    clearTimeout(this.lapseDeadline);
    this.wakeWaiters();
  }

  callDeadline(): number {
    if (this.ended.signal.aborted) throw this.lostError();
    const left = this.validUntil - this.monotonicNow() - CALL_GUARD_MS;
    if (left < MIN_CALL_MS) {
      if (this.lapsed) this.needConfirmation();
      throw new CdcError(
        'UNAVAILABLE',
        'waiting for the control service to confirm the lease before writing',
        { retryable: true, details: { validityLeftMs: Math.round(left + CALL_GUARD_MS) } },
      );
    }
    return this.wallNow() + left;
  }

  private lostError(): CdcError {
    return new CdcError(
      'LEASE_LOST',
      `lease may no longer write: ${String((this.ended.signal.reason as Error | undefined)?.message)}`,
      { retryable: false },
    );
  }

  /** A lapsed lease wants to write: ask for a confirmation, and give the lease up if none comes in time. */
  private needConfirmation(): void {
    this.lapseDeadline ??= setTimeout(() => {
      this.revoke('write validity expired: the control service did not confirm the lease in time');
    }, this.opts.validityMs);
    this.lapseDeadline.unref();
    this.opts.onConfirmationNeeded?.();
  }

  private wakeWaiters(): void {
    for (const wake of [...this.waiters]) wake();
  }

  private arm(): void {
    clearTimeout(this.timer);
    const left = this.validUntil - this.monotonicNow();
    if (left <= 0) {
      if (!this.quiet) {
        this.revoke(
          'write validity expired: the control service did not confirm the lease in time',
        );
        return;
      }
      this.lapsed = true;
      this.wakeWaiters(); // a write waiting for the confirmation asks for it now
      return;
    }
    this.timer = setTimeout(() => {
      this.arm();
    }, left + 1);
    this.timer.unref();
  }
}
