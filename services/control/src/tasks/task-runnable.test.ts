import { describe, expect, it } from 'vitest';
import { TaskService } from './task-service.js';
import { MemoryStores, plainBox, spec } from '../testing/memory-stores.js';

/** The scheduler is nudged exactly when a task becomes RUNNING, so its channels are leased without waiting a pass. */
describe('TaskService.onRunnable', () => {
  const service = (stores: MemoryStores, onRunnable: () => void) =>
    new TaskService({
      tasks: stores,
      channels: stores.channelStore(),
      secrets: plainBox,
      reachability: { check: () => Promise.resolve() },
      discovery: { discover: () => Promise.resolve(['by-dev-rootcoord-dml_0']) },
      clock: { now: () => 1_700_000_000_000 },
      staleReportMs: 5_000,
      pauseLeadMs: 2_500,
      onRunnable,
    });
  const noSync = (database: string) =>
    spec({
      initial_sync: { enabled: false, batch_rows: 0 },
      scope: { include: [{ database, collection: '*' }], exclude: [] },
    });

  it('fires on create (running), not on create paused; fires on resume; not on a repeated resume', async () => {
    const stores = new MemoryStores();
    let nudges = 0;
    const tasks = service(stores, () => nudges++);
    await tasks.create({ taskId: 'run', spec: noSync('a'), startPaused: false });
    expect(nudges).toBe(1);
    await tasks.create({ taskId: 'paused', spec: noSync('b'), startPaused: true });
    expect(nudges).toBe(1);
    await tasks.resume('paused');
    expect(nudges).toBe(2);
    await tasks.resume('paused');
    expect(nudges).toBe(2);
  });
});
