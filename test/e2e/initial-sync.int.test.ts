/**
 * Initial sync end to end on the real stack: 200,000 rows (128-dim vectors, Int64/VarChar/Float scalars, a dynamic
 * key, two partitions, Int64 keys beyond 2^53) exist in the source before the task is created. The task copies them
 * while a writer keeps inserting, upserting and deleting; the copying worker is SIGKILLed mid-copy and another worker
 * takes the job over and resumes after the last reported key. Then the channels stream from the task's creation time.
 * The target must end identical to the source: by key and content (milvus-compare) and, independently, by pymilvus
 * (count(*), every key, a sample of full rows).
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { DataType, type MilvusClient, type RowData } from '@zilliz/milvus2-sdk-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compareCollection, countRows, isConverged } from '../helpers/milvus-compare.js';
import type { CollectionDiff } from '../helpers/milvus-compare.js';
import { REPO_ROOT, waitUntil } from '../helpers/processes.js';
import type { RunningProcess } from '../helpers/processes.js';
import { kafkaSourceSpec } from '../helpers/stack.js';
import { E2eHarness, env } from './harness.js';

/** 200,000 (the figure); INITIAL_SYNC_ROWS (a multiple of 5,000) makes a quicker run on a busy machine. */
const ROWS = Number(process.env['INITIAL_SYNC_ROWS'] ?? 200_000);
const DIM = 128;
const LOAD_BATCH = 5_000;
const COPY_BATCH = 4_000;
const WRITER_MS = 20_000;
/** The copying worker is killed once this many rows are copied. */
const KILL_AFTER_ROWS = Math.min(40_000, ROWS / 5);
/** Keys start beyond 2^53: they must arrive exactly, not through a float. */
const KEY_BASE = 2n ** 53n;

const h = new E2eHarness();
const db = `${h.prefix}_db`;
const collection = 'items';
const ref = { db, collection };
const taskId = `sync-${h.id}`;

function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 4_294_967_296;
  };
}

const partitionOf = (i: number): string => (i % 2 === 1 ? 'p1' : '_default');

function row(i: number, version: number): RowData {
  const next = rng(i * 31 + version);
  return {
    pk: (KEY_BASE + BigInt(i)).toString(),
    vec: Array.from({ length: DIM }, () => next() * 2 - 1),
    cat: (BigInt(i) * 7919n + 2n ** 60n).toString(),
    label: `v${version}:${i}`,
    score: next() * 100,
    ...(i % 10 === 0 ? { note: `dynamic ${version}-${i}` } : {}),
  };
}

function ok(res: { error_code?: string | number; status?: { error_code: string | number } }): void {
  const code = res.status?.error_code ?? res.error_code;
  if (code !== 'Success') throw new Error(`milvus call failed: ${JSON.stringify(res)}`);
}

async function insertRows(client: MilvusClient, indexes: number[], version: number): Promise<void> {
  for (const partition of ['_default', 'p1']) {
    const data = indexes.filter((i) => partitionOf(i) === partition).map((i) => row(i, version));
    if (data.length === 0) continue;
    const call = version === 1 ? client.insert.bind(client) : client.upsert.bind(client);
    ok(await call({ db_name: db, collection_name: collection, partition_name: partition, data }));
  }
}

async function loadSource(client: MilvusClient): Promise<void> {
  ok(await client.createDatabase({ db_name: db }));
  ok(
    await client.createCollection({
      db_name: db,
      collection_name: collection,
      shards_num: 2,
      enable_dynamic_field: true,
      fields: [
        { name: 'pk', data_type: DataType.Int64, is_primary_key: true },
        { name: 'vec', data_type: DataType.FloatVector, dim: DIM },
        { name: 'cat', data_type: DataType.Int64 },
        { name: 'label', data_type: DataType.VarChar, max_length: 64 },
        { name: 'score', data_type: DataType.Float },
      ],
    }),
  );
  ok(
    await client.createPartition({
      db_name: db,
      collection_name: collection,
      partition_name: 'p1',
    }),
  );
  ok(
    await client.createIndex({
      db_name: db,
      collection_name: collection,
      field_name: 'vec',
      index_type: 'FLAT',
      metric_type: 'L2',
    }),
  );
  ok(await client.loadCollectionSync({ db_name: db, collection_name: collection }));
  const batches = Array.from({ length: ROWS / LOAD_BATCH }, (_, b) =>
    Array.from({ length: LOAD_BATCH }, (_, k) => b * LOAD_BATCH + k),
  );
  // Two batches in flight: the source server, not the client, sets the pace.
  for (let b = 0; b < batches.length; b += 2)
    await Promise.all(batches.slice(b, b + 2).map((keys) => insertRows(client, keys, 1)));
}

/** Inserts new keys, upserts and deletes existing ones until `stopAt`; returns what it did. */
async function writeWhileCopying(
  client: MilvusClient,
  stopAt: number,
): Promise<{ inserted: number; upserted: number; deleted: number }> {
  const next = rng(4242);
  const done = { inserted: 0, upserted: 0, deleted: 0 };
  let fresh = ROWS;
  while (Date.now() < stopAt) {
    const inserts = Array.from({ length: 100 }, () => fresh++);
    await insertRows(client, inserts, 1);
    done.inserted += inserts.length;
    const upserts = Array.from({ length: 50 }, () => Math.floor(next() * ROWS));
    await insertRows(client, [...new Set(upserts)], 2);
    done.upserted += new Set(upserts).size;
    const deletes = Array.from({ length: 25 }, () => Math.floor(next() * ROWS));
    ok(
      await client.delete({
        db_name: db,
        collection_name: collection,
        filter: `pk in [${deletes.map((i) => (KEY_BASE + BigInt(i)).toString()).join(',')}]`,
      }),
    );
    done.deleted += deletes.length;
    await new Promise((r) => setTimeout(r, 200));
  }
  return done;
}

interface Snapshot {
  state: string;
  rows_copied: string;
  rows_total: string;
  epoch: string;
  worker_id: string;
  last_error: string;
}

async function snapshotOf(): Promise<{ copying: boolean; collections: Snapshot[] }> {
  const task = await h.client!.call<{
    initial_sync: { copying: boolean; collections: Snapshot[] } | null;
  }>('GetTask', { task_id: taskId });
  if (task.initial_sync === null) throw new Error('task has no initial_sync progress');
  return task.initial_sync;
}

async function leasedChannels(): Promise<string[]> {
  const positions = await h.client!.call<{ channels: { channel: string; epoch: string }[] }>(
    'GetTaskPositions',
    { task_id: taskId },
  );
  return positions.channels.filter((c) => c.epoch !== '0').map((c) => c.channel);
}

interface PyView {
  count: number;
  keys: number;
  keys_sha256: string;
  sample: Record<string, string>;
}

function pymilvusView(address: string): Promise<PyView> {
  const child = spawn(
    env.python,
    ['-W', 'ignore', join(REPO_ROOT, 'test/e2e/verify_rows.py'), address, db, collection, 'pk'],
    { stdio: ['ignore', 'pipe', 'pipe'], timeout: 180_000 },
  );
  let out = '';
  let err = '';
  child.stdout.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr.on('data', (c: Buffer) => (err = (err + c.toString()).slice(-4000)));
  return new Promise((resolve, reject) => {
    child.on('exit', (code) => {
      if (code === 0) resolve(JSON.parse(out) as PyView);
      else reject(new Error(`verify_rows.py failed (${String(code)}): ${err}`));
    });
  });
}

describe('initial sync end to end', () => {
  let workerA: RunningProcess;

  beforeAll(async () => {
    const started = Date.now();
    await loadSource(h.source);
    console.log(`source: ${ROWS} rows loaded in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    await h.startControl();
    workerA = await h.startWorker('worker-a');
  }, 900_000);

  afterAll(async () => {
    await h.client?.call('DeleteTask', { task_id: taskId, ignore_not_found: true }).catch(() => {});
    await h.cleanup();
  });

  it(`copies ${ROWS} pre-existing rows under concurrent writes and a worker kill, then streams with no gap and no duplicate`, async () => {
    await h.client!.call('CreateTask', {
      task_id: taskId,
      spec: {
        source: kafkaSourceSpec(env),
        target: { uri: env.targetMilvusAddress, mode: 'TARGET_MODE_API' },
        scope: { include: [{ database: db, collection: '*' }], exclude: [] },
        start: { kind: 'START_KIND_LATEST' },
        initial_sync: { enabled: true, batch_rows: COPY_BATCH },
      },
    });
    const writer = writeWhileCopying(h.source, Date.now() + WRITER_MS);

    // Kill the copying worker once it is well into the copy; another must take the job over and resume.
    let first: { at: number; rows: number } | undefined;
    let beforeKill = { at: 0, rows: 0 };
    await waitUntil(
      `the copy to pass ${KILL_AFTER_ROWS} rows`,
      async () => {
        const s = (await snapshotOf()).collections[0];
        const rows = Number(s?.rows_copied ?? 0);
        if (rows > 0) first ??= { at: Date.now(), rows };
        beforeKill = { at: Date.now(), rows };
        return rows >= KILL_AFTER_ROWS;
      },
      120_000,
      200,
    );
    // No channel streams while the copy runs (a stale copied row could resurrect one the stream deleted).
    expect((await leasedChannels()).length).toBe(0);
    await workerA.kill();
    const killedAt = Date.now();
    const workerB = await h.startWorker('worker-b');

    const wrote = await writer;
    console.log(`writer during the copy: ${JSON.stringify(wrote)}`);
    let resumed: { at: number; rows: number } | undefined;
    await waitUntil(
      'the copy to finish',
      async () => {
        const sync = await snapshotOf();
        const rows = Number(sync.collections[0]?.rows_copied ?? 0);
        if (rows > beforeKill.rows) resumed ??= { at: Date.now(), rows };
        return !sync.copying;
      },
      600_000,
      500,
    );
    const copiedAt = Date.now();
    const [copied] = (await snapshotOf()).collections;
    const rate = (
      from: { at: number; rows: number } | undefined,
      to: { at: number; rows: number },
    ) =>
      from === undefined || to.at <= from.at
        ? 'n/a'
        : Math.round((to.rows - from.rows) / ((to.at - from.at) / 1000)).toString();
    const end = { at: copiedAt, rows: Number(copied?.rows_copied ?? 0) };
    console.log(
      `snapshot rows/s: worker A ${rate(first, beforeKill)}, worker B ${rate(resumed, end)}; ` +
        `done ${((copiedAt - killedAt) / 1000).toFixed(1)} s after the kill; ${JSON.stringify(copied)}`,
    );
    expect(copied).toMatchObject({ state: 'SNAPSHOT_STATE_DONE', last_error: '' });
    // Taken over: a second epoch, by worker B, which resumed after the last key (rows are not counted twice beyond
    // the one page that may have been written but not reported before the kill).
    expect(Number(copied!.epoch)).toBeGreaterThanOrEqual(2);
    expect(copied!.worker_id).toBe(`worker-b-${h.id}`);
    expect(Number(copied!.rows_total)).toBeGreaterThanOrEqual(ROWS - wrote.deleted);
    expect(Number(copied!.rows_copied)).toBeGreaterThanOrEqual(ROWS - wrote.deleted);
    expect(Number(copied!.rows_copied)).toBeLessThanOrEqual(ROWS + wrote.inserted + COPY_BATCH);

    // The channels stream (from the task's creation time) only now.
    await waitUntil(
      'channels to be leased',
      async () => (await leasedChannels()).length > 0,
      30_000,
    );

    await waitUntil(
      'the target row count to reach the source',
      async () => (await countRows(h.target, ref)) === (await countRows(h.source, ref)),
      120_000,
      1_000,
    );
    let diff: CollectionDiff | undefined;
    await waitUntil(
      'the target to match the source by key and content',
      async () => {
        diff = await compareCollection(h.source, h.target, ref, { digest: true });
        return isConverged(diff);
      },
      120_000,
      2_000,
    );
    console.log(
      `converged ${((Date.now() - copiedAt) / 1000).toFixed(1)} s after the copy: ${diff?.targetRows} rows`,
    );
    expect({
      missing: diff?.missingOnTarget.length,
      extra: diff?.extraOnTarget.length,
      changed: diff?.changed.length,
      schema: diff?.schemaDiff,
    }).toEqual({ missing: 0, extra: 0, changed: 0, schema: [] });
    expect(diff?.sourceRows).toBeGreaterThan(ROWS - wrote.deleted);

    // Independently, with pymilvus: same count(*) (no duplicates), same keys, same full rows for a sample.
    const [src, dst] = await Promise.all([
      pymilvusView(env.sourceMilvusAddress),
      pymilvusView(env.targetMilvusAddress),
    ]);
    expect(src.count).toBeGreaterThan(ROWS - wrote.deleted);
    expect(dst.count).toBe(src.count);
    expect(dst.keys).toBe(src.keys);
    expect(src.keys).toBe(src.count);
    expect(dst.keys_sha256).toBe(src.keys_sha256);
    expect(Object.keys(src.sample).length).toBe(Math.ceil(src.keys / 397));
    expect(dst.sample).toEqual(src.sample);

    // And through the product's own check: VerifyTask compares every key and row hash and finds nothing.
    const started = Date.now();
    const verified = await h.client!.call<{
      clean: boolean;
      rows_compared: string;
      collections: { differences: Record<string, unknown>; error: string }[];
    }>('VerifyTask', { task_id: taskId }, 300_000);
    console.log(
      `VerifyTask: ${verified.rows_compared} rows compared in ${((Date.now() - started) / 1000).toFixed(1)} s`,
    );
    expect(verified.collections.map((c) => c.error)).toEqual(['']);
    expect(verified.clean, JSON.stringify(verified.collections[0]?.differences)).toBe(true);
    expect(Number(verified.rows_compared)).toBe(2 * src.count);
    expect(workerB.child.exitCode).toBeNull();
  }, 900_000);
});
