import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import {
  decodeCollectionInfo,
  decodeDatabaseInfo,
  decodePartitionInfo,
  isTombstone,
} from '../meta/etcd-codec.js';
import { insertToRows, deletePrimaryKeys } from './columns.js';
import { decodeMessage } from './decode.js';
import { encodeMessage } from './encode.js';
import { DataType } from './messages.js';
import type {
  CollectionSchema,
  DecodedMessage,
  DeleteMessage,
  InsertMessage,
  PartitionMessage,
  JsonValue,
  Row,
} from './messages.js';
import { decodeKafkaMessageId, decodeMsgPosition } from './positions.js';
import { decodeFieldSchema } from './schema.js';
import { decodeTsoValue, tsToUnixMs } from './tso.js';

/**
 * Golden tests on what the real source Milvus 2.3.5 wrote to Kafka and etcd (`test/fixtures/captured/`, produced by
 * `test/fixtures/capture/`). Every value is checked against `session.json`, the script that caused the records.
 */

const dir = fileURLToPath(new URL('../../../../test/fixtures/captured/', import.meta.url));
const present = existsSync(`${dir}kafka-records.json`) && existsSync(`${dir}session.json`);

interface KafkaRecord {
  topic: string;
  partition: number;
  offset: string | number;
  headers: Record<string, string>;
  value: string;
}
interface SessionOp {
  op: string;
  db?: string;
  collection?: string;
  partition?: string;
  partitions?: string[];
  collections?: string[];
  field?: string;
  index?: string;
  pks?: string[];
  rows?: Record<string, JsonValue>[];
}
interface EtcdChange {
  revision: string;
  type: 'put' | 'delete';
  key: string;
  value?: string;
}

const load = <T>(name: string): T => JSON.parse(readFileSync(`${dir}${name}`, 'utf8')) as T;

interface Decoded {
  rec: KafkaRecord;
  msg: DecodedMessage;
}

function decodeAll(): Decoded[] {
  return load<KafkaRecord[]>('kafka-records.json').map((rec) => {
    const headers: Record<string, Buffer> = {};
    for (const [k, v] of Object.entries(rec.headers)) headers[k] = Buffer.from(v, 'base64');
    return { rec, msg: decodeMessage(Buffer.from(rec.value, 'base64'), headers) };
  });
}

function only<T extends DecodedMessage['type']>(all: Decoded[], type: T) {
  return all
    .map((d) => d.msg)
    .filter((m): m is Extract<DecodedMessage, { type: T }> => m.type === type);
}

/** Compares a row written by the session with the row rebuilt from the wire, field by field. */
function expectRowMatches(
  schema: CollectionSchema,
  expected: Record<string, JsonValue>,
  actual: Row,
): void {
  const byName = new Map(schema.fields.map((f) => [f.name, f]));
  for (const [name, want] of Object.entries(expected)) {
    const f = byName.get(name);
    if (f === undefined) {
      expect((actual['$meta'] as Record<string, JsonValue>)[name], name).toEqual(want);
      continue;
    }
    const got = actual[name];
    switch (f.dataType) {
      case DataType.Float:
        expect(got, name).toBe(Math.fround(want as number));
        break;
      case DataType.FloatVector:
        expect(got, name).toEqual((want as number[]).map((x) => Math.fround(x)));
        break;
      case DataType.Int64:
        expect(got, name).toBe(String(want));
        break;
      case DataType.Array:
        expect(got, name).toEqual(
          f.elementType === DataType.Int64 ? (want as number[]).map(String) : want,
        );
        break;
      default:
        expect(got, name).toEqual(want);
    }
  }
}

describe.skipIf(!present)(
  'golden: records captured from Milvus 2.3.5 (test/fixtures/captured)',
  () => {
    const all = present ? decodeAll() : [];
    const ops = present ? load<{ ops: SessionOp[] }>('session.json').ops : [];
    const schemas = new Map(
      only(all, 'CreateCollection').map((c) => [c.schema.name, c.schema] as const),
    );

    it('decodes every record to a known type, without msg_type headers', () => {
      expect(all.length).toBeGreaterThan(0);
      for (const { rec, msg } of all) {
        expect(rec.headers['msg_type']).toBeUndefined();
        expect(msg.type, `${rec.topic}@${rec.offset}`).not.toBe('Unknown');
      }
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

    it('matches every inserted and upserted row, field by field', () => {
      const inserts = only(all, 'Insert');
      const groups = new Map<bigint, InsertMessage[]>();
      for (const m of inserts) {
        const ts = m.timestamps[0] ?? 0n;
        groups.set(ts, [...(groups.get(ts) ?? []), m]);
      }
      const ordered = [...groups.entries()].sort(([a], [b]) => (a < b ? -1 : 1));
      const writeOps = ops.filter((o) => o.op === 'insert' || o.op === 'upsert');
      expect(ordered.length).toBe(writeOps.length);
      writeOps.forEach((op, i) => {
        const msgs = ordered[i]?.[1] ?? [];
        const schema = schemas.get(op.collection ?? '');
        expect(schema, op.collection).toBeDefined();
        if (schema === undefined) return;
        const pk = schema.fields.find((f) => f.isPrimaryKey)?.name ?? '';
        const rows = msgs.flatMap((m) => {
          expect(m.collectionName).toBe(op.collection);
          expect(m.partitionName).toBe(op.partition);
          expect(m.timestamps.every((t) => t === m.timestamps[0])).toBe(true);
          return insertToRows(m, schema);
        });
        expect(rows.length).toBe(op.rows?.length);
        for (const want of op.rows ?? []) {
          const got = rows.find((r) => r[pk] === String(want[pk]));
          expect(got, `${op.op} ${String(want[pk])}`).toBeDefined();
          if (got !== undefined) expectRowMatches(schema, want, got);
        }
      });
    });

    it('matches deletes (int and string keys) and pairs each upsert insert with a same-ts delete', () => {
      const deletes = only(all, 'Delete');
      const insertTs = new Set(only(all, 'Insert').map((m) => m.timestamps[0]));
      const byTs = (ms: DeleteMessage[]) => {
        const g = new Map<bigint, string[]>();
        for (const m of ms) {
          const ts = m.timestamps[0] ?? 0n;
          g.set(ts, [...(g.get(ts) ?? []), ...deletePrimaryKeys(m).ids]);
        }
        return [...g.entries()].sort(([a], [b]) => (a < b ? -1 : 1)).map(([, ids]) => ids.sort());
      };
      const plain = byTs(deletes.filter((d) => !insertTs.has(d.timestamps[0])));
      const upsertDeletes = byTs(deletes.filter((d) => insertTs.has(d.timestamps[0])));
      expect(plain).toEqual(
        ops.filter((o) => o.op === 'delete').map((o) => [...(o.pks ?? [])].sort()),
      );
      const upserts = ops.filter((o) => o.op === 'upsert');
      expect(upsertDeletes).toEqual(
        upserts.map((o) => (o.rows ?? []).map((r) => String(r['id'])).sort()),
      );
      expect(deletes.some((d) => d.primaryKeys.type === 'VarChar')).toBe(true);
    });

    it('matches the DDL and replicate-channel ops of the session', () => {
      const replicate = all
        .filter((d) => d.rec.topic.endsWith('replicate-msg'))
        .sort((a, b) => Number(a.rec.offset) - Number(b.rec.offset))
        .map((d) => d.msg);
      const expected: Record<string, string> = {
        create_database: 'CreateDatabase',
        create_index: 'CreateIndex',
        drop_index: 'DropIndex',
        flush: 'Flush',
        load_collection: 'LoadCollection',
        release_collection: 'ReleaseCollection',
        drop_database: 'DropDatabase',
      };
      const want = ops.filter((o) => o.op in expected);
      expect(replicate.map((m) => m.type)).toEqual(want.map((o) => expected[o.op]));
      replicate.forEach((m, i) => {
        const op = want[i];
        if (op === undefined || m.type === 'Unknown') return;
        expect('dbName' in m && m.dbName).toBe(op.db);
        if ('collectionName' in m) expect(m.collectionName).toBe(op.collection);
        if (m.type === 'CreateIndex') {
          expect([m.fieldName, m.indexName]).toEqual([op.field, op.index]);
        }
        if (m.type === 'Flush') expect(m.collectionNames).toEqual(op.collections);
      });
      const creates = ops.filter((o) => o.op === 'create_collection');
      for (const op of creates) {
        const cc = only(all, 'CreateCollection').filter((c) => c.schema.name === op.collection);
        const shards = (op as { shards?: number }).shards ?? 0;
        expect(cc.length).toBe(shards); // broadcast to every pchannel of the collection
        expect(cc[0]?.virtualChannelNames.length).toBe(shards);
        expect(cc[0]?.schema.fields.some((f) => f.fieldId === 0n && f.name === 'RowID')).toBe(true);
      }
      const drops = only(all, 'DropCollection').map((d) => d.collectionName);
      expect(new Set(drops)).toEqual(
        new Set(ops.filter((o) => o.op === 'drop_collection').map((o) => o.collection)),
      );
      const dropPartitions = all
        .map((d) => d.msg)
        .filter((m): m is PartitionMessage => m.type === 'DropPartition');
      expect(dropPartitions.length).toBeGreaterThan(0);
      expect(dropPartitions.every((d) => d.partitionName === 'p1')).toBe(true);
    });

    it('orders time ticks per channel and keeps DML inside tick windows', () => {
      const byTopic = new Map<string, Decoded[]>();
      for (const d of all) byTopic.set(d.rec.topic, [...(byTopic.get(d.rec.topic) ?? []), d]);
      for (const [topic, ds] of byTopic) {
        if (topic.endsWith('replicate-msg')) continue;
        ds.sort((a, b) => Number(a.rec.offset) - Number(b.rec.offset));
        let lastTick = 0n;
        for (const { msg } of ds) {
          if (msg.type === 'TimeTick') {
            expect(msg.base.timestamp >= lastTick).toBe(true);
            lastTick = msg.base.timestamp;
          } else if (msg.type === 'Insert' || msg.type === 'Delete') {
            for (const t of msg.timestamps) expect(t > lastTick).toBe(true);
          }
        }
      }
    });

    it('decodes the etcd values and ties start positions to the CreateCollection offsets', () => {
      const changes = load<EtcdChange[]>('etcd-changes.json');
      const value = (c: EtcdChange) => new Uint8Array(Buffer.from(c.value ?? '', 'base64'));
      const live = changes.filter(
        (c) => c.type === 'put' && !c.key.includes('/snapshots/') && !isTombstone(value(c)),
      );
      const db = live.find((c) => c.key.includes('root-coord/database/db-info/'));
      expect(db && decodeDatabaseInfo(value(db))).toMatchObject({
        name: 'cdc_fx_db',
        state: 'Created',
      });
      const dbDrop = changes.find(
        (c) => c.key.includes('root-coord/database/db-info/') && isTombstone(value(c)),
      );
      expect(dbDrop).toBeDefined();

      const ccOffsets = new Map(
        all
          .filter((d) => d.msg.type === 'CreateCollection')
          .map((d) => [
            `${d.rec.topic}/${(d.msg as { collectionId: bigint }).collectionId}`,
            BigInt(d.rec.offset),
          ]),
      );
      const colls = live.filter((c) => c.key.includes('root-coord/database/collection-info/'));
      const states = colls.map((c) => decodeCollectionInfo(value(c)));
      expect(new Set(states.map((c) => c.state))).toEqual(
        new Set(['Creating', 'Created', 'Dropping']),
      );
      for (const c of states) {
        expect(c.schema.fields).toEqual([]); // 2.3+ keeps fields under root-coord/fields
        for (const sp of c.startPositions) {
          expect(decodeKafkaMessageId(sp.msgId)).toBe(ccOffsets.get(`${sp.channel}/${c.id}`));
        }
      }
      const fields = live
        .filter((c) => c.key.includes('root-coord/fields/'))
        .map((c) => decodeFieldSchema(value(c)));
      expect(fields.some((f) => f.name === '$meta' && f.isDynamic)).toBe(true);
      expect(fields.some((f) => f.fieldId === 1n && f.name === 'Timestamp')).toBe(true);
      const parts = live
        .filter((c) => c.key.includes('root-coord/partitions/'))
        .map((c) => decodePartitionInfo(value(c)));
      expect(parts.map((p) => p.name)).toContain('p1');
      for (const c of live.filter((x) => x.key.includes('datacoord-meta/channel-cp/'))) {
        const pos = decodeMsgPosition(value(c));
        expect(c.key.endsWith(pos.channelName)).toBe(true);
        expect(decodeKafkaMessageId(pos.msgId) >= 0n).toBe(true);
      }
      const tso = live
        .filter((c) => c.key.endsWith('kv/gid/timestamp'))
        .map((c) => decodeTsoValue(value(c)));
      const firstTick = only(all, 'TimeTick')[0]?.base.timestamp ?? 0n;
      // the TSO key holds wall-clock nanos; its hybrid form is comparable with message timestamps (same hour)
      expect(Math.abs(tsToUnixMs(tso[0]?.hybridTs ?? 0n) - tsToUnixMs(firstTick))).toBeLessThan(
        3_600_000,
      );
    });
  },
);
