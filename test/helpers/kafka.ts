/**
 * Test-side Kafka access with a zstd codec (Milvus writes zstd-compressed batches). Reads exact offset ranges.
 */
import { randomUUID } from 'node:crypto';
import kafkajs from 'kafkajs';
import type { Kafka as KafkaClient } from 'kafkajs';
import { registerKafkaZstdCodec } from '../../services/worker/src/adapters/kafka-zstd-codec.js';

const { Kafka, logLevel } = kafkajs;

// The worker's own codec: the tests read what Milvus writes exactly as the worker does.
registerKafkaZstdCodec();

export interface CapturedRecord {
  topic: string;
  partition: number;
  offset: string;
  headers: Record<string, string>;
  value: string;
}

export function connectKafka(brokers: string[]): KafkaClient {
  return new Kafka({ brokers, clientId: 'cdc-tests', logLevel: logLevel.WARN });
}

/** High watermark (next offset) of partition 0 of every topic whose name starts with `prefix`. */
export async function topicHighWatermarks(
  kafka: KafkaClient,
  prefix: string,
): Promise<Map<string, bigint>> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const topics = (await admin.listTopics()).filter((t) => t.startsWith(prefix));
    const marks = new Map<string, bigint>();
    for (const topic of topics) {
      const offsets = await admin.fetchTopicOffsets(topic);
      const p0 = offsets.find((o) => o.partition === 0);
      marks.set(topic, BigInt(p0?.high ?? '0'));
    }
    return marks;
  } finally {
    await admin.disconnect();
  }
}

/** Every record of partition 0 in [from, to), in offset order. Gives up after `timeoutMs`. */
export async function readTopicRange(
  kafka: KafkaClient,
  topic: string,
  from: bigint,
  to: bigint,
  timeoutMs = 30_000,
): Promise<CapturedRecord[]> {
  if (to <= from) return [];
  const consumer = kafka.consumer({ groupId: `cdc-tests-${randomUUID()}` });
  const records: CapturedRecord[] = [];
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(
          new Error(`reading ${topic} [${from}, ${to}) timed out with ${records.length} records`),
        );
      }, timeoutMs);
      consumer
        .run({
          autoCommit: false,
          eachMessage: ({ message, partition }) => {
            const offset = BigInt(message.offset);
            if (offset >= from && offset < to) {
              const headers: Record<string, string> = {};
              for (const [k, v] of Object.entries(message.headers ?? {})) {
                if (v !== undefined) headers[k] = Buffer.from(v as Buffer).toString('base64');
              }
              records.push({
                topic,
                partition,
                offset: message.offset,
                headers,
                value: message.value?.toString('base64') ?? '',
              });
            }
            if (offset >= to - 1n) {
              clearTimeout(timer);
              resolve();
            }
            return Promise.resolve();
          },
        })
        .catch(reject);
      consumer.seek({ topic, partition: 0, offset: from.toString() });
    });
  } finally {
    await consumer.disconnect();
  }
  return records;
}
