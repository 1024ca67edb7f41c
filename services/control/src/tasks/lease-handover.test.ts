import { CdcError } from '@cdc/shared';
import { beforeEach, describe, expect, it } from 'vitest';
import { LeaseService } from './lease-service.js';
import { replicateWatermark } from './replicate-watermark.js';
import { TaskService } from './task-service.js';
import { emptyChannelRecord } from '../domain/model.js';
import { MemoryStores, plainBox, spec } from '../testing/memory-stores.js';

const CHANNEL = 'by-dev-rootcoord-dml_0';
const TIMING = { writeValidityMs: 5_000, handoverMs: 7_000, pauseLeadMs: 2_500 };

function codeOf(err: unknown): string {
  return err instanceof CdcError ? err.code : String(err);
}

describe('lease handover waits for the old holder to stop writing', () => {
  let stores: MemoryStores;
  let leases: LeaseService;
  let tasks: TaskService;
  let taskId: string;
  const now = { t: 1_000_000 };

  /** The task service of these tests; `channels`: what discovery finds on the source. */
  const taskService = (channels: readonly string[] = [CHANNEL]): TaskService =>
    new TaskService({
      tasks: stores,
      channels: stores.channelStore(),
      secrets: plainBox,
      reachability: { check: () => Promise.resolve() },
      discovery: { discover: () => Promise.resolve([...channels]) },
      clock: { now: () => now.t },
      staleReportMs: 5_000,
      pauseLeadMs: 2_500,
    });

  /** The lease service of these tests, over `taskService`, with `extra` settings. */
  const leaseService = (
    taskService: TaskService,
    extra: Partial<ConstructorParameters<typeof LeaseService>[0]> = {},
  ): LeaseService =>
    new LeaseService({
      tasks: taskService,
      channels: stores.channelStore(),
      clock: { now: () => now.t },
      liveWindowMs: 10_000,
      reportIntervalMs: 1_000,
      replicateReportIntervalMs: 250,
      timing: TIMING,
      ...extra,
    });

  beforeEach(async () => {
    stores = new MemoryStores();
    tasks = taskService();
    leases = leaseService(tasks);
    const { task } = await tasks.create({
      taskId: 'fenced',
      spec: spec({ initial_sync: { enabled: false, batch_rows: 0 } }),
      startPaused: false,
    });
    taskId = task.taskId;
  });

  const reportOf = (epoch: string, workerId: string) => ({
    taskId,
    channel: CHANNEL,
    epoch,
    workerId,
    sourceHeadTimestamp: '0',
    appliedRows: '0',
    appliedBytes: '0',
  });
  const report = (epoch: string, workerId: string) => leases.report(reportOf(epoch, workerId));

  it('grants the write validity with the lease', async () => {
    const grant = await leases.acquire(taskId, CHANNEL, 'a');
    expect(grant.writeValidityMs).toBe(TIMING.writeValidityMs);
  });

  it('asks the leases of a replicate-mode task to report more often', async () => {
    expect((await leases.acquire(taskId, CHANNEL, 'a')).reportIntervalMs).toBe(1_000);
    const base = spec({ initial_sync: { enabled: false, batch_rows: 0 } });
    const { task } = await tasks.create({
      taskId: 'replica',
      spec: {
        ...base,
        target: { ...base.target, uri: '127.0.0.1:19550', mode: 'TARGET_MODE_REPLICATE' },
      },
      startPaused: false,
    });
    expect((await leases.acquire(task.taskId, CHANNEL, 'a')).reportIntervalMs).toBe(250);
  });

  it('asks the replicate channel’s lease of a replicate-mode task to report more often still', async () => {
    const ops = 'by-dev-replicate-msg';
    const both = taskService([CHANNEL, ops]);
    const ticking = leaseService(both, { replicateTickerReportIntervalMs: 100 });
    const base = spec({ initial_sync: { enabled: false, batch_rows: 0 } });
    const replica = await both.create({
      taskId: 'replica-ticker',
      spec: {
        ...base,
        target: { ...base.target, uri: '127.0.0.1:19550', mode: 'TARGET_MODE_REPLICATE' },
      },
      startPaused: false,
    });
    const api = await both.create({
      taskId: 'api-ticker',
      spec: { ...base, target: { ...base.target, uri: '127.0.0.1:19560' } },
      startPaused: false,
    });
    const interval = async (id: string, ch: string) =>
      (await ticking.acquire(id, ch, 'a')).reportIntervalMs;
    expect(await interval(replica.task.taskId, ops)).toBe(100);
    expect(await interval(replica.task.taskId, CHANNEL)).toBe(250);
    expect(await interval(api.task.taskId, ops)).toBe(1_000);
  });

  it('refuses another worker until the handover time after the last confirmation', async () => {
    const a = await leases.acquire(taskId, CHANNEL, 'a');
    now.t += 3_000;
    await expect(report(a.epoch, 'a')).resolves.toMatchObject({ keepLease: true });
    now.t += TIMING.handoverMs - 1;
    const refused = await leases.acquire(taskId, CHANNEL, 'b').catch((e: unknown) => e);
    expect(codeOf(refused)).toBe('LEASE_HELD');
    expect((refused as CdcError).retryable).toBe(true);
    expect((refused as CdcError).details['retryAfterMs']).toBe(1);
    now.t += 1;
    const b = await leases.acquire(taskId, CHANNEL, 'b');
    expect(BigInt(b.epoch)).toBe(BigInt(a.epoch) + 1n);
    // The old holder's late report is fenced off.
    expect(codeOf(await report(a.epoch, 'a').catch((e: unknown) => e))).toBe('LEASE_LOST');
  });

  it('hands over at once when the holder released the lease', async () => {
    const a = await leases.acquire(taskId, CHANNEL, 'a');
    await leases.release(taskId, CHANNEL, a.epoch);
    await expect(leases.acquire(taskId, CHANNEL, 'b')).resolves.toMatchObject({ epoch: '2' });
  });

  it('a restarted worker with the same id also waits: the old process may still run', async () => {
    await leases.acquire(taskId, CHANNEL, 'a');
    expect(codeOf(await leases.acquire(taskId, CHANNEL, 'a').catch((e: unknown) => e))).toBe(
      'LEASE_HELD',
    );
  });

  it('a lease that went unconfirmed past the handover time cannot report any more', async () => {
    const a = await leases.acquire(taskId, CHANNEL, 'a');
    now.t += TIMING.handoverMs;
    expect(codeOf(await report(a.epoch, 'a').catch((e: unknown) => e))).toBe('LEASE_LOST');
  });

  describe('with idle reports', () => {
    const IDLE = { ...TIMING, idleReportMs: 5_000 };

    it('grants the idle interval to API-mode leases only', async () => {
      const idle = leaseService(tasks, { timing: IDLE });
      expect((await idle.acquire(taskId, CHANNEL, 'a')).idleReportIntervalMs).toBe(5_000);
      const base = spec({ initial_sync: { enabled: false, batch_rows: 0 } });
      const { task } = await tasks.create({
        taskId: 'replica-idle',
        spec: {
          ...base,
          target: { ...base.target, uri: '127.0.0.1:19550', mode: 'TARGET_MODE_REPLICATE' },
        },
        startPaused: false,
      });
      expect((await idle.acquire(task.taskId, CHANNEL, 'a')).idleReportIntervalMs).toBe(0);
    });

    it('confirms a lease silent past the handover time while nobody took the channel over', async () => {
      const idle = leaseService(tasks, { timing: IDLE });
      const a = await idle.acquire(taskId, CHANNEL, 'a');
      now.t += TIMING.handoverMs + 4_000;
      await expect(idle.report({ ...reportOf(a.epoch, 'a') })).resolves.toMatchObject({
        keepLease: true,
      });
      expect(stores.channelRows.get(`${taskId}/${CHANNEL}`)?.value.confirmedMs).toBe(now.t);
    });

    it('still hands the channel over at the handover time, and then fences the old holder off', async () => {
      const idle = leaseService(tasks, { timing: IDLE });
      const a = await idle.acquire(taskId, CHANNEL, 'a');
      now.t += TIMING.handoverMs;
      const b = await idle.acquire(taskId, CHANNEL, 'b');
      expect(BigInt(b.epoch)).toBe(BigInt(a.epoch) + 1n);
      expect(codeOf(await idle.report(reportOf(a.epoch, 'a')).catch((e: unknown) => e))).toBe(
        'LEASE_LOST',
      );
    });

    it('a lease silent for one idle gap past the handover time is gone for good', async () => {
      const idle = leaseService(tasks, { timing: IDLE });
      const a = await idle.acquire(taskId, CHANNEL, 'a');
      now.t += TIMING.handoverMs + IDLE.idleReportMs;
      expect(codeOf(await idle.report(reportOf(a.epoch, 'a')).catch((e: unknown) => e))).toBe(
        'LEASE_LOST',
      );
    });
  });

  it('a lease told to stop is never confirmed again, and moves once released or expired', async () => {
    const a = await leases.acquire(taskId, CHANNEL, 'a');
    const rec = stores.channelRows.get(`${taskId}/${CHANNEL}`);
    if (rec === undefined) throw new Error('no channel record');
    expect(
      stores.channelRows.put(
        `${taskId}/${CHANNEL}`,
        { ...rec.value, endRequested: 'rebalancing' },
        rec.version,
      ),
    ).toBe(true);
    const confirmedBefore = stores.channelRows.get(`${taskId}/${CHANNEL}`)?.value.confirmedMs;
    now.t += 1_000;
    await expect(report(a.epoch, 'a')).resolves.toMatchObject({
      keepLease: false,
      reason: 'rebalancing',
    });
    expect(stores.channelRows.get(`${taskId}/${CHANNEL}`)?.value.confirmedMs).toBe(confirmedBefore);
    expect(codeOf(await leases.acquire(taskId, CHANNEL, 'b').catch((e: unknown) => e))).toBe(
      'LEASE_HELD',
    );
    now.t += TIMING.handoverMs;
    await expect(leases.acquire(taskId, CHANNEL, 'b')).resolves.toMatchObject({ epoch: '2' });
  });

  it('asks for the lease job back soon when a channel moves for rebalancing, not on an ordinary release', async () => {
    let moves = 0;
    const moving = leaseService(tasks, {
      onRebalanceMove: () => {
        moves++;
      },
    });
    const first = await moving.acquire(taskId, CHANNEL, 'a');
    await moving.release(taskId, CHANNEL, first.epoch);
    expect(moves).toBe(0);
    const a = await moving.acquire(taskId, CHANNEL, 'a');
    const rec = stores.channelRows.get(`${taskId}/${CHANNEL}`);
    if (rec === undefined) throw new Error('no channel record');
    stores.channelRows.put(
      `${taskId}/${CHANNEL}`,
      { ...rec.value, endRequested: 'rebalancing' },
      rec.version,
    );
    await moving.release(taskId, CHANNEL, a.epoch);
    expect(moves).toBe(1);
    // The worker it was moved from picks the job again: refused, and the job is asked back for another worker.
    const refused = await moving.acquire(taskId, CHANNEL, 'a').catch((e: unknown) => e);
    expect(codeOf(refused)).toBe('FAILED_PRECONDITION');
    expect(moves).toBe(2);
    await expect(moving.acquire(taskId, CHANNEL, 'b')).resolves.toMatchObject({ epoch: '3' });
  });

  it('a channel whose holder died stays in the replicate watermark, also once another holds it', async () => {
    // A busy, caught-up channel: each report saw the head move to the checkpoint just applied.
    const a = await leases.acquire(taskId, CHANNEL, 'a');
    for (let ts = 100n; ts <= 400n; ts += 100n) {
      now.t += 1_000;
      await leases.report({
        taskId,
        channel: CHANNEL,
        epoch: a.epoch,
        workerId: 'a',
        position: { msg_id: '', timestamp: ts.toString(), batch_index: 0 },
        sourceHeadTimestamp: ts.toString(),
        appliedRows: '0',
        appliedBytes: '0',
        caughtUp: true,
      });
    }
    // Worker a is SIGKILLed: the source keeps writing to the channel, nobody reads it. Another channel moved on.
    const record = async () => (await stores.channelStore().get(taskId, CHANNEL))?.value;
    const watermarkAt = async () =>
      replicateWatermark([await record(), otherChannel(now.t)], now.t);
    for (let waited = 0; waited < TIMING.handoverMs; waited += 500) {
      now.t += 500;
      expect(await watermarkAt(), `${waited + 500} ms after the last report`).toBe(400n);
    }
    await leases.acquire(taskId, CHANNEL, 'b');
    for (let waited = 0; waited < 10_000; waited += 500) {
      now.t += 500;
      expect(await watermarkAt(), `${waited + 500} ms after the grant`).toBe(400n);
    }
  });
});

/** A channel far ahead of the one under test, reported just now. */
function otherChannel(nowMs: number) {
  return {
    ...emptyChannelRecord(),
    position: { msg_id: '', timestamp: '9000', batch_index: 0 },
    sourceHeadTimestamp: '9000',
    headAdvancedMs: nowMs,
    updateTimeMs: nowMs,
    caughtUp: true,
  };
}
