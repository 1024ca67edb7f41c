import { beforeEach, describe, expect, it } from 'vitest';
import { LeaseService } from './lease-service.js';
import { TaskService } from './task-service.js';
import { MemoryStores, plainBox, spec } from '../testing/memory-stores.js';
import type { CheckpointReport } from './checkpoint-report.js';

const CHANNELS = ['by-dev-rootcoord-dml_0', 'by-dev-rootcoord-dml_1', 'by-dev-rootcoord-dml_2'];
const TIMING = { writeValidityMs: 3_000, handoverMs: 4_000, pauseLeadMs: 2_500 };

describe('batched checkpoint reports (ReportCheckpoints)', () => {
  let stores: MemoryStores;
  let tasks: TaskService;
  const now = { t: 1_000_000 };
  let beforeWrite: (() => Promise<void>) | undefined;
  let writes = 0;

  const leasesWith = (batched: boolean): LeaseService =>
    new LeaseService({
      tasks,
      channels: stores.channelStore(),
      clock: { now: () => now.t },
      liveWindowMs: 10_000,
      reportIntervalMs: 1_000,
      timing: TIMING,
      ...(batched
        ? {
            batch: stores.reportBatchStore({
              beforeWrite: async () => {
                writes++;
                await beforeWrite?.();
              },
            }),
          }
        : {}),
    });

  beforeEach(async () => {
    stores = new MemoryStores();
    beforeWrite = undefined;
    writes = 0;
    tasks = new TaskService({
      tasks: stores,
      channels: stores.channelStore(),
      secrets: plainBox,
      reachability: { check: () => Promise.resolve() },
      discovery: { discover: () => Promise.resolve(CHANNELS) },
      clock: { now: () => now.t },
      staleReportMs: 5_000,
      pauseLeadMs: TIMING.pauseLeadMs,
    });
    for (const taskId of ['a', 'b'])
      await tasks.create({
        taskId,
        spec: spec({
          initial_sync: { enabled: false, batch_rows: 0 },
          scope: { include: [{ database: `db_${taskId}`, collection: '*' }], exclude: [] },
        }),
        startPaused: false,
      });
  });

  const reportOf = (taskId: string, channel: string, epoch: string): CheckpointReport => ({
    taskId,
    channel,
    epoch,
    workerId: 'w',
    position: { msg_id: 'AQ==', timestamp: '5', batch_index: 0 },
    sourceHeadTimestamp: '7',
    appliedRows: '3',
    appliedBytes: '30',
  });

  it('confirms every current lease in one write, refuses only the stale epoch', async () => {
    const leases = leasesWith(true);
    const [g0, g1] = [
      await leases.acquire('a', CHANNELS[0] ?? '', 'w'),
      await leases.acquire('a', CHANNELS[1] ?? '', 'w'),
    ];
    const g2 = await leases.acquire('b', CHANNELS[0] ?? '', 'w');
    now.t += 1_000;
    const out = await leases.reportMany([
      reportOf('a', CHANNELS[0] ?? '', g0.epoch),
      reportOf('a', CHANNELS[1] ?? '', String(BigInt(g1.epoch) + 5n)), // not this lease's epoch
      reportOf('b', CHANNELS[0] ?? '', g2.epoch),
    ]);
    expect(writes).toBe(1);
    expect(out[0]?.answer).toMatchObject({ keepLease: true, reason: '' });
    expect(out[1]?.error?.code).toBe('LEASE_LOST');
    expect(out[2]?.answer).toMatchObject({ keepLease: true });
    expect(BigInt(out[0]?.answer?.applyUntil ?? '0') >> 18n).toBe(
      BigInt(now.t + TIMING.pauseLeadMs),
    );
    const rec = stores.channelRows.get(`a/${CHANNELS[0] ?? ''}`)?.value;
    expect(rec).toMatchObject({
      confirmedMs: now.t,
      appliedRows: '3',
      position: { timestamp: '5' },
    });
    // The refused report wrote nothing.
    expect(stores.channelRows.get(`a/${CHANNELS[1] ?? ''}`)?.value.confirmedMs).toBe(now.t - 1_000);
  });

  it("tells a pausing or deleted task's leases to stop, and confirms the others", async () => {
    const leases = leasesWith(true);
    const ga = await leases.acquire('a', CHANNELS[0] ?? '', 'w');
    const gb = await leases.acquire('b', CHANNELS[0] ?? '', 'w');
    const gb1 = await leases.acquire('b', CHANNELS[1] ?? '', 'w');
    await tasks.pause('a', 'by test', 'user', true);
    const out = await leases.reportMany([
      reportOf('a', CHANNELS[0] ?? '', ga.epoch),
      reportOf('b', CHANNELS[0] ?? '', gb.epoch),
    ]);
    const pause = out[0]?.answer?.pause;
    expect(pause).toMatchObject({ immediate: true });
    expect(out[1]?.answer).toMatchObject({ keepLease: true });
    expect(out[1]?.answer?.pause).toBeUndefined();
    const stopped = await leases.reportMany([
      { ...reportOf('a', CHANNELS[0] ?? '', ga.epoch), pauseReached: pause?.timestamp ?? '' },
      reportOf('b', CHANNELS[0] ?? '', gb.epoch),
    ]);
    expect(stopped[0]?.answer).toMatchObject({
      keepLease: false,
      reason: 'task paused',
      applyUntil: '0',
    });
    expect(stopped[1]?.answer).toMatchObject({ keepLease: true });
    await leases.release('a', CHANNELS[0] ?? '', ga.epoch);
    expect((await tasks.get('a')).state).toBe('TASK_STATE_PAUSED');
    await tasks.delete('b', false);
    const deleting = await leases.reportMany([reportOf('b', CHANNELS[1] ?? '', gb1.epoch)]);
    expect(deleting[0]?.answer).toMatchObject({ keepLease: false });
    await stores.remove('b');
    const gone = await leases.reportMany([reportOf('b', CHANNELS[1] ?? '', gb1.epoch)]);
    expect(gone[0]?.answer).toMatchObject({ keepLease: false, reason: 'task deleted' });
  });

  it('judges a report again on its own when a pause lands between the read and the write', async () => {
    const leases = leasesWith(true);
    const ga = await leases.acquire('a', CHANNELS[0] ?? '', 'w');
    const gb = await leases.acquire('b', CHANNELS[0] ?? '', 'w');
    now.t += 500;
    let paused: string | undefined;
    beforeWrite = async () => {
      beforeWrite = undefined;
      paused = (await tasks.pause('a', 'by test', 'user', false)).pause?.timestamp;
    };
    const out = await leases.reportMany([
      reportOf('a', CHANNELS[0] ?? '', ga.epoch),
      reportOf('b', CHANNELS[0] ?? '', gb.epoch),
    ]);
    expect(paused).toBeDefined();
    // Answered from the record as it is after the pause: the lease hears of the pause point it must stop at.
    expect(out[0]?.answer?.pause?.timestamp).toBe(paused);
    expect(out[1]?.answer).toMatchObject({ keepLease: true });
    expect(out[1]?.answer?.pause).toBeUndefined();
  });

  it('answers exactly as single reports do', async () => {
    for (const batched of [false, true]) {
      stores.channelRows.remove('');
      const leases = leasesWith(batched);
      const g = await leases.acquire('a', CHANNELS[2] ?? '', 'w');
      const out = await leases.reportMany([
        reportOf('a', CHANNELS[2] ?? '', g.epoch),
        reportOf('a', CHANNELS[2] ?? '', g.epoch), // a second report of one lease goes after the first
        { ...reportOf('a', CHANNELS[2] ?? '', g.epoch), workerId: 'bad id\n' },
      ]);
      expect(out.map((o) => o.answer?.keepLease ?? o.error?.code)).toEqual([
        true,
        true,
        'INVALID_ARGUMENT',
      ]);
    }
  });
});
