import { describe, expect, it } from 'vitest';
import { CdcError } from '@cdc/shared';
import { silentLogger, sinkUnavailable } from '../testing/fakes.js';
import { abortError, sleep, withRetry } from './retry.js';

const log = silentLogger();
const never = new AbortController().signal;

describe('sleep', () => {
  it('resolves after the delay', async () => {
    const start = Date.now();
    await sleep(20, never);
    expect(Date.now() - start).toBeGreaterThanOrEqual(15);
  });

  it('rejects with LEASE_LOST at once when the signal is already aborted', async () => {
    const ac = new AbortController();
    ac.abort(new Error('paused'));
    await expect(sleep(60_000, ac.signal)).rejects.toMatchObject({
      code: 'LEASE_LOST',
      message: 'lease ended: paused',
    });
  });

  it('rejects with LEASE_LOST when the signal aborts during the wait', async () => {
    const ac = new AbortController();
    const waiting = sleep(60_000, ac.signal);
    ac.abort();
    await expect(waiting).rejects.toMatchObject({ code: 'LEASE_LOST', retryable: false });
  });

  it('names the abort reason, or says aborted when there is none', () => {
    expect(abortError().message).toBe('lease ended: aborted');
    const ac = new AbortController();
    ac.abort('rebalanced');
    expect(abortError(ac.signal).message).toBe('lease ended: rebalanced');
  });
});

describe('withRetry', () => {
  it('returns the first success', async () => {
    let calls = 0;
    const v = await withRetry(
      () => {
        calls++;
        return Promise.resolve(42);
      },
      { signal: never, log, action: 'x' },
    );
    expect(v).toBe(42);
    expect(calls).toBe(1);
  });

  it('retries retryable failures, reporting each, until success', async () => {
    let calls = 0;
    const seen: unknown[] = [];
    const v = await withRetry(
      () => (++calls < 4 ? Promise.reject(sinkUnavailable()) : Promise.resolve('ok')),
      {
        signal: never,
        log,
        action: 'x',
        initialDelayMs: 1,
        maxDelayMs: 2,
        onRetry: (e) => seen.push(e),
        quiet: true,
      },
    );
    expect(v).toBe('ok');
    expect(calls).toBe(4);
    expect(seen).toHaveLength(3);
    expect(seen[0]).toMatchObject({ code: 'SINK_UNAVAILABLE' });
  });

  it('throws non-retryable CdcErrors and foreign errors at once', async () => {
    const rejected = new CdcError('SINK_REJECTED', 'no', { retryable: false });
    let calls = 0;
    await expect(
      withRetry(
        () => {
          calls++;
          return Promise.reject(rejected);
        },
        { signal: never, log, action: 'x', initialDelayMs: 1 },
      ),
    ).rejects.toBe(rejected);
    const foreign = new TypeError('bug');
    await expect(
      withRetry(() => Promise.reject(foreign), {
        signal: never,
        log,
        action: 'x',
        initialDelayMs: 1,
      }),
    ).rejects.toBe(foreign);
    expect(calls).toBe(1);
  });

  it('does not call fn once the lease has ended', async () => {
    const ac = new AbortController();
    ac.abort(new Error('shutdown'));
    let calls = 0;
    await expect(
      withRetry(
        () => {
          calls++;
          return Promise.resolve(1);
        },
        { signal: ac.signal, log, action: 'x' },
      ),
    ).rejects.toMatchObject({ code: 'LEASE_LOST' });
    expect(calls).toBe(0);
  });

  it('ends a backoff with LEASE_LOST when the lease ends', async () => {
    const ac = new AbortController();
    const running = withRetry(() => Promise.reject(sinkUnavailable()), {
      signal: ac.signal,
      log,
      action: 'x',
      initialDelayMs: 60_000,
    });
    setTimeout(() => {
      ac.abort(new Error('paused'));
    }, 10);
    await expect(running).rejects.toMatchObject({ code: 'LEASE_LOST' });
  });

  it('gives up on the retryable error itself if the lease ended while fn ran', async () => {
    const ac = new AbortController();
    const err = sinkUnavailable();
    await expect(
      withRetry(
        () => {
          ac.abort();
          return Promise.reject(err);
        },
        { signal: ac.signal, log, action: 'x' },
      ),
    ).rejects.toBe(err);
  });

  it('backs off exponentially up to maxDelayMs', async () => {
    const at: number[] = [];
    let calls = 0;
    await withRetry(
      () => {
        at.push(Date.now());
        return ++calls < 5 ? Promise.reject(sinkUnavailable()) : Promise.resolve();
      },
      { signal: never, log, action: 'x', initialDelayMs: 10, maxDelayMs: 20, quiet: true },
    );
    const gaps = at.slice(1).map((t, i) => t - at[i]!);
    // delays 10, 20, 20, 20 with ±25% jitter (timers may fire a little late, never early by more than 1 ms)
    expect(gaps[0]).toBeGreaterThanOrEqual(6);
    for (const g of gaps.slice(1)) expect(g).toBeGreaterThanOrEqual(14);
    expect(Math.max(...gaps)).toBeLessThan(1_000);
  });
});
