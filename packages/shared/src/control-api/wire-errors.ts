import { CdcError, isErrorCode } from '../errors.js';

/**
 * How a CdcError crosses the wire. The control service answers with the gRPC status of the error's code (one table,
 * services/control/src/grpc-status.ts) and these trailers; clients rebuild the CdcError from them, so both sides
 * branch on the same codes (e.g. LEASE_LOST, which travels as FAILED_PRECONDITION for clients that only see status).
 */
export const ERROR_CODE_TRAILER = 'cdc-error-code';
export const RETRYABLE_TRAILER = 'cdc-retryable';
/** For INVALID_ARGUMENT: the request field at fault. */
export const FIELD_TRAILER = 'cdc-field';
/** For LEASE_HELD: milliseconds until the channel may move (`details.retryAfterMs`), so the caller asks again then. */
export const RETRY_AFTER_TRAILER = 'cdc-retry-after-ms';

/** The part of a grpc-js Metadata read here. */
export interface TrailerSource {
  get(key: string): (string | Buffer)[];
}

function first(metadata: TrailerSource, key: string): string | undefined {
  const value = metadata.get(key)[0];
  return value === undefined ? undefined : String(value);
}

/**
 * The CdcError a failed call's trailers describe, with `message`; undefined when they name no known code (the status
 * did not come from the control service: a proxy, the transport, a deadline), for the caller to map by status.
 */
export function errorFromTrailers(
  message: string,
  metadata: TrailerSource | undefined,
  cause?: unknown,
): CdcError | undefined {
  if (metadata === undefined) return undefined;
  const code = first(metadata, ERROR_CODE_TRAILER);
  if (code === undefined || !isErrorCode(code)) return undefined;
  const field = first(metadata, FIELD_TRAILER);
  const retryAfter = Number(first(metadata, RETRY_AFTER_TRAILER) ?? 'NaN');
  const details = {
    ...(field === undefined ? {} : { field }),
    ...(Number.isSafeInteger(retryAfter) && retryAfter >= 0 ? { retryAfterMs: retryAfter } : {}),
  };
  return new CdcError(code, message, {
    retryable: first(metadata, RETRYABLE_TRAILER) === 'true',
    ...(cause === undefined ? {} : { cause }),
    ...(Object.keys(details).length === 0 ? {} : { details }),
  });
}
