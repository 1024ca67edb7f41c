/**
 * CreateTask against a Milvus 2.6-shaped source (the wal26 producer's etcd): API mode is accepted with nothing new in
 * the spec; replicate mode is refused with FAILED_PRECONDITION naming the reason, since 2.6 writes no msgstream.
 */
import { status } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { E2eHarness, env } from '../e2e/harness.js';
import { Wal26Producer } from '../helpers/wal26-producer.js';

describe('CreateTask with a 2.6 source', () => {
  const h = new E2eHarness('TARGET_MODE_API');
  const producer = new Wal26Producer(1);
  const spec = (mode: string) => ({
    source: {
      etcd: { endpoints: env.etcdEndpoints, root_path: producer.etcdRoot },
      mq: { type: 'MQ_TYPE_KAFKA', address: env.kafkaBrokers.join(',') },
      channel_prefix: producer.prefix,
    },
    target: {
      uri: mode === 'TARGET_MODE_REPLICATE' ? env.replicaMilvusAddress : env.targetMilvusAddress,
      mode,
    },
    scope: { include: [{ database: '*', collection: '*' }], exclude: [] },
  });

  beforeAll(async () => {
    await producer.start();
    await producer.send({ op: 'init' });
    await h.startControl();
  }, 240_000);
  afterAll(async () => {
    await h.cleanup();
    await producer.dispose();
  });

  it('accepts API mode and refuses replicate mode with the reason', async () => {
    await h.client!.call('CreateTask', {
      task_id: `t26-api-${h.id}`,
      spec: spec('TARGET_MODE_API'),
    });
    const refused = await h
      .client!.call('CreateTask', {
        task_id: `t26-rep-${h.id}`,
        spec: spec('TARGET_MODE_REPLICATE'),
      })
      .then(
        () => undefined,
        (e: unknown) => e as { code: number; details: string },
      );
    expect(refused?.code).toBe(status.FAILED_PRECONDITION);
    expect(refused?.details).toMatch(/Milvus 2\.6.*TARGET_MODE_API/);
    await h.client!.call('DeleteTask', { task_id: `t26-api-${h.id}` });
  });
});
