import { describe, expect, it } from 'vitest';
import { CdcError } from '@cdc/shared';
import type { LeaseRef } from '../ports/worker-control.js';
import { FakeWorkerControl, offsetId, silentLogger, waitFor } from '../testing/fakes.js';
import { LeaseReporter } from './lease-reporter.js';
import { MAX_BATCH_ENTRIES } from './quarantine-batcher.js';

const lease: LeaseRef = { taskId: 't1', channel: 'dml_0', epoch: '7' };

function setup(intervalMs = 60_000) {
  const control = new FakeWorkerControl();
  const ended: string[] = [];
  let quarantines = 0;
  const reporter = new LeaseReporter({
    control,
    lease,
    workerId: 'w1',
    intervalMs,
    log: silentLogger(),
    onLeaseEnd: (reason) => ended.push(reason),
    onQuarantine: () => {
      quarantines++;
    },
  });
  return { control, reporter, ended, quarantines: () => quarantines };
}

const stale = () => new CdcError('LEASE_LOST', 'stale epoch 7', { retryable: false });

describe('LeaseReporter', () => {
  it('reports the lease, head, totals and the position', async () => {
    const { control, reporter } = setup();
    reporter.observeHead(50n);
    reporter.observeHead(40n); // never goes back
    reporter.addApplied(3, 30);
    reporter.addApplied(2, 20);
    reporter.checkpoint(offsetId(5n), 45n);
    await reporter.reportOnce();
    expect(control.reports).toEqual([
      {
        ...lease,
        workerId: 'w1',
        position: { msgId: offsetId(5n), timestamp: 45n, batchIndex: 0 },
        sourceHeadTimestamp: 50n,
        appliedRows: 5,
        appliedBytes: 50,
        caughtUp: false,
        applyDelayMs: 0,
        waitingTimestamp: 0n,
        pauseReached: 0n,
      },
    ]);
    expect(reporter.appliedRows).toBe(5);
    expect(reporter.lastPosition).toEqual({ msgId: offsetId(5n), timestamp: 45n, batchIndex: 0 });
  });

  it('reports how late the last changes applied since the previous report reached the target', async () => {
    const { control, reporter } = setup();
    reporter.appliedAfter(300);
    reporter.appliedAfter(90); // the latest counts: the lag as it stands
    const fanOut = reporter.forFanOutTarget('milvus://b');
    fanOut.appliedAfter?.(140); // the slowest target counts
    await reporter.reportOnce();
    await reporter.reportOnce(); // nothing applied since: no delay
    expect(control.reports.map((r) => r.applyDelayMs)).toEqual([140, 0]);
  });

  it('reports the oldest change waiting while every target behind has read everything', async () => {
    const { control, reporter } = setup();
    reporter.setCaughtUp(false, 70n); // read everything; a change stamped 70 waits
    await reporter.reportOnce();
    const fanOut = reporter.forFanOutTarget('milvus://b');
    fanOut.setCaughtUp(false, 60n);
    await reporter.reportOnce();
    fanOut.setCaughtUp(false); // a backlog: the checkpoint says more
    await reporter.reportOnce();
    reporter.setCaughtUp(true);
    fanOut.setCaughtUp(true);
    await reporter.reportOnce();
    expect(control.reports.map((r) => r.waitingTimestamp)).toEqual([70n, 60n, 0n, 0n]);
  });

  it('sends the position only when it changed since the last report', async () => {
    const { control, reporter } = setup();
    await reporter.reportOnce();
    reporter.checkpoint(offsetId(1n), 10n);
    await reporter.reportOnce();
    await reporter.reportOnce();
    reporter.checkpoint(offsetId(2n), 20n);
    await reporter.reportOnce();
    expect(control.reports.map((r) => r.position?.timestamp)).toEqual([
      undefined,
      10n,
      undefined,
      20n,
    ]);
  });

  it('keeps the last timestamp for a checkpoint without one (replicate-channel records)', () => {
    const { reporter } = setup();
    reporter.checkpoint(offsetId(1n), 10n);
    reporter.checkpoint(offsetId(2n), 0n);
    expect(reporter.lastPosition).toEqual({ msgId: offsetId(2n), timestamp: 10n, batchIndex: 0 });
  });

  it('resends a position whose report failed', async () => {
    const { control, reporter } = setup();
    reporter.checkpoint(offsetId(1n), 10n);
    control.answers = [
      new CdcError('UNAVAILABLE', 'down', { retryable: true }),
      { keepLease: true, reason: '' },
    ];
    await expect(reporter.reportOnce()).rejects.toMatchObject({ code: 'UNAVAILABLE' });
    await reporter.reportOnce();
    expect(control.reports.map((r) => r.position?.timestamp)).toEqual([10n, 10n]);
  });

  it('ends the lease once when the control plane says keep_lease=false', async () => {
    const { control, reporter, ended } = setup();
    control.answers = [{ keepLease: false, reason: 'task paused' }];
    await reporter.reportOnce();
    await reporter.reportOnce();
    expect(ended).toEqual(['task paused']);
  });

  it('tells pause watchers once, when an answer brings a pause, and at once when one is in force', async () => {
    const { control, reporter } = setup();
    const heard: string[] = [];
    reporter.onPause(() => heard.push('first'));
    const unwatch = reporter.onPause(() => heard.push('unsubscribed'));
    unwatch();
    await reporter.reportOnce();
    expect(heard).toEqual([]);
    control.answers = [
      { keepLease: true, reason: '', pause: { timestamp: 45n, immediate: false } },
    ];
    await reporter.reportOnce();
    await reporter.reportOnce();
    expect(heard).toEqual(['first']);
    reporter.onPause(() => heard.push('late'));
    expect(heard).toEqual(['first', 'late']);
  });

  it('gives a reason when the control plane ends the lease without one', async () => {
    const { control, reporter, ended } = setup();
    control.answers = [{ keepLease: false, reason: '' }];
    await reporter.reportOnce();
    expect(ended).toEqual(['lease ended by the control plane']);
  });

  it('reports periodically and ends the lease once on LEASE_LOST', async () => {
    const { control, reporter, ended } = setup(1);
    control.answers = [{ keepLease: true, reason: '' }, stale()];
    reporter.start();
    reporter.start(); // idempotent
    await waitFor(() => control.reports.length >= 4);
    await reporter.stop();
    expect(ended).toEqual(['stale epoch 7']);
  });

  describe('idle reports', () => {
    function idleSetup(idleIntervalMs: number) {
      const control = new FakeWorkerControl();
      const quiet: boolean[] = [];
      const reporter = new LeaseReporter({
        control,
        lease,
        workerId: 'w1',
        intervalMs: 20,
        idleIntervalMs,
        log: silentLogger(),
        onLeaseEnd: () => undefined,
        onQuietChange: (q) => quiet.push(q),
      });
      return { control, reporter, quiet };
    }

    it('reports on the idle rhythm once caught up with nothing applied since its answered report', async () => {
      const { control, reporter, quiet } = idleSetup(60_000);
      reporter.start();
      reporter.setCaughtUp(true);
      await waitFor(() => quiet.length === 1);
      const reports = control.reports.length;
      await new Promise((r) => setTimeout(r, 200)); // ten busy intervals
      expect(control.reports).toHaveLength(reports);
      expect(quiet).toEqual([true]);
      await reporter.stop();
    });

    it('reports at once, and on the busy rhythm again, when a quiet lease reads something to apply', async () => {
      const { control, reporter, quiet } = idleSetup(60_000);
      reporter.start();
      reporter.setCaughtUp(true);
      await waitFor(() => quiet.length === 1);
      const reports = control.reports.length;
      reporter.setCaughtUp(false);
      expect(quiet).toEqual([true, false]);
      await waitFor(() => control.reports.length >= reports + 3);
      expect(control.urgent[reports]).toBe(true);
      await reporter.stop();
    });

    it('stays on the busy rhythm while rows are applied, or when a report was not answered', async () => {
      const { control, reporter, quiet } = idleSetup(60_000);
      control.answers = [new CdcError('UNAVAILABLE', 'control down', { retryable: true })];
      reporter.start();
      reporter.setCaughtUp(true);
      await waitFor(() => control.reports.length >= 4);
      expect(quiet).toEqual([]);
      control.answers = [{ keepLease: true, reason: '' }];
      const applying = setInterval(() => {
        reporter.addApplied(1, 10);
      }, 5);
      const reports = control.reports.length;
      await waitFor(() => control.reports.length >= reports + 4);
      expect(quiet).toEqual([]);
      clearInterval(applying);
      await waitFor(() => quiet.length === 1);
      await reporter.stop();
    });

    it('reports at once when asked while idle (someone waits for its checkpoint), then idles again', async () => {
      const { control, reporter, quiet } = idleSetup(60_000);
      reporter.start();
      reporter.setCaughtUp(true);
      await waitFor(() => quiet.length === 1);
      const reports = control.reports.length;
      reporter.reportIfIdle();
      await waitFor(() => control.reports.length === reports + 1 && quiet.length === 3);
      expect(control.urgent[reports]).toBe(true);
      expect(quiet).toEqual([true, false, true]);
      await new Promise((r) => setTimeout(r, 100));
      expect(control.reports).toHaveLength(reports + 1);
      await reporter.stop();
    });

    it('asked while idle with a replicator waiting out ticks, lets it take them first, then reports', async () => {
      const { control, reporter, quiet } = idleSetup(60_000);
      reporter.start();
      reporter.setCaughtUp(true);
      await waitFor(() => quiet.length === 1);
      const reports = control.reports.length;
      let cuts = 0;
      const unwatch = reporter.onCheckpointWanted(() => cuts++);
      reporter.reportIfIdle();
      expect(cuts).toBe(1);
      await new Promise((r) => setTimeout(r, 50));
      expect(control.reports).toHaveLength(reports);
      unwatch();
      reporter.checkpointFresh();
      await waitFor(() => control.reports.length === reports + 1);
      expect(control.urgent[reports]).toBe(true);
      await reporter.stop();
    });

    it('reports a quarantined message at once while idle, not an idle interval later', async () => {
      const { control, reporter, quiet } = idleSetup(60_000);
      reporter.start();
      reporter.setCaughtUp(true);
      await waitFor(() => quiet.length === 1);
      await reporter.quarantine({
        msgId: offsetId(9n),
        timestamp: 0n,
        reason: 'undecodable record',
        payload: new Uint8Array([1]),
      });
      await waitFor(() => control.quarantines.length === 1);
      expect(quiet.slice(0, 2)).toEqual([true, false]); // then idle again, once it is reported
      await reporter.stop();
    });

    it('reports on the worker idle slots: quiet leases that went quiet apart report together', async () => {
      const control = new FakeWorkerControl();
      const idleMs = 300;
      const reporterOn = (channel: string) =>
        new LeaseReporter({
          control,
          lease: { ...lease, channel },
          workerId: 'w1',
          intervalMs: 20,
          idleIntervalMs: idleMs,
          idleSlotPhaseMs: 0,
          log: silentLogger(),
          onLeaseEnd: () => undefined,
        });
      const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
      const first = reporterOn('dml_0');
      first.start();
      first.setCaughtUp(true);
      await sleep(idleMs / 2); // half an interval apart: reporting an interval after their own reports, never together
      const second = reporterOn('dml_1');
      second.start();
      second.setCaughtUp(true);
      const settled = performance.now() + 2 * idleMs; // both quiet, each past its first quiet report
      await sleep(5 * idleMs);
      await Promise.all([first.stop(), second.stop()]);
      const quietTimesOf = (channel: string) =>
        control.reports
          .map((r, i) => ({ channel: r.channel, at: control.reportedAt[i]! }))
          .filter((r) => r.channel === channel)
          .slice(0, -1) // the final report of stop()
          .map((r) => r.at)
          .filter((at) => at > settled);
      const offGrid = (at: number) => {
        const into = at % idleMs; // phase 0 on the performance.now() clock
        return into > idleMs / 4 && into < idleMs - 5; // timers fire late, or a fraction of a ms early
      };
      for (const channel of ['dml_0', 'dml_1']) {
        const times = quietTimesOf(channel);
        expect(times.length).toBeGreaterThanOrEqual(2);
        expect(times.filter(offGrid)).toEqual([]);
        // Each stays within an idle interval of its last report (timers may fire a little late).
        for (let i = 1; i < times.length; i++)
          expect(times[i]! - times[i - 1]!).toBeLessThan(idleMs + 60);
      }
    });

    it('is off without an idle interval', async () => {
      const { control, reporter, quiet } = idleSetup(0);
      reporter.start();
      reporter.setCaughtUp(true);
      await waitFor(() => control.reports.length >= 6);
      expect(quiet).toEqual([]);
      await reporter.stop();
    });
  });

  it('reports the first catch-up of the lease at once, later ones at the interval', async () => {
    const { control, reporter } = setup(60_000);
    reporter.start();
    await waitFor(() => control.reports.length === 1);
    expect(control.reports[0]!.caughtUp).toBe(false);
    reporter.setCaughtUp(true);
    await waitFor(() => control.reports.length === 2);
    expect(control.reports[1]!.caughtUp).toBe(true);
    // Not held back to go with other leases' reports either.
    expect(control.urgent).toEqual([false, true]);
    reporter.setCaughtUp(false);
    reporter.setCaughtUp(true);
    await new Promise((r) => setTimeout(r, 50));
    expect(control.reports).toHaveLength(2);
    await reporter.stop();
  });

  it('reports the first head of the lease at once (it holds replicate-mode ticks back until applied)', async () => {
    const { control, reporter } = setup(60_000);
    reporter.start();
    await waitFor(() => control.reports.length === 1);
    reporter.observeHead(450n);
    await waitFor(() => control.reports.length === 2);
    expect(control.reports[1]!.sourceHeadTimestamp).toBe(450n);
    expect(control.urgent).toEqual([false, true]);
    reporter.observeHead(460n);
    await new Promise((r) => setTimeout(r, 50));
    expect(control.reports).toHaveLength(2);
    await reporter.stop();
  });

  it('reports at a fixed rate when answers are slow, so confirmations stay an interval apart', async () => {
    const { control, reporter } = setup(200);
    control.answerDelayMs = 150;
    reporter.start();
    await waitFor(() => control.reports.length >= 6, 5_000);
    await reporter.stop();
    const at = control.reportedAt.slice(0, 6);
    const spacing = (at[5]! - at[0]!) / 5;
    // An interval after each answer would space them 350 ms apart.
    expect(spacing).toBeGreaterThanOrEqual(190);
    expect(spacing).toBeLessThan(290);
  });

  it('keeps the lease through a FAILED_PRECONDITION that is not a lost lease', async () => {
    const { control, reporter, ended } = setup(1);
    control.answers = [
      new CdcError('FAILED_PRECONDITION', 'initial sync is not served here', { retryable: false }),
    ];
    reporter.start();
    await waitFor(() => control.reports.length >= 3);
    await reporter.stop();
    expect(ended).toEqual([]);
  });

  it('keeps the lease and keeps reporting through other report failures', async () => {
    const { control, reporter, ended } = setup(1);
    control.answers = [new CdcError('UNAVAILABLE', 'control down', { retryable: true })];
    reporter.start();
    await waitFor(() => control.reports.length >= 3);
    await reporter.stop();
    expect(ended).toEqual([]);
  });

  it('sends a final report with the last position on stop', async () => {
    const { control, reporter } = setup();
    reporter.start();
    await waitFor(() => control.reports.length === 1);
    reporter.checkpoint(offsetId(9n), 90n);
    await reporter.stop();
    expect(control.reports).toHaveLength(2);
    expect(control.reports[1]?.position).toEqual({
      msgId: offsetId(9n),
      timestamp: 90n,
      batchIndex: 0,
    });
  });

  it('sends no final report when the position was already reported', async () => {
    const { control, reporter } = setup();
    reporter.checkpoint(offsetId(9n), 90n);
    reporter.start();
    await waitFor(() => control.reports.length === 1);
    await reporter.stop();
    expect(control.reports).toHaveLength(1);
  });

  it('swallows a failed final report (stale epoch: the next owner resumes from its checkpoint)', async () => {
    const { control, reporter, ended } = setup();
    control.answers = [stale()];
    reporter.checkpoint(offsetId(9n), 90n);
    await expect(reporter.stop()).resolves.toBeUndefined();
    expect(control.reports).toHaveLength(1);
    expect(ended).toEqual([]);
  });

  it('relays quarantined messages to the control plane, several per call, before the checkpoint past them', async () => {
    const { control, reporter, quarantines } = setup();
    const message = (n: bigint) => ({
      msgId: offsetId(n),
      timestamp: n * 10n,
      reason: `undecodable record ${n}`,
      payload: new Uint8Array([Number(n)]),
    });
    await reporter.quarantine(message(3n));
    await reporter.quarantine(message(4n));
    reporter.checkpoint(offsetId(5n), 50n);
    expect(control.quarantines).toEqual([]);
    await reporter.reportOnce();
    expect(control.quarantineCalls).toBe(1);
    expect(control.quarantines).toEqual([
      { lease, entry: { ...message(3n), payloadSize: 1, target: '' } },
      { lease, entry: { ...message(4n), payloadSize: 1, target: '' } },
    ]);
    expect(control.reports.map((r) => r.position?.timestamp)).toEqual([50n]);
    expect(quarantines()).toBe(2);
  });

  it('a fan-out target’s refusal names the target', async () => {
    const { control, reporter } = setup();
    await reporter.forFanOutTarget('http://fan:19530').quarantine({
      msgId: offsetId(1n),
      timestamp: 1n,
      reason: 'bad row',
      payload: new Uint8Array(),
    });
    await reporter.reportOnce();
    expect(control.quarantines[0]?.entry).toMatchObject({
      target: 'http://fan:19530',
      reason: 'target http://fan:19530: bad row',
    });
  });

  it('sends a full batch at once, cutting payloads and reasons to what the control service keeps', async () => {
    const { control, reporter } = setup();
    const big = new Uint8Array(3 * 1024 * 1024);
    await reporter.quarantine({
      msgId: offsetId(1n),
      timestamp: 1n,
      reason: 'r'.repeat(10_000),
      payload: big,
    });
    // 1 MiB of payload is sent per message; two of them fill the buffer (2 MiB) and go one per call.
    expect(control.quarantineCalls).toBe(0);
    await reporter.quarantine({ msgId: offsetId(2n), timestamp: 2n, reason: 'x', payload: big });
    expect(control.quarantineCalls).toBe(2);
    expect(control.quarantines.map((q) => q.entry.payload.length)).toEqual([
      1024 * 1024,
      1024 * 1024,
    ]);
    expect(control.quarantines[0]?.entry.payloadSize).toBe(big.length);
    expect(control.quarantines[0]?.entry.reason.length).toBe(4096);
    for (let i = 0; i < MAX_BATCH_ENTRIES; i++)
      await reporter.quarantine({
        msgId: offsetId(BigInt(10 + i)),
        timestamp: 1n,
        reason: 'x',
        payload: new Uint8Array(1),
      });
    // A call's worth of small ones: one call.
    expect(control.quarantineCalls).toBe(3);
    expect(control.quarantines).toHaveLength(2 + MAX_BATCH_ENTRIES);
  });

  it('while quarantine reports fail, renews the lease without the checkpoint past the unsent messages', async () => {
    const { control, reporter, ended } = setup();
    control.quarantineAnswers = [new CdcError('UNAVAILABLE', 'etcd down', { retryable: true })];
    await reporter.quarantine({
      msgId: offsetId(1n),
      timestamp: 1n,
      reason: 'x',
      payload: new Uint8Array(),
    });
    reporter.checkpoint(offsetId(2n), 20n);
    await reporter.reportOnce();
    expect(control.quarantines).toEqual([]);
    expect(control.reports).toHaveLength(1);
    expect(control.reports[0]?.position).toBeUndefined();
    expect(ended).toEqual([]);
    await reporter.reportOnce();
    expect(control.quarantines).toHaveLength(1);
    expect(control.reports.map((r) => r.position?.timestamp)).toEqual([undefined, 20n]);
  });

  it('"quarantine full" ends the lease without a checkpoint past the refused message, also at stop', async () => {
    const { control, reporter, ended } = setup();
    const full = new CdcError('FAILED_PRECONDITION', 'quarantine full: task t1 holds 1000', {
      retryable: false,
    });
    control.quarantineAnswers = [full, full];
    await reporter.quarantine({
      msgId: offsetId(1n),
      timestamp: 1n,
      reason: 'x',
      payload: new Uint8Array(),
    });
    reporter.checkpoint(offsetId(2n), 20n);
    await expect(reporter.reportOnce()).rejects.toThrow('quarantine full');
    expect(ended).toEqual(['quarantine full: task t1 holds 1000']);
    await reporter.stop();
    expect(control.quarantineCalls).toBe(2);
    expect(control.reports).toEqual([]);
  });
});
