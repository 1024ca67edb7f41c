/**
 * End to end from a Milvus 2.6-shaped source: the wal26 producer writes with Milvus's own 2.6 message builders into
 * Milvus's Kafka WAL (and the etcd metadata a 2.6 cluster keeps); a task created through gRPC, scoped to one
 * collection and renaming it, replicates into the real target Milvus in API mode. Every operation, an upsert
 * transaction, a rolled-back transaction, a chunked payload, a pause/resume and a worker SIGKILL; the target must
 * hold exactly the rows the producer wrote (by key, content and count(*)).
 *
 * Two routes to the same WAL: the proxy's DumpMessages (served by the producer) and the Kafka topics directly.
 */
import { ConsistencyLevelEnum } from '@zilliz/milvus2-sdk-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { E2eHarness, env } from '../e2e/harness.js';
import { canonical, countRows } from '../helpers/milvus-compare.js';
import { Wal26Producer } from '../helpers/wal26-producer.js';

type Row = {
  id: string;
  vec: number[];
  title: string;
  tags: string[];
  doc: unknown;
  color?: string;
};

/** The dynamic key as the target returns it: spread into the row or inside `$meta`, depending on the server. */
function dynamicColor(r: Row & { $meta?: { color?: string } }): string | null {
  return r.color ?? r.$meta?.color ?? null;
}

const ROUTES = ['DumpMessages', 'Kafka WAL'] as const;

function row(i: number, version = 0): Row {
  return {
    id: String(9_007_199_254_740_000 + i),
    vec: [i % 7, 0.5, -i % 3, version],
    title: `row ${i} v${version}`,
    tags: [String(i), String(version)],
    doc: { i, v: version, nested: { ok: true } },
    ...(i % 2 === 0 ? { color: `c${i}` } : {}),
  };
}

describe.each(ROUTES)('2.6 source end to end through %s', (route) => {
  const h = new E2eHarness('TARGET_MODE_API');
  const producer = new Wal26Producer(2);
  const targetDb = `${h.prefix}_shop`;
  const ref = { db: targetDb, collection: 'goods' };
  const expected = new Map<string, Row>();
  const taskId = `task26-${h.id}`;
  const send = (c: Record<string, unknown>) => producer.send({ db: 'shop', ...c });

  const insert = async (rows: Row[], extra: Record<string, unknown> = {}) => {
    await send({ op: 'insert', collection: 'items', rows, ...extra });
    if (extra['txn'] !== 'rollback') for (const r of rows) expected.set(r.id, r);
  };

  async function targetRows(): Promise<Map<string, Row>> {
    const res = await h.target.query({
      db_name: targetDb,
      collection_name: 'goods',
      filter: 'id >= -9223372036854775807',
      output_fields: ['*'],
      limit: 16_384,
      consistency_level: ConsistencyLevelEnum.Strong,
    });
    return new Map(res.data.map((r) => [String(r['id']), r as unknown as Row]));
  }

  /** Waits until the target holds exactly `expected`: same keys, same content, count(*) = number of keys. */
  async function converge(timeoutMs = 120_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let problem = '';
    while (Date.now() < deadline) {
      try {
        const got = await targetRows();
        problem = '';
        for (const [id, want] of expected) {
          const have = got.get(id);
          if (have === undefined) problem = `missing ${id}`;
          else if (
            canonical([
              have.vec,
              have.title,
              have.tags.map(String),
              have.doc,
              dynamicColor(have),
            ]) !== canonical([want.vec, want.title, want.tags, want.doc, want.color ?? null])
          )
            problem = `row ${id} differs: ${JSON.stringify(have)} vs ${JSON.stringify(want)}`;
        }
        for (const id of got.keys()) if (!expected.has(id)) problem = `extra ${id}`;
        if (problem === '' && (await countRows(h.target, ref)) === expected.size) return;
        if (problem === '') problem = 'count(*) differs from the keys';
      } catch (err) {
        problem = String(err);
      }
      await new Promise((r) => setTimeout(r, 1_500));
    }
    throw new Error(`target did not converge: ${problem}`);
  }

  beforeAll(async () => {
    await producer.start();
    await producer.send({ op: 'init' });
    await h.startControl();
    await h.startWorker('worker-a');
    await h.client!.call('CreateTask', {
      task_id: taskId,
      spec: {
        source: {
          etcd: { endpoints: env.etcdEndpoints, root_path: producer.etcdRoot },
          mq: { type: 'MQ_TYPE_KAFKA', address: env.kafkaBrokers.join(',') },
          channel_prefix: producer.prefix,
          ...(route === 'DumpMessages' ? { milvus: { uri: producer.grpcAddress } } : {}),
        },
        target: { uri: h.targetAddress, mode: 'TARGET_MODE_API' },
        scope: { include: [{ database: 'shop', collection: 'items' }], exclude: [] },
        name_mapping: [
          { source_database: 'shop', target_database: targetDb, collections: { items: 'goods' } },
        ],
        start: { kind: 'START_KIND_LATEST' },
      },
    });
  }, 240_000);

  afterAll(async () => {
    await h.cleanup();
    await producer.dispose();
  });

  it('replicates DDL, rows, an upsert transaction, a rollback and a chunked payload, renamed, out of scope left out', async () => {
    await send({ op: 'createDatabase' });
    const schema = {
      dynamic: true,
      fields: [
        { name: 'id', type: 'Int64', primaryKey: true },
        { name: 'vec', type: 'FloatVector', dim: 4 },
        { name: 'title', type: 'VarChar', maxLength: 128 },
        { name: 'tags', type: 'Array', elementType: 'Int64', maxCapacity: 8 },
        { name: 'doc', type: 'JSON' },
      ],
    };
    await send({ op: 'createCollection', collection: 'items', shards: 2, schema });
    await send({ op: 'createCollection', collection: 'other', shards: 1, schema });
    await insert(Array.from({ length: 40 }, (_, i) => row(i)));
    await send({ op: 'insert', collection: 'other', rows: [row(1000)] });
    await send({ op: 'upsert', collection: 'items', rows: [row(3, 1), row(4, 1)] });
    expected.set(row(3).id, row(3, 1));
    expected.set(row(4).id, row(4, 1));
    await insert([row(500), row(501)], { txn: 'rollback' });
    await insert([row(41, 2)], { chunkSize: 128 });
    await send({ op: 'delete', collection: 'items', pks: [row(5).id, row(6).id] });
    expected.delete(row(5).id);
    expected.delete(row(6).id);
    await send({ op: 'createPartition', collection: 'items', partition: 'p1' });
    await insert([row(60), row(61)], { partition: 'p1' });
    await send({
      op: 'createIndex',
      collection: 'items',
      field: 'vec',
      indexName: 'vec_idx',
      params: { index_type: 'HNSW', metric_type: 'L2', params: '{"M":8,"efConstruction":64}' },
    });
    await send({ op: 'load', collection: 'items' });
    await send({ op: 'flush', collection: 'items' });
    await converge();

    const parts = await h.target.showPartitions({ db_name: targetDb, collection_name: 'goods' });
    expect([...parts.partition_names].sort()).toEqual(['_default', 'p1']);
    const idx = await h.target.describeIndex({ db_name: targetDb, collection_name: 'goods' });
    expect(idx.index_descriptions.map((i) => i.index_name)).toEqual(['vec_idx']);
    const load = await h.target.getLoadState({ db_name: targetDb, collection_name: 'goods' });
    expect(load.state).toBe('LoadStateLoaded');
    const colls = await h.target.showCollections({ db_name: targetDb });
    expect(colls.data.map((c) => c.name)).toEqual(['goods']);
  }, 300_000);

  it('applies nothing while paused and everything after resume', async () => {
    await h.client!.call('PauseTask', { task_id: taskId, reason: 'e2e pause' });
    await new Promise((r) => setTimeout(r, 3_000));
    const before = await countRows(h.target, ref);
    await insert([row(70), row(71)]);
    await send({ op: 'delete', collection: 'items', pks: [row(7).id] });
    expected.delete(row(7).id);
    await new Promise((r) => setTimeout(r, 5_000));
    expect(await countRows(h.target, ref)).toBe(before);
    await h.client!.call('ResumeTask', { task_id: taskId });
    await converge();
  }, 300_000);

  it('loses and duplicates nothing when a worker is SIGKILLed mid-stream', async () => {
    const [first] = h.workers;
    await h.startWorker('worker-b');
    const writes = (async () => {
      for (let b = 0; b < 10; b++) {
        await insert(Array.from({ length: 10 }, (_, i) => row(100 + b * 10 + i, 3)));
        await send({ op: 'upsert', collection: 'items', rows: [row(b, 4)] });
        expected.set(row(b).id, row(b, 4));
        await new Promise((r) => setTimeout(r, 300));
      }
    })();
    await new Promise((r) => setTimeout(r, 1_500));
    await first!.kill();
    await writes;
    await converge(180_000);
  }, 400_000);
});
