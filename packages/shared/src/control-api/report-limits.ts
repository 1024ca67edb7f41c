/**
 * Limits of what a worker reports and the control service stores (WorkerService): a report beyond them is refused
 * with INVALID_ARGUMENT, so workers cut their text to them first.
 */

/** Quarantine and failure reasons, snapshot errors: a sentence or an error message, not a payload. */
export const MAX_WORKER_REASON_CHARS = 4096;

/** Checkpoint reports in one ReportCheckpoints call (a worker's leases; WORKER_CONCURRENCY is 256 by default). */
export const MAX_BATCHED_REPORTS = 1024;

/** `text` cut to `max` characters, marked with "…" when cut. */
export function cutText(text: string, max = MAX_WORKER_REASON_CHARS): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}
