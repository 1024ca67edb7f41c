/**
 * The small collection the lease e2e tests write to (id, a tag naming the write, a vector): created, indexed and
 * loaded on the source; rows whose tag tells which write put them there, so late or lost writes show in the content.
 */
import { DataType, type MilvusClient, type RowData } from '@zilliz/milvus2-sdk-node';
import type { CollectionRef } from '../helpers/milvus-compare.js';

/** Throws naming `what` unless the Milvus call succeeded. */
export async function milvusOk(
  what: string,
  p: Promise<{ error_code?: string | number; status?: { error_code?: string | number } }>,
): Promise<void> {
  const res = await p;
  const code = res.error_code ?? res.status?.error_code;
  if (code !== 'Success') throw new Error(`${what}: ${JSON.stringify(res)}`);
}

/** `count` rows from key `from`, tagged `${tag}-${key}`. */
export function taggedRows(from: number, count: number, tag: string, dim: number): RowData[] {
  return Array.from({ length: count }, (_, i) => ({
    id: from + i,
    tag: `${tag}-${String(from + i)}`,
    vec: Array.from({ length: dim }, (_, d) => ((from + i) * 7 + d) % 13),
  }));
}

/** Creates the database and the collection on `source`, indexes and loads it. */
export async function createTaggedCollection(
  source: MilvusClient,
  ref: CollectionRef,
  dim: number,
): Promise<void> {
  const base = { db_name: ref.db, collection_name: ref.collection };
  await milvusOk('create db', source.createDatabase({ db_name: ref.db }));
  await milvusOk(
    'create collection',
    source.createCollection({
      ...base,
      fields: [
        { name: 'id', data_type: DataType.Int64, is_primary_key: true, autoID: false },
        { name: 'tag', data_type: DataType.VarChar, max_length: 64 },
        { name: 'vec', data_type: DataType.FloatVector, dim },
      ],
    }),
  );
  await milvusOk(
    'create index',
    source.createIndex({ ...base, field_name: 'vec', index_type: 'FLAT', metric_type: 'L2' }),
  );
  await milvusOk('load', source.loadCollectionSync(base));
}
