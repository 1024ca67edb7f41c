import { CdcError, errorMessage, isRetryable } from '@cdc/shared';
import type { Logger } from '@cdc/shared';

/** Resolves after `ms`, or rejects with the abort reason once `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(abortError(signal));
      return;
    }
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(abortError(signal));
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

export function abortError(signal?: AbortSignal): CdcError {
  const reason: unknown = signal?.reason;
  return new CdcError(
    'LEASE_LOST',
    `lease ended: ${reason === undefined ? 'aborted' : errorMessage(reason)}`,
    {
      retryable: false,
    },
  );
}

/** gRPC DEADLINE_EXCEEDED: the call ran out of its time (the lease's write deadline, or the writer's timeout). */
export function reachedDeadline(err: unknown): boolean {
  if (!(err instanceof CdcError)) return false;
  const code = err.details['grpcCode'];
  return code === 4 || /deadline exceeded/i.test(err.message);
}

export interface RetryOptions {
  readonly signal: AbortSignal;
  readonly log: Logger;
  /** What is being retried, for logs. */
  readonly action: string;
  readonly initialDelayMs?: number;
  readonly maxDelayMs?: number;
  /** Called on each retryable failure (metrics). */
  readonly onRetry?: (err: unknown) => void;
  /** Log retries at debug instead of warn (expected waits, e.g. a channel whose topic does not exist yet). */
  readonly quiet?: boolean;
  /** A retryable failure the caller handles itself (rethrown at once instead of retried). */
  readonly handOver?: (err: unknown) => boolean;
}

/**
 * Runs `fn` until it succeeds or fails with a non-retryable error. Retryable failures (target down, rate limited,
 * network) back off exponentially with jitter and never give up on their own: a lease ends only when its signal
 * aborts (pause, delete, rebalancing, shutdown), so a long target outage delays replication but loses nothing.
 */
export async function withRetry<T>(fn: () => Promise<T>, opts: RetryOptions): Promise<T> {
  let delay = opts.initialDelayMs ?? 200;
  const maxDelay = opts.maxDelayMs ?? 15_000;
  for (let attempt = 1; ; attempt++) {
    if (opts.signal.aborted) throw abortError(opts.signal);
    try {
      return await fn();
    } catch (err) {
      if (!isRetryable(err) || opts.signal.aborted || opts.handOver?.(err) === true) throw err;
      opts.onRetry?.(err);
      const fields = { err: errorMessage(err), attempt, action: opts.action };
      if (opts.quiet) opts.log.debug(fields, 'retryable failure; backing off');
      else opts.log.warn(fields, 'retryable failure; backing off');
      await sleep(delay * (0.75 + Math.random() / 2), opts.signal);
      delay = Math.min(maxDelay, delay * 2);
    }
  }
}
