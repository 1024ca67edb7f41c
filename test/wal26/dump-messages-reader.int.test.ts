/**
 * DumpMessagesSourceReader against the wal26 producer's DumpMessages (served from Milvus's Kafka WAL on the real
 * broker): the shared SourceReader contract, positions being WAL message ids.
 */
import type { Admin } from 'kafkajs';
import { afterAll, beforeAll } from 'vitest';
import { createKafkaClient } from '../../services/worker/src/adapters/kafka-client.js';
import { decodeKafkaMessageId } from '@cdc/shared';
import { DumpMessagesSourceReader } from '../../services/worker/src/adapters/wal26/dump-messages-reader.js';
import { describeSourceReaderContract } from '../contracts/source-reader.contract.js';
import type { SourceReaderFixture } from '../contracts/source-reader.contract.js';
import { stackEnv } from '../helpers/stack.js';
import { Wal26Producer } from '../helpers/wal26-producer.js';

let producer: Wal26Producer;
let admin: Admin;
let next = 0;

beforeAll(async () => {
  producer = await new Wal26Producer(1).start();
  admin = createKafkaClient({
    brokers: stackEnv().kafkaBrokers,
    clientId: 'dump-contract',
  }).admin();
  await admin.connect();
});
afterAll(async () => {
  await admin.disconnect();
  await producer.dispose();
});

/** Each case gets a pchannel of its own: the producer appends raw payloads to any topic it is told. */
function fixture(): Promise<SourceReaderFixture> {
  const channel = `${producer.prefix}-contract-${next++}`;
  return Promise.resolve({
    channel,
    newReader: () =>
      new DumpMessagesSourceReader({
        address: producer.grpcAddress,
        pchannel: channel,
        walName: 'Kafka',
        reopenDelayMs: 100,
      }),
    produce: async (values) => {
      // One append per value, each with its own time tick: the record's publish time is its time tick.
      for (const v of values)
        await producer.send({ op: 'raw', pchannel: channel, payloads: [v], noTick: true });
    },
    // The WAL appends one message at a time; one command is the closest to a batch it has.
    produceBatch: async (values) => {
      await producer.send({ op: 'raw', pchannel: channel, payloads: [...values], noTick: true });
    },
    deleteBefore: async (msgId) => {
      await admin.fetchTopicOffsets(channel);
      await admin.deleteTopicRecords({
        topic: channel,
        partitions: [{ partition: 0, offset: decodeKafkaMessageId(msgId).toString() }],
      });
    },
    dispose: async () => {
      await admin.deleteTopics({ topics: [channel] }).catch(() => undefined);
    },
  });
}

describeSourceReaderContract('DumpMessages (2.6 WAL through the proxy RPC)', fixture);
