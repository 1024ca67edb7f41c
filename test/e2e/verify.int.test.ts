/**
 * VerifyTask end to end on the real stack: a control service and a worker replicate two collections (Int64 and
 * VarChar keys, float vectors, JSON, a dynamic field, two partitions); verification finds nothing, then finds exactly
 * the rows changed directly on the target (5 changed, 3 deleted, 2 extra), repair fixes them, and an independent
 * row-by-row comparison agrees. Last, a verification while the source keeps writing reports no false difference.
 */
import {
  ConsistencyLevelEnum,
  DataType,
  type MilvusClient,
  type RowData,
} from '@zilliz/milvus2-sdk-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compareCollection, isConverged, type CollectionRef } from '../helpers/milvus-compare.js';
import { runNodeScript, waitUntil } from '../helpers/processes.js';
import { E2eHarness } from './harness.js';

interface Keys {
  missing_on_target: string;
  extra_on_target: string;
  content_differs: string;
  missing_keys: string[];
  extra_keys: string[];
  differing_keys: string[];
}
interface CollectionResult {
  source_database: string;
  source_collection: string;
  target_database: string;
  target_collection: string;
  partitions: { partition: string; source_rows: string; target_rows: string }[];
  source_rows: string;
  target_rows: string;
  differences: Keys;
  caught_up: boolean;
  repaired: boolean;
  rows_recopied: string;
  rows_deleted: string;
  remaining: Keys | null;
  error: string;
}
interface VerifyResult {
  task_id: string;
  collections: CollectionResult[];
  clean: boolean;
  rows_compared: string;
  duration_ms: string;
}

const h = new E2eHarness();
const db = `${h.prefix}_db`;
const INTS: CollectionRef = { db, collection: 'ints' };
const STRS: CollectionRef = { db, collection: 'strs' };
const INT_ROWS = 3_000;
const STR_ROWS = 1_000;
/** Int64 keys beyond 2^53, so a float conversion anywhere would show. */
const BASE = 2n ** 53n;
let taskId = '';

const intKey = (i: number): string => (BASE + BigInt(i) * 7n).toString();
const partitionOf = (i: number): string => (i % 2 === 0 ? '_default' : 'p1');
const vector = (i: number, dim: number): number[] =>
  Array.from({ length: dim }, (_, d) => Math.sin(i * 31 + d) / 3);

function intRow(i: number, label = `row ${i}`): RowData {
  return {
    pk: intKey(i),
    vec: vector(i, 8),
    meta: { i, tags: ['a', String(i % 5)], nested: { even: i % 2 === 0 } },
    label,
    score: i / 3,
    dyn_note: `n${i % 11}`,
  };
}

function strRow(i: number): RowData {
  return { pk: i % 10 === 0 ? `k"${i}'\\` : `k${i}`, vec: vector(i, 4), meta: { i } };
}

async function createCollection(
  client: MilvusClient,
  ref: CollectionRef,
  pk: 'int' | 'str',
  dim: number,
): Promise<void> {
  const base = { db_name: ref.db, collection_name: ref.collection };
  const res = await client.createCollection({
    ...base,
    enable_dynamic_field: true,
    fields: [
      pk === 'int'
        ? { name: 'pk', data_type: DataType.Int64, is_primary_key: true }
        : { name: 'pk', data_type: DataType.VarChar, is_primary_key: true, max_length: 64 },
      { name: 'vec', data_type: DataType.FloatVector, dim },
      { name: 'meta', data_type: DataType.JSON },
      ...(pk === 'int'
        ? [
            { name: 'label', data_type: DataType.VarChar, max_length: 64 },
            { name: 'score', data_type: DataType.Float },
          ]
        : []),
    ],
  });
  expect(res.error_code, res.reason).toBe('Success');
  await client.createPartition({ ...base, partition_name: 'p1' });
  await client.createIndex({ ...base, field_name: 'vec', index_type: 'FLAT', metric_type: 'L2' });
  await client.loadCollectionSync(base);
}

async function insert(
  client: MilvusClient,
  ref: CollectionRef,
  rows: RowData[],
  partition: string,
  op: 'insert' | 'upsert' = 'insert',
): Promise<void> {
  const req = { db_name: ref.db, collection_name: ref.collection, partition_name: partition };
  for (let i = 0; i < rows.length; i += 1_000) {
    const data = rows.slice(i, i + 1_000);
    const res = await (op === 'insert'
      ? client.insert({ ...req, data })
      : client.upsert({ ...req, data }));
    expect(res.status.error_code, res.status.reason).toBe('Success');
  }
}

async function insertByPartition(
  ref: CollectionRef,
  count: number,
  row: (i: number) => RowData,
): Promise<void> {
  for (const partition of ['_default', 'p1']) {
    const rows: RowData[] = [];
    for (let i = 0; i < count; i++) if (partitionOf(i) === partition) rows.push(row(i));
    await insert(h.source, ref, rows, partition);
  }
}

async function waitConverged(refs: CollectionRef[], timeoutMs = 60_000): Promise<void> {
  await waitUntil(
    `${refs.map((r) => r.collection).join(', ')} to converge on the target`,
    async () => {
      const diffs = await Promise.all(refs.map((r) => compareCollection(h.source, h.target, r)));
      return diffs.every(isConverged);
    },
    timeoutMs,
    1_000,
  );
}

function verify(req: Record<string, unknown>): Promise<VerifyResult> {
  return h.client!.call<VerifyResult>('VerifyTask', { task_id: taskId, ...req }, 120_000);
}

function byName(res: VerifyResult, name: string): CollectionResult {
  const found = res.collections.find((c) => c.source_collection === name);
  if (found === undefined) throw new Error(`no result for ${name}: ${JSON.stringify(res)}`);
  return found;
}

const noKeys = {
  missing_on_target: '0',
  extra_on_target: '0',
  content_differs: '0',
  missing_keys: [],
  extra_keys: [],
  differing_keys: [],
};

beforeAll(async () => {
  await h.startControl();
  await h.startWorker('verify-worker');
  taskId = await h.createTask();
  await h.source.createDatabase({ db_name: db });
  await createCollection(h.source, INTS, 'int', 8);
  await createCollection(h.source, STRS, 'str', 4);
  await insertByPartition(INTS, INT_ROWS, (i) => intRow(i));
  await insertByPartition(STRS, STR_ROWS, strRow);
  await waitConverged([INTS, STRS], 90_000);
}, 180_000);

afterAll(async () => {
  await h.cleanup();
});

describe('VerifyTask on the real stack', () => {
  it('finds no difference on a replicated task, with row counts per partition', async () => {
    const res = await verify({});
    const rows = Number(res.rows_compared);
    console.log(
      `verify: ${rows} rows (source + target) in ${res.duration_ms} ms = ${Math.round(
        (rows * 1000) / Math.max(1, Number(res.duration_ms)),
      )} rows/s`,
    );
    expect(res.clean).toBe(true);
    expect(res.collections.map((c) => c.source_collection)).toEqual(['ints', 'strs']);
    const ints = byName(res, 'ints');
    expect(ints).toMatchObject({
      target_database: db,
      target_collection: 'ints',
      source_rows: String(INT_ROWS),
      target_rows: String(INT_ROWS),
      differences: noKeys,
      caught_up: true,
      repaired: false,
      remaining: null,
      error: '',
    });
    expect(ints.partitions).toEqual([
      { partition: '_default', source_rows: '1500', target_rows: '1500' },
      { partition: 'p1', source_rows: '1500', target_rows: '1500' },
    ]);
    expect(byName(res, 'strs')).toMatchObject({
      source_rows: String(STR_ROWS),
      target_rows: String(STR_ROWS),
      differences: noKeys,
    });
    expect(rows).toBe(2 * (INT_ROWS + STR_ROWS));
  });

  it('reports exactly the rows changed on the target, repairs them, and an independent check agrees', async () => {
    const changed = [10, 11, 500, 1201, 2999];
    const deleted = [0, 7, 1500];
    const extra = [INT_ROWS + 10, INT_ROWS + 11];
    for (const i of changed)
      await insert(h.target, INTS, [intRow(i, 'tampered')], partitionOf(i), 'upsert');
    const del = await h.target.delete({
      db_name: db,
      collection_name: 'ints',
      filter: `pk in [${deleted.map(intKey).join(',')}]`,
    });
    expect(del.status.error_code).toBe('Success');
    for (const i of extra) await insert(h.target, INTS, [intRow(i)], partitionOf(i));
    const sorted = (ids: number[]): string[] =>
      ids
        .map((i) => BigInt(intKey(i)))
        .sort((a, b) => (a < b ? -1 : 1))
        .map(String);

    const found = await verify({ collections: [{ database: db, collection: 'ints' }] });
    expect(found.clean).toBe(false);
    expect(found.collections).toHaveLength(1);
    expect(byName(found, 'ints')).toMatchObject({
      source_rows: String(INT_ROWS),
      target_rows: String(INT_ROWS - deleted.length + extra.length),
      differences: {
        missing_on_target: '3',
        extra_on_target: '2',
        content_differs: '5',
        missing_keys: sorted(deleted),
        extra_keys: sorted(extra),
        differing_keys: sorted(changed),
      },
      caught_up: true,
    });

    // cdcctl: a table with the keys, and exit code 3 while differences remain.
    const cli = await runNodeScript('services/control/dist/cli/main.js', [
      '--address',
      h.controlAddress,
      'verify',
      taskId,
      '--collection',
      `${db}.ints`,
    ]);
    expect(cli.code, cli.stderr).toBe(3);
    expect(cli.stdout).toContain('DIFFERENCES REMAIN');
    expect(cli.stdout).toContain(`${db}.ints missing on target: ${sorted(deleted).join(', ')}`);

    // Repair reports what it found (here only the first 2 keys of each kind), then what is left.
    const repaired = await verify({ repair: true, max_keys_reported: 2 });
    expect(repaired.clean).toBe(true);
    expect(byName(repaired, 'ints')).toMatchObject({
      differences: {
        missing_on_target: '3',
        extra_on_target: '2',
        content_differs: '5',
        missing_keys: sorted(deleted).slice(0, 2),
        differing_keys: sorted(changed).slice(0, 2),
      },
      repaired: true,
      rows_recopied: '8',
      rows_deleted: '2',
      remaining: noKeys,
    });
    expect(byName(repaired, 'strs')).toMatchObject({ repaired: false, remaining: null });

    const after = await runNodeScript('services/control/dist/cli/main.js', [
      '--address',
      h.controlAddress,
      'verify',
      taskId,
      '-o',
      'json',
    ]);
    expect(after.code, after.stderr).toBe(0);
    const afterJson = JSON.parse(after.stdout) as VerifyResult;
    expect(afterJson.clean).toBe(true);
    expect(afterJson.collections.map((c) => c.differences)).toEqual([noKeys, noKeys]);
    for (const ref of [INTS, STRS]) {
      const diff = await compareCollection(h.source, h.target, ref);
      expect({
        ref,
        missing: diff.missingOnTarget,
        extra: diff.extraOnTarget,
        changed: diff.changed,
      }).toEqual({ ref, missing: [], extra: [], changed: [] });
      expect(isConverged(diff)).toBe(true);
    }
    const label = await h.target.query({
      db_name: db,
      collection_name: 'ints',
      filter: `pk == ${intKey(500)}`,
      output_fields: ['label'],
      consistency_level: ConsistencyLevelEnum.Strong,
    });
    expect(label.data[0]?.['label']).toBe('row 500');
  }, 240_000);

  it('reports no false difference while the source keeps writing', async () => {
    let stop = false;
    let next = INT_ROWS + 100;
    let writes = 0;
    const writer = (async () => {
      while (!stop) {
        const fresh = Array.from({ length: 20 }, () => next++);
        for (const partition of ['_default', 'p1']) {
          const rows = fresh.filter((i) => partitionOf(i) === partition).map((i) => intRow(i));
          await insert(h.source, INTS, rows, partition);
        }
        const old = Math.floor(Math.random() * INT_ROWS);
        await insert(
          h.source,
          INTS,
          [intRow(old, `rewritten ${writes}`)],
          partitionOf(old),
          'upsert',
        );
        writes += 21;
        await new Promise((r) => setTimeout(r, 200));
      }
    })();
    try {
      await new Promise((r) => setTimeout(r, 1_000));
      const res = await verify({ collections: [{ database: db, collection: 'ints' }] });
      const ints = byName(res, 'ints');
      expect(writes).toBeGreaterThan(0);
      expect({
        differences: ints.differences,
        caught_up: ints.caught_up,
        error: ints.error,
      }).toEqual({
        differences: noKeys,
        caught_up: true,
        error: '',
      });
      expect(Number(ints.source_rows)).toBeGreaterThan(INT_ROWS);
    } finally {
      stop = true;
      await writer;
    }
    await waitConverged([INTS]);
  }, 240_000);
});
