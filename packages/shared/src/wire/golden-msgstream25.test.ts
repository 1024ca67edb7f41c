import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import {
  decodeCollectionInfo,
  decodeDatabaseInfo,
  decodePartitionInfo,
  isTombstone,
} from '../meta/etcd-codec.js';
import { deletePrimaryKeys, insertToRows } from './columns.js';
import { decodeMessage } from './decode.js';
import { encodeMessage } from './encode.js';
import type {
  CollectionSchema,
  DecodedMessage,
  InsertMessage,
  JsonValue,
  PartitionMessage,
  Row,
} from './messages.js';
import { msgTypeFromName } from './msg-type.js';
import { decodeKafkaMessageId } from './positions.js';
import { decodeFieldSchema } from './schema.js';

/**
 * Golden tests on what Milvus 2.5.5's own msgstream code wrote to Kafka, and the etcd keys in 2.5's layout, for the
 * session in `test/fixtures/msgstream25/session.json` (captured by `test/fixtures/capture/msgstream25.ts` with the
 * Go producer `test/producers/msgstream25`). Every value is checked against the session that caused it.
 */

const dir = fileURLToPath(new URL('../../../../test/fixtures/msgstream25/', import.meta.url));
const present = existsSync(`${dir}records.json`) && existsSync(`${dir}etcd.json`);

interface KafkaRecord {
  topic: string;
  offset: string;
  headers: Record<string, string>;
  value: string;
}
interface FieldSpec {
  name: string;
  type: string;
  elementType?: string;
  nullable?: boolean;
  default?: JsonValue;
}
interface SessionOp {
  op: string;
  db?: string;
  collection?: string;
  partition?: string;
  partitions?: string[];
  field?: string;
  indexName?: string;
  shards?: number;
  schema?: { fields: FieldSpec[]; dynamic?: boolean };
  rows?: Record<string, JsonValue>[];
  pks?: string[];
}

const load = <T>(name: string): T => JSON.parse(readFileSync(`${dir}${name}`, 'utf8')) as T;

/** The rows a 2.5 proxy accepts for a session row, as `insertToRows` gives them back (defaults and nulls filled). */
export function expectedRow(spec: readonly FieldSpec[], row: Record<string, JsonValue>): Row {
  const out: Row = {};
  const meta: Record<string, JsonValue> = {};
  const names = new Set(spec.map((f) => f.name));
  for (const [k, v] of Object.entries(row)) if (!names.has(k)) meta[k] = v;
  for (const f of spec) {
    const v = row[f.name] ?? f.default ?? null;
    if (v === null) {
      out[f.name] = null;
      continue;
    }
    switch (f.type) {
      case 'Int64':
        out[f.name] = String(v);
        break;
      case 'Float':
        out[f.name] = Math.fround(v as number);
        break;
      case 'FloatVector':
        out[f.name] = (v as number[]).map((x) => Math.fround(x));
        break;
      case 'SparseFloatVector':
        out[f.name] = Object.fromEntries(
          Object.entries(v as Record<string, number>).map(([k, x]) => [k, Math.fround(x)]),
        );
        break;
      case 'Array':
        out[f.name] = f.elementType === 'Int64' ? (v as JsonValue[]).map(String) : v;
        break;
      default:
        out[f.name] = v; // Float16/BFloat16 values here are exact in 16 bits
    }
  }
  if (names.size > 0) out['$meta'] = meta;
  return out;
}

describe.skipIf(!present)(
  'golden: records Milvus 2.5.5 msgstream wrote (test/fixtures/msgstream25)',
  () => {
    const records = present ? load<KafkaRecord[]>('records.json') : [];
    const ops = present ? load<SessionOp[]>('session.json') : [];
    const all = records.map((rec) => ({
      rec,
      msg: decodeMessage(Buffer.from(rec.value, 'base64'), rec.headers),
    }));
    const only = <T extends DecodedMessage['type']>(type: T) =>
      all
        .map((d) => d.msg)
        .filter((m): m is Extract<DecodedMessage, { type: T }> => m.type === type);
    const schemas = new Map(only('CreateCollection').map((c) => [c.schema.name, c.schema]));
    const specOf = (name: string) =>
      ops.find((o) => o.op === 'createCollection' && o.collection === name)?.schema?.fields ?? [];

    it('decodes every record; Produce sets msg_type (Insert, Delete, replicate channel), Broadcast does not', () => {
      expect(all.length).toBeGreaterThan(0);
      const broadcastTypes = ['TimeTick', 'CreateCollection', 'DropCollection', 'DropPartition'];
      for (const { rec, msg } of all) {
        const where = `${rec.topic}@${rec.offset}`;
        expect(msg.type, where).not.toBe('Unknown');
        if (broadcastTypes.includes(msg.type))
          expect(rec.headers['msg_type'], where).toBeUndefined();
        else expect(rec.headers['msg_type'], where).toBe(msg.type);
        if (rec.headers['msg_type'] !== undefined) {
          expect(msgTypeFromName(rec.headers['msg_type'])).toBe('base' in msg && msg.base.msgType);
        }
      }
      expect(new Set(all.map((d) => d.msg.type))).toEqual(
        new Set([
          ...broadcastTypes,
          ...['Insert', 'Delete', 'CreateDatabase', 'DropDatabase', 'CreateIndex', 'DropIndex'],
          ...[
            'LoadCollection',
            'ReleaseCollection',
            'LoadPartitions',
            'ReleasePartitions',
            'Flush',
          ],
        ]),
      );
    });

    it('re-encodes every record byte-identically (replicate mode can rewrite and forward)', () => {
      for (const { rec, msg } of all) {
        if (msg.type === 'Unknown') continue;
        const original = Buffer.from(rec.value, 'base64');
        expect(Buffer.from(encodeMessage(msg)).equals(original), `${rec.topic}@${rec.offset}`).toBe(
          true,
        );
      }
    });

    it('carries the 2.5 schema: nullable and default-value fields, Float16/BFloat16/Sparse/Binary vectors', () => {
      const s = schemas.get('all_types') as CollectionSchema;
      const byName = new Map(s.fields.map((f) => [f.name, f]));
      expect(byName.get('title')?.nullable).toBe(true);
      expect(byName.get('qty')?.defaultValue).toEqual({ kind: 'int', value: 7 });
      expect(byName.get('label')?.defaultValue).toEqual({ kind: 'string', value: 'none' });
      expect(byName.get('note')).toMatchObject({
        nullable: true,
        defaultValue: { kind: 'string', value: 'n/a' },
      });
      for (const [name, type] of [
        ['f16', 102],
        ['bf16', 103],
        ['sparse', 104],
        ['bin', 100],
      ] as const)
        expect(byName.get(name)?.dataType).toBe(type);
      expect(s.fields.map((f) => f.name).slice(-3)).toEqual(['$meta', 'RowID', 'Timestamp']);
    });

    it('gives back every inserted and upserted row, defaults and nulls filled, one timestamp per write', () => {
      const groups = new Map<bigint, InsertMessage[]>();
      for (const m of only('Insert')) {
        const ts = m.timestamps[0] ?? 0n;
        expect(m.timestamps.every((t) => t === ts)).toBe(true);
        groups.set(ts, [...(groups.get(ts) ?? []), m]);
      }
      const writes = ops.filter((o) => o.op === 'insert' || o.op === 'upsert');
      const ordered = [...groups.entries()].sort(([a], [b]) => (a < b ? -1 : 1));
      expect(ordered.length).toBe(writes.length);
      writes.forEach((op, i) => {
        const msgs = ordered[i]?.[1] ?? [];
        const schema = schemas.get(op.collection ?? '') as CollectionSchema;
        const rows = msgs.flatMap((m) => {
          expect([m.dbName, m.collectionName, m.partitionName]).toEqual([
            op.db,
            op.collection,
            op.partition ?? '_default',
          ]);
          return insertToRows(m, schema);
        });
        const spec = specOf(op.collection ?? '');
        const dynamic = schemas.get(op.collection ?? '')?.enableDynamicField === true;
        const want = (op.rows ?? []).map((r) => {
          const w = expectedRow(spec, r);
          if (!dynamic) delete w['$meta'];
          return w;
        });
        const byId = (a: Row, b: Row) => String(a['id']).localeCompare(String(b['id']));
        expect([...rows].sort(byId)).toEqual([...want].sort(byId));
      });
    });

    it('writes deletes per owning shard, and each upsert as Insert then Delete at one timestamp', () => {
      const deletes = only('Delete');
      const insertTs = new Set(only('Insert').map((m) => m.timestamps[0]));
      const keysAt = (pred: (ts: bigint | undefined) => boolean) =>
        [
          ...deletes
            .filter((d) => pred(d.timestamps[0]))
            .reduce((g, d) => {
              const ts = d.timestamps[0] ?? 0n;
              return g.set(ts, [...(g.get(ts) ?? []), ...deletePrimaryKeys(d).ids]);
            }, new Map<bigint, string[]>())
            .entries(),
        ]
          .sort(([a], [b]) => (a < b ? -1 : 1))
          .map(([, ids]) => ids.sort());
      expect(keysAt((ts) => !insertTs.has(ts))).toEqual(
        ops.filter((o) => o.op === 'delete').map((o) => [...(o.pks ?? [])].sort()),
      );
      expect(keysAt((ts) => insertTs.has(ts))).toEqual(
        ops
          .filter((o) => o.op === 'upsert')
          .map((o) => (o.rows ?? []).map((r) => String(r['id'])).sort()),
      );
      // Within a pchannel the upsert's Delete follows its Insert (Produce keeps the pack's order per channel).
      for (const topic of new Set(records.map((r) => r.topic))) {
        const seq = all.filter((d) => d.rec.topic === topic).map((d) => d.msg);
        seq.forEach((m, i) => {
          if (m.type === 'Delete' && insertTs.has(m.timestamps[0])) {
            expect(
              seq
                .slice(0, i)
                .some((p) => p.type === 'Insert' && p.timestamps[0] === m.timestamps[0]),
            ).toBe(true);
          }
        });
      }
      expect(deletes.every((d) => d.partitionId === -1n)).toBe(true);
    });

    it('writes the replicate-channel ops of the session, in order, with their names', () => {
      const names: Record<string, string> = {
        createDatabase: 'CreateDatabase',
        dropDatabase: 'DropDatabase',
        createIndex: 'CreateIndex',
        dropIndex: 'DropIndex',
        load: 'LoadCollection',
        release: 'ReleaseCollection',
        loadPartitions: 'LoadPartitions',
        releasePartitions: 'ReleasePartitions',
        flush: 'Flush',
      };
      const replicate = all.filter((d) => d.rec.topic.endsWith('-replicate-msg')).map((d) => d.msg);
      const want = ops.filter((o) => o.op in names);
      expect(replicate.map((m) => m.type)).toEqual(want.map((o) => names[o.op]));
      replicate.forEach((m, i) => {
        const op = want[i] as SessionOp;
        expect('dbName' in m && m.dbName).toBe(op.db);
        if ('collectionName' in m) expect(m.collectionName).toBe(op.collection);
        if (m.type === 'CreateIndex')
          expect([m.fieldName, m.indexName]).toEqual(['vec', 'vec_idx']);
        if (m.type === 'DropIndex') expect(m.indexName).toBe('vec_idx');
        if (m.type === 'LoadPartitions' || m.type === 'ReleasePartitions')
          expect(m.partitionNames).toEqual(op.partitions);
        if (m.type === 'Flush') expect(m.collectionNames).toEqual([op.collection]);
      });
    });

    it('broadcasts collection DDL to every pchannel of the collection and orders time ticks', () => {
      const created = only('CreateCollection');
      expect(created.filter((c) => c.schema.name === 'all_types').length).toBe(2);
      expect(created.filter((c) => c.schema.name === 'strpk').length).toBe(1);
      expect(only('DropCollection').map((d) => d.collectionName)).toEqual(['strpk']);
      const dp = all
        .map((d) => d.msg)
        .filter((m): m is PartitionMessage => m.type === 'DropPartition');
      expect(dp.length).toBe(2);
      expect(dp.every((d) => d.partitionName === 'p1')).toBe(true);
      for (const topic of new Set(records.map((r) => r.topic))) {
        if (topic.endsWith('-replicate-msg')) continue;
        let last = 0n;
        for (const { msg } of all.filter((d) => d.rec.topic === topic)) {
          if (msg.type === 'TimeTick') {
            expect(msg.base.timestamp > last).toBe(true);
            last = msg.base.timestamp;
          } else if (msg.type === 'Insert' || msg.type === 'Delete') {
            for (const t of msg.timestamps) expect(t > last).toBe(true);
          }
        }
      }
    });

    it('keeps etcd in the 2.5 layout: snapshot copies, tombstones, start positions at the CreateCollection offsets', () => {
      const kvs = load<{ key: string; value: string }[]>('etcd.json').map((kv) => ({
        key: kv.key,
        value: new Uint8Array(Buffer.from(kv.value, 'base64')),
      }));
      const plain = kvs.filter((kv) =>
        kv.key.startsWith('cdc-msgstream25-golden/meta/root-coord/'),
      );
      expect(plain.length).toBeGreaterThan(0);
      for (const kv of plain) {
        const rel = kv.key.slice('cdc-msgstream25-golden/meta/'.length);
        const copies = kvs.filter((s) =>
          s.key.startsWith(`cdc-msgstream25-golden/meta/snapshots/${rel}_ts`),
        );
        expect(copies.length, rel).toBeGreaterThan(0);
      }
      const live = plain.filter((kv) => !isTombstone(kv.value));
      const dbs = live
        .filter((kv) => kv.key.includes('/db-info/'))
        .map((kv) => decodeDatabaseInfo(kv.value).name);
      expect(dbs.sort()).toEqual(['default', 'shop']);
      const colls = live
        .filter((kv) => kv.key.includes('/collection-info/'))
        .map((kv) => decodeCollectionInfo(kv.value));
      expect(colls.map((c) => [c.schema.name, c.state, c.schema.fields.length])).toEqual([
        ['all_types', 'Created', 0],
      ]);
      const offsets = new Map(
        all.flatMap((d) =>
          d.msg.type === 'CreateCollection'
            ? [[`${d.rec.topic}/${d.msg.collectionId}`, BigInt(d.rec.offset)] as const]
            : [],
        ),
      );
      const coll = colls[0];
      if (coll === undefined) throw new Error('no live collection');
      expect(coll.startPositions.length).toBe(2);
      for (const sp of coll.startPositions ?? [])
        expect(decodeKafkaMessageId(sp.msgId)).toBe(offsets.get(`${sp.channel}/${coll.id}`));
      const fields = live
        .filter((kv) => kv.key.includes(`/root-coord/fields/${coll.id}/`))
        .map((kv) => decodeFieldSchema(kv.value));
      expect(fields.map((f) => f.name).sort()).toEqual(
        [...specOf('all_types').map((f) => f.name), '$meta', 'RowID', 'Timestamp'].sort(),
      );
      const parts = live
        .filter((kv) => kv.key.includes('/root-coord/partitions/'))
        .map((kv) => decodePartitionInfo(kv.value));
      expect(parts.map((p) => p.name)).toEqual(['_default']);
      const gone = plain.filter((kv) => isTombstone(kv.value)).map((kv) => kv.key);
      expect(gone.some((k) => k.includes('/db-info/'))).toBe(true); // scratch
      expect(gone.some((k) => k.includes('/collection-info/'))).toBe(true); // strpk
      expect(gone.some((k) => k.includes('/partitions/'))).toBe(true); // p1
    });
  },
);
