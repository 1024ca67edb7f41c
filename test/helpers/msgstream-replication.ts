/**
 * The end-to-end suite shared by the msgstream-era sources written by Go producers (test/producers/msgstream24,
 * msgstream25): the same workload, scope, rename and comparisons for each; the test files name the producer.
 */
import { ConsistencyLevelEnum, LoadState } from '@zilliz/milvus2-sdk-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { E2eHarness } from '../e2e/harness.js';
import { allRows, canonical, countRows } from './milvus-compare.js';
import type { CollectionRef } from './milvus-compare.js';
import { MsgstreamProducer } from './msgstream-producer.js';

type Row = Record<string, unknown>;

function item(i: number, version = 0): Row {
  return {
    id: String(9_007_199_254_740_000 + i),
    vec: [i % 7, 0.5, -(i % 3), version],
    title: `row ${i} v${version}`,
    score: i * 1.5 + version,
    flag: i % 2 === 0,
    i8: -(i % 100),
    i16: 300 + i,
    i32: 70_000 + i,
    f32: i + 0.1,
    tags: [String(i), String(version)],
    doc: { i, v: version, nested: { ok: true } },
    ...(i % 2 === 0 ? { color: `c${i}` } : {}),
  };
}

/** A row as compared: what the producer wrote and what the target returns, in one shape. */
function normalize(r: Row): string {
  const meta = (r['$meta'] ?? {}) as Row;
  return canonical({
    id: String(r['id']),
    vec: (r['vec'] as number[]).map((x) => Math.fround(x)),
    title: r['title'],
    score: r['score'],
    flag: r['flag'],
    ints: [r['i8'], r['i16'], r['i32']],
    f32: Math.fround(r['f32'] as number),
    tags: (r['tags'] as unknown[]).map(String),
    doc: r['doc'],
    color: r['color'] ?? meta['color'] ?? null,
  });
}

const ITEMS_SCHEMA = {
  dynamic: true,
  fields: [
    { name: 'id', type: 'Int64', primaryKey: true },
    { name: 'vec', type: 'FloatVector', dim: 4 },
    { name: 'title', type: 'VarChar', maxLength: 64 },
    { name: 'score', type: 'Double' },
    { name: 'flag', type: 'Bool' },
    { name: 'i8', type: 'Int8' },
    { name: 'i16', type: 'Int16' },
    { name: 'i32', type: 'Int32' },
    { name: 'f32', type: 'Float' },
    { name: 'tags', type: 'Array', elementType: 'Int64', maxCapacity: 8 },
    { name: 'doc', type: 'JSON' },
  ],
};
const KEYS_SCHEMA = {
  fields: [
    { name: 'key', type: 'VarChar', primaryKey: true, maxLength: 16 },
    { name: 'bin', type: 'BinaryVector', dim: 16 },
  ],
};

export interface MsgstreamSuite {
  /** The suite's title, naming the library that wrote the records. */
  readonly title: string;
  /** The producer under test/producers/. */
  readonly producer: string;
  /** Checks on the records themselves, run after the workload (e.g. which headers the library set). */
  readonly records?: (producer: MsgstreamProducer) => Promise<void>;
}

/**
 * The end-to-end workload of a msgstream-era source (2.4, 2.5) written by a Go producer on Milvus's own msgstream
 * code: a task created through gRPC, scoped and renamed, replicates every operation the 2.3.5 target can hold into it
 * in API mode; the target must hold exactly the rows the producer wrote (by key, content and count(*)) and its DDL.
 */
export function describeMsgstreamReplication(suite: MsgstreamSuite): void {
  describe(suite.title, () => {
    const h = new E2eHarness('TARGET_MODE_API');
    const producer = new MsgstreamProducer(suite.producer, 2);
    const targetDb = `${h.prefix}_shop`;
    const goods: CollectionRef = { db: targetDb, collection: 'goods' };
    const keys: CollectionRef = { db: targetDb, collection: 'keys' };
    const expected = new Map<string, Row>();
    const send = (c: Record<string, unknown>) => producer.send({ db: 'shop', ...c });
    const base = (c: string) => ({ db_name: targetDb, collection_name: c });

    const write = async (
      op: 'insert' | 'upsert',
      rows: Row[],
      extra: Record<string, unknown> = {},
    ) => {
      await send({ op, collection: 'items', rows, ...extra });
      for (const r of rows) expected.set(String(r['id']), r);
    };

    /** Waits until `goods` holds exactly `expected`: same keys, same content, count(*) = number of keys. */
    async function converge(timeoutMs = 150_000): Promise<void> {
      const want = new Map([...expected].map(([k, r]) => [k, normalize(r)]));
      const deadline = Date.now() + timeoutMs;
      let problem = '';
      while (Date.now() < deadline) {
        try {
          const got = await allRows(h.target, goods);
          const missing = [...want.keys()].filter((id) => !got.has(id));
          const extra = [...got.keys()].filter((id) => !want.has(id));
          const differing = [...want].filter(([id, text]) => {
            const have = got.get(id);
            return have !== undefined && normalize(JSON.parse(have) as Row) !== text;
          });
          problem = [
            missing.length > 0 ? `missing ${missing.join(', ')}` : '',
            extra.length > 0 ? `extra ${extra.join(', ')}` : '',
            differing.length > 0
              ? `row ${differing[0]![0]} differs: ${got.get(differing[0]![0])!}`
              : '',
          ]
            .filter((p) => p !== '')
            .join('; ');
          if (problem === '' && (await countRows(h.target, goods)) === want.size) return;
          if (problem === '') problem = 'count(*) differs from the keys';
        } catch (err) {
          problem = String(err);
        }
        await new Promise((r) => setTimeout(r, 1_500));
      }
      throw new Error(`target did not converge: ${problem}`);
    }

    async function until<T>(
      what: string,
      probe: () => Promise<T>,
      ok: (v: T) => boolean,
    ): Promise<T> {
      const deadline = Date.now() + 90_000;
      let last: T | undefined;
      while (Date.now() < deadline) {
        try {
          last = await probe();
          if (ok(last)) return last;
        } catch {
          // not there yet
        }
        await new Promise((r) => setTimeout(r, 1_500));
      }
      throw new Error(`${what}: last ${JSON.stringify(last)}`);
    }

    beforeAll(async () => {
      await producer.start();
      await producer.send({ op: 'init' });
      await h.startControl();
      await h.startWorker('worker-a');
      await h.client!.call('CreateTask', {
        task_id: `${suite.producer}-${h.id}`,
        spec: {
          source: producer.sourceSpec(),
          target: { uri: h.targetAddress, mode: 'TARGET_MODE_API' },
          scope: {
            include: [
              { database: 'shop', collection: 'items' },
              { database: 'shop', collection: 'keys' },
            ],
            exclude: [],
          },
          name_mapping: [
            { source_database: 'shop', target_database: targetDb, collections: { items: 'goods' } },
          ],
          start: { kind: 'START_KIND_LATEST' },
        },
      });
    }, 1_500_000); // the first producer build on a fresh machine takes minutes

    afterAll(async () => {
      await h.cleanup();
      await producer.dispose();
    });

    it('replicates database, collections, rows (upserts, deletes, Int64 and VarChar keys, binary vectors), partitions, index, load and flush', async () => {
      await send({ op: 'createDatabase' });
      await send({ op: 'createCollection', collection: 'items', shards: 2, schema: ITEMS_SCHEMA });
      await send({ op: 'createCollection', collection: 'keys', shards: 1, schema: KEYS_SCHEMA });
      await send({ op: 'createCollection', collection: 'other', shards: 1, schema: ITEMS_SCHEMA });
      await write(
        'insert',
        Array.from({ length: 40 }, (_, i) => item(i)),
      );
      await send({ op: 'insert', collection: 'other', rows: [item(1000)] });
      const k = ['k0', 'k1', 'k2', 'k3'].map((key, n) => ({ key, bin: [n, 255 - n] }));
      await send({ op: 'insert', collection: 'keys', rows: k });
      await write('upsert', [item(3, 1), item(4, 1)]);
      await send({ op: 'delete', collection: 'items', pks: [item(5)['id'], item(6)['id']] });
      expected.delete(String(item(5)['id']));
      expected.delete(String(item(6)['id']));
      await send({ op: 'delete', collection: 'keys', pks: ['k1'] });
      await send({ op: 'createPartition', collection: 'items', partition: 'p1' });
      await write('insert', [item(60), item(61)], { partition: 'p1' });
      await send({
        op: 'createIndex',
        collection: 'items',
        field: 'vec',
        indexName: 'vec_idx',
        params: { index_type: 'HNSW', metric_type: 'L2', params: '{"M":8,"efConstruction":64}' },
      });
      await send({ op: 'load', collection: 'items' });
      await send({ op: 'flush', collection: 'items' });
      const binIndex = { index_type: 'BIN_FLAT', metric_type: 'HAMMING' };
      await send({ op: 'createIndex', collection: 'keys', field: 'bin', params: binIndex });
      await send({ op: 'load', collection: 'keys' });
      await converge();

      const parts = await h.target.showPartitions(base('goods'));
      expect([...parts.partition_names].sort()).toEqual(['_default', 'p1']);
      const idx = await h.target.describeIndex(base('goods'));
      expect(idx.index_descriptions.map((i) => i.index_name)).toEqual(['vec_idx']);
      expect((await h.target.getLoadState(base('goods'))).state).toBe('LoadStateLoaded');
      const colls = await h.target.showCollections({ db_name: targetDb });
      expect(colls.data.map((c) => c.name).sort()).toEqual(['goods', 'keys']);
      await until(
        'keys rows',
        async () =>
          (
            await h.target.query({
              ...base('keys'),
              filter: 'key != ""',
              output_fields: ['key', 'bin'],
              consistency_level: ConsistencyLevelEnum.Strong,
            })
          ).data
            .map((r) => [String(r['key']), Array.from(r['bin'] as ArrayLike<number>)])
            .sort(),
        (ks) =>
          canonical(ks) === canonical(k.filter((r) => r.key !== 'k1').map((r) => [r.key, r.bin])),
      );
      expect(await countRows(h.target, keys)).toBe(3);
    }, 300_000);

    it('replicates release, partition load/release, partition and index drops and a collection drop', async () => {
      await send({ op: 'release', collection: 'items' });
      await send({ op: 'loadPartitions', collection: 'items', partitions: ['p1'] });
      await until(
        'p1 loaded',
        () => h.target.getLoadState({ ...base('goods'), partition_names: ['p1'] }),
        (s) => s.state === LoadState.LoadStateLoaded,
      );
      await send({ op: 'releasePartitions', collection: 'items', partitions: ['p1'] });
      await until(
        'p1 released',
        () => h.target.getLoadState({ ...base('goods'), partition_names: ['p1'] }),
        (s) => s.state === LoadState.LoadStateNotLoad,
      );
      await send({ op: 'dropPartition', collection: 'items', partition: 'p1' });
      expected.delete(String(item(60)['id']));
      expected.delete(String(item(61)['id']));
      await send({ op: 'dropIndex', collection: 'items', indexName: 'vec_idx' });
      await send({ op: 'dropCollection', collection: 'keys' });
      await write('upsert', [item(7, 2)]);
      await until(
        'keys dropped, p1 and vec_idx gone',
        async () => ({
          colls: (await h.target.showCollections({ db_name: targetDb })).data.map((c) => c.name),
          parts: [...(await h.target.showPartitions(base('goods'))).partition_names],
          idx: ((await h.target.describeIndex(base('goods'))).index_descriptions ?? []).length,
        }),
        (s) => canonical(s) === canonical({ colls: ['goods'], parts: ['_default'], idx: 0 }),
      );
      // A query needs an index and a load: both come from the source again.
      await send({
        op: 'createIndex',
        collection: 'items',
        field: 'vec',
        indexName: 'vec_flat',
        params: { index_type: 'FLAT', metric_type: 'L2' },
      });
      await send({ op: 'load', collection: 'items' });
      await converge();
      const idx = await h.target.describeIndex(base('goods'));
      expect(idx.index_descriptions.map((i) => i.index_name)).toEqual(['vec_flat']);
    }, 300_000);

    const checkRecords = suite.records;
    if (checkRecords !== undefined)
      it('wrote the records the way its library does', () => checkRecords(producer));
  });
}
