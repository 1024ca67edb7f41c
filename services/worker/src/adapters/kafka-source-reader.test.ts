/**
 * The push→pull bridge of KafkaSourceReader against a small in-memory stand-in for the KafkaJS client; the real
 * broker is exercised by test/worker/kafka-source-reader.int.test.ts.
 */
import { describe, expect, it } from 'vitest';
import type { EachMessagePayload, Kafka } from 'kafkajs';
import { encodeKafkaMessageId } from '@cdc/shared';
import { KafkaSourceReader } from './kafka-source-reader.js';

class FakeKafka {
  low = 0n;
  high = 100n;
  topics = ['ch'];
  seeks: string[] = [];
  pauses = 0;
  resumes = 0;
  disconnects = 0;
  eachMessage: ((p: EachMessagePayload) => Promise<void>) | undefined;
  crash: ((e: { payload: { error: Error } }) => void) | undefined;
  runGate: Promise<void> = Promise.resolve();

  admin(): unknown {
    return {
      connect: () => Promise.resolve(),
      disconnect: () => Promise.resolve(),
      listTopics: () => Promise.resolve(this.topics),
      fetchTopicOffsets: () =>
        Promise.resolve([
          { partition: 0, low: String(this.low), high: String(this.high), offset: '' },
        ]),
      fetchTopicOffsetsByTimestamp: () => Promise.resolve([{ partition: 0, offset: '42' }]),
    };
  }

  consumer(): unknown {
    return {
      events: { CRASH: 'consumer.crash' },
      on: (_: string, fn: (e: { payload: { error: Error } }) => void) => (this.crash = fn),
      connect: () => Promise.resolve(),
      subscribe: () => Promise.resolve(),
      run: (o: { eachMessage: (p: EachMessagePayload) => Promise<void> }) => {
        this.eachMessage = o.eachMessage;
        return this.runGate;
      },
      seek: (s: { offset: string }) => this.seeks.push(s.offset),
      pause: () => this.pauses++,
      resume: () => this.resumes++,
      disconnect: () => {
        this.disconnects++;
        return Promise.resolve();
      },
    };
  }

  async deliver(...offsets: number[]): Promise<void> {
    for (const o of offsets) {
      const message = {
        offset: String(o),
        value: Buffer.from(`v${o}`),
        timestamp: '1000',
        headers: {},
      };
      await this.eachMessage!({
        topic: 'ch',
        partition: 0,
        message,
      } as unknown as EachMessagePayload);
    }
  }
}

async function openReader(fake: FakeKafka, maxQueuedRecords = 100): Promise<KafkaSourceReader> {
  const reader = new KafkaSourceReader({
    kafka: fake as unknown as Kafka,
    channel: 'ch',
    maxQueuedRecords,
  });
  await reader.open({ kind: 'after', msgId: encodeKafkaMessageId(9n) });
  return reader;
}

const texts = (rs: { value: Uint8Array }[]): string[] =>
  rs.map((r) => Buffer.from(r.value).toString());

describe('KafkaSourceReader (in-memory client)', () => {
  it('seeks to offset + 1 and drops records fetched from before it', async () => {
    const fake = new FakeKafka();
    const reader = await openReader(fake);
    expect(fake.seeks).toEqual(['10']);
    await fake.deliver(3, 4, 10, 11, 10);
    const got = await reader.read(10, 0);
    expect(texts(got)).toEqual(['v10', 'v11']);
    expect(got[0]!.msgId).toEqual(encodeKafkaMessageId(10n));
    await reader.close();
  });

  it('resolves a timestamp start through the admin client', async () => {
    const fake = new FakeKafka();
    const reader = new KafkaSourceReader({ kafka: fake as unknown as Kafka, channel: 'ch' });
    await reader.open({ kind: 'timestamp', unixMs: 123 });
    expect(fake.seeks).toEqual(['42']);
    await reader.close();
  });

  it('pauses the partition when the queue is full and resumes once it drained to half', async () => {
    const fake = new FakeKafka();
    const reader = await openReader(fake, 4);
    await fake.deliver(10, 11, 12, 13);
    expect(fake.pauses).toBe(1);
    expect(texts(await reader.read(1, 0))).toEqual(['v10']);
    expect(fake.resumes).toBe(0);
    expect(texts(await reader.read(1, 0))).toEqual(['v11']);
    expect(fake.resumes).toBe(1);
    await reader.close();
  });

  it('hands out queued records before a consumer crash, then fails retryably', async () => {
    const fake = new FakeKafka();
    const reader = await openReader(fake);
    await fake.deliver(10);
    fake.crash!({ payload: { error: new Error('broker gone') } });
    expect(texts(await reader.read(10, 0))).toEqual(['v10']);
    await expect(reader.read(10, 1000)).rejects.toMatchObject({
      code: 'SOURCE_UNAVAILABLE',
      retryable: true,
    });
    await reader.close();
  });

  it('accepts an offset jump the broker still covers, and fails on one retention caused', async () => {
    const fake = new FakeKafka();
    const reader = await openReader(fake);
    await fake.deliver(10, 12);
    expect(texts(await reader.read(10, 0))).toEqual(['v10', 'v12']);
    fake.low = 20n;
    await fake.deliver(20, 21);
    expect(fake.pauses).toBe(1);
    await expect(reader.read(10, 0)).rejects.toMatchObject({ code: 'FAILED_PRECONDITION' });
    await reader.close();
  });

  it('enforces its lifecycle: read before open, bad maxRecords, concurrent reads', async () => {
    const fake = new FakeKafka();
    const idle = new KafkaSourceReader({ kafka: fake as unknown as Kafka, channel: 'ch' });
    await expect(idle.read(1, 0)).rejects.toMatchObject({ code: 'INTERNAL' });
    const reader = await openReader(fake);
    await expect(reader.read(0, 0)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    const pending = reader.read(1, 5_000);
    await expect(reader.read(1, 0)).rejects.toMatchObject({ code: 'INTERNAL' });
    await reader.close();
    expect(await pending).toEqual([]);
    expect(fake.disconnects).toBe(1);
  });

  it('close during open rejects the open and still disconnects the consumer once', async () => {
    const fake = new FakeKafka();
    let release = (): void => undefined;
    fake.runGate = new Promise<void>((resolve) => (release = resolve));
    const reader = new KafkaSourceReader({ kafka: fake as unknown as Kafka, channel: 'ch' });
    const opening = reader.open({ kind: 'earliest' });
    await expect.poll(() => fake.eachMessage).toBeDefined();
    const closing = reader.close();
    release();
    await expect(opening).rejects.toMatchObject({ code: 'INTERNAL' });
    await closing;
    await reader.close();
    expect(fake.disconnects).toBe(1);
    expect(reader.state).toBe('stopped');
  });

  it('reports a missing topic as retryable SOURCE_UNAVAILABLE', async () => {
    const fake = new FakeKafka();
    fake.topics = [];
    const reader = new KafkaSourceReader({ kafka: fake as unknown as Kafka, channel: 'ch' });
    await expect(reader.open({ kind: 'earliest' })).rejects.toMatchObject({
      code: 'SOURCE_UNAVAILABLE',
      retryable: true,
    });
  });
});
