import { status } from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { CdcError } from '@cdc/shared';
import { toServiceError } from './grpc-status.js';
import { leaseHeld } from './tasks/lease-errors.js';

describe('toServiceError', () => {
  it('tells a worker when a held channel can move (cdc-retry-after-ms)', () => {
    const e = toServiceError(leaseHeld('t', 'c', 'w', 1_234.4));
    expect(e.code).toBe(status.UNAVAILABLE);
    expect(e.metadata?.get('cdc-error-code')).toEqual(['LEASE_HELD']);
    expect(e.metadata?.get('cdc-retry-after-ms')).toEqual(['1235']);
  });

  it('adds no retry time to other errors', () => {
    const e = toServiceError(new CdcError('CONFLICT', 'busy', { retryable: true }));
    expect(e.metadata?.get('cdc-retry-after-ms')).toEqual([]);
  });
});
