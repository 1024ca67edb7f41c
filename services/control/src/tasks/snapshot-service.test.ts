import { CdcError } from '@cdc/shared';
import { beforeEach, describe, expect, it } from 'vitest';
import type { TaskRecord } from '../domain/model.js';
import { LeaseService } from './lease-service.js';
import type { SnapshotCollection } from './ports.js';
import { MemoryStores, plainBox, spec } from '../testing/memory-stores.js';
import { SnapshotService, type SnapshotReport } from './snapshot-service.js';
import { TaskService } from './task-service.js';

const COLLECTIONS: SnapshotCollection[] = [
  { collectionId: '11', database: 'shop', collection: 'orders' },
  { collectionId: '12', database: 'shop', collection: 'users' },
];

describe('initial sync phase (SnapshotService)', () => {
  let stores: MemoryStores;
  let tasks: TaskService;
  let snapshots: SnapshotService;
  let leases: LeaseService;
  let planned: SnapshotCollection[];
  const now = { t: 1_000 };
  const clock = { now: () => now.t };

  beforeEach(() => {
    stores = new MemoryStores();
    planned = [...COLLECTIONS];
    tasks = new TaskService({
      tasks: stores,
      channels: stores.channelStore(),
      secrets: plainBox,
      reachability: { check: () => Promise.resolve() },
      discovery: { discover: () => Promise.resolve(['by-dev-rootcoord-dml_0']) },
      clock,
      staleReportMs: 5_000,
      pauseLeadMs: 2_500,
    });
    snapshots = new SnapshotService({
      tasks,
      store: stores,
      planner: { collections: () => Promise.resolve(planned) },
      clock,
    });
    leases = new LeaseService({
      tasks,
      channels: stores.channelStore(),
      clock,
      liveWindowMs: 10_000,
      reportIntervalMs: 1_000,
      timing: { writeValidityMs: 5_000, handoverMs: 7_000, pauseLeadMs: 2_500 },
    });
  });

  async function created(): Promise<TaskRecord> {
    return (await tasks.create({ taskId: 't1', spec: spec(), startPaused: false })).task;
  }

  function report(over: Partial<SnapshotReport>): SnapshotReport {
    return {
      taskId: 't1',
      collectionId: '11',
      epoch: '1',
      workerId: 'w1',
      state: 'SNAPSHOT_STATE_COPYING',
      rowsCopied: '0',
      rowsTotal: '0',
      partition: '',
      lastKey: '',
      error: '',
      needsPerson: false,
      ...over,
    };
  }

  it('plans one PENDING copy per in-scope collection and refuses channel leases until every copy is done', async () => {
    const task = await created();
    expect(task.initialSync).toEqual({ copying: true, planned: false });
    expect(await snapshots.pending(task)).toEqual(['11', '12']);
    // Planning again (a new leader) neither duplicates nor resets anything.
    planned.push({ collectionId: '13', database: 'shop', collection: 'late' });
    expect(await snapshots.pending(await tasks.get('t1'))).toEqual(['11', '12']);
    await expect(leases.acquire('t1', 'by-dev-rootcoord-dml_0', 'w1')).rejects.toThrow(
      /copying initial data/,
    );

    for (const id of ['11', '12']) {
      const grant = await snapshots.acquire('t1', id, 'w1');
      expect(grant.spec.source.milvus.uri).toBe('http://127.0.0.1:19530');
      await snapshots.report(
        report({ collectionId: id, epoch: grant.epoch, state: 'SNAPSHOT_STATE_DONE' }),
      );
    }
    expect(await snapshots.pending(await tasks.get('t1'))).toEqual([]);
    const after = await tasks.get('t1');
    expect(after.initialSync).toEqual({ copying: false, planned: true });
    const lease = await leases.acquire('t1', 'by-dev-rootcoord-dml_0', 'w1');
    // The stream starts at the task's creation time (T0), the point the copy is anchored on.
    expect(lease.start).toMatchObject({ kind: 'START_KIND_TIMESTAMP', fromCheckpoint: false });
    expect(BigInt(lease.start.timestamp) >> 18n).toBe(BigInt(after.createTimeMs));
    const status = await snapshots.status(after);
    expect(status?.collections.map((c) => [c.collection, c.state])).toEqual([
      ['orders', 'SNAPSHOT_STATE_DONE'],
      ['users', 'SNAPSHOT_STATE_DONE'],
    ]);
  });

  it('fences a taken-over copy by epoch and hands the next worker the last reported key', async () => {
    await snapshots.pending(await created());
    const a = await snapshots.acquire('t1', '11', 'wa');
    await snapshots.report(
      report({
        epoch: a.epoch,
        rowsCopied: '4000',
        rowsTotal: '9000',
        partition: 'p1',
        lastKey: '77',
      }),
    );
    const b = await snapshots.acquire('t1', '11', 'wb');
    expect(b.epoch).toBe('2');
    expect(b.progress).toMatchObject({ rowsCopied: '4000', partition: 'p1', lastKey: '77' });
    const stale = snapshots.report(report({ epoch: a.epoch, rowsCopied: '8000', lastKey: '99' }));
    await expect(stale).rejects.toThrow(/stale snapshot epoch/);
    expect((await stores.get('t1', '11'))?.value).toMatchObject({ lastKey: '77', workerId: 'wb' });
    await snapshots.report(report({ epoch: b.epoch, state: 'SNAPSHOT_STATE_DONE' }));
    await expect(snapshots.acquire('t1', '11', 'wc')).rejects.toThrow(/already copied/);
  });

  it('keeps the progress of a paused task but tells the worker to stop; resume continues after it', async () => {
    await snapshots.pending(await created());
    const grant = await snapshots.acquire('t1', '11', 'w1');
    await tasks.pause('t1', 'maintenance');
    const answer = await snapshots.report(
      report({ epoch: grant.epoch, lastKey: '5', rowsCopied: '5' }),
    );
    expect(answer).toEqual({ keepGoing: false, reason: 'task paused' });
    await expect(snapshots.acquire('t1', '11', 'w1')).rejects.toThrow(/paused/);
    expect(await snapshots.pending(await tasks.get('t1'))).toEqual(['11', '12']);
    await tasks.resume('t1');
    expect((await snapshots.acquire('t1', '11', 'w2')).progress.lastKey).toBe('5');
  });

  it('pauses the task with the reason when a copy fails in a way a person must fix', async () => {
    await snapshots.pending(await created());
    const grant = await snapshots.acquire('t1', '12', 'w1');
    const answer = await snapshots.report(
      report({
        collectionId: '12',
        epoch: grant.epoch,
        error: 'source collection shop.users is not loaded',
        needsPerson: true,
      }),
    );
    expect(answer.keepGoing).toBe(false);
    const task = await tasks.get('t1');
    expect(task.state).toBe('TASK_STATE_PAUSED');
    expect(task.reason).toBe(
      'initial sync of shop.users: source collection shop.users is not loaded',
    );
    expect((await stores.get('t1', '12'))?.value).toMatchObject({
      state: 'SNAPSHOT_STATE_COPYING',
      lastError: 'source collection shop.users is not loaded',
    });
  });

  it('ends the copy phase at once when nothing is in scope', async () => {
    planned = [];
    const task = await created();
    expect(await snapshots.pending(task)).toEqual([]);
    expect((await tasks.get('t1')).initialSync).toEqual({ copying: false, planned: true });
  });

  it('rejects initial sync without the source server or with a start other than latest', async () => {
    const noServer = spec();
    noServer.source.milvus.uri = '';
    await expect(tasks.create({ taskId: 'x', spec: noServer, startPaused: false })).rejects.toThrow(
      /spec\.source\.milvus\.uri.*initial_sync/,
    );
    const earliest = spec({
      start: { kind: 'START_KIND_EARLIEST', timestamp: '0', positions: {} },
    });
    const err = await tasks
      .create({ taskId: 'x', spec: earliest, startPaused: false })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CdcError);
    expect((err as CdcError).code).toBe('INVALID_ARGUMENT');
    expect((err as CdcError).message).toMatch(/spec\.start\.kind/);
    // Without initial sync the spec has no initial_sync field: digests of existing tasks do not change.
    const plain = await tasks.create({
      taskId: 'plain',
      spec: spec({ initial_sync: { enabled: false, batch_rows: 0 } }),
      startPaused: false,
    });
    expect('initial_sync' in plain.task.spec).toBe(false);
    expect(plain.task.initialSync).toBeUndefined();
  });
});
