import { randomUUID } from 'node:crypto';
import { Etcd3 } from 'etcd3';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  DataType,
  createLogger,
  encodeCollectionInfo,
  encodeFieldSchema,
  encodeKafkaMessageId,
} from '@cdc/shared';
import type { CollectionInfo, FieldSchema } from '@cdc/shared';
import { TaskResources } from '../../services/worker/src/lease/task-resources.js';
import type { TaskSpecWire } from '../../services/worker/src/task-spec.js';
import { stackEnv } from '../helpers/stack.js';

/**
 * The worker's source metadata over a real etcd whose collection metadata (4.7 MB: six collections with 780 KB
 * descriptions) exceeds one default gRPC response (4 MiB): reads go page by page, so a lease can still resolve a
 * collection.
 */
const env = stackEnv();
const root = `scalemeta-${randomUUID().slice(0, 8)}`;
const DB = 449000000000000100n;
const FIRST = 449000000000000300n;
const seeder = new Etcd3({ hosts: env.etcdEndpoints.map((h) => `http://${h}`) });
const redis = new Redis(env.redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1 });

const field = (fieldId: bigint, name: string, dataType: number, primary = false): FieldSchema => ({
  fieldId,
  name,
  description: '',
  dataType,
  elementType: 0,
  typeParams: dataType === DataType.FloatVector ? [{ key: 'dim', value: '4' }] : [],
  indexParams: [],
  isPrimaryKey: primary,
  autoId: false,
  isDynamic: false,
  isPartitionKey: false,
  isClusteringKey: false,
  nullable: false,
  isFunctionOutput: false,
  state: 0,
});

function collection(id: bigint, i: number): CollectionInfo {
  return {
    id,
    dbId: DB,
    dbName: '',
    name: `big${i}`,
    schema: {
      name: `big${i}`,
      description: 'd'.repeat(780_000),
      autoId: false,
      enableDynamicField: false,
      fields: [],
      properties: [],
      functions: [],
      dbName: '',
    },
    shardsNum: 1,
    consistencyLevel: 'Bounded',
    properties: [],
    virtualChannels: [`${root}-rootcoord-dml_${i}_${id}v0`],
    physicalChannels: [`${root}-rootcoord-dml_${i}`],
    startPositions: [{ channel: `${root}-rootcoord-dml_${i}`, msgId: encodeKafkaMessageId(1n) }],
    state: 'Created',
    createTime: 449123456789012345n,
    updateTimestamp: 0n,
  };
}

beforeAll(async () => {
  const m = `${root}/meta/root-coord`;
  for (let i = 0; i < 6; i++) {
    const id = FIRST + BigInt(i);
    await seeder
      .put(`${m}/database/collection-info/${DB}/${id}`)
      .value(Buffer.from(encodeCollectionInfo(collection(id, i))));
    await seeder
      .put(`${m}/fields/${id}/100`)
      .value(Buffer.from(encodeFieldSchema(field(100n, 'id', DataType.Int64, true))));
    await seeder
      .put(`${m}/fields/${id}/101`)
      .value(Buffer.from(encodeFieldSchema(field(101n, 'vec', DataType.FloatVector))));
  }
});

afterAll(async () => {
  await seeder.delete().prefix(`${root}/`);
  seeder.close();
  redis.disconnect();
});

describe('worker source metadata at scale (real etcd)', () => {
  it('resolves and lists collections of a source with 4.7 MB of collection metadata', async () => {
    const resources = new TaskResources(
      redis,
      'unused',
      createLogger({ service: 'test', level: 'silent' }),
    );
    const spec = {
      source: { etcd: { endpoints: env.etcdEndpoints.map((h) => `http://${h}`), root_path: root } },
    } as TaskSpecWire;
    const borrowed = await resources.sourceMetadata('scale-task', spec);
    try {
      const meta = borrowed.value;
      const c = await meta.getCollection(FIRST + 4n);
      expect(c?.name).toBe('big4');
      expect(c?.schema.fields.map((f) => f.name)).toEqual(['id', 'vec']);
      expect(c?.schema.description.length).toBe(780_000);
      expect(await meta.getCollection(FIRST + 99n)).toBeUndefined();
      const all = await meta.listCollections();
      expect(all.map((x) => x.name).sort()).toEqual(Array.from({ length: 6 }, (_, i) => `big${i}`));
    } finally {
      await borrowed.release();
      await resources.close();
    }
  });
});
