import {
  CdcError,
  encodeUpsertColumns,
  primaryKeyFilter,
  type ColumnSlice,
  type InsertColumns,
  type PrimaryKeys,
  type Row,
} from '@cdc/shared';
import type { DeleteByFilterReq, RowData, UpsertReq } from '@zilliz/milvus2-sdk-node';
import type { TargetCollection, WriteResult } from '../ports/target-writer.js';
import { failure, nestedStatus, type MilvusCalls, type Outcome } from './milvus-calls.js';
import { keysBytes, rowsBytes } from './milvus-rows.js';

/** Rows by primary key: `upsert` replaces, so a replayed batch never duplicates; `delete` by an exact key filter. */

interface TargetInfo {
  readonly pkField: string;
  readonly pkType: PrimaryKeys['type'] | 'other';
  readonly partitionKey: boolean;
}

/** Primary key and partition-key mode, from the schema cache the SDK's upsert also reads. */
async function targetInfo(calls: MilvusCalls, target: TargetCollection): Promise<TargetInfo> {
  const res = await calls.must(
    'describing collection',
    { ...target },
    () => calls.client.describeCollection({ ...calls.req(target), cache: true }),
    nestedStatus,
  );
  const fields = res?.schema.fields ?? [];
  const pk = fields.find((f) => f.is_primary_key);
  const pkType = pk?.data_type === 'Int64' || pk?.data_type === 'VarChar' ? pk.data_type : 'other';
  return {
    pkField: pk?.name ?? '',
    pkType,
    partitionKey: fields.some((f) => f.is_partition_key === true),
  };
}

/**
 * A rejected write may come from a stale cached schema (the target collection was recreated); 2.3 servers do not
 * report that as SchemaMismatch. Forget the schema and try once more before giving up.
 */
async function withSchemaRetry(
  calls: MilvusCalls,
  target: TargetCollection,
  action: string,
  write: () => Promise<Outcome<unknown>>,
): Promise<void> {
  let o = await write();
  if (o.cls.kind === 'rejected') {
    calls.client.forgetSchema(target.db, target.collection);
    o = await write();
  }
  if (o.cls.kind !== 'ok') {
    if (o.cls.kind === 'rejected') calls.client.forgetSchema(target.db, target.collection);
    throw failure(action, o, { ...target });
  }
}

export async function upsertRows(
  calls: MilvusCalls,
  target: TargetCollection,
  partition: string,
  rows: readonly Row[],
): Promise<WriteResult> {
  if (rows.length === 0) return { rows: 0, bytes: 0 };
  await withSchemaRetry(calls, target, 'upserting rows', async () => {
    const info = await targetInfo(calls, target);
    // SDK rows: Int64 as decimal strings, vectors as number arrays (see `Row` in @cdc/shared).
    const req: UpsertReq = { ...calls.req(target), data: rows as RowData[] };
    // Partition-key collections route rows themselves and refuse an explicit partition.
    if (!info.partitionKey && partition !== '') req.partition_name = partition;
    return calls.attempt(() => calls.client.upsert(req), nestedStatus);
  });
  return { rows: rows.length, bytes: rowsBytes(rows) };
}

/** Inserts' columns as the source wrote them, in one upsert request (`encodeUpsertColumns`). */
export async function upsertColumns(
  calls: MilvusCalls,
  target: TargetCollection,
  partition: string,
  inserts: readonly InsertColumns[],
  keep: (c: ColumnSlice) => boolean,
): Promise<WriteResult> {
  let rows = 0;
  let bytes = 0;
  for (const ins of inserts) {
    rows += ins.numRows;
    for (const c of ins.columns) if (keep(c)) bytes += c.valueEnd - c.valueStart;
  }
  if (rows === 0) return { rows: 0, bytes: 0 };
  await withSchemaRetry(calls, target, 'upserting rows', async () => {
    const info = await targetInfo(calls, target);
    const request = Buffer.concat(
      encodeUpsertColumns({
        dbName: target.db,
        collectionName: target.collection,
        // Partition-key collections route rows themselves and refuse an explicit partition.
        partitionName: info.partitionKey ? '' : partition,
        inserts,
        keep,
      }),
    );
    return calls.attempt(
      () => calls.client.upsertBytes(request, calls.timeout),
      (res) => res.status,
    );
  });
  return { rows, bytes };
}

export async function deleteRows(
  calls: MilvusCalls,
  target: TargetCollection,
  partition: string | undefined,
  keys: PrimaryKeys,
): Promise<WriteResult> {
  if (keys.values.length === 0) return { rows: 0, bytes: 0 };
  await withSchemaRetry(calls, target, 'deleting rows', async () => {
    const info = await targetInfo(calls, target);
    if (info.pkType !== keys.type) {
      throw new CdcError('SCHEMA_MISMATCH', 'deleting rows: primary key types differ', {
        retryable: false,
        details: { ...target, sourceType: keys.type, targetType: info.pkType },
      });
    }
    const filter = primaryKeyFilter(info.pkField, keys);
    const req: DeleteByFilterReq = { ...calls.req(target), filter };
    if (!info.partitionKey && partition !== undefined && partition !== '') {
      req.partition_name = partition;
    }
    return calls.attempt(() => calls.client.delete(req), nestedStatus);
  });
  return { rows: keys.values.length, bytes: keysBytes(keys) };
}
