/**
 * The one error type of the project. `retryable` is decided where the error is created, so callers ask
 * `isRetryable(err)` and never parse message text. The control service maps `code` to a gRPC status in one place.
 */
export const ERROR_CODES = [
  'INVALID_ARGUMENT',
  'NOT_FOUND',
  'ALREADY_EXISTS',
  'FAILED_PRECONDITION',
  'CONFLICT',
  /** The caller's lease (or snapshot) epoch is no longer current: another worker owns the work. Stop at once. */
  'LEASE_LOST',
  /** AcquireLease: the channel's previous holder may still be writing; keep the job and ask again shortly. */
  'LEASE_HELD',
  'UNAUTHENTICATED',
  'PERMISSION_DENIED',
  'SOURCE_UNAVAILABLE',
  'SINK_UNAVAILABLE',
  'SINK_REJECTED',
  'SCHEMA_MISMATCH',
  'DECODE_FAILED',
  'UNAVAILABLE',
  /** A per-caller limit is reached (e.g. concurrent WatchTask streams). */
  'RESOURCE_EXHAUSTED',
  'INTERNAL',
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

export function isErrorCode(value: string): value is ErrorCode {
  return (ERROR_CODES as readonly string[]).includes(value);
}

export interface CdcErrorOptions {
  readonly retryable: boolean;
  readonly cause?: unknown;
  readonly details?: Readonly<Record<string, unknown>>;
}

export class CdcError extends Error {
  override readonly name = 'CdcError';
  readonly retryable: boolean;
  readonly details: Readonly<Record<string, unknown>>;

  constructor(
    readonly code: ErrorCode,
    message: string,
    opts: CdcErrorOptions = { retryable: false },
  ) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.retryable = opts.retryable;
    this.details = opts.details ?? {};
  }
}

export function isCdcError(err: unknown): err is CdcError {
  return err instanceof CdcError;
}

export function isRetryable(err: unknown): boolean {
  return isCdcError(err) && err.retryable;
}

export function invalidArgument(field: string, problem: string): CdcError {
  return new CdcError('INVALID_ARGUMENT', `${field}: ${problem}`, {
    retryable: false,
    details: { field },
  });
}

/** Message of any thrown value, for logs and status reasons. */
export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}
