/**
 * A task read again from before a partition drop it already applied (a lease that failed after the drop barrier was
 * done but before its checkpoint passed the drop; here, the same on purpose with ResetTaskPositions) must not bring the
 * partition back. Replaying the partition's rows used to create it again for them, and the drop, found done at its
 * barrier, was not applied again: the target kept the dropped partition with its rows (seen once in the fan-out e2e).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { composeTs } from '@cdc/shared';
import { compareCollection, countRows, isConverged } from '../helpers/milvus-compare.js';
import type { CollectionDiff } from '../helpers/milvus-compare.js';
import { waitUntil } from '../helpers/processes.js';
import { E2eHarness } from './harness.js';
import { indexAndLoad, createIdVecCollection } from './own-channel.js';

const h = new E2eHarness();

beforeAll(async () => {
  await h.startControl();
  await h.startWorker('worker-replay');
}, 60_000);

afterAll(async () => {
  await h.cleanup();
}, 60_000);

interface ChannelPosition {
  channel: string;
  position?: { timestamp?: string } | null;
}

describe('a task rewound to before a partition drop it applied', () => {
  it('replays the rows around the drop without bringing the dropped partition back', async () => {
    const client = h.client!;
    const db = `${h.prefix}_db_replay`;
    const coll = { db_name: db, collection_name: 'parts' };
    const ref = { db, collection: 'parts' };
    const start = composeTs(Date.now() - 1_000);
    const taskId = await h.createTask();

    await h.source.createDatabase({ db_name: db });
    // Two shards: the drop waits at its barrier for both channels.
    await createIdVecCollection(h.source, coll, 2);
    const rows = (from: number) =>
      Array.from({ length: 20 }, (_, i) => ({ id: String(from + i), vec: [from + i, 1, 2, 3] }));
    for (const partition_name of ['gone', 'kept'])
      await h.source.createPartition({ ...coll, partition_name });
    await h.source.insert({ ...coll, partition_name: 'gone', data: rows(0) });
    await h.source.insert({ ...coll, partition_name: 'kept', data: rows(100) });
    await h.source.dropPartition({ ...coll, partition_name: 'gone' });
    await h.source.insert({ ...coll, partition_name: 'kept', data: rows(200) });
    await indexAndLoad(h.source, coll);

    const converged = async (what: string): Promise<void> => {
      let last: CollectionDiff | undefined;
      await waitUntil(
        `${what} (last diff: ${JSON.stringify(last?.schemaDiff ?? [])}, extra ${String(last?.extraOnTarget.length)})`,
        async () => {
          last = await compareCollection(h.source, h.target, ref).catch(() => undefined);
          return last !== undefined && isConverged(last);
        },
        120_000,
        1_000,
      );
    };
    await converged('the target to equal the source');

    const positions = async (): Promise<ChannelPosition[]> =>
      (await client.call<{ channels?: ChannelPosition[] }>('GetTaskPositions', { task_id: taskId }))
        .channels ?? [];
    const reached = new Map(
      (await positions()).map((c) => [c.channel, BigInt(c.position?.timestamp ?? '0')]),
    );

    await client.call('PauseTask', { task_id: taskId, reason: 'rewind', immediate: true });
    await waitUntil(
      'PAUSED',
      async () =>
        (await client.call<{ state: string }>('GetTask', { task_id: taskId })).state ===
        'TASK_STATE_PAUSED',
      60_000,
      250,
    );
    await client.call('ResetTaskPositions', {
      task_id: taskId,
      resets: [...reached.keys()].map((channel) => ({
        channel,
        start: { kind: 'START_KIND_TIMESTAMP', timestamp: start.toString() },
      })),
    });
    await client.call('ResumeTask', { task_id: taskId });
    await waitUntil(
      'every channel read again past where it was',
      async () =>
        (await positions()).every(
          (c) => BigInt(c.position?.timestamp ?? '0') >= (reached.get(c.channel) ?? 0n),
        ),
      120_000,
      1_000,
    );

    const diff = await compareCollection(h.source, h.target, ref);
    expect({
      schema: diff.schemaDiff,
      extra: diff.extraOnTarget.slice(0, 5),
      missing: diff.missingOnTarget.slice(0, 5),
      changed: diff.changed.slice(0, 5),
    }).toEqual({ schema: [], extra: [], missing: [], changed: [] });
    expect(await countRows(h.target, ref)).toBe(40);
    expect(await countRows(h.source, ref)).toBe(40);
  }, 360_000);
});
