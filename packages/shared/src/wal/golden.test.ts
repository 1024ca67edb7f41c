import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { CdcError } from '../errors.js';
import { insertToRows } from '../wire/columns.js';
import type { InsertMessage, KnownMessage, Row } from '../wire/messages.js';
import { encodeKafkaMessageId } from '../wire/positions.js';
import { WalAssembler } from './assembler.js';
import type { WalEvent } from './assembler.js';
import type { WalOp } from './wal-message.js';

/**
 * Golden tests on what Milvus's own 2.6 library wrote: `test/fixtures/wal26/records.json` holds every Kafka record
 * the Go producer (pkg/v2 message builders + Kafka WAL) appended for `session.json`.
 */
const dir = fileURLToPath(new URL('../../../../test/fixtures/wal26/', import.meta.url));
interface KafkaRecord {
  topic: string;
  offset: string;
  headers: Record<string, string>;
  value: string;
}
const records = JSON.parse(readFileSync(`${dir}records.json`, 'utf8')) as KafkaRecord[];
const session = JSON.parse(readFileSync(`${dir}session.json`, 'utf8')) as {
  op: string;
  rows?: Record<string, unknown>[];
  pks?: string[];
}[];
const topics = [...new Set(records.map((r) => r.topic))].sort();

/** Every event of one pchannel; stops before the encrypted record (it throws) unless `all`. */
function eventsOf(topic: string): { events: WalEvent[]; error?: unknown } {
  const a = new WalAssembler();
  const events: WalEvent[] = [];
  for (const r of records
    .filter((x) => x.topic === topic)
    .sort((x, y) => Number(x.offset) - Number(y.offset))) {
    try {
      events.push(
        ...a.push({
          id: encodeKafkaMessageId(BigInt(r.offset)),
          payload: new Uint8Array(Buffer.from(r.value, 'base64')),
          properties: r.headers,
        }),
      );
    } catch (error) {
      return { events, error };
    }
  }
  return { events };
}

const all = topics.map(eventsOf);
const events = all.flatMap((e) => e.events);
const changes = events.flatMap((e) =>
  e.kind === 'message' && e.message.kind === 'change' ? [e.message.message] : [],
);
const ops = events.flatMap((e) =>
  e.kind === 'message' && e.message.kind === 'op' ? [e.message.op] : [],
);
const of = <T extends KnownMessage['type']>(t: T) =>
  changes.filter((m): m is Extract<KnownMessage, { type: T }> => m.type === t);
const opsOf = <T extends WalOp['type']>(t: T) =>
  ops.filter((o): o is Extract<WalOp, { type: T }> => o.type === t);

const created = of('CreateCollection').find((c) => c.collectionName === 'items');

function rowsOf(inserts: InsertMessage[]): Row[] {
  return inserts.flatMap((m) => insertToRows(m, created?.schema));
}

const byId = (rows: Row[]) => new Map(rows.map((r) => [String(r['id']), r]));

describe('2.6 WAL golden records (Milvus pkg/v2 message builders, Kafka WAL)', () => {
  it('decodes the database and the collection with its full schema, on the control channel and every vchannel', () => {
    expect(opsOf('CreateDatabase').map((o) => o.dbName)).toEqual(['shop']);
    const creates = of('CreateCollection').filter((c) => c.collectionName === 'items');
    expect(creates).toHaveLength(3); // control channel + 2 vchannels
    expect(created?.dbName).toBe('shop');
    expect(created?.schema.fields.map((f) => f.name)).toEqual([
      'id',
      'vec',
      'title',
      'tags',
      'doc',
      'half',
      'brain',
      'sparse',
      '$meta',
      'RowID',
      'Timestamp',
    ]);
    expect(created?.schema.fields.find((f) => f.name === 'title')?.nullable).toBe(true);
    expect(created?.virtualChannelNames).toHaveLength(2);
    expect(
      creates.every((c) => c.base.timestamp > 0n && c.collectionId === created?.collectionId),
    ).toBe(true);
  });

  it('rebuilds insert rows exactly: int64 beyond 2^53, nullable, arrays, JSON, float16/bfloat16, sparse, dynamic', () => {
    const inserts = of('Insert');
    expect(
      inserts.every((m) => m.timestamps.every((t) => t === m.base.timestamp) && m.segmentId > 0n),
    ).toBe(true);
    expect(
      inserts.every((m) => m.shardName.includes('_') && m.timestamps.length === Number(m.numRows)),
    ).toBe(true);
    const rows = byId(rowsOf(inserts));
    const first = session[3]?.rows?.[0] ?? {};
    const big = rows.get('9007199254740993');
    expect(big?.['vec']).toEqual(first['vec']);
    expect(big?.['tags']).toEqual(['1', '2']);
    expect(big?.['doc']).toEqual({ a: 1 });
    expect(big?.['half']).toEqual([0.5, -2]);
    expect(big?.['brain']).toEqual([1.5, 3]);
    expect(big?.['sparse']).toEqual({ 3: 0.25, 17: 1 });
    expect(big?.['$meta']).toEqual({ color: 'red' });
    expect(rows.get('3')?.['doc']).toBeNull();
    expect(rows.get('10')?.['title']).toBe('in p1');
    expect(inserts.find((m) => m.partitionName === 'p1')).toBeDefined();
  });

  it('applies the upsert transaction at its commit: Insert and Delete of the key with one time tick', () => {
    const upserted = of('Insert').filter((m) =>
      insertToRows(m, created?.schema).some((r) => r['title'] === 'upserted'),
    );
    expect(upserted).toHaveLength(1);
    const del = of('Delete').find((d) => d.primaryKeys.values.map(String).includes('2'));
    expect(del?.base.timestamp).toBe(upserted[0]?.base.timestamp);
    const commit = events.find(
      (e) =>
        e.kind === 'message' && e.message.kind === 'change' && e.message.message === upserted[0],
    );
    expect(commit?.kind === 'message' && Buffer.from(commit.id).readBigInt64LE()).toBeGreaterThan(
      0n,
    );
  });

  it('drops the rolled-back transaction and reassembles the chunked payload', () => {
    expect(rowsOf(of('Insert')).some((r) => r['id'] === '666')).toBe(false);
    expect(events.some((e) => e.kind === 'dropped' && e.reason.includes('rolled back'))).toBe(true);
    expect(records.filter((r) => r.headers['_ct'] !== undefined).length).toBeGreaterThan(1);
    expect(byId(rowsOf(of('Insert'))).get('7')?.['title']).toBe('a payload split into chunks');
  });

  it('never offers a checkpoint inside a transaction', () => {
    for (const { events: es } of all) {
      let open = false;
      for (const e of es) {
        if (e.kind === 'message' && e.message.kind === 'txn') open = e.message.phase === 'begin';
        if (e.kind === 'safe') expect(open).toBe(false);
      }
    }
  });

  it('decodes delete, index, load/release, flush, AddField and the drops', () => {
    expect(of('Delete').flatMap((d) => d.primaryKeys.values.map(String))).toContain('3');
    const index = opsOf('CreateIndex')[0];
    expect(index?.indexName).toBe('vec_idx');
    expect(Object.fromEntries(index?.indexParams.map((p) => [p.key, p.value]) ?? [])).toMatchObject(
      {
        index_type: 'HNSW',
        metric_type: 'L2',
      },
    );
    expect(opsOf('DropIndex')[0]?.indexIds).toEqual([index?.indexId]);
    expect(opsOf('LoadCollection')[0]?.collectionId).toBe(created?.collectionId);
    expect(opsOf('ReleaseCollection')).toHaveLength(1);
    expect(opsOf('Flush')).toHaveLength(2);
    const alter = opsOf('AlterCollection');
    expect(alter.length).toBe(3);
    expect(alter[0]?.paths).toEqual(['schema']);
    expect(alter[0]?.schema?.fields.find((f) => f.name === 'extra')).toMatchObject({
      nullable: true,
      dataType: 4,
    });
    expect(changes.flatMap((m) => (m.type === 'DropPartition' ? [m.partitionName] : []))).toContain(
      'p1',
    );
    expect(
      of('DropCollection').filter((d) => d.collectionId === created?.collectionId),
    ).toHaveLength(3);
    expect(opsOf('DropDatabase').map((d) => d.dbName)).toEqual(['shop']);
  });

  it('refuses the encrypted payload with a reason a person can act on', () => {
    const failed = all.find((a) => a.error !== undefined);
    expect(failed?.error).toBeInstanceOf(CdcError);
    expect(failed?.error).toMatchObject({ code: 'FAILED_PRECONDITION', retryable: false });
    expect((failed?.error as Error).message).toMatch(/cipher plugin/);
  });
});
