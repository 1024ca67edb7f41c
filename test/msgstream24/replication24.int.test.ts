/**
 * End to end from a Milvus 2.4-era source: the msgstream24 producer writes with the msgstream code of the Go module
 * github.com/milvus-io/milvus/pkg v0.0.2-0.20240605063157-545d4725fb04 (the master branch of 2024-06-05, between the
 * 2.4.4 and 2.4.5 releases; no 2.4 release-branch version is served) into the real Kafka: zstd, partition 0 and, as
 * 2.4.0–2.4.12 do, no `msg_type` header on any record, so every type comes from the payload's MsgBase. Same workload,
 * scope, rename and checks as the 2.5 suite (test/helpers/msgstream-replication.ts). This is not a 2.4 server.
 */
import { expect } from 'vitest';
import { createKafkaClient } from '../../services/worker/src/adapters/kafka-client.js';
import { env } from '../e2e/harness.js';
import { describeMsgstreamReplication } from '../helpers/msgstream-replication.js';
import type { MsgstreamProducer } from '../helpers/msgstream-producer.js';

/** The header names of every record on the producer's topics, read from the start (bounded in time). */
async function headerNames(
  producer: MsgstreamProducer,
): Promise<{ records: number; names: Set<string> }> {
  const kafka = createKafkaClient({ brokers: env.kafkaBrokers, clientId: 'msgstream24-headers' });
  const admin = kafka.admin();
  await admin.connect();
  const topics = (await admin.listTopics()).filter((t) => t.startsWith(`${producer.prefix}-`));
  let total = 0;
  for (const t of topics) {
    const [p0] = await admin.fetchTopicOffsets(t);
    total += Number(p0?.high ?? 0);
  }
  await admin.disconnect();
  const consumer = kafka.consumer({ groupId: `msgstream24-headers-${producer.prefix}` });
  const names = new Set<string>();
  let records = 0;
  await consumer.connect();
  try {
    await consumer.subscribe({ topics, fromBeginning: true });
    const done = new Promise<void>((resolve) => {
      void consumer.run({
        eachMessage: ({ message }) => {
          records += 1;
          for (const k of Object.keys(message.headers ?? {})) names.add(k);
          if (records >= total) resolve();
          return Promise.resolve();
        },
      });
    });
    await Promise.race([done, new Promise((r) => setTimeout(r, 30_000))]);
  } finally {
    await consumer.disconnect();
  }
  expect(records).toBe(total);
  return { records, names };
}

describeMsgstreamReplication({
  title: '2.4-era source (milvus/pkg 2024-06-05 msgstream on Kafka) end to end',
  producer: 'msgstream24',
  records: async (producer) => {
    const { records, names } = await headerNames(producer);
    expect(records).toBeGreaterThan(20);
    expect(names.has('msg_type')).toBe(false);
  },
});
