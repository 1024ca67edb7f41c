/**
 * Repeated primary keys (issue 13, part 3). Milvus 2.3 stores every insert of a key: a collection then holds the
 * key several times, `count(*)` counts every copy, and a query with a limit comes back short while more keys follow.
 * Initial sync, VerifyTask and VerifyTask with repair must all leave the target holding every source key (by key and
 * content), once: the target's count(*) is the number of distinct keys.
 *
 * Two source collections: `rep` holds 3,000 keys inserted three times each (the same rows); `repdel` holds 3,000
 * keys inserted, 1,000 of them deleted, and all 3,000 inserted again with new content.
 */
import { DataType } from '@zilliz/milvus2-sdk-node';
import type { RowData } from '@zilliz/milvus2-sdk-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { allRows, countRows } from '../helpers/milvus-compare.js';
import type { CollectionRef } from '../helpers/milvus-compare.js';
import { waitUntil } from '../helpers/processes.js';
import { kafkaSourceSpec } from '../helpers/stack.js';
import { E2eHarness, env } from './harness.js';

const KEYS = 3_000;
const h = new E2eHarness();
const db = `${h.prefix}_db`;
const REP: CollectionRef = { db, collection: 'rep' };
const REPDEL: CollectionRef = { db, collection: 'repdel' };
const taskId = `repeated-${h.id}`;

const key = (i: number): string => (7_000_000_000_000n + BigInt(i) * 7n).toString();
const row = (i: number, version: string): RowData => ({
  pk: key(i),
  tag: `${version}-${i}`,
  vec: [i % 97, 1, version.length, 0.5],
});

async function insertAll(ref: CollectionRef, version: string, from = 0, to = KEYS): Promise<void> {
  for (let i = from; i < to; i += 1_000) {
    const data = Array.from({ length: Math.min(1_000, to - i) }, (_, k) => row(i + k, version));
    const res = await h.source.insert({ db_name: ref.db, collection_name: ref.collection, data });
    expect(res.status.error_code, res.status.reason).toBe('Success');
  }
}

async function createCollection(ref: CollectionRef): Promise<void> {
  const base = { db_name: ref.db, collection_name: ref.collection };
  const res = await h.source.createCollection({
    ...base,
    shards_num: 1,
    fields: [
      { name: 'pk', data_type: DataType.Int64, is_primary_key: true },
      { name: 'tag', data_type: DataType.VarChar, max_length: 64 },
      { name: 'vec', data_type: DataType.FloatVector, dim: 4 },
    ],
  });
  expect(res.error_code, res.reason).toBe('Success');
  await h.source.createIndex({ ...base, field_name: 'vec', index_type: 'FLAT', metric_type: 'L2' });
  await h.source.loadCollectionSync(base);
}

interface Keys {
  missing_on_target: string;
  extra_on_target: string;
  content_differs: string;
}
interface CollectionResult {
  source_collection: string;
  source_rows: string;
  target_rows: string;
  differences: Keys;
  rows_deleted: string;
  rows_recopied: string;
  remaining: Keys | null;
}

function verify(repair: boolean): Promise<{ clean: boolean; collections: CollectionResult[] }> {
  return h.client!.call('VerifyTask', { task_id: taskId, repair }, 180_000);
}

/** Source and target hold the same distinct keys with the same content; the target holds each key once. */
async function expectEqualByKey(ref: CollectionRef): Promise<void> {
  const [s, t] = await Promise.all([allRows(h.source, ref), allRows(h.target, ref)]);
  expect(s.size).toBe(KEYS);
  expect([...t.keys()].sort()).toEqual([...s.keys()].sort());
  for (const [k, v] of s) expect(t.get(k), `row ${k}`).toBe(v);
  expect(await countRows(h.target, ref)).toBe(KEYS);
}

beforeAll(async () => {
  await h.source.createDatabase({ db_name: db });
  await createCollection(REP);
  await createCollection(REPDEL);
  for (let copy = 0; copy < 3; copy++) await insertAll(REP, 'same');
  await insertAll(REPDEL, 'v1');
  const del = await h.source.delete({
    db_name: db,
    collection_name: 'repdel',
    filter: `pk in [${Array.from({ length: 1_000 }, (_, i) => key(i * 3)).join(',')}]`,
  });
  expect(del.status.error_code, del.status.reason).toBe('Success');
  await insertAll(REPDEL, 'v2');
  expect(await countRows(h.source, REP)).toBe(3 * KEYS);
  await h.startControl();
  await h.startWorker('repeated-worker');
}, 240_000);

afterAll(async () => {
  await h.cleanup();
  await replica.cleanup();
}, 60_000);

/** Replicate mode forwards the source's Insert and Delete messages to the replica (started with ttMsgEnabled=false). */
const replica = new E2eHarness('TARGET_MODE_REPLICATE');

describe('repeated primary keys', () => {
  it('initial sync, VerifyTask and repair leave the target with every source key', async () => {
    await h.client!.call('CreateTask', {
      task_id: taskId,
      spec: {
        source: kafkaSourceSpec(env),
        target: { uri: env.targetMilvusAddress },
        scope: { include: [{ database: db, collection: '*' }] },
        initial_sync: { enabled: true, batch_rows: 500 },
      },
    });
    type Progress = { state: string; rows_copied: string };
    await waitUntil(
      'the initial sync to finish',
      async () => {
        const task = await h.client!.call<{
          initial_sync: { copying: boolean; collections: Progress[] } | null;
        }>('GetTask', { task_id: taskId });
        const c = task.initial_sync?.collections ?? [];
        return task.initial_sync?.copying === false && c.length === 2;
      },
      180_000,
      1_000,
    );
    // The copy wrote each distinct key (upserts): the target holds 3,000 rows where the source's count(*) is 9,000.
    await expectEqualByKey(REP);
    await expectEqualByKey(REPDEL);
    expect(await countRows(h.source, REP)).toBe(3 * KEYS);

    const clean = await verify(false);
    for (const c of clean.collections) {
      expect(c, c.source_collection).toMatchObject({
        source_rows: String(KEYS),
        target_rows: String(KEYS),
        differences: { missing_on_target: '0', extra_on_target: '0', content_differs: '0' },
      });
    }
    expect(clean.clean).toBe(true);

    // Damage the target: delete some keys, change some; a repair must restore them and delete nothing else.
    const base = { db_name: db, collection_name: 'rep' };
    const gone = [1, 2, 1_500, 2_999].map(key);
    const del = await h.target.delete({ ...base, filter: `pk in [${gone.join(',')}]` });
    expect(del.status.error_code).toBe('Success');
    const up = await h.target.upsert({ ...base, data: [row(10, 'tampered'), row(2_000, 'x')] });
    expect(up.status.error_code).toBe('Success');
    const repaired = await verify(true);
    const rep = repaired.collections.find((c) => c.source_collection === 'rep')!;
    expect(rep.differences).toMatchObject({
      missing_on_target: '4',
      extra_on_target: '0',
      content_differs: '2',
    });
    expect(rep.rows_deleted).toBe('0');
    expect(rep.remaining).toMatchObject({
      missing_on_target: '0',
      extra_on_target: '0',
      content_differs: '0',
    });
    await expectEqualByKey(REP);
    await expectEqualByKey(REPDEL);
    expect((await verify(false)).clean).toBe(true);
  }, 420_000);

  it('replicate mode: the replica stores every copy, as the source does', async () => {
    await replica.startControl();
    await replica.startWorker('replicate-worker');
    const taskName = await replica.createTask(`replicate-${replica.id}`);
    await waitUntil(
      'the replicate task to take its channels',
      async () => {
        const res = await replica.client!.call<{ channels?: { epoch?: string }[] }>(
          'GetTaskPositions',
          { task_id: taskName },
        );
        return (res.channels ?? []).every((c) => Number(c.epoch ?? 0) > 0);
      },
      60_000,
      1_000,
    );
    const ref: CollectionRef = { db: 'default', collection: `${replica.prefix}_rep` };
    const base = { db_name: ref.db, collection_name: ref.collection };
    expect(
      (
        await replica.source.createCollection({
          ...base,
          shards_num: 1,
          fields: [
            { name: 'pk', data_type: DataType.Int64, is_primary_key: true },
            { name: 'tag', data_type: DataType.VarChar, max_length: 64 },
            { name: 'vec', data_type: DataType.FloatVector, dim: 4 },
          ],
        })
      ).error_code,
    ).toBe('Success');
    await replica.source.createIndex({
      ...base,
      field_name: 'vec',
      index_type: 'FLAT',
      metric_type: 'L2',
    });
    await replica.source.loadCollectionSync(base);
    const n = 500;
    const data = (v: string) => Array.from({ length: n }, (_, i) => row(i, v));
    await replica.source.insert({ ...base, data: data('a') });
    await replica.source.insert({ ...base, data: data('a') });
    await replica.source.delete({ ...base, filter: `pk in [${key(0)},${key(1)}]` });
    await replica.source.insert({ ...base, data: data('b') });
    const sourceCount = await countRows(replica.source, ref);
    let replicaCount = -1;
    let lastError = '';
    let s = new Map<string, string>();
    let t = new Map<string, string>();
    // Strong reads on the replica wait for the ticks replication sends; on a loaded machine one can time out.
    await waitUntil(
      'the replica to hold the collection with its rows',
      async () => {
        try {
          replicaCount = await countRows(replica.target, ref);
          if (replicaCount !== sourceCount) return false;
          [s, t] = await Promise.all([allRows(replica.source, ref), allRows(replica.target, ref)]);
          return s.size === t.size;
        } catch (err) {
          lastError = String(err);
          return false;
        }
      },
      240_000,
      2_000,
    ).catch(async (err: unknown) => {
      const q = await replica.client!.call('ListQuarantine', { task_id: taskName });
      console.log(
        `replica count ${replicaCount} (${lastError}); quarantine ${JSON.stringify(q).slice(0, 3000)}`,
      );
      throw err;
    });
    console.log(
      `replicate mode, repeated keys: source count(*) ${sourceCount}, replica count(*) ${replicaCount}; distinct keys ${s.size} / ${t.size}`,
    );
    expect(replicaCount).toBe(sourceCount);
    expect(sourceCount).toBeGreaterThan(n);
    expect(t).toEqual(s);
  }, 300_000);
});
