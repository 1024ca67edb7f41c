import { CdcError, type ErrorCode } from '../errors.js';
import { tlsRejection, tlsRejectionMessage } from '../tls/endpoint-tls.js';

/**
 * Turns Milvus SDK outcomes into `CdcError`s. The SDK resolves most failures as a status object (never trust a resolved
 * promise), throws some statuses as values, and rejects with gRPC errors for transport failures.
 *
 * Status mapping, first match wins:
 * | what                                                  | → kind          | CdcError                        |
 * |-------------------------------------------------------|-----------------|---------------------------------|
 * | `code` 0 / undefined and `error_code` 'Success' / 0   | ok              | —                               |
 * | `code` 1400, 1800; `error_code` 'NeedAuthenticate'    | unauthenticated | UNAUTHENTICATED, not retryable  |
 * | `code` 1401; `error_code` 'PermissionDenied'          | permissionDenied| PERMISSION_DENIED, not retryable|
 * | `code` in RETRYABLE_CODES (not ready, unavailable,    | unavailable     | SINK_UNAVAILABLE, retryable     |
 * |   memory/disk/quota/rate limits, time tick delay, …)  |                 |                                 |
 * | `error_code` in RETRYABLE_ERROR_CODES ('RateLimit',   | unavailable     | SINK_UNAVAILABLE, retryable     |
 * |   'ForceDeny', quota, 'NotReadyServe', …)  (2.2–2.3)  |                 |                                 |
 * | `retriable: true`                                     | unavailable     | SINK_UNAVAILABLE, retryable     |
 * | `code` 65535 / 'UnexpectedError' whose reason names a | unavailable     | SINK_UNAVAILABLE, retryable     |
 * |   transient condition (2.3 puts limits/timeouts here) |                 |                                 |
 * | anything else (1100 invalid parameter, 100 not found…)| rejected        | SINK_REJECTED, not retryable    |
 * Memory/disk/quota limits are non-retriable for Milvus (the request will not pass as is), but for a replicator they
 * clear once the target gets capacity, so waiting beats quarantining valid data.
 * Not-found codes (100 collection, 200 partition, 700 index, 800 database; legacy 'CollectionNotExists',
 * 'IndexNotExist') are also reported as `notFound`, so idempotent DDL can treat "already gone" as success.
 *
 * Thrown values: `CdcError` passes through; a gRPC error (numeric `code` plus `metadata`) maps by status: CANCELLED,
 * UNKNOWN, DEADLINE_EXCEEDED, RESOURCE_EXHAUSTED, ABORTED, INTERNAL (also raised on reset streams), UNAVAILABLE →
 * retryable; UNAUTHENTICATED / PERMISSION_DENIED → their codes; others → rejected. A connection the TLS handshake
 * refused (unknown CA, wrong name, client certificate) → tlsRejected, FAILED_PRECONDITION: waiting will not fix the
 * spec's TLS settings. A thrown status object maps as above.
 * A plain `Error` is the SDK refusing the request before sending it (unknown field, wrong binary dim) → rejected,
 * except the connection pool's `TimeoutError` → retryable.
 */

export interface MilvusStatusLike {
  readonly error_code?: string | number;
  readonly code?: number;
  readonly reason?: string;
  readonly detail?: string;
  readonly retriable?: boolean;
}

export type NotFoundKind = 'collection' | 'partition' | 'index' | 'database';

export type StatusKind =
  'ok' | 'unavailable' | 'rejected' | 'unauthenticated' | 'permissionDenied' | 'tlsRejected';

export interface StatusClass {
  readonly kind: StatusKind;
  readonly notFound?: NotFoundKind;
}

const GENERIC_CODE = 65535;

/** merr codes (pkg/util/merr/errors.go) worth waiting for. */
const RETRYABLE_CODES = new Set([
  1, // ServiceNotReady
  2, // ServiceUnavailable
  3, // ServiceMemoryLimitExceeded
  4, // ServiceRequestLimitExceeded
  7, // ServiceDiskLimitExceeded
  8, // ServiceRateLimit
  9, // ServiceQuotaExceeded (2.3: ForceDeny)
  11, // ServiceTimeTickLongDelay
  12, // ServiceResourceInsufficient
  103, // CollectionNotFullyLoaded
  106, // CollectionOnRecovering
  202, // PartitionNotFullyLoaded
  401, // ReplicaNotAvailable
  503, // ChannelNotAvailable
  902, // NodeOffline
  903, // NodeLack
  905, // NodeNotAvailable
  1002, // IoUnexpectEOF
  1807, // HTTPRateLimit
  10000, // Canceled
  10001, // Timeout
]);

/** Legacy `commonpb.ErrorCode` names (the only signal from 2.2 and much of 2.3) worth waiting for. */
const RETRYABLE_ERROR_CODES = new Set([
  'ConnectFailed',
  'OutOfMemory',
  'CacheFailed',
  'NotShardLeader',
  'NoReplicaAvailable',
  'ForceDeny',
  'RateLimit',
  'InsufficientMemoryToLoad',
  'MemoryQuotaExhausted',
  'DiskQuotaExhausted',
  'TimeTickLongDelay',
  'NotReadyServe',
  'NotReadyCoordActivating',
  'DataCoordNA',
  'DDRequestRace',
]);

/** The same legacy codes by number, for responses that carry `error_code` as an int. */
const LEGACY_ERROR_CODE_NAMES: Readonly<Record<number, string>> = {
  0: 'Success',
  1: 'UnexpectedError',
  2: 'ConnectFailed',
  3: 'PermissionDenied',
  4: 'CollectionNotExists',
  24: 'OutOfMemory',
  25: 'IndexNotExist',
  28: 'CollectionNameNotFound',
  45: 'NotShardLeader',
  46: 'NoReplicaAvailable',
  48: 'ForceDeny',
  49: 'RateLimit',
  52: 'InsufficientMemoryToLoad',
  53: 'MemoryQuotaExhausted',
  54: 'DiskQuotaExhausted',
  55: 'TimeTickLongDelay',
  56: 'NotReadyServe',
  57: 'NotReadyCoordActivating',
  100: 'DataCoordNA',
  1000: 'DDRequestRace',
};

const NOT_FOUND_CODES: Readonly<Record<number, NotFoundKind>> = {
  100: 'collection',
  200: 'partition',
  700: 'index',
  800: 'database',
};

const NOT_FOUND_ERROR_CODES: Readonly<Record<string, NotFoundKind>> = {
  CollectionNotExists: 'collection',
  CollectionNameNotFound: 'collection',
  IndexNotExist: 'index',
};

/**
 * Only for the generic code: Milvus 2.3 reports several transient conditions as 'UnexpectedError' (65535), where the
 * reason is the only signal. Never consulted when a specific code is present. A restarting server answers e.g.
 * "empty grpc client: find no available rootcoord": rejecting that would quarantine good data.
 */
const TRANSIENT_REASON =
  /rate limit|quota|deny to write|too many requests|server is busy|not ready|service unavailable|deadline exceeded|context canceled|context done|timed? ?out|no available|empty grpc client|not healthy|is stopping|initializing|connection refused/i;

function errorCodeName(status: MilvusStatusLike): string | undefined {
  const ec = status.error_code;
  if (typeof ec === 'number') return LEGACY_ERROR_CODE_NAMES[ec] ?? String(ec);
  return ec;
}

export function isStatusOk(status: MilvusStatusLike | undefined): boolean {
  if (status === undefined) return false;
  const name = errorCodeName(status);
  return name === 'Success' && (status.code === undefined || status.code === 0);
}

export function classifyStatus(status: MilvusStatusLike | undefined): StatusClass {
  // A missing status (e.g. the SDK's empty reply to an UNIMPLEMENTED call) is a failure, not a success.
  if (status === undefined) return { kind: 'rejected' };
  if (isStatusOk(status)) return { kind: 'ok' };
  const code = status.code ?? 0;
  const name = errorCodeName(status) ?? '';
  const notFound = NOT_FOUND_CODES[code] ?? NOT_FOUND_ERROR_CODES[name];
  const withNotFound = (kind: StatusKind): StatusClass =>
    notFound === undefined ? { kind } : { kind, notFound };

  if (code === 1400 || code === 1800 || name === 'NeedAuthenticate')
    return { kind: 'unauthenticated' };
  if (code === 1401 || name === 'PermissionDenied') return { kind: 'permissionDenied' };
  if (RETRYABLE_CODES.has(code) || RETRYABLE_ERROR_CODES.has(name) || status.retriable === true) {
    return withNotFound('unavailable');
  }
  const generic =
    code === GENERIC_CODE || (code === 0 && (name === 'UnexpectedError' || name === ''));
  if (
    generic &&
    notFound === undefined &&
    TRANSIENT_REASON.test(status.reason ?? status.detail ?? '')
  ) {
    return { kind: 'unavailable' };
  }
  return withNotFound('rejected');
}

/** gRPC status codes (@grpc/grpc-js `status`) after which the same call may well succeed. */
const RETRYABLE_GRPC = new Set([1, 2, 4, 8, 10, 13, 14]);
const GRPC_UNAUTHENTICATED = 16;
const GRPC_PERMISSION_DENIED = 7;

function isGrpcError(err: unknown): err is Error & { code: number; details?: string } {
  return (
    err instanceof Error &&
    typeof (err as { code?: unknown }).code === 'number' &&
    'metadata' in err
  );
}

function statusOf(value: unknown): MilvusStatusLike | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  if ('error_code' in value) return value as MilvusStatusLike;
  if ('status' in value) return statusOf(value.status);
  return undefined;
}

const CODE_BY_KIND: Readonly<Record<Exclude<StatusKind, 'ok'>, [ErrorCode, boolean]>> = {
  unavailable: ['SINK_UNAVAILABLE', true],
  rejected: ['SINK_REJECTED', false],
  unauthenticated: ['UNAUTHENTICATED', false],
  permissionDenied: ['PERMISSION_DENIED', false],
  // The server and our TLS settings disagree (unknown CA, name, client certificate): a person must fix the spec.
  tlsRejected: ['FAILED_PRECONDITION', false],
};

export function errorFromClass(
  action: string,
  cls: StatusClass,
  details: Readonly<Record<string, unknown>>,
  cause?: unknown,
): CdcError {
  const kind = cls.kind === 'ok' ? 'rejected' : cls.kind;
  const [code, retryable] = CODE_BY_KIND[kind];
  const allDetails = cls.notFound === undefined ? details : { ...details, notFound: cls.notFound };
  const reason = typeof details['reason'] === 'string' ? `: ${details['reason']}` : '';
  return new CdcError(code, `${action}${reason}`, { retryable, cause, details: allDetails });
}

export function statusDetails(status: MilvusStatusLike | undefined): Record<string, unknown> {
  if (status === undefined) return { reason: 'no status in the response' };
  return {
    errorCode: status.error_code,
    milvusCode: status.code,
    reason: status.reason ?? status.detail,
  };
}

/** The CdcError for a failed status (call only when `classifyStatus(status).kind !== 'ok'`). */
export function statusError(action: string, status: MilvusStatusLike | undefined): CdcError {
  return errorFromClass(action, classifyStatus(status), statusDetails(status));
}

/** Classifies anything an SDK call threw. */
export function classifyThrown(err: unknown): {
  cls: StatusClass;
  details: Record<string, unknown>;
} {
  if (isGrpcError(err)) {
    const tls = tlsRejection(err);
    if (tls !== undefined)
      return {
        cls: { kind: 'tlsRejected' },
        details: { grpcCode: err.code, reason: tlsRejectionMessage('Milvus', tls) },
      };
    const kind: StatusKind = RETRYABLE_GRPC.has(err.code)
      ? 'unavailable'
      : err.code === GRPC_UNAUTHENTICATED
        ? 'unauthenticated'
        : err.code === GRPC_PERMISSION_DENIED
          ? 'permissionDenied'
          : 'rejected';
    return { cls: { kind }, details: { grpcCode: err.code, reason: err.details ?? err.message } };
  }
  const status = statusOf(err);
  if (status !== undefined) return { cls: classifyStatus(status), details: statusDetails(status) };
  const message = err instanceof Error ? err.message : String(err);
  const kind = err instanceof Error && err.name === 'TimeoutError' ? 'unavailable' : 'rejected';
  return { cls: { kind }, details: { reason: message } };
}

/** The CdcError for anything an SDK call threw; CdcErrors pass through unchanged. */
export function thrownError(action: string, err: unknown): CdcError {
  if (err instanceof CdcError) return err;
  const { cls, details } = classifyThrown(err);
  return errorFromClass(action, cls, details, err);
}
