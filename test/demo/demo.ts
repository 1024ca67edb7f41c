/**
 * Stack demo (placeholder until the worker replicates end to end): writes rows into the source Milvus and shows
 * that they reached the source's Kafka DML topic and that the collection's metadata is in the source etcd.
 */
import { randomUUID } from 'node:crypto';
import { DataType, MilvusClient } from '@zilliz/milvus2-sdk-node';
import { Etcd3 } from 'etcd3';
import { connectKafka, topicHighWatermarks } from '../helpers/kafka.js';
import { stackEnv } from '../helpers/stack.js';

const env = stackEnv();
const source = new MilvusClient({ address: env.sourceMilvusAddress, logLevel: 'warn' });
const etcd = new Etcd3({ hosts: env.etcdEndpoints });
const collection = `demo_${randomUUID().slice(0, 8)}`;
try {
  await source.createCollection({
    collection_name: collection,
    fields: [
      { name: 'id', data_type: DataType.Int64, is_primary_key: true },
      { name: 'vec', data_type: DataType.FloatVector, dim: 4 },
    ],
  });
  const info = await source.describeCollection({ collection_name: collection });
  const kafka = connectKafka(env.kafkaBrokers);
  const before = await topicHighWatermarks(kafka, env.sourceChannelPrefix);
  const rows = Array.from({ length: 100 }, (_, i) => ({ id: String(i), vec: [i, i, i, i] }));
  const res = await source.insert({ collection_name: collection, data: rows });
  if (res.status.error_code !== 'Success') throw new Error(`insert failed: ${res.status.reason}`);
  await new Promise((r) => setTimeout(r, 1_000));
  const after = await topicHighWatermarks(kafka, env.sourceChannelPrefix);
  console.log(
    `source collection ${collection} (id ${info.collectionID}) on ${info.physical_channel_names.join(', ')}`,
  );
  for (const channel of info.physical_channel_names) {
    console.log(
      `  ${channel}: ${String((after.get(channel) ?? 0n) - (before.get(channel) ?? 0n))} new Kafka records`,
    );
  }
  const fields = await etcd
    .getAll()
    .prefix(`${env.sourceEtcdRoot}/meta/root-coord/fields/${info.collectionID}/`)
    .keys();
  console.log(
    `  etcd: ${fields.length} field keys under ${env.sourceEtcdRoot}/meta/root-coord/fields/${info.collectionID}/`,
  );
  await source.dropCollection({ collection_name: collection });
} finally {
  etcd.close();
  await source.closeConnection();
}
