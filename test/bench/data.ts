/**
 * Bench data: the collection schema, a deterministic row generator (the same rows go to the source and to the direct
 * ceiling collections), and the SDK loops that write them (source load, direct insert/upsert into the target).
 */
import { ConsistencyLevelEnum, DataType } from '@zilliz/milvus2-sdk-node';
import type { FieldType, RowData, MilvusClient } from '@zilliz/milvus2-sdk-node';

/** Prefix of every database the bench creates (BENCH_DB_PREFIX): two benches on one stack must not share them. */
export const DB_PREFIX = process.env['BENCH_DB_PREFIX'] ?? 'bench';
export const SOURCE_DB = `${DB_PREFIX}_src`;
export const ROWS_COLLECTION = 'rows';
export const LAG_COLLECTION = 'lag';

export interface DataShape {
  readonly dim: number;
  readonly shards: number;
}

export function fields(dim: number): FieldType[] {
  return [
    { name: 'id', data_type: DataType.Int64, is_primary_key: true, autoID: false },
    { name: 'title', data_type: DataType.VarChar, max_length: 64 },
    { name: 'score', data_type: DataType.Double },
    { name: 'written_ms', data_type: DataType.Int64 },
    { name: 'vec', data_type: DataType.FloatVector, dim },
  ];
}

/** mulberry32: cheap deterministic floats, so a row's content depends only on its id. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function makeRows(from: number, count: number, dim: number, writtenMs = 0): RowData[] {
  const rows: RowData[] = [];
  for (let id = from; id < from + count; id++) {
    const r = rng(id * 2654435761);
    const vec = new Array<number>(dim);
    for (let d = 0; d < dim; d++) vec[d] = Math.fround(r() * 2 - 1);
    rows.push({ id, title: `row ${id}`, score: id * 0.5, written_ms: writtenMs, vec });
  }
  return rows;
}

function ok(what: string, res: { error_code?: string | number; reason?: string }): void {
  if (res.error_code !== undefined && res.error_code !== 'Success' && res.error_code !== 0) {
    throw new Error(`${what}: ${String(res.error_code)} ${res.reason ?? ''}`);
  }
}

/** Creates (db, collection) with a FLAT index, loaded: loaded so `count(*)` answers (the CDC replicates both). */
export async function createIndexedCollection(
  client: MilvusClient,
  db: string,
  collection: string,
  shape: DataShape,
): Promise<void> {
  const dbs = await client.listDatabases();
  if (!dbs.db_names.includes(db))
    ok(`create db ${db}`, await client.createDatabase({ db_name: db }));
  ok(
    `create ${db}.${collection}`,
    await client.createCollection({
      db_name: db,
      collection_name: collection,
      shards_num: shape.shards,
      fields: fields(shape.dim),
      consistency_level: 'Bounded',
    }),
  );
  ok(
    `index ${db}.${collection}`,
    await client.createIndex({
      db_name: db,
      collection_name: collection,
      field_name: 'vec',
      index_type: 'FLAT',
      metric_type: 'L2',
    }),
  );
  ok(
    `load ${db}.${collection}`,
    await client.loadCollectionSync({ db_name: db, collection_name: collection }),
  );
}

/** Drops every collection of `db`, then `db`; silent when it does not exist. */
export async function dropDatabase(client: MilvusClient, db: string): Promise<void> {
  const dbs = await client.listDatabases().catch(() => undefined);
  if (!dbs?.db_names.includes(db)) return;
  const colls = await client.showCollections({ db_name: db });
  for (const c of colls.data) {
    await client.dropCollection({ db_name: db, collection_name: c.name });
  }
  await client.dropDatabase({ db_name: db });
}

export async function count(client: MilvusClient, db: string, collection: string): Promise<number> {
  const res = await client.query({
    db_name: db,
    collection_name: collection,
    filter: '',
    output_fields: ['count(*)'],
    consistency_level: ConsistencyLevelEnum.Strong,
  });
  if (res.status.error_code !== 'Success') throw new Error(res.status.reason);
  return Number(res.data[0]?.['count(*)'] ?? -1);
}

export interface WriteTiming {
  readonly rows: number;
  readonly ms: number;
}

/**
 * Writes rows [0, n) in batches of `batch` with `concurrency` calls in flight. Row generation is outside the timed
 * window for concurrency 1 (only SDK calls are timed), and overlapped with calls in flight otherwise.
 */
export async function writeRows(
  client: MilvusClient,
  op: 'insert' | 'upsert',
  db: string,
  collection: string,
  n: number,
  batch: number,
  dim: number,
  concurrency = 1,
  onProgress?: (done: number) => void,
): Promise<WriteTiming> {
  let next = 0;
  let done = 0;
  let callMs = 0;
  const started = performance.now();
  const lane = async (): Promise<void> => {
    while (next < n) {
      const from = next;
      const size = Math.min(batch, n - from);
      next += size;
      const data = makeRows(from, size, dim);
      const t0 = performance.now();
      const req = { db_name: db, collection_name: collection, data };
      const res = op === 'insert' ? await client.insert(req) : await client.upsert(req);
      callMs += performance.now() - t0;
      ok(`${op} ${db}.${collection} [${from}, ${from + size})`, res.status);
      done += size;
      onProgress?.(done);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, lane));
  return { rows: n, ms: concurrency === 1 ? callMs : performance.now() - started };
}
