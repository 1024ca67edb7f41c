import { CdcError } from '@cdc/shared';
import { describe, expect, it } from 'vitest';
import { heldRetryMs } from './lease-acquire.js';

const held = (details: Record<string, unknown>) =>
  new CdcError('LEASE_HELD', 'held', { retryable: true, details });

describe('heldRetryMs', () => {
  it('asks again just after the handover time the control service gave', () => {
    expect(heldRetryMs(held({ retryAfterMs: 2_480 }))).toBe(2_500);
    expect(heldRetryMs(held({ retryAfterMs: 0 }))).toBe(20);
  });

  it('asks again every second without it (older control versions), and never waits unboundedly', () => {
    expect(heldRetryMs(held({}))).toBe(1_000);
    expect(heldRetryMs(held({ retryAfterMs: 3_600_000 }))).toBe(10_000);
  });
});
