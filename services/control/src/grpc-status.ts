import { Metadata, status, type ServiceError } from '@grpc/grpc-js';
import { isCdcError, type ErrorCode } from '@cdc/shared';

const STATUS_BY_CODE: Readonly<Record<ErrorCode, status>> = {
  INVALID_ARGUMENT: status.INVALID_ARGUMENT,
  NOT_FOUND: status.NOT_FOUND,
  ALREADY_EXISTS: status.ALREADY_EXISTS,
  FAILED_PRECONDITION: status.FAILED_PRECONDITION,
  CONFLICT: status.ABORTED,
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
  INTERNAL: status.INTERNAL,
};

/**
 * The only mapping from errors to gRPC status. A CdcError keeps its message (written for callers) and adds
 * `cdc-error-code`, `cdc-retryable` and, for validation errors, `cdc-field` trailers. Anything else becomes
 * INTERNAL with a generic message, so internals (and secrets in them) never leak.
 */
export function toServiceError(err: unknown): Partial<ServiceError> {
  const metadata = new Metadata();
  if (!isCdcError(err)) {
    metadata.set('cdc-error-code', 'INTERNAL');
    return { code: status.INTERNAL, details: 'internal error', metadata };
  }
  metadata.set('cdc-error-code', err.code);
  metadata.set('cdc-retryable', String(err.retryable));
  const field = err.details['field'];
  if (typeof field === 'string') metadata.set('cdc-field', field);
  return { code: STATUS_BY_CODE[err.code], details: err.message, metadata };
}
