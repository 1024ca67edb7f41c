import { CdcError } from '@cdc/shared';
import { describe, expect, it } from 'vitest';
import type { CheckpointAnswer, ReportCheckpointInput } from '../ports/worker-control.js';
import { ReportCoalescer, type ReportSender } from './report-coalescer.js';

const input = (channel: string): ReportCheckpointInput => ({
  taskId: 't',
  channel,
  epoch: '1',
  workerId: 'w',
  sourceHeadTimestamp: 0n,
  appliedRows: 0,
  appliedBytes: 0,
  caughtUp: true,
  pauseReached: 0n,
});

const answer: CheckpointAnswer = {
  keepLease: true,
  reason: '',
  replicateWatermark: 0n,
  applyUntil: 5n,
};

function sender(batch: ReportSender['sendBatch']): ReportSender & { singles: string[] } {
  const singles: string[] = [];
  return {
    singles,
    sendBatch: batch,
    sendOne: (i) => {
      singles.push(i.channel);
      return Promise.resolve(answer);
    },
  };
}

const opts = { lingerMs: 20, maxReports: 100, defaultDeadlineMs: 1_000 };

/** A coalescer whose calls are recorded with the channels they carried and when they went (ms after creation). */
function recordingCoalescer(lingerMs: number) {
  const calls: { channels: string[]; at: number }[] = [];
  const started = Date.now();
  const c = new ReportCoalescer(
    sender((inputs) => {
      calls.push({ channels: inputs.map((i) => i.channel), at: Date.now() - started });
      return Promise.resolve(inputs.map(() => answer));
    }),
    { ...opts, lingerMs },
  );
  return { c, calls };
}

describe('ReportCoalescer', () => {
  it("sends the leases' reports in one call and gives each its own result", async () => {
    const calls: string[][] = [];
    const s = sender((inputs) => {
      calls.push(inputs.map((i) => i.channel));
      return Promise.resolve(
        inputs.map((i) =>
          i.channel === 'stale' ? new CdcError('LEASE_LOST', 'stale lease epoch') : answer,
        ),
      );
    });
    const c = new ReportCoalescer(s, opts);
    const results = await Promise.allSettled([
      c.report(input('a')),
      c.report(input('stale')),
      c.report(input('b')),
    ]);
    expect(calls).toEqual([['a', 'stale', 'b']]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    const refused = results[1];
    expect(refused?.status === 'rejected' && (refused.reason as CdcError).code).toBe('LEASE_LOST');
  });

  it('sends an urgent report at once, with the reports already waiting', async () => {
    const { c, calls } = recordingCoalescer(5_000);
    const waiting = c.report(input('a'));
    await c.report(input('caught-up'), { urgent: true });
    await waiting;
    expect(calls.map((x) => x.channels)).toEqual([['a', 'caught-up']]);
    expect(calls[0]?.at).toBeLessThan(1_000);
  });

  it('sends the waiting reports when one that may wait less is due', async () => {
    const { c, calls } = recordingCoalescer(2_000);
    await Promise.all([c.report(input('slow')), c.report(input('fast'), { lingerMs: 30 })]);
    expect(calls.map((x) => x.channels)).toEqual([['slow', 'fast']]);
    expect(calls[0]?.at).toBeLessThan(1_000);
  });

  it('fails every report of a call that failed (retryable for the leases), and bounds it by their deadlines', async () => {
    let deadline = 0;
    const c = new ReportCoalescer(
      sender((_, d) => {
        deadline = d;
        return Promise.reject(
          new CdcError('UNAVAILABLE', 'control unreachable', { retryable: true }),
        );
      }),
      { ...opts, now: () => 1_000 },
    );
    const results = await Promise.allSettled([
      c.report(input('a'), { deadlineMs: 2_000 }),
      c.report(input('b'), { deadlineMs: 500 }),
    ]);
    expect(results.every((r) => r.status === 'rejected')).toBe(true);
    expect(deadline).toBe(500);
  });

  it('goes one report per call against a control service without the batch call', async () => {
    let batches = 0;
    const s = sender(() => {
      batches++;
      return Promise.resolve(undefined);
    });
    const c = new ReportCoalescer(s, opts);
    await Promise.all([c.report(input('a')), c.report(input('b'))]);
    await c.report(input('c'));
    expect(batches).toBe(1);
    expect(s.singles).toEqual(['a', 'b', 'c']);
  });

  it('sends a full batch at once', async () => {
    const sizes: number[] = [];
    const c = new ReportCoalescer(
      sender((inputs) => {
        sizes.push(inputs.length);
        return Promise.resolve(inputs.map(() => answer));
      }),
      { ...opts, lingerMs: 60_000, maxReports: 2 },
    );
    await Promise.all([c.report(input('a')), c.report(input('b'))]);
    expect(sizes).toEqual([2]);
  });
});
