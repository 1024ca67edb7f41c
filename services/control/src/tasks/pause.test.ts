import { composeTs } from '@cdc/shared';
import { beforeEach, describe, expect, it } from 'vitest';
import { LeaseService } from './lease-service.js';
import { TaskService } from './task-service.js';
import { MemoryStores, plainBox, spec } from '../testing/memory-stores.js';

const DML = 'by-dev-rootcoord-dml_0';
const OPS = 'by-dev-replicate-msg';
const TIMING = { writeValidityMs: 5_000, handoverMs: 7_000, pauseLeadMs: 2_500 };

describe('pause is a point in time', () => {
  let stores: MemoryStores;
  let tasks: TaskService;
  let leases: LeaseService;
  const now = { t: 1_700_000_000_000 };
  const taskId = 'p1';

  beforeEach(async () => {
    stores = new MemoryStores();
    const clock = { now: () => now.t };
    tasks = new TaskService({
      tasks: stores,
      channels: stores.channelStore(),
      secrets: plainBox,
      reachability: { check: () => Promise.resolve() },
      discovery: { discover: () => Promise.resolve([DML, OPS]) },
      clock,
      staleReportMs: 5_000,
      pauseLeadMs: TIMING.pauseLeadMs,
    });
    leases = new LeaseService({
      tasks,
      channels: stores.channelStore(),
      clock,
      liveWindowMs: 10_000,
      reportIntervalMs: 1_000,
      timing: TIMING,
    });
    await tasks.create({
      taskId,
      spec: spec({ initial_sync: { enabled: false, batch_rows: 0 } }),
      startPaused: false,
    });
  });

  const report = (
    channel: string,
    epoch: string,
    extra: { pauseReached?: string; caughtUp?: boolean } = {},
  ) =>
    leases.report({
      taskId,
      channel,
      epoch,
      workerId: 'w',
      sourceHeadTimestamp: '0',
      appliedRows: '0',
      appliedBytes: '0',
      ...extra,
    });

  it('sets the pause point past every apply bound already granted, and PAUSES once every channel stopped there', async () => {
    const dml = await leases.acquire(taskId, DML, 'w');
    const ops = await leases.acquire(taskId, OPS, 'w');
    expect(BigInt(dml.applyUntil)).toBe(composeTs(now.t + 2_500));

    now.t += 500;
    const pausing = await tasks.pause(taskId, 'maintenance');
    const point = composeTs(now.t + 2_500).toString();
    expect(pausing).toMatchObject({
      state: 'TASK_STATE_PAUSING',
      pause: { timestamp: point, immediate: false },
    });
    expect(BigInt(point)).toBeGreaterThan(BigInt(dml.applyUntil));

    // Until a channel reached the point it keeps its lease, and hears where to stop.
    await expect(report(DML, dml.epoch)).resolves.toMatchObject({
      keepLease: true,
      pause: { timestamp: point, immediate: false },
    });
    await expect(report(DML, dml.epoch, { pauseReached: point })).resolves.toMatchObject({
      keepLease: false,
      reason: 'task paused',
    });
    await leases.release(taskId, DML, dml.epoch);
    expect((await tasks.get(taskId)).state).toBe('TASK_STATE_PAUSING'); // the replicate channel still runs
    await expect(leases.acquire(taskId, DML, 'w2')).rejects.toThrow(/has stopped/);

    await report(OPS, ops.epoch, { pauseReached: point });
    await leases.release(taskId, OPS, ops.epoch);
    expect(await tasks.get(taskId)).toMatchObject({
      state: 'TASK_STATE_PAUSED',
      reason: 'maintenance',
    });
    expect((await tasks.positions(taskId)).channels.every((c) => c.paused && c.lagMs === 0)).toBe(
      true,
    );

    const resumed = await tasks.resume(taskId);
    expect(resumed.state).toBe('TASK_STATE_RUNNING');
    expect(resumed.pause).toBeUndefined();
  });

  it('a lease taken while pausing hears the pause at once; a released channel that did not reach it is not stopped', async () => {
    const first = await leases.acquire(taskId, DML, 'w');
    await tasks.pause(taskId, '');
    await leases.release(taskId, DML, first.epoch); // e.g. rebalanced before it reached the point
    const ops = await leases.acquire(taskId, OPS, 'w');
    await report(OPS, ops.epoch, {
      pauseReached: (await tasks.get(taskId)).pause?.timestamp ?? '',
    });
    await leases.release(taskId, OPS, ops.epoch);
    expect((await tasks.get(taskId)).state).toBe('TASK_STATE_PAUSING');
    expect(await leases.settlePause(taskId)).toEqual({ running: [DML] });
    const again = await leases.acquire(taskId, DML, 'w2');
    expect(again.pause).toMatchObject({ immediate: false });
  });

  it('an immediate pause (or an error that needs a person) settles once every lease let go', async () => {
    const dml = await leases.acquire(taskId, DML, 'w');
    await leases.failure({
      taskId,
      channel: DML,
      epoch: dml.epoch,
      reason: 'target schema conflict',
      needsPerson: true,
    });
    const task = await tasks.get(taskId);
    expect(task).toMatchObject({ state: 'TASK_STATE_PAUSED', pause: { immediate: true } });
    expect(task.reason).toBe(`${DML}: target schema conflict`);
  });

  it('with idle reports, a silent lease counts as stopped only once it can never be confirmed again', async () => {
    const idle = new LeaseService({
      tasks,
      channels: stores.channelStore(),
      clock: { now: () => now.t },
      liveWindowMs: 10_000,
      reportIntervalMs: 1_000,
      timing: { ...TIMING, idleReportMs: 5_000 },
    });
    const dml = await idle.acquire(taskId, DML, 'w');
    const ops = await idle.acquire(taskId, OPS, 'w');
    await tasks.pause(taskId, 'now', 'user', true);
    await idle.release(taskId, OPS, ops.epoch);
    now.t += TIMING.handoverMs; // an idle lease may still be reporting: its next report would be confirmed
    expect(await idle.settlePause(taskId)).toEqual({ running: [DML] });
    now.t += 5_000;
    expect(await idle.settlePause(taskId)).toEqual({ running: [] });
    expect((await tasks.get(taskId)).state).toBe('TASK_STATE_PAUSED');
    const late = await idle
      .report({
        taskId,
        channel: DML,
        epoch: dml.epoch,
        workerId: 'w',
        sourceHeadTimestamp: '0',
        appliedRows: '0',
        appliedBytes: '0',
      })
      .catch((e: unknown) => e);
    expect(late).toMatchObject({ code: 'LEASE_LOST' });
  });

  it('a second PauseTask can only make a pending pause immediate', async () => {
    const first = await tasks.pause(taskId, 'a');
    const same = await tasks.pause(taskId, 'b');
    expect(same.pause).toEqual(first.pause);
    const now2 = await tasks.pause(taskId, 'c', 'user', true);
    expect(now2.pause).toMatchObject({ timestamp: first.pause?.timestamp, immediate: true });
  });

  it('reports lag 0 for a live caught-up channel, else the age of its checkpoint at the last report, rising once silent', async () => {
    const dml = await leases.acquire(taskId, DML, 'w');
    const ts = composeTs(now.t - 800).toString();
    await leases.report({
      taskId,
      channel: DML,
      epoch: dml.epoch,
      workerId: 'w',
      position: { msg_id: 'AA==', timestamp: ts, batch_index: 0 },
      sourceHeadTimestamp: ts,
      appliedRows: '0',
      appliedBytes: '0',
      caughtUp: false,
    });
    const lagOf = async () =>
      (await tasks.positions(taskId)).channels.find((c) => c.channel === DML)?.lagMs;
    expect(await lagOf()).toBe(800);
    now.t += 1_000; // as of the last report: the lease may have applied more since
    expect(await lagOf()).toBe(800);
    await report(DML, dml.epoch, { caughtUp: true });
    expect(await lagOf()).toBe(0);
    now.t += 6_000; // the lease went silent: it may be behind by now
    expect(await lagOf()).toBe(7_800);
  });
});
