/**
 * Initial sync lifecycle on the real stack: a copy paused mid-way stops writing and keeps its progress, resumes after
 * the last copied key, is followed by streaming once done, and DeleteTask removes the task with its progress.
 */
import { DataType } from '@zilliz/milvus2-sdk-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compareCollection, countRows, isConverged } from '../helpers/milvus-compare.js';
import { waitUntil } from '../helpers/processes.js';
import { kafkaSourceSpec } from '../helpers/stack.js';
import { E2eHarness, env } from './harness.js';

const ROWS = 3_000;
const h = new E2eHarness();
const db = `${h.prefix}_db`;
const ref = { db, collection: 'small' };
const taskId = `sync-life-${h.id}`;

interface Progress {
  state: string;
  rows_copied: string;
  epoch: string;
}

async function progress(): Promise<{ copying: boolean; c: Progress }> {
  const task = await h.client!.call<{
    initial_sync: { copying: boolean; collections: Progress[] } | null;
  }>('GetTask', { task_id: taskId });
  const c = task.initial_sync?.collections[0];
  if (c === undefined) throw new Error('no copy planned yet');
  return { copying: task.initial_sync?.copying ?? false, c };
}

async function insert(from: number, to: number): Promise<void> {
  const data = Array.from({ length: to - from }, (_, k) => ({
    id: String(from + k),
    vec: [from + k, 1],
    label: `row ${from + k}`,
  }));
  const res = await h.source.insert({ db_name: db, collection_name: ref.collection, data });
  if (res.status.error_code !== 'Success') throw new Error(res.status.reason);
}

describe('initial sync lifecycle', () => {
  beforeAll(async () => {
    await h.source.createDatabase({ db_name: db });
    await h.source.createCollection({
      db_name: db,
      collection_name: ref.collection,
      fields: [
        { name: 'id', data_type: DataType.Int64, is_primary_key: true },
        { name: 'vec', data_type: DataType.FloatVector, dim: 2 },
        { name: 'label', data_type: DataType.VarChar, max_length: 32 },
      ],
    });
    await h.source.createIndex({
      db_name: db,
      collection_name: ref.collection,
      field_name: 'vec',
      index_type: 'FLAT',
      metric_type: 'L2',
    });
    await h.source.loadCollectionSync({ db_name: db, collection_name: ref.collection });
    await insert(0, ROWS);
    await h.startControl();
    await h.startWorker('worker-a');
  }, 240_000);

  afterAll(async () => {
    await h.cleanup();
  });

  it('pauses mid-copy, resumes after the last key, then streams; delete removes it', async () => {
    await h.client!.call('CreateTask', {
      task_id: taskId,
      spec: {
        source: kafkaSourceSpec(env),
        target: { uri: env.targetMilvusAddress },
        scope: { include: [{ database: db, collection: '*' }] },
        initial_sync: { enabled: true, batch_rows: 25 },
      },
    });
    await waitUntil('the copy to start', async () => Number((await progress()).c.rows_copied) > 0);
    await h.client!.call('PauseTask', { task_id: taskId, reason: 'maintenance' });
    await new Promise((r) => setTimeout(r, 3_000));
    const paused = (await progress()).c;
    await new Promise((r) => setTimeout(r, 3_000));
    // Stopped: no page written after the pause took effect, progress kept, still copying. (The target collection is
    // loaded only when its copy is complete, so it can't be counted here.)
    expect((await progress()).c).toEqual(paused);
    expect(paused.state).toBe('SNAPSHOT_STATE_COPYING');
    expect(Number(paused.rows_copied)).toBeLessThan(ROWS);

    await h.client!.call('ResumeTask', { task_id: taskId });
    await waitUntil('the copy to finish', async () => !(await progress()).copying, 120_000, 500);
    const done = (await progress()).c;
    expect(done.state).toBe('SNAPSHOT_STATE_DONE');
    // Resumed after the last key: every row counted once (nothing was written meanwhile on the source).
    expect(Number(done.rows_copied)).toBe(ROWS);
    expect(Number(done.epoch)).toBeGreaterThanOrEqual(2);

    await insert(ROWS, ROWS + 10);
    await waitUntil(
      'streamed rows on the target',
      async () => (await countRows(h.target, ref)) === ROWS + 10,
      120_000,
      1_000,
    );
    const diff = await compareCollection(h.source, h.target, ref);
    expect(isConverged(diff)).toBe(true);

    await h.client!.call('DeleteTask', { task_id: taskId });
    await waitUntil(
      'the task to be removed',
      async () =>
        h
          .client!.call('GetTask', { task_id: taskId })
          .then(() => false)
          .catch((err: unknown) => (err as { code?: number }).code === 5),
      60_000,
      500,
    );
  }, 400_000);
});
