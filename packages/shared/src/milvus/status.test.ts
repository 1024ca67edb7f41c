import { CdcError } from '../errors.js';
import { describe, expect, it } from 'vitest';
import { classifyStatus, isStatusOk, statusError, thrownError } from './status.js';

const status = (error_code: string | number, code?: number, reason = '', retriable = false) =>
  code === undefined ? { error_code, reason, retriable } : { error_code, code, reason, retriable };

function grpcError(code: number, details: string): Error {
  return Object.assign(new Error(`${code} ${details}`), { code, details, metadata: {} });
}

describe('classifyStatus', () => {
  it.each([
    ['2.3 success', status('Success', 0), 'ok', undefined],
    ['2.2 success (no code)', status('Success'), 'ok', undefined],
    ['numeric success', status(0), 'ok', undefined],
    ['missing status', undefined, 'rejected', undefined],
    ['rate limit code', status('RateLimit', 8), 'unavailable', undefined],
    ['legacy rate limit name', status('RateLimit'), 'unavailable', undefined],
    ['legacy numeric rate limit', status(49), 'unavailable', undefined],
    ['force deny / quota', status('ForceDeny', 9), 'unavailable', undefined],
    ['memory quota', status('MemoryQuotaExhausted', 65535), 'unavailable', undefined],
    ['disk limit code', status('UnexpectedError', 7), 'unavailable', undefined],
    ['service not ready', status('UnexpectedError', 1), 'unavailable', undefined],
    ['retriable flag', status('UnexpectedError', 1234, 'x', true), 'unavailable', undefined],
    ['invalid parameter', status('IllegalArgument', 1100, 'length exceeds'), 'rejected', undefined],
    [
      'wrong dim (generic)',
      status('UnexpectedError', 65535, 'the length(3) of float data should divide the dim(4)'),
      'rejected',
      undefined,
    ],
    [
      '2.3 generic deadline',
      status('UnexpectedError', 65535, 'context deadline exceeded'),
      'unavailable',
      undefined,
    ],
    [
      // A busy proxy whose task waited past the caller's deadline (seen under a 1M-row backlog into the replica).
      'proxy task wait ended by the deadline',
      status('UnexpectedError', 65535, 'proxy TaskCondition context Done'),
      'unavailable',
      undefined,
    ],
    [
      '2.3 generic rate limit text',
      status('UnexpectedError', 65535, 'rate limit exceeded[rate=1]'),
      'unavailable',
      undefined,
    ],
    [
      'restarting server without a rootcoord (seen when the target restarts)',
      status(
        'UnexpectedError',
        65535,
        'empty grpc client: find no available rootcoord, check rootcoord state',
      ),
      'unavailable',
      undefined,
    ],
    [
      'collection not found',
      status('UnexpectedError', 100, 'collection not found'),
      'rejected',
      'collection',
    ],
    ['legacy collection not exists', status('CollectionNotExists'), 'rejected', 'collection'],
    ['partition not found', status('MetaFailed', 200), 'rejected', 'partition'],
    ['index not found', status('IndexNotExist', 700), 'rejected', 'index'],
    ['database not found', status('UnexpectedError', 800), 'rejected', 'database'],
    ['not authenticated', status('UnexpectedError', 1400), 'unauthenticated', undefined],
    ['permission denied', status('PermissionDenied'), 'permissionDenied', undefined],
  ] as const)('%s', (_name, st, kind, notFound) => {
    const cls = classifyStatus(st);
    expect(cls.kind).toBe(kind);
    expect(cls.notFound).toBe(notFound);
  });

  it('does not read transient words from a specific code', () => {
    expect(classifyStatus(status('IllegalArgument', 1100, 'timeout must be positive')).kind).toBe(
      'rejected',
    );
  });

  it('isStatusOk needs both fields to say success', () => {
    expect(isStatusOk(status('Success', 5))).toBe(false);
    expect(isStatusOk(undefined)).toBe(false);
  });
});

describe('statusError', () => {
  it('builds a retryable SINK_UNAVAILABLE for a rate limit', () => {
    const err = statusError('upserting rows', status('RateLimit', 8, 'rate limit exceeded'));
    expect(err).toBeInstanceOf(CdcError);
    expect(err.code).toBe('SINK_UNAVAILABLE');
    expect(err.retryable).toBe(true);
    expect(err.message).toBe('upserting rows: rate limit exceeded');
    expect(err.details).toMatchObject({ errorCode: 'RateLimit', milvusCode: 8 });
  });

  it('builds a non-retryable SINK_REJECTED with the not-found kind', () => {
    const err = statusError('upserting rows', status('MetaFailed', 200, 'partition not found'));
    expect(err.code).toBe('SINK_REJECTED');
    expect(err.retryable).toBe(false);
    expect(err.details['notFound']).toBe('partition');
  });

  it('maps auth failures to their own codes', () => {
    expect(statusError('x', status('UnexpectedError', 1401)).code).toBe('PERMISSION_DENIED');
    expect(statusError('x', status('UnexpectedError', 1800)).code).toBe('UNAUTHENTICATED');
  });
});

describe('thrownError', () => {
  it.each([
    [14, 'SINK_UNAVAILABLE', true],
    [4, 'SINK_UNAVAILABLE', true],
    [8, 'SINK_UNAVAILABLE', true],
    [13, 'SINK_UNAVAILABLE', true],
    [3, 'SINK_REJECTED', false],
    [12, 'SINK_REJECTED', false],
    [16, 'UNAUTHENTICATED', false],
    [7, 'PERMISSION_DENIED', false],
  ] as const)('gRPC status %i → %s', (code, cdcCode, retryable) => {
    const err = thrownError('creating index', grpcError(code, 'boom'));
    expect(err.code).toBe(cdcCode);
    expect(err.retryable).toBe(retryable);
    expect(err.details['grpcCode']).toBe(code);
  });

  it('classifies a thrown status object (SDK createCollection) and a response with a status', () => {
    expect(thrownError('x', status('UnexpectedError', 65535, 'different parameters')).code).toBe(
      'SINK_REJECTED',
    );
    const described = {
      status: status('UnexpectedError', 100, 'collection not found'),
      schema: {},
    };
    const err = thrownError('x', described);
    expect(err.code).toBe('SINK_REJECTED');
    expect(err.details['notFound']).toBe('collection');
  });

  it('treats SDK validation errors as rejected and pool timeouts as unavailable', () => {
    const validation = thrownError(
      'x',
      new Error('Insert fail: some field does not exist for this collection'),
    );
    expect(validation.code).toBe('SINK_REJECTED');
    const timeout = Object.assign(new Error('ResourceRequest timed out'), { name: 'TimeoutError' });
    expect(thrownError('x', timeout).code).toBe('SINK_UNAVAILABLE');
  });

  it('passes CdcErrors through and keeps the cause otherwise', () => {
    const original = new CdcError('SCHEMA_MISMATCH', 'x', { retryable: false });
    expect(thrownError('y', original)).toBe(original);
    const cause = grpcError(14, 'down');
    expect(thrownError('y', cause).cause).toBe(cause);
  });
});
