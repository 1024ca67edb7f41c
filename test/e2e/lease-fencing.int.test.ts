/**
 * Guarantee 1 on a bad day: a worker cut off from the control service and Redis, but still reaching Kafka and a slow
 * target, must stop writing before another worker takes its channels; otherwise its late upserts bring back rows the
 * source deleted meanwhile (with count(*) possibly equal on both sides).
 *
 * Worker A reaches the control service and Redis through proxies the test partitions, and the target through a proxy
 * that delays every answer (a slow target: A's writes are issued at once but A waits long for each, so it falls
 * behind). The source writes many small inserts, then deletes and rewrites those rows. A is cut off while it is far
 * behind; worker B takes the channels and applies everything; then the partition heals. The target must equal the
 * source by key, content and count(*), also after A had every chance to write late.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MilvusClient } from '@zilliz/milvus2-sdk-node';
import { E2eHarness, env } from './harness.js';
import { compareCollection, countRows, isConverged } from '../helpers/milvus-compare.js';
import { waitUntil } from '../helpers/processes.js';
import { kafkaSourceSpec } from '../helpers/stack.js';
import { TcpProxy } from '../helpers/tcp-proxy.js';
import { createTaggedCollection, milvusOk, taggedRows } from './tagged-collection.js';

const DIM = 16;
const BATCHES = 40;
const BATCH_ROWS = 50;

describe('a worker cut off from the control plane writes nothing after its lease moved', () => {
  const h = new E2eHarness();
  const ref = { db: `${h.prefix}_db`, collection: 'fenced' };
  const base = { db_name: ref.db, collection_name: ref.collection };
  let controlProxy: TcpProxy;
  const redisProxy = TcpProxy.forAddress(env.redisUrl);
  const targetProxy = TcpProxy.forAddress(env.targetMilvusAddress);
  let source: MilvusClient;

  beforeAll(async () => {
    source = h.source;
    await h.startControl();
    controlProxy = await TcpProxy.forAddress(h.controlAddress).start();
    await Promise.all([redisProxy.start(), targetProxy.start()]);
  });

  afterAll(async () => {
    await Promise.all([controlProxy.stop(), redisProxy.stop(), targetProxy.stop()]);
    await h.cleanup();
  });

  it('keeps the target equal to the source by key, content and count(*)', async () => {
    // The task's target is the proxy: A's connections to it are the ones that will be slowed.
    await h.client!.call('CreateTask', {
      task_id: `task-${h.id}`,
      spec: {
        source: kafkaSourceSpec(env),
        target: { uri: targetProxy.address, mode: 'TARGET_MODE_API' },
        scope: { include: [{ database: `${h.prefix}_db*`, collection: '*' }], exclude: [] },
        start: { kind: 'START_KIND_LATEST' },
      },
    });
    await h.startWorker('worker-a', {
      WORKER_CONTROL_ADDRESS: controlProxy.address,
      CDC_REDIS_URL: `redis://${redisProxy.address}`,
    });
    await waitUntil(
      'worker A to hold every channel',
      async () => {
        const res = await h.client!.call<{ channels: { worker_id: string }[] }>(
          'GetTaskPositions',
          {
            task_id: `task-${h.id}`,
          },
        );
        return (
          res.channels.length > 0 && res.channels.every((c) => c.worker_id === `worker-a-${h.id}`)
        );
      },
      60_000,
    );

    await createTaggedCollection(source, ref, DIM);

    await milvusOk(
      'warm-up insert',
      source.insert({ ...base, data: taggedRows(0, 100, 'v1', DIM) }),
    );
    await converge(120_000);
    console.log('fencing: warm-up replicated');

    // A slow target for A only, then many small packs (one per time tick) that A applies one slow call at a time.
    targetProxy.delayResponses(2_000);
    for (let b = 0; b < BATCHES; b++) {
      await milvusOk(
        'insert',
        source.insert({ ...base, data: taggedRows(1_000 + b * BATCH_ROWS, BATCH_ROWS, 'v1', DIM) }),
      );
      await new Promise((r) => setTimeout(r, 250));
    }
    await new Promise((r) => setTimeout(r, 3_000));

    // Cut A off from the control service and Redis; B takes the channels over.
    controlProxy.partition();
    redisProxy.partition();
    const cutAt = Date.now();
    console.log('fencing: worker A cut off');
    await h.startWorker('worker-b');

    // Rows A still has to write: deleted, rewritten, and new ones.
    const total = BATCHES * BATCH_ROWS;
    const deleted = `id >= 1000 and id < ${String(1_000 + total / 2)}`;
    await milvusOk('delete', source.deleteEntities({ ...base, filter: deleted }));
    await milvusOk(
      'upsert',
      source.upsert({ ...base, data: taggedRows(1_000 + total / 2, total / 4, 'v2', DIM) }),
    );
    await milvusOk('insert', source.insert({ ...base, data: taggedRows(9_000, 100, 'v1', DIM) }));

    // B has applied every source write once its checkpoints on the collection's channels passed the last one.
    const lastWriteMs = Date.now();
    const described = await source.describeCollection(base);
    const channels = new Set(described.physical_channel_names);
    await waitUntil(
      'worker B to apply every source write',
      async () => {
        const res = await h.client!.call<{
          channels: { channel: string; worker_id: string; position?: { timestamp: string } }[];
        }>('GetTaskPositions', { task_id: `task-${h.id}` });
        return res.channels
          .filter((c) => channels.has(c.channel))
          .every(
            (c) =>
              c.worker_id === `worker-b-${h.id}` &&
              Number(BigInt(c.position?.timestamp ?? '0') >> 18n) > lastWriteMs,
          );
      },
      180_000,
      1_000,
    );
    const takeoverMs = Date.now() - cutAt;

    // A, cut off, would still be writing its backlog now. Give it time to, then heal: from then on its answers
    // arrive at once and it learns that it lost its leases.
    await new Promise((r) => setTimeout(r, 10_000));
    controlProxy.heal();
    redisProxy.heal();
    targetProxy.delayResponses(0);
    await new Promise((r) => setTimeout(r, 10_000));

    const diff = await compareCollection(source, h.target, ref);
    const counts = { source: await countRows(source, ref), target: await countRows(h.target, ref) };
    console.log(
      `fencing: B applied every write ${String(takeoverMs)} ms after the cut; after the heal: missing ${String(diff.missingOnTarget.length)}, extra ${String(diff.extraOnTarget.length)}, changed ${String(diff.changed.length)}; count(*) ${String(counts.source)}/${String(counts.target)}`,
    );
    expect(diff.extraOnTarget.slice(0, 10)).toEqual([]);
    expect(diff.changed.slice(0, 10)).toEqual([]);
    expect(diff.missingOnTarget.slice(0, 10)).toEqual([]);
    expect(isConverged(diff)).toBe(true);
    expect(counts.target).toBe(counts.source);
  }, 600_000);

  async function converge(timeoutMs: number): Promise<void> {
    let last = '';
    await waitUntil(
      `target to equal source (${last})`,
      async () => {
        const d = await compareCollection(source, h.target, ref);
        last = `missing ${String(d.missingOnTarget.length)} extra ${String(d.extraOnTarget.length)} changed ${String(d.changed.length)} schema ${d.schemaDiff.join('; ')}`;
        return isConverged(d);
      },
      timeoutMs,
      2_000,
    );
  }
});
