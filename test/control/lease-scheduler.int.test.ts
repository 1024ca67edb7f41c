/**
 * The lease scheduler against a real Redis (BullMQ): it must see every job of the queue, not the first few of each
 * state, or it re-adds jobs that exist on every pass and leaves unwanted ones behind.
 */
import { afterAll, describe, expect, it, vi } from 'vitest';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { createLogger, leaseJobId, taskKeyPrefix, type LeaseJobData } from '@cdc/shared';
import type { TaskRecord } from '../../services/control/src/domain/model.js';
import { RedisDropBarrier } from '../../services/worker/src/adapters/redis-drop-barrier.js';
import { LeaseScheduler } from '../../services/control/src/scheduling/lease-scheduler.js';
import { TaskService } from '../../services/control/src/tasks/task-service.js';
import { MemoryStores, spec } from '../../services/control/src/testing/memory-stores.js';
import { uniq } from './control-harness.js';

const redis = new URL(process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379');
const queue = new Queue<LeaseJobData>('cdc-leases', {
  prefix: uniq('sched'),
  connection: { host: redis.hostname, port: Number(redis.port || 6379) },
});

afterAll(async () => {
  await queue.obliterate({ force: true }).catch(() => undefined);
  await queue.close();
});

const CHANNELS = Array.from({ length: 6 }, (_, i) => `by-dev-rootcoord-dml_${String(i)}`);

function task(state: TaskRecord['state']): TaskRecord {
  return {
    taskId: 'sched-task',
    spec: spec(),
    sealedSecrets: '',
    secretFieldsSet: [],
    state,
    reason: '',
    pausedBy: '',
    createTimeMs: Date.now(),
    updateTimeMs: Date.now(),
    channels: CHANNELS,
  };
}

/** A scheduler over `stores` and the real queue, passing once a minute unless called or nudged. */
function schedulerOver(stores: MemoryStores): LeaseScheduler {
  return new LeaseScheduler(
    queue,
    stores,
    // Only needed to start stuck creates and re-discover channels: neither happens here.
    Object.create(TaskService.prototype) as TaskService,
    { discover: () => Promise.reject(new Error('not expected')) },
    { settlePause: () => Promise.resolve({ running: [] }) },
    createLogger({ service: 'test-scheduler', level: 'warn' }),
    {
      reconcileIntervalMs: 60_000,
      discoveryIntervalMs: 3_600_000,
      creatingTimeoutMs: 60_000,
      deletingGraceMs: 60_000,
    },
  );
}

describe('LeaseScheduler (real BullMQ queue)', () => {
  it('sees every job: a steady pass adds none, and a paused task loses all its waiting jobs', async () => {
    const stores = new MemoryStores();
    await stores.create(task('TASK_STATE_RUNNING'));
    const scheduler = schedulerOver(stores);
    scheduler.state = 'running'; // passes called here, no timer

    await scheduler.reconcile();
    const waiting = await queue.getWaiting();
    expect(waiting.map((j) => j.id).sort()).toEqual(
      CHANNELS.map((c) => leaseJobId('sched-task', c)).sort(),
    );

    const add = vi.spyOn(queue, 'add');
    await scheduler.reconcile();
    expect(add).not.toHaveBeenCalled();

    const stored = await stores.get('sched-task');
    await stores.update(task('TASK_STATE_PAUSED'), stored?.version ?? '');
    await scheduler.reconcile();
    expect(await queue.getWaitingCount()).toBe(0);
    scheduler.state = 'stopped';
  });

  it('brings a moved channel’s job back shortly after nudgeSoon, one pass for calls close together', async () => {
    const stores = new MemoryStores();
    await stores.create(task('TASK_STATE_RUNNING'));
    // Its interval (60 s) is past the test: only the nudge can bring the job back in time.
    const scheduler = schedulerOver(stores);
    const passes = vi.spyOn(scheduler, 'reconcile');
    scheduler.start();
    const moved = leaseJobId('sched-task', CHANNELS[0]!);
    await vi.waitFor(
      async () => {
        expect(await queue.getJob(moved)).toBeDefined();
      },
      {
        timeout: 5_000,
      },
    );
    await (await queue.getJob(moved))?.remove(); // the job ended: its holder gave the channel up
    const before = passes.mock.calls.length;
    scheduler.nudgeSoon();
    scheduler.nudgeSoon();
    scheduler.nudgeSoon();
    await vi.waitFor(
      async () => {
        expect(await queue.getJob(moved)).toBeDefined();
      },
      {
        timeout: 2_000,
      },
    );
    expect(passes.mock.calls.length - before).toBe(1);
    await scheduler.stop();
  });

  it('removes a deleted task’s drop barriers from Redis, and no other task’s', async () => {
    const stores = new MemoryStores();
    await stores.create({ ...task('TASK_STATE_DELETING'), taskId: 'gone-task' });
    const prefix = queue.opts.prefix ?? 'bull';
    const client = new Redis({ host: redis.hostname, port: Number(redis.port || 6379) });
    // As the workers key them (TaskResources.dropBarrier): per task, and per fan-out target.
    const barrier = (taskId: string, target = '') =>
      new RedisDropBarrier(client, `${taskKeyPrefix(prefix, taskId)}${target}`);
    const keysOf = (taskId: string) => client.keys(`${taskKeyPrefix(prefix, taskId)}:*`);
    for (const taskId of ['gone-task', 'gone-task-2']) {
      await barrier(taskId).arrive('drop-partition-1-2', 'dml_0');
      await barrier(taskId).markDone('drop-partition-1-2');
      await barrier(taskId, ':fan-out:127.0.0.1%3A19550').markDone('drop-collection-1');
    }
    expect(await keysOf('gone-task')).toHaveLength(3);

    const scheduler = schedulerOver(stores);
    scheduler.state = 'running';
    await scheduler.reconcile();
    scheduler.state = 'stopped';
    expect(await stores.get('gone-task')).toBeUndefined();
    expect(await keysOf('gone-task')).toEqual([]);
    expect(await keysOf('gone-task-2')).toHaveLength(3);
    await client.del(...(await keysOf('gone-task-2')));
    client.disconnect();
  });
});
