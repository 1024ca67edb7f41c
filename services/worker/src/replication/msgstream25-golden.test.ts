import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { EtcdSourceMetadata, decodeMessage, encodeKafkaMessageId, isTombstone } from '@cdc/shared';
import type {
  CollectionSchema,
  EtcdRangeApi,
  EtcdSourceMetadataOptions,
  JsonValue,
  PrimaryKeys,
  Row,
} from '@cdc/shared';
import type { CreateCollectionSpec, TargetCollection } from '../ports/target-writer.js';
import {
  FakeDropBarrier,
  FakeLeaseProgress,
  FakeSourceReader,
  FakeTargetWriter,
  silentLogger,
} from '../testing/fakes.js';
import { CollectionCatalog } from './collection-catalog.js';
import { DmlChannelReplicator } from './dml-channel-replicator.js';
import { TaskScope } from './task-scope.js';

/**
 * What the worker would write to a target for the records Milvus 2.5.5's msgstream wrote (test/fixtures/msgstream25,
 * from the Go producer test/producers/msgstream25): the real DML replicator (decoder, tick packing, catalog from the
 * captured 2.5 etcd through EtcdSourceMetadata, row conversion, batching) with a recording writer in place of the
 * SDK. This is where the types a 2.3.5 target cannot hold are checked: Float16/BFloat16/Sparse/Binary vectors,
 * nullable fields and default values.
 */

const dir = fileURLToPath(new URL('../../../../test/fixtures/msgstream25/', import.meta.url));
const present = existsSync(`${dir}records.json`) && existsSync(`${dir}etcd.json`);
const load = <T>(name: string): T => JSON.parse(readFileSync(`${dir}${name}`, 'utf8')) as T;

interface FieldSpec {
  name: string;
  type: string;
  elementType?: string;
  default?: JsonValue;
}
interface SessionOp {
  op: string;
  collection?: string;
  partition?: string;
  schema?: { fields: FieldSpec[]; dynamic?: boolean };
  rows?: Record<string, JsonValue>[];
  pks?: string[];
}

const ROOT = 'cdc-msgstream25-golden';

/**
 * The captured etcd as a worker reading it at source time `at` saw it (the parts of `Etcd3` EtcdSourceMetadata uses):
 * 2.5 keeps every rootcoord value also as `snapshots/{key}_ts{ts}`, so the state before the session's drops is
 * there to read; other keys are taken as captured.
 */
function etcdAt(at: bigint): EtcdSourceMetadataOptions['client'] {
  const snapshots = `${ROOT}/meta/snapshots/`;
  const latest = new Map<string, { ts: bigint; value: Buffer }>();
  const plain: { key: Buffer; value: Buffer }[] = [];
  for (const kv of load<{ key: string; value: string }[]>('etcd.json')) {
    const value = Buffer.from(kv.value, 'base64');
    if (kv.key.includes('/meta/root-coord/')) continue; // rebuilt from the snapshot copies
    const m = kv.key.startsWith(snapshots)
      ? /^(.*)_ts(\d+)$/.exec(kv.key.slice(snapshots.length))
      : null;
    if (m === null) {
      plain.push({ key: Buffer.from(kv.key), value });
      continue;
    }
    const [, rel = '', ts = '0'] = m;
    const prev = latest.get(rel);
    if (BigInt(ts) <= at && (prev === undefined || prev.ts <= BigInt(ts)))
      latest.set(rel, { ts: BigInt(ts), value });
  }
  const kvs = [
    ...plain,
    ...[...latest]
      .filter(([, v]) => !isTombstone(new Uint8Array(v.value)))
      .map(([rel, v]) => ({ key: Buffer.from(`${ROOT}/meta/${rel}`), value: v.value })),
  ];
  kvs.sort((a, b) => Buffer.compare(a.key, b.key));
  // etcd's range: [key, range_end), one key without range_end, at most `limit` keys, `more` when some were left.
  const range: EtcdRangeApi['range'] = (req) => {
    const start = Buffer.from(req.key ?? '');
    const end = req.range_end === undefined ? undefined : Buffer.from(req.range_end);
    const hits = kvs.filter((kv) =>
      end === undefined
        ? kv.key.equals(start)
        : Buffer.compare(kv.key, start) >= 0 && Buffer.compare(kv.key, end) < 0,
    );
    const limit = Number(req.limit ?? 0) || hits.length;
    const page = hits.slice(0, limit);
    return Promise.resolve({
      kvs: page.map((kv) => ({
        key: kv.key,
        value: req.keys_only === true ? Buffer.alloc(0) : kv.value,
        create_revision: '1',
        mod_revision: '1',
        version: '1',
        lease: '0',
      })),
      more: hits.length > page.length,
      count: String(hits.length),
      header: { cluster_id: '0', member_id: '0', revision: '1', raft_term: '1' },
    });
  };
  const kv: EtcdRangeApi = { range };
  return { kv } as unknown as EtcdSourceMetadataOptions['client'];
}

/** A session row as the writer sends it: defaults and nulls filled, Int64 as strings, dynamic keys under $meta. */
function writerRow(
  spec: readonly FieldSpec[],
  dynamicField: boolean,
  row: Record<string, JsonValue>,
): Row {
  const out: Row = {};
  const names = new Set(spec.map((f) => f.name));
  // Dynamic keys go whole under $meta (the SDK takes them from there; spread, a key could shadow a field).
  const dynamic = Object.entries(row).filter(([k]) => !names.has(k));
  if (dynamicField) out['$meta'] = Object.fromEntries(dynamic);
  for (const f of spec) {
    const v = row[f.name] ?? f.default ?? null;
    if (v === null) out[f.name] = null;
    else if (f.type === 'Int64') out[f.name] = String(v);
    else if (f.type === 'Float') out[f.name] = Math.fround(v as number);
    else if (f.type === 'FloatVector') out[f.name] = (v as number[]).map((x) => Math.fround(x));
    else if (f.type === 'SparseFloatVector')
      out[f.name] = Object.fromEntries(
        Object.entries(v as Record<string, number>).map(([k, x]) => [k, Math.fround(x)]),
      );
    else if (f.type === 'Array' && f.elementType === 'Int64')
      out[f.name] = (v as JsonValue[]).map(String);
    else out[f.name] = v;
  }
  return out;
}

describe.skipIf(!present)('worker writes for the Milvus 2.5.5 msgstream records', () => {
  const records = present
    ? load<{ topic: string; offset: string; headers: Record<string, string>; value: string }[]>(
        'records.json',
      )
    : [];
  const ops = present ? load<SessionOp[]>('session.json') : [];

  async function replicate(): Promise<FakeTargetWriter> {
    const writer = new FakeTargetWriter();
    // The etcd a worker saw while the session ran: just before its first drop.
    const firstDrop = records
      .map((r) => decodeMessage(Buffer.from(r.value, 'base64'), r.headers))
      .find((m) => m.type === 'DropPartition');
    const at = (firstDrop?.type === 'DropPartition' ? firstDrop.base.timestamp : 1n) - 1n;
    const metadata = new EtcdSourceMetadata({ client: etcdAt(at), rootPath: ROOT });
    const barrier = new FakeDropBarrier();
    const scope = new TaskScope({ include: [{ database: 'shop', collection: '*' }], exclude: [] });
    const catalog = new CollectionCatalog(metadata, scope, writer);
    const channels = [...new Set(records.map((r) => r.topic))].filter((t) => t.includes('-dml_'));
    await Promise.all(
      channels.map((channel) => {
        const lease = new AbortController();
        const log = records
          .filter((r) => r.topic === channel)
          .map((r) => ({
            channel,
            msgId: encodeKafkaMessageId(BigInt(r.offset)),
            value: new Uint8Array(Buffer.from(r.value, 'base64')),
            headers: r.headers,
            publishTimeMs: 0,
          }));
        return new DmlChannelReplicator({
          channel,
          reader: new FakeSourceReader(log, () => {
            lease.abort(new Error('drained'));
          }),
          writer,
          catalog,
          barrier,
          progress: new FakeLeaseProgress(),
          log: silentLogger(),
          maxBatchRows: 1000,
          readBatchSize: 5,
        }).run(lease.signal);
      }),
    );
    return writer;
  }

  it('creates the target collection with the 2.5 field properties the writer passes on', async () => {
    const writer = await replicate();
    const specs = writer.callsOf('createCollection').map((a) => a[0] as CreateCollectionSpec);
    // Each channel's replicator makes sure its collection exists (all_types has a shard on both).
    expect([...new Set(specs.map((s) => s.collection))].sort()).toEqual(['all_types', 'strpk']);
    const allTypes = specs.find((s) => s.collection === 'all_types');
    const fields = new Map((allTypes?.schema as CollectionSchema).fields.map((f) => [f.name, f]));
    expect([...fields.keys()]).toEqual(
      ops.find((o) => o.collection === 'all_types')?.schema?.fields.map((f) => f.name),
    );
    expect(fields.get('title')?.nullable).toBe(true);
    expect(fields.get('qty')?.defaultValue).toEqual({ kind: 'int', value: 7 });
    expect(fields.get('note')).toMatchObject({
      nullable: true,
      defaultValue: { kind: 'string', value: 'n/a' },
    });
    expect(allTypes?.schema.enableDynamicField).toBe(true);
  });

  it('sends every row the producer wrote, equal field by field, deletes after the upserted inserts', async () => {
    const writer = await replicate();
    const schema = ops.find((o) => o.collection === 'all_types')?.schema;
    const spec = schema?.fields ?? [];
    // The target's content after the writer's calls, in order (upsert replaces by key; a dropped partition empties).
    const target = new Map<string, { row: Row; partition: string }>();
    for (const c of writer.calls) {
      const t = c.args[0] as TargetCollection;
      if (t.collection !== 'all_types') continue;
      if (c.op === 'upsert') {
        for (const row of c.args[2] as Row[])
          target.set(String(row['id']), { row, partition: c.args[1] as string });
      } else if (c.op === 'delete') {
        for (const id of (c.args[2] as PrimaryKeys).values) target.delete(String(id));
      } else if (c.op === 'dropPartition') {
        for (const [id, v] of target) if (v.partition === c.args[1]) target.delete(id);
      }
    }
    const want = new Map<string, Row>();
    const partitionOf = new Map<string, string>();
    for (const op of ops.filter((o) => o.collection === 'all_types')) {
      if (op.op === 'insert' || op.op === 'upsert')
        for (const r of op.rows ?? []) {
          want.set(String(r['id']), writerRow(spec, schema?.dynamic === true, r));
          partitionOf.set(String(r['id']), op.partition ?? '_default');
        }
      if (op.op === 'delete') for (const id of op.pks ?? []) want.delete(id);
      if (op.op === 'dropPartition')
        for (const id of [...want.keys()])
          if (partitionOf.get(id) === op.partition) want.delete(id);
    }
    expect(target.size).toBe(want.size);
    for (const [id, row] of want) expect(target.get(id)?.row, id).toEqual(row);
    // The VarChar-keyed collection: rows a, b, c, then b deleted, then the collection dropped.
    const strpk = writer.calls.filter(
      (c) => (c.args[0] as TargetCollection).collection === 'strpk',
    );
    expect(
      strpk.map((c) =>
        c.op === 'upsert'
          ? `upsert:${(c.args[2] as Row[]).map((r) => String(r['id'])).join(',')}`
          : c.op === 'delete'
            ? `delete:${(c.args[2] as PrimaryKeys).values.join(',')}`
            : c.op,
      ),
    ).toEqual(['createCollection', 'upsert:a,b,c', 'delete:b', 'dropCollection']);
    // Each upsert's Delete (same timestamp) is applied before its Insert, so the upserted rows survive.
    const upserted = ops.find((o) => o.op === 'upsert')?.rows?.map((r) => String(r['id'])) ?? [];
    for (const id of upserted) expect(target.has(id), id).toBe(true);
  });
});
