import { status } from '@grpc/grpc-js';

/**
 * A failure detected by the CLI itself, reported like a gRPC error (`error: <code>: <message>`). `code` is a gRPC
 * status name, so scripts see the same codes and exit codes whether the CLI or the server rejected the input.
 */
export class CliError extends Error {
  override readonly name = 'CliError';
  constructor(
    readonly code: keyof typeof status,
    message: string,
  ) {
    super(message);
  }
}

/** Wrong flags or arguments: exit code 2 with a hint to read the usage. */
export function usage(message: string): CliError {
  return new CliError('INVALID_ARGUMENT', `${message} (see "cdcctl help")`);
}

export interface GrpcFailure {
  readonly code: number;
  readonly details: string;
}

export function isGrpcFailure(err: unknown): err is GrpcFailure {
  return (
    err instanceof Error &&
    typeof (err as Partial<GrpcFailure>).code === 'number' &&
    typeof (err as Partial<GrpcFailure>).details === 'string'
  );
}

/** Statuses caused by the request itself (fix the input, do not retry): exit code 2. Everything else: 1. */
const CALLER_ERRORS = new Set<string>([
  'INVALID_ARGUMENT',
  'NOT_FOUND',
  'ALREADY_EXISTS',
  'FAILED_PRECONDITION',
  'OUT_OF_RANGE',
  'PERMISSION_DENIED',
  'UNAUTHENTICATED',
]);

export function statusName(code: number): string {
  // A numeric enum maps values back to names; a code this grpc-js does not know has none.
  const name: string | undefined = status[code];
  return name ?? `STATUS_${code}`;
}

/** The stderr line and exit code for any error thrown by a command. */
export function describeFailure(err: unknown): { line: string; exitCode: number } {
  let code = 'UNKNOWN';
  let details: string;
  if (err instanceof CliError) {
    code = err.code;
    details = err.message;
  } else if (isGrpcFailure(err)) {
    code = statusName(err.code);
    details = err.details;
  } else {
    details = err instanceof Error ? err.message : String(err);
  }
  // The server's message says what is wrong with the credential; the hint says how to give one.
  const hint =
    code === 'UNAUTHENTICATED' ? ' (give an API token with --token or env CDCCTL_TOKEN)' : '';
  return {
    line: `error: ${code}: ${details || '(no details)'}${hint}`,
    exitCode: CALLER_ERRORS.has(code) ? 2 : 1,
  };
}
