import type { Logger } from '@cdc/shared';
import { withRetry } from './retry.js';

/** A step of a channel retried while it fails retryably (see withRetry); `action` names it in the logs. */
export type RetryStep = <T>(
  action: string,
  fn: () => Promise<T>,
  signal: AbortSignal,
) => Promise<T>;

export function retryStep(log: Logger, onRetry?: (err: unknown) => void): RetryStep {
  return (action, fn, signal) =>
    withRetry(fn, { signal, log, action, ...(onRetry ? { onRetry } : {}) });
}
