import { Metadata, status, type ServiceError } from '@grpc/grpc-js';
import {
  ERROR_CODE_TRAILER,
  FIELD_TRAILER,
  isCdcError,
  RETRYABLE_TRAILER,
  RETRY_AFTER_TRAILER,
  type ErrorCode,
} from '@cdc/shared';

const STATUS_BY_CODE: Readonly<Record<ErrorCode, status>> = {
  INVALID_ARGUMENT: status.INVALID_ARGUMENT,
  NOT_FOUND: status.NOT_FOUND,
  ALREADY_EXISTS: status.ALREADY_EXISTS,
  FAILED_PRECONDITION: status.FAILED_PRECONDITION,
  CONFLICT: status.ABORTED,
  // Clients that read only the status see a precondition; ours rebuild LEASE_LOST from the trailer.
  LEASE_LOST: status.FAILED_PRECONDITION,
  LEASE_HELD: status.UNAVAILABLE,
  UNAUTHENTICATED: status.UNAUTHENTICATED,
  PERMISSION_DENIED: status.PERMISSION_DENIED,
  SOURCE_UNAVAILABLE: status.UNAVAILABLE,
  SINK_UNAVAILABLE: status.UNAVAILABLE,
  SINK_REJECTED: status.FAILED_PRECONDITION,
  SCHEMA_MISMATCH: status.FAILED_PRECONDITION,
  DECODE_FAILED: status.INTERNAL,
  UNAVAILABLE: status.UNAVAILABLE,
  RESOURCE_EXHAUSTED: status.RESOURCE_EXHAUSTED,
  INTERNAL: status.INTERNAL,
};

/**
 * The only mapping from errors to gRPC status. A CdcError keeps its message (written for callers) and adds
 * `cdc-error-code`, `cdc-retryable` and, for validation errors, `cdc-field` trailers (LEASE_HELD: `cdc-retry-after-ms`), from which clients rebuild it
 * (`errorFromTrailers`). Anything else becomes INTERNAL with a generic message, so internals (and secrets in them)
 * never leak.
 */
export function toServiceError(err: unknown): Partial<ServiceError> {
  const metadata = new Metadata();
  if (!isCdcError(err)) {
    metadata.set(ERROR_CODE_TRAILER, 'INTERNAL');
    // Not the caller's fault and not understood here: clients retry it (as they retry an unreachable service).
    metadata.set(RETRYABLE_TRAILER, 'true');
    return { code: status.INTERNAL, details: 'internal error', metadata };
  }
  metadata.set(ERROR_CODE_TRAILER, err.code);
  metadata.set(RETRYABLE_TRAILER, String(err.retryable));
  const field = err.details['field'];
  if (typeof field === 'string') metadata.set(FIELD_TRAILER, field);
  const retryAfter = err.details['retryAfterMs'];
  if (typeof retryAfter === 'number')
    metadata.set(RETRY_AFTER_TRAILER, String(Math.ceil(retryAfter)));
  return { code: STATUS_BY_CODE[err.code], details: err.message, metadata };
}
