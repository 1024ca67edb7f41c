/**
 * Guarantee 9: a pause is a point in time. While a writer keeps inserting into the source, PauseTask returns a pause
 * point; the task is PAUSED once every channel applied the source up to it. Rows written before the call are on the
 * target, rows written 0 ms, 100 ms and 1 s after the call returned are not (and stay away while PAUSED); after
 * ResumeTask they all arrive, each exactly once.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConsistencyLevelEnum, DataType, type RowData } from '@zilliz/milvus2-sdk-node';
import { E2eHarness } from './harness.js';
import { compareCollection, countRows, isConverged } from '../helpers/milvus-compare.js';
import { waitUntil } from '../helpers/processes.js';

const DIM = 8;

function rows(from: number, count: number): RowData[] {
  return Array.from({ length: count }, (_, i) => ({
    id: from + i,
    vec: Array.from({ length: DIM }, (_, d) => (from + i + d) % 7),
  }));
}

describe('PauseTask stops the task at a point in time', () => {
  const h = new E2eHarness();
  const ref = { db: `${h.prefix}_db`, collection: 'paused' };
  const base = { db_name: ref.db, collection_name: ref.collection };
  const taskId = `task-${h.id}`;

  beforeAll(async () => {
    await h.startControl();
    await h.startWorker('worker-0');
    await h.createTask(taskId);
    await waitUntil(
      'the worker to hold every channel',
      async () => {
        const res = await h.client!.call<{ channels: { worker_id: string }[] }>(
          'GetTaskPositions',
          { task_id: taskId },
        );
        return res.channels.length > 0 && res.channels.every((c) => c.worker_id !== '');
      },
      60_000,
    );
  });

  afterAll(async () => {
    await h.cleanup();
  });

  async function insert(from: number, count: number): Promise<void> {
    const res = await h.source.insert({ ...base, data: rows(from, count) });
    if (res.status.error_code !== 'Success') throw new Error(JSON.stringify(res.status));
  }

  async function keysOnTarget(from: number, to: number): Promise<number[]> {
    const res = await h.target.query({
      ...base,
      filter: `id >= ${String(from)} and id < ${String(to)}`,
      output_fields: ['id'],
      consistency_level: ConsistencyLevelEnum.Strong,
    });
    return res.data.map((r) => Number(r['id'])).sort((a, b) => a - b);
  }

  const taskState = async (): Promise<{ state: string; pause_timestamp: string }> =>
    h.client!.call('GetTask', { task_id: taskId });

  it('applies exactly the source up to the pause point, then everything after resume', async () => {
    await h.source.createDatabase({ db_name: ref.db });
    await h.source.createCollection({
      ...base,
      fields: [
        { name: 'id', data_type: DataType.Int64, is_primary_key: true, autoID: false },
        { name: 'vec', data_type: DataType.FloatVector, dim: DIM },
      ],
    });
    await h.source.createIndex({
      ...base,
      field_name: 'vec',
      index_type: 'FLAT',
      metric_type: 'L2',
    });
    await h.source.loadCollectionSync(base);
    await insert(0, 100);
    await waitUntil(
      'the first rows on the target',
      async () => (await keysOnTarget(0, 100)).length === 100,
      120_000,
      1_000,
    );

    // A writer keeps the channel busy through the call: ids 1000+ in batches of 10 every 50 ms.
    let writing = true;
    let next = 1_000;
    const writer = (async () => {
      while (writing) {
        await insert(next, 10);
        next += 10;
        await new Promise((r) => setTimeout(r, 50));
      }
    })();
    await new Promise((r) => setTimeout(r, 1_000));
    const beforeCall = next; // every id below was acknowledged by the source before the call
    const pausing = await h.client!.call<{ state: string; pause_timestamp: string }>(
      'PauseTask',
      { task_id: taskId, reason: 'e2e pause point' },
      30_000,
    );
    const afterReturn = next + 10; // the batch in flight may have been sent before the answer
    writing = false;
    await writer;
    // Rows written 0 ms, 100 ms and 1 s after PauseTask returned.
    await insert(90_000, 5);
    await new Promise((r) => setTimeout(r, 100));
    await insert(90_100, 5);
    await new Promise((r) => setTimeout(r, 900));
    await insert(91_000, 5);
    expect(['TASK_STATE_PAUSING', 'TASK_STATE_PAUSED']).toContain(pausing.state);
    expect(BigInt(pausing.pause_timestamp)).toBeGreaterThan(0n);

    await waitUntil(
      'PAUSED',
      async () => (await taskState()).state === 'TASK_STATE_PAUSED',
      60_000,
      250,
    );
    const before = await keysOnTarget(1_000, beforeCall);
    expect(before.length).toBe(beforeCall - 1_000);
    expect(await keysOnTarget(afterReturn, 100_000)).toEqual([]);
    // Nothing trickles in while paused.
    await new Promise((r) => setTimeout(r, 3_000));
    expect(await keysOnTarget(afterReturn, 100_000)).toEqual([]);
    expect((await taskState()).state).toBe('TASK_STATE_PAUSED');

    await h.client!.call('ResumeTask', { task_id: taskId });
    let last = '';
    await waitUntil(
      `the target to equal the source after resume (${last})`,
      async () => {
        const d = await compareCollection(h.source, h.target, ref);
        last = `missing ${String(d.missingOnTarget.length)} extra ${String(d.extraOnTarget.length)} changed ${String(d.changed.length)}`;
        return isConverged(d);
      },
      120_000,
      2_000,
    );
    expect(await countRows(h.target, ref)).toBe(await countRows(h.source, ref));
    console.log(
      `pause point: the ${String(beforeCall - 1_000)} rows written before the call were on the target while paused, none written after it returned; all ${String(await countRows(h.source, ref))} after resume`,
    );
  }, 420_000);
});
