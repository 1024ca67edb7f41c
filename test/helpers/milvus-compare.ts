/**
 * Compares a collection on the source and the target Milvus: schema, partitions, indexes, load state and every row
 * (by primary key and full content, vectors included). Used by the end-to-end tests to assert convergence.
 */
import { createHash } from 'node:crypto';
import { ConsistencyLevelEnum, MilvusClient } from '@zilliz/milvus2-sdk-node';

export interface CollectionRef {
  readonly db: string;
  readonly collection: string;
}

export interface CollectionDiff {
  readonly ref: CollectionRef;
  readonly missingOnTarget: string[];
  readonly extraOnTarget: string[];
  readonly changed: string[];
  readonly schemaDiff: string[];
  readonly sourceRows: number;
  readonly targetRows: number;
}

export function milvusClient(address: string): MilvusClient {
  return new MilvusClient({ address, logLevel: 'error' });
}

/** Canonical JSON: sorted keys, so rows compare by content whatever order the server returns fields in. */
export function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (v !== null && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    return `{${Object.keys(o)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical(o[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v);
}

async function describe(client: MilvusClient, ref: CollectionRef) {
  const d = await client.describeCollection({ db_name: ref.db, collection_name: ref.collection });
  if (d.status.error_code !== 'Success')
    throw new Error(`describe ${ref.db}.${ref.collection}: ${d.status.reason}`);
  return d;
}

const QUERY_WINDOW = 16_384;

async function queryRows(
  client: MilvusClient,
  ref: CollectionRef,
  filter: string,
): Promise<Record<string, unknown>[]> {
  const res = await client.query({
    db_name: ref.db,
    collection_name: ref.collection,
    filter,
    output_fields: ['*'],
    limit: QUERY_WINDOW,
    consistency_level: ConsistencyLevelEnum.Strong,
  });
  if (res.status.error_code !== 'Success')
    throw new Error(`query ${ref.collection}: ${res.status.reason}`);
  return res.data;
}

export interface CompareOptions {
  /** Keep a SHA-1 of each row's canonical JSON instead of the JSON itself (large collections with vectors). */
  readonly digest?: boolean;
}

/**
 * All rows keyed by primary key. Milvus answers at most 16384 rows per query, so larger Int64-keyed collections are
 * read in slices `pk % n == r`, each below the window (a slice that fills the window would mean rows were missed).
 */
export async function allRows(
  client: MilvusClient,
  ref: CollectionRef,
  opts: CompareOptions = {},
): Promise<Map<string, string>> {
  const d = await describe(client, ref);
  const pk = d.schema.fields.find((f) => f.is_primary_key);
  if (!pk) throw new Error('no primary key');
  const isString = pk.data_type === 'VarChar';
  const total = await countRows(client, ref);
  const filters: string[] = [];
  if (isString || total < QUERY_WINDOW / 2) {
    filters.push(isString ? `${pk.name} != ""` : `${pk.name} >= -9223372036854775807`);
  } else {
    // Slices of half a window: every slice is a scan of the whole collection on the server, so fewer is faster.
    const n = Math.ceil(total / (QUERY_WINDOW / 2));
    // Milvus' % keeps the key's sign: negative keys fall in negative remainders, read unless there are none (-1:
    // the count failed, read them too).
    const negatives = await countRows(client, ref, `${pk.name} < 0`);
    for (let r = negatives === 0 ? 0 : -(n - 1); r < n; r++)
      filters.push(`${pk.name} % ${n} == ${r}`);
  }
  const rows = new Map<string, string>();
  for (const filter of filters) {
    const data = await queryRows(client, ref, filter);
    if (data.length >= QUERY_WINDOW)
      throw new Error(`query window full for ${filter}: rows would be missed`);
    for (const row of data) {
      const text = canonical(row);
      rows.set(
        String(row[pk.name]),
        opts.digest === true ? createHash('sha1').update(text).digest('base64') : text,
      );
    }
  }
  return rows;
}

function schemaSummary(d: Awaited<ReturnType<typeof describe>>): string[] {
  return d.schema.fields
    .filter((f) => Number(f.fieldID) >= 100 && !f.is_dynamic)
    .map((f) => {
      const params = Object.fromEntries(
        (f.type_params as unknown as { key: string; value: string }[]).map((p) => [p.key, p.value]),
      );
      return canonical({
        name: f.name,
        type: f.data_type,
        pk: f.is_primary_key,
        elem: f.element_type,
        params,
      });
    })
    .concat([canonical({ dynamic: d.schema.enable_dynamic_field, shards: d.shards_num })]);
}

async function ddlSummary(client: MilvusClient, ref: CollectionRef): Promise<string[]> {
  const base = { db_name: ref.db, collection_name: ref.collection };
  const parts = await client.showPartitions(base);
  const idx = await client.describeIndex(base);
  const load = await client.getLoadState(base);
  const indexes = (idx.index_descriptions ?? []).map((i) => {
    const p = Object.fromEntries(i.params.map((kv) => [kv.key, kv.value]));
    return canonical({
      field: i.field_name,
      name: i.index_name,
      type: p['index_type'],
      metric: p['metric_type'],
    });
  });
  return [
    `partitions=${[...parts.partition_names].sort().join(',')}`,
    ...indexes.sort().map((i) => `index=${i}`),
    `load=${load.state}`,
  ];
}

export async function compareCollection(
  source: MilvusClient,
  target: MilvusClient,
  ref: CollectionRef,
  opts: CompareOptions = {},
): Promise<CollectionDiff> {
  const [s, t] = await Promise.all([describe(source, ref), describe(target, ref)]);
  const schemaDiff: string[] = [];
  const sSchema = schemaSummary(s).concat(await ddlSummary(source, ref));
  const tSchema = schemaSummary(t).concat(await ddlSummary(target, ref));
  for (const line of sSchema) if (!tSchema.includes(line)) schemaDiff.push(`source only: ${line}`);
  for (const line of tSchema) if (!sSchema.includes(line)) schemaDiff.push(`target only: ${line}`);
  const [sRows, tRows] = await Promise.all([
    allRows(source, ref, opts),
    allRows(target, ref, opts),
  ]);
  const missingOnTarget = [...sRows.keys()].filter((k) => !tRows.has(k));
  const extraOnTarget = [...tRows.keys()].filter((k) => !sRows.has(k));
  const changed = [...sRows.keys()].filter((k) => tRows.has(k) && tRows.get(k) !== sRows.get(k));
  return {
    ref,
    missingOnTarget,
    extraOnTarget,
    changed,
    schemaDiff,
    sourceRows: sRows.size,
    targetRows: tRows.size,
  };
}

export function isConverged(d: CollectionDiff): boolean {
  return (
    d.missingOnTarget.length + d.extraOnTarget.length + d.changed.length + d.schemaDiff.length === 0
  );
}

/**
 * Number of rows of a collection (those matching `filter`, if given), counting duplicates of a primary key (which a
 * query by key would hide).
 */
export async function countRows(
  client: MilvusClient,
  ref: CollectionRef,
  filter = '',
): Promise<number> {
  const res = await client.query({
    db_name: ref.db,
    collection_name: ref.collection,
    filter,
    output_fields: ['count(*)'],
    consistency_level: ConsistencyLevelEnum.Strong,
  });
  return Number(res.data[0]?.['count(*)'] ?? -1);
}
