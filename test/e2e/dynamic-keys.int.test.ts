/**
 * Dynamic-field keys named like Object.prototype members (`__proto__`, `constructor`, `toString`, `valueOf`,
 * `hasOwnProperty`) reach the target intact on the real stack: a row that existed before the task (initial sync,
 * read by the worker with the SDK) and rows written after it (streamed from Kafka, decoded by the codec). Then
 * VerifyTask (row hashes over both servers) finds no difference, and sees one when only such a key differs.
 */
import { DataType } from '@zilliz/milvus2-sdk-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compareCollection, countRows, isConverged } from '../helpers/milvus-compare.js';
import { waitUntil } from '../helpers/processes.js';
import { kafkaSourceSpec } from '../helpers/stack.js';
import { E2eHarness, env } from './harness.js';

const h = new E2eHarness();
const db = `${h.prefix}_db`;
const ref = { db, collection: 'dyn' };
const taskId = `dyn-keys-${h.id}`;
const KEYS = ['__proto__', 'constructor', 'toString', 'valueOf', 'hasOwnProperty'];

/** A `$meta` object with the tricky keys as own properties (JSON.parse defines "__proto__" as an entry). */
function meta(id: number): Record<string, unknown> {
  const entries = KEYS.map((k, i) => `${JSON.stringify(k)}:${JSON.stringify(`${k}-${id}-${i}`)}`);
  return JSON.parse(
    `{${entries.join(',')},"nested":{"__proto__":{"x":${id}}},"n":${id}}`,
  ) as Record<string, unknown>;
}

/** Upserts rows on the source; returns the write's timestamp (hybrid TSO). */
async function write(ids: number[]): Promise<bigint> {
  const data = ids.map((id) => ({ id: String(id), vec: [id, 1], $meta: meta(id) }));
  const res = await h.source.upsert({ db_name: db, collection_name: ref.collection, data });
  if (res.status.error_code !== 'Success') throw new Error(res.status.reason);
  return BigInt(res.timestamp);
}

/**
 * Waits until the checkpoint of every channel of the collection is past `ts`: a lease that moves later (lost on a
 * loaded machine and taken again) replays only what follows its checkpoint, so it cannot rewrite a row the test
 * changes afterwards. Only the collection's channels: on a fresh source Milvus, DML channels no collection uses have
 * no topic yet, hence no checkpoint.
 */
async function checkpointsPast(ts: bigint): Promise<void> {
  const described = await h.source.describeCollection({
    db_name: db,
    collection_name: ref.collection,
  });
  const mine = new Set(described.physical_channel_names);
  expect(mine.size).toBeGreaterThan(0);
  await waitUntil(
    'checkpoints past the last write',
    async () => {
      const res = await h.client!.call<{
        channels: { channel: string; position: { timestamp: string } | null }[];
      }>('GetTaskPositions', { task_id: taskId });
      const channels = res.channels.filter((c) => mine.has(c.channel));
      return (
        channels.length === mine.size &&
        channels.every((c) => BigInt(c.position?.timestamp ?? '0') >= ts)
      );
    },
    120_000,
    1_000,
  );
}

async function targetMeta(id: number): Promise<Record<string, unknown> | undefined> {
  const res = await h.target.query({
    db_name: db,
    collection_name: ref.collection,
    filter: `id == ${id}`,
    output_fields: ['*'],
    consistency_level: 'Strong' as never,
  });
  return res.data[0]?.['$meta'] as Record<string, unknown> | undefined;
}

describe('dynamic keys named like Object.prototype members', () => {
  beforeAll(async () => {
    await h.source.createDatabase({ db_name: db });
    await h.source.createCollection({
      db_name: db,
      collection_name: ref.collection,
      enable_dynamic_field: true,
      fields: [
        { name: 'id', data_type: DataType.Int64, is_primary_key: true },
        { name: 'vec', data_type: DataType.FloatVector, dim: 2 },
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
    await write([1]); // copied by the initial sync
    await h.startControl();
    await h.startWorker('worker-a');
  }, 240_000);

  afterAll(async () => {
    await h.cleanup();
  });

  it('copies and streams them intact; VerifyTask agrees', async () => {
    await h.client!.call('CreateTask', {
      task_id: taskId,
      spec: {
        source: kafkaSourceSpec(env),
        target: { uri: env.targetMilvusAddress },
        scope: { include: [{ database: db, collection: '*' }] },
        initial_sync: { enabled: true },
      },
    });
    const written = await write([2, 3]); // streamed
    await waitUntil(
      'every row on the target',
      async () => (await countRows(h.target, ref)) === 3,
      180_000,
      1_000,
    );
    for (const id of [1, 2, 3]) {
      const got = await targetMeta(id);
      expect(got, `row ${id}`).toBeDefined();
      expect(Object.keys(got ?? {}), `row ${id}`).toEqual([...KEYS, 'nested', 'n']);
      for (const k of KEYS) expect(Object.hasOwn(got ?? {}, k), `row ${id} ${k}`).toBe(true);
      expect(JSON.stringify(got), `row ${id}`).toBe(JSON.stringify(meta(id)));
    }
    expect(isConverged(await compareCollection(h.source, h.target, ref))).toBe(true);

    const clean = await h.client!.call<{ clean: boolean }>(
      'VerifyTask',
      { task_id: taskId },
      120_000,
    );
    expect(clean.clean).toBe(true);

    // Only the value under "__proto__" differs on the target: the row hashes must see it.
    await checkpointsPast(written);
    const changed = JSON.parse(
      JSON.stringify(meta(3)).replace('__proto__-3-0', 'tampered'),
    ) as Record<string, unknown>;
    const res = await h.target.upsert({
      db_name: db,
      collection_name: ref.collection,
      data: [{ id: '3', vec: [3, 1], $meta: changed }],
    });
    expect(res.status.error_code).toBe('Success');
    const dirty = await h.client!.call<{ clean: boolean }>(
      'VerifyTask',
      { task_id: taskId },
      120_000,
    );
    expect(dirty.clean).toBe(false);
  }, 420_000);
});
