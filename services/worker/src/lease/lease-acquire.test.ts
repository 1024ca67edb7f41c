import { CdcError } from '@cdc/shared';
import { describe, expect, it } from 'vitest';
import { FakeWorkerControl, silentLogger } from '../testing/fakes.js';
import { acquireLease, heldRetryMs } from './lease-acquire.js';

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

describe('acquireLease', () => {
  it('gives the job back without calling the control service while it does not answer heartbeats', async () => {
    const control = new FakeWorkerControl();
    let calls = 0;
    control.acquireLease = () => {
      calls++;
      return Promise.reject(new Error('not expected'));
    };
    const shutdown = new AbortController();
    const started = Date.now();
    const outcome = await acquireLease(
      { control, workerId: 'w1', log: silentLogger(), controlReachable: () => false },
      { taskId: 't1', channel: 'dml_0' },
      shutdown.signal,
    ).catch((err: unknown) => err);
    expect(outcome).toMatchObject({ code: 'UNAVAILABLE', retryable: true });
    expect(calls).toBe(0);
    expect(Date.now() - started).toBeLessThan(2_000);
  });
});
