import { describe, expect, it, vi } from 'vitest';
import type { PausePoint } from '../ports/lease-progress.js';
import { silentLogger } from '../testing/fakes.js';
import { StandbyOrder } from './standby-order.js';

/** The order of a standby change against the data of its collection's channels. */

function progressAt(checkpoint: bigint) {
  return {
    pause: undefined as PausePoint | undefined,
    applyUntil: undefined as bigint | undefined,
    channelCheckpoints: new Map([['p-dml_0', checkpoint]]),
  };
}

const CHANGE_TS = 100n;

describe('StandbyOrder', () => {
  it('waits for a backlog that keeps moving, however long past channelWaitMs it takes', async () => {
    // Fake clock: a stalled event loop (a loaded CI machine) must not look like a stalled channel.
    vi.useFakeTimers();
    const progress = progressAt(0n);
    const order = new StandbyOrder({ progress, log: silentLogger(), channelWaitMs: 40, pollMs: 5 });
    // The channel advances by 1 every 10 ms: it passes the change after ~1 s, 25× channelWaitMs.
    const copy = setInterval(() => {
      const at = progress.channelCheckpoints.get('p-dml_0') ?? 0n;
      progress.channelCheckpoints.set('p-dml_0', at + 1n);
    }, 10);
    try {
      // Where the channel was when the verdict came (the clock keeps running after it).
      const verdict = order
        .until(CHANGE_TS, ['p-dml_0'], new AbortController().signal, 'alias')
        .then((v) => ({ v, at: progress.channelCheckpoints.get('p-dml_0') }));
      await vi.advanceTimersByTimeAsync(1_500);
      const { v, at } = await verdict;
      expect(v).toBe('apply');
      expect(at).toBeGreaterThanOrEqual(CHANGE_TS);
    } finally {
      clearInterval(copy);
      vi.useRealTimers();
    }
  });

  it('applies the change after channelWaitMs once the channel stopped short of it', async () => {
    const progress = progressAt(50n);
    const order = new StandbyOrder({ progress, log: silentLogger(), channelWaitMs: 40, pollMs: 5 });
    const started = Date.now();
    expect(await order.until(CHANGE_TS, ['p-dml_0'], new AbortController().signal, 'alias')).toBe(
      'apply',
    );
    expect(Date.now() - started).toBeGreaterThanOrEqual(40);
    expect(progress.channelCheckpoints.get('p-dml_0')).toBe(50n);
  });

  it('applies nothing past the pause point', async () => {
    const progress = progressAt(0n);
    progress.pause = { timestamp: CHANGE_TS - 1n, immediate: false };
    const order = new StandbyOrder({ progress, log: silentLogger(), channelWaitMs: 40, pollMs: 5 });
    expect(await order.until(CHANGE_TS, ['p-dml_0'], new AbortController().signal, 'alias')).toBe(
      'paused',
    );
  });
});
