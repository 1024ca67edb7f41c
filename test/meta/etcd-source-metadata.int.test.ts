import { randomUUID } from 'node:crypto';
import { Etcd3 } from 'etcd3';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  DataType,
  EtcdSourceMetadata,
  TOMBSTONE,
  encodeCollectionInfo,
  encodeDatabaseInfo,
  encodeFieldSchema,
  encodeKafkaMessageId,
  encodeMsgPosition,
  encodePartitionInfo,
  encodeTsoValue,
} from '@cdc/shared';
import type { CollectionInfo, FieldSchema, MetadataEvent } from '@cdc/shared';
import { stackEnv } from '../helpers/stack.js';

const env = stackEnv();
let client: Etcd3;
let root: string;

beforeAll(() => {
  client = new Etcd3({ hosts: env.etcdEndpoints.map((h) => `http://${h}`) });
});
afterAll(() => {
  client.close();
});
afterEach(async () => {
  await client.delete().prefix(`${root}/`);
});

const field = (fieldId: bigint, name: string, dataType: number, extra: Partial<FieldSchema> = {}) =>
  ({
    fieldId,
    name,
    description: '',
    dataType,
    elementType: 0,
    typeParams: [],
    indexParams: [],
    isPrimaryKey: false,
    autoId: false,
    isDynamic: false,
    isPartitionKey: false,
    isClusteringKey: false,
    nullable: false,
    isFunctionOutput: false,
    state: 0,
    ...extra,
  }) satisfies FieldSchema;

const D = 449000000000000100n;
const C = 449000000000000200n;
const P = C + 1n;

function collection(state: CollectionInfo['state'], id = C): CollectionInfo {
  return {
    id,
    dbId: D,
    dbName: '',
    name: `c${id}`,
    schema: {
      name: `c${id}`,
      description: '',
      autoId: false,
      enableDynamicField: false,
      fields: [],
      properties: [],
      functions: [],
      dbName: '',
    },
    shardsNum: 2,
    consistencyLevel: 'Bounded',
    properties: [{ key: 'collection.ttl.seconds', value: '60' }],
    virtualChannels: [`p0_${id}v0`, `p1_${id}v1`],
    physicalChannels: ['p0', 'p1'],
    startPositions: [{ channel: 'p0', msgId: encodeKafkaMessageId(3n) }],
    state,
    createTime: 449123456789012345n,
    updateTimestamp: 0n,
  };
}

async function seedCollection(id = C): Promise<void> {
  const m = `${root}/meta/root-coord`;
  await client
    .put(`${m}/fields/${id}/100`)
    .value(
      Buffer.from(encodeFieldSchema(field(100n, 'id', DataType.Int64, { isPrimaryKey: true }))),
    );
  await client
    .put(`${m}/fields/${id}/101`)
    .value(
      Buffer.from(
        encodeFieldSchema(
          field(101n, 'vec', DataType.FloatVector, { typeParams: [{ key: 'dim', value: '4' }] }),
        ),
      ),
    );
  await client
    .put(`${m}/fields/${id}/0`)
    .value(Buffer.from(encodeFieldSchema(field(0n, 'RowID', DataType.Int64))));
  await client
    .put(`${m}/fields/${id}/102`)
    .value(
      Buffer.from(encodeFieldSchema(field(102n, '$meta', DataType.JSON, { isDynamic: true }))),
    );
  await client.put(`${m}/partitions/${id}/${id + 1n}`).value(
    Buffer.from(
      encodePartitionInfo({
        id: id + 1n,
        name: '_default',
        collectionId: id,
        createdTimestamp: 5n,
        state: 'Created',
      }),
    ),
  );
  await client
    .put(`${m}/database/collection-info/${D}/${id}`)
    .value(Buffer.from(encodeCollectionInfo(collection('Created', id))));
}

async function seedDb(): Promise<void> {
  await client.put(`${root}/meta/root-coord/database/db-info/${D}`).value(
    Buffer.from(
      encodeDatabaseInfo({
        id: D,
        name: 'db1',
        tenantId: '',
        state: 'Created',
        createdTimeNanos: 1n,
        properties: [],
      }),
    ),
  );
}

describe('EtcdSourceMetadata (real etcd)', () => {
  it('lists databases, collections (both layouts), partitions, checkpoints and the tso', async () => {
    root = `test-${randomUUID()}`;
    const meta = new EtcdSourceMetadata({ client, rootPath: root });
    await seedDb();
    await seedCollection();
    // a legacy (pre-2.2.9) collection with inline fields, and a dropped (tombstoned) one
    const legacy = { ...collection('Created', 7n), dbId: 0n };
    await client
      .put(`${root}/meta/root-coord/collection/7`)
      .value(Buffer.from(encodeCollectionInfo(legacy)));
    await client
      .put(`${root}/meta/root-coord/database/collection-info/${D}/9`)
      .value(Buffer.from(TOMBSTONE));
    await client.put(`${root}/meta/datacoord-meta/channel-cp/p0_${C}v0`).value(
      Buffer.from(
        encodeMsgPosition({
          channelName: `p0_${C}v0`,
          msgId: encodeKafkaMessageId(3n),
          msgGroup: '',
          timestamp: 8n,
          walName: 0,
        }),
      ),
    );
    await client
      .put(`${root}/kv/gid/timestamp`)
      .value(Buffer.from(encodeTsoValue(1_700_000_000_000_000_000n)));

    const dbs = await meta.listDatabases();
    expect(dbs.map((d) => [d.id, d.name, d.state])).toEqual([[D, 'db1', 'Created']]);

    const colls = await meta.listCollections();
    expect(colls.map((c) => [c.id, c.dbName]).sort()).toEqual(
      [
        [7n, 'default'],
        [C, 'db1'],
      ].sort(),
    );
    const c = await meta.getCollection(C);
    expect(c?.schema.fields.map((f) => f.name)).toEqual(['id', 'vec']);
    expect(c?.schema.enableDynamicField).toBe(true);
    expect(c?.schema.fields[0]?.isPrimaryKey).toBe(true);
    expect(c).toMatchObject({
      shardsNum: 2,
      consistencyLevel: 'Bounded',
      physicalChannels: ['p0', 'p1'],
    });
    expect(await meta.getCollection(9n)).toBeUndefined();
    expect((await meta.listPartitions(C)).map((p) => p.name)).toEqual(['_default']);
    expect((await meta.getChannelCheckpoint(`p0_${C}v0`))?.timestamp).toBe(8n);
    expect(await meta.getChannelCheckpoint('nope')).toBeUndefined();
    expect((await meta.readTso()).unixNanos).toBe(1_700_000_000_000_000_000n);
    await meta.close();
  });

  // Milvus keeps a renamed-across-databases collection's old key as a tombstone beside the new one. The old database
  // id sorts first here (as the default database's id 1 does before any other), so a lookup that takes the first
  // key it lists finds the tombstone and reports the live collection gone: its rows were then skipped.
  it('finds a collection renamed into another database past the tombstone under the old one', async () => {
    root = `test-${randomUUID()}`;
    const meta = new EtcdSourceMetadata({ client, rootPath: root });
    await seedDb();
    const OLD_DB = D - 50n;
    const m = `${root}/meta/root-coord/database`;
    await client.put(`${m}/collection-info/${OLD_DB}/${C}`).value(Buffer.from(TOMBSTONE));
    await client
      .put(`${m}/collection-info/${D}/${C}`)
      .value(Buffer.from(encodeCollectionInfo(collection('Created'))));
    const found = await meta.getCollection(C);
    expect(found).toMatchObject({ id: C, dbName: 'db1', state: 'Created' });
    await meta.close();
  });

  it('watches create and drop events in order (tombstones and real deletes)', async () => {
    root = `test-${randomUUID()}`;
    const meta = new EtcdSourceMetadata({ client, rootPath: root });
    const ac = new AbortController();
    const afterRevision = await meta.currentRevision();
    const events: MetadataEvent[] = [];
    const done = (async () => {
      for await (const e of meta.watch({ signal: ac.signal, afterRevision })) {
        events.push(e);
        if (e.type === 'DatabaseDropped') ac.abort();
      }
    })();
    await seedDb();
    // create: Creating first, then Created (the second PUT is the trigger)
    await client
      .put(`${root}/meta/root-coord/database/collection-info/${D}/${C}`)
      .value(Buffer.from(encodeCollectionInfo(collection('Creating'))));
    await seedCollection();
    const pkey = `${root}/meta/root-coord/partitions/${C}/${P + 10n}`;
    const part = { id: P + 10n, name: 'p1', collectionId: C, createdTimestamp: 6n } as const;
    await client.put(pkey).value(Buffer.from(encodePartitionInfo({ ...part, state: 'Creating' })));
    await client.put(pkey).value(Buffer.from(encodePartitionInfo({ ...part, state: 'Created' })));
    await client.put(pkey).value(Buffer.from(TOMBSTONE));
    await client
      .put(`${root}/meta/root-coord/database/collection-info/${D}/${C}`)
      .value(Buffer.from(encodeCollectionInfo(collection('Dropping'))));
    await client
      .put(`${root}/meta/root-coord/database/collection-info/${D}/${C}`)
      .value(Buffer.from(TOMBSTONE));
    await client.delete().key(`${root}/meta/root-coord/database/db-info/${D}`);
    await done;
    expect(events.map((e) => e.type)).toEqual([
      'DatabaseCreated',
      'PartitionCreated',
      'CollectionCreated',
      'PartitionCreated',
      'PartitionDropped',
      'CollectionDropped',
      'DatabaseDropped',
    ]);
    const created = events.find((e) => e.type === 'CollectionCreated');
    expect(created?.type === 'CollectionCreated' && created.collection.schema.fields.length).toBe(
      2,
    );
    expect(created?.type === 'CollectionCreated' && created.collection.dbName).toBe('db1');
    const revs = events.map((e) => e.revision);
    expect([...revs].sort((a, b) => (a < b ? -1 : 1))).toEqual(revs);
    await meta.close();
  });
});
