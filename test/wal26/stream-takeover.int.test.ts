/**
 * The WAL position at which the stream takes over from an initial sync's snapshot (taken at T0): a 2.6 channel opened
 * at timestamp T0 must deliver every change written at or after T0 and none from before, through both routes.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { insertToRows } from '@cdc/shared';
import type { KnownMessage } from '@cdc/shared';
import { createSourceReader } from '../../services/worker/src/adapters/source-readers.js';
import { silentLogger } from '../../services/worker/src/testing/fakes.js';
import { stackEnv } from '../helpers/stack.js';
import { Wal26Producer } from '../helpers/wal26-producer.js';

const env = stackEnv();
const producer = new Wal26Producer(1);
const rows = (from: number, n: number) =>
  Array.from({ length: n }, (_, i) => ({ id: String(from + i), vec: [from + i, 0] }));
let t0 = 0;

beforeAll(async () => {
  await producer.start();
  await producer.send({
    op: 'createCollection',
    collection: 'snap',
    shards: 1,
    schema: {
      fields: [
        { name: 'id', type: 'Int64', primaryKey: true },
        { name: 'vec', type: 'FloatVector', dim: 2 },
      ],
    },
  });
  await producer.send({ op: 'insert', collection: 'snap', rows: rows(0, 20) });
  await producer.send({ op: 'upsert', collection: 'snap', rows: rows(0, 5) });
  await new Promise((r) => setTimeout(r, 100));
  t0 = Date.now();
  await new Promise((r) => setTimeout(r, 100));
  await producer.send({ op: 'insert', collection: 'snap', rows: rows(100, 20) });
  await producer.send({ op: 'upsert', collection: 'snap', rows: rows(100, 5) });
  await producer.send({ op: 'delete', collection: 'snap', pks: ['101'] });
}, 240_000);
afterAll(async () => {
  await producer.dispose();
});

describe.each(['DumpMessages', 'Kafka WAL'])(
  '2.6 stream take-over at the snapshot time (%s)',
  (route) => {
    it('starts at the first change written at or after T0', async () => {
      const spec = {
        source: {
          etcd: { endpoints: env.etcdEndpoints, root_path: producer.etcdRoot },
          mq: { type: 'MQ_TYPE_KAFKA', address: env.kafkaBrokers.join(',') },
          channel_prefix: producer.prefix,
          ...(route === 'DumpMessages' ? { milvus: { uri: producer.grpcAddress } } : {}),
        },
        target: { uri: env.targetMilvusAddress, mode: 'TARGET_MODE_API' },
        fan_out: [],
      };
      const reader = createSourceReader(
        spec as unknown as Parameters<typeof createSourceReader>[0],
        producer.dmlChannel(0),
        silentLogger(),
      );
      await reader.open({ kind: 'timestamp', unixMs: t0 });
      const got: KnownMessage[] = [];
      try {
        for (let idle = 0; idle < 3;) {
          const batch = await reader.read(100, 1_000);
          if (batch.length === 0) idle++;
          for (const r of batch)
            if (r.decoded && r.decoded.type !== 'TimeTick' && r.decoded.type !== 'Unknown')
              got.push(r.decoded);
        }
      } finally {
        await reader.close();
      }
      const t0Tso = BigInt(t0) << 18n;
      expect(got.every((m) => m.base.timestamp >= t0Tso)).toBe(true);
      const inserted = got.flatMap((m) =>
        m.type === 'Insert' ? insertToRows(m).map((r) => String(r['id'])) : [],
      );
      expect(new Set(inserted)).toEqual(new Set(rows(100, 20).map((r) => r.id)));
      expect(inserted).toHaveLength(25); // 20 inserts + the 5 upserted rows
      const deleted = got.flatMap((m) =>
        m.type === 'Delete' ? m.primaryKeys.values.map(String) : [],
      );
      expect(deleted.sort()).toEqual(['100', '101', '101', '102', '103', '104'].sort());
    });
  },
);
