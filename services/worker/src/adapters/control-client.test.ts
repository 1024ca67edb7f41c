import { Metadata, status, type ServiceError } from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { toCdcError } from './control-client.js';

function failure(
  code: status,
  details: string,
  trailers: Record<string, string> = {},
): ServiceError {
  const metadata = new Metadata();
  for (const [k, v] of Object.entries(trailers)) metadata.set(k, v);
  return Object.assign(new Error(details), { code, details, metadata });
}

describe('toCdcError', () => {
  it('rebuilds the control service error from its trailers (a stale epoch is LEASE_LOST)', () => {
    const err = toCdcError(
      'ReportCheckpoint',
      failure(status.FAILED_PRECONDITION, 'stale lease epoch', {
        'cdc-error-code': 'LEASE_LOST',
        'cdc-retryable': 'false',
      }),
    );
    expect(err).toMatchObject({
      code: 'LEASE_LOST',
      retryable: false,
      message: 'ReportCheckpoint: stale lease epoch',
    });
  });

  it('keeps every other precondition what it is', () => {
    const err = toCdcError(
      'AcquireLease',
      failure(status.FAILED_PRECONDITION, 'task t is paused', {
        'cdc-error-code': 'FAILED_PRECONDITION',
        'cdc-retryable': 'false',
      }),
    );
    expect(err).toMatchObject({ code: 'FAILED_PRECONDITION', retryable: false });
  });

  it('keeps the retryable flag and the field of the server error', () => {
    const err = toCdcError(
      'ReportCheckpoint',
      failure(status.INVALID_ARGUMENT, 'epoch: is required', {
        'cdc-error-code': 'INVALID_ARGUMENT',
        'cdc-retryable': 'false',
        'cdc-field': 'epoch',
      }),
    );
    expect(err).toMatchObject({ code: 'INVALID_ARGUMENT', details: { field: 'epoch' } });
    const conflict = toCdcError(
      'AcquireLease',
      failure(status.ABORTED, 'too many concurrent writers', {
        'cdc-error-code': 'CONFLICT',
        'cdc-retryable': 'true',
      }),
    );
    expect(conflict).toMatchObject({ code: 'CONFLICT', retryable: true });
  });

  it('keeps when a held channel can move (LEASE_HELD), and drops a malformed value', () => {
    const held = toCdcError(
      'AcquireLease',
      failure(status.UNAVAILABLE, 'channel c is held by worker w; it can move in 1234 ms', {
        'cdc-error-code': 'LEASE_HELD',
        'cdc-retryable': 'true',
        'cdc-retry-after-ms': '1234',
      }),
    );
    expect(held).toMatchObject({ code: 'LEASE_HELD', details: { retryAfterMs: 1234 } });
    const bad = toCdcError(
      'AcquireLease',
      failure(status.UNAVAILABLE, 'held', {
        'cdc-error-code': 'LEASE_HELD',
        'cdc-retryable': 'true',
        'cdc-retry-after-ms': '-5',
      }),
    );
    expect(bad).toMatchObject({ code: 'LEASE_HELD', details: {} });
  });

  it('classifies a status without trailers (transport, deadline, proxy) by its code', () => {
    expect(toCdcError('Heartbeat', failure(status.UNAVAILABLE, 'connect failed'))).toMatchObject({
      code: 'UNAVAILABLE',
      retryable: true,
    });
    expect(
      toCdcError('Heartbeat', failure(status.FAILED_PRECONDITION, 'from a proxy')),
    ).toMatchObject({ code: 'FAILED_PRECONDITION', retryable: false });
    expect(toCdcError('Heartbeat', failure(status.PERMISSION_DENIED, 'no'))).toMatchObject({
      code: 'UNAUTHENTICATED',
    });
  });

  it('ignores a trailer that names no known code', () => {
    const err = toCdcError(
      'Heartbeat',
      failure(status.UNAVAILABLE, 'x', { 'cdc-error-code': 'SOMETHING_NEW' }),
    );
    expect(err).toMatchObject({ code: 'UNAVAILABLE', retryable: true });
  });
});
