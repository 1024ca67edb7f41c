/**
 * Proves the local stack is real: rows written to the source Milvus show up as an Insert record on the source's
 * Kafka DML topic, and the collection's metadata is in the source etcd.
 */
import { randomUUID } from 'node:crypto';
import { Etcd3 } from 'etcd3';
import { DataType, MilvusClient } from '@zilliz/milvus2-sdk-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectKafka, readTopicRange, topicHighWatermarks } from '../helpers/kafka.js';
import { stackEnv } from '../helpers/stack.js';

const env = stackEnv();
const MSG_TYPE_INSERT = 400;

/** Reads MsgBase.msg_type (field 1 of field 1) straight from the protobuf bytes. */
function msgTypeOf(payload: Buffer): number {
  let i = 0;
  const varint = (): number => {
    let v = 0;
    let shift = 0;
    for (;;) {
      const byte = payload[i++] ?? 0;
      v += (byte & 0x7f) * 2 ** shift;
      shift += 7;
      if (!(byte & 0x80)) return v;
    }
  };
  if (payload[i++] !== 0x0a) return -1;
  varint();
  if (payload[i++] !== 0x08) return -1;
  return varint();
}

describe('local stack smoke test', () => {
  const source = new MilvusClient({ address: env.sourceMilvusAddress, logLevel: 'warn' });
  const etcd = new Etcd3({ hosts: env.etcdEndpoints });
  const collection = `smoke_${randomUUID().replaceAll('-', '')}`;

  beforeAll(async () => {
    const res = await source.createCollection({
      collection_name: collection,
      shards_num: 1,
      fields: [
        { name: 'id', data_type: DataType.Int64, is_primary_key: true },
        { name: 'tag', data_type: DataType.VarChar, max_length: 32 },
        { name: 'vec', data_type: DataType.FloatVector, dim: 4 },
      ],
    });
    expect(res.error_code).toBe('Success');
  });

  afterAll(async () => {
    await source.dropCollection({ collection_name: collection });
    await source.closeConnection();
    etcd.close();
  });

  it('finds the Insert on the source DML topic and the collection in the source etcd', async () => {
    const describe = await source.describeCollection({ collection_name: collection });
    const pchannel = describe.physical_channel_names[0];
    expect(pchannel).toMatch(new RegExp(`^${env.sourceChannelPrefix}-rootcoord-dml_\\d+$`));
    const kafka = connectKafka(env.kafkaBrokers);
    const before = (await topicHighWatermarks(kafka, pchannel!)).get(pchannel!) ?? 0n;

    const rows = [
      { id: '9007199254740993', tag: 'first', vec: [0.1, 0.2, 0.3, 0.4] },
      { id: '2', tag: 'second', vec: [0.5, 0.6, 0.7, 0.8] },
    ];
    const inserted = await source.insert({ collection_name: collection, data: rows });
    expect(inserted.status.error_code).toBe('Success');

    let after = before;
    for (let attempt = 0; attempt < 50 && after <= before; attempt++) {
      await new Promise((r) => setTimeout(r, 200));
      after = (await topicHighWatermarks(kafka, pchannel!)).get(pchannel!) ?? 0n;
    }
    const records = await readTopicRange(kafka, pchannel!, before, after);
    const inserts = records
      .map((r) => Buffer.from(r.value, 'base64'))
      .filter((payload) => msgTypeOf(payload) === MSG_TYPE_INSERT && payload.includes(collection));
    expect(inserts).toHaveLength(1);
    expect(inserts[0]!.includes('second')).toBe(true);

    const collectionId = describe.collectionID;
    const infoKeys = await etcd
      .getAll()
      .prefix(`${env.sourceEtcdRoot}/meta/root-coord/database/collection-info/`)
      .keys();
    expect(infoKeys.some((k) => k.endsWith(`/${collectionId}`))).toBe(true);
    const fieldKeys = await etcd
      .getAll()
      .prefix(`${env.sourceEtcdRoot}/meta/root-coord/fields/${collectionId}/`)
      .keys();
    expect(fieldKeys.map((k) => k.split('/').pop()).sort()).toEqual([
      '0',
      '1',
      '100',
      '101',
      '102',
    ]);
  });
});
