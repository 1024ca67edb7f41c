/**
 * PulsarSourceReader against the real local Pulsar broker (deploy/local/pulsar.sh) through the real C client
 * (deploy/local/pulsar-client.sh): the shared SourceReader contract, then what is Pulsar-specific: the ZSTD-compressed
 * records the real Milvus writes (milvus-pulsar), batch positions, bad positions and an unreachable broker.
 */
import { randomUUID } from 'node:crypto';
import { DataType, MilvusClient } from '@zilliz/milvus2-sdk-node';
import { afterAll, describe, expect, it } from 'vitest';
import { decodePulsarMessageId } from '@cdc/shared';
import { PulsarNativeClient } from '../../services/worker/src/adapters/pulsar-native.js';
import type { PulsarNativeProducer } from '../../services/worker/src/adapters/pulsar-native.js';
import { PulsarSourceReader } from '../../services/worker/src/adapters/pulsar-source-reader.js';
import type { ChannelRecord } from '../../services/worker/src/ports/source-reader.js';
import { describeSourceReaderContract, readUntil } from '../contracts/source-reader.contract.js';
import type { SourceReaderFixture } from '../contracts/source-reader.contract.js';
import { stackEnv } from '../helpers/stack.js';

const env = stackEnv();
const NAMESPACE = 'public/default';
const client = await PulsarNativeClient.create(env.pulsarUrl);

afterAll(async () => {
  await client.close();
});

async function admin(method: string, path: string, body?: unknown): Promise<Response> {
  const res = await fetch(`${env.pulsarAdminUrl}/admin/v2/persistent/${NAMESPACE}/${path}`, {
    method,
    ...(body === undefined
      ? {}
      : { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }),
  });
  if (!res.ok) throw new Error(`pulsar admin ${method} ${path}: ${res.status} ${await res.text()}`);
  return res;
}

function pulsarFixture(): Promise<SourceReaderFixture> {
  const channel = `cdc-test-${randomUUID()}`;
  const topic = `persistent://${NAMESPACE}/${channel}`;
  let single: PulsarNativeProducer | undefined;
  let batched: PulsarNativeProducer | undefined;
  return Promise.resolve({
    channel,
    newReader: () =>
      new PulsarSourceReader({ serviceUrl: env.pulsarUrl, channel, probeTimeoutMs: 1_000 }),
    // ZSTD and one message per entry, as Milvus produces.
    produce: async (values) => {
      single ??= await client.createProducer(topic, { zstd: true });
      for (const v of values) await single.send(Buffer.from(v));
    },
    produceBatch: async (values) => {
      batched ??= await client.createProducer(topic, { batching: true, zstd: true });
      const sent = values.map((v) => batched!.send(Buffer.from(v)));
      await batched.flush();
      const ids = (await Promise.all(sent)).map((id) => decodePulsarMessageId(id));
      // One entry holding the whole batch, or the case would not test batch positions.
      expect(new Set(ids.map((id) => `${id.ledgerId}:${id.entryId}`)).size).toBe(1);
      expect(ids.map((id) => id.batchIndex)).toEqual(values.map((_, i) => i));
    },
    // Unloading closes the topic's ledger; the next write opens a new one.
    startNewSegment: async () => {
      await admin('PUT', `${channel}/unload`);
    },
    deleteBefore: async (msgId) => {
      const id = decodePulsarMessageId(msgId);
      if (id.entryId !== 0n) throw new Error('pulsar deletes whole ledgers: pass a ledger start');
      await admin('POST', `${channel}/retention`, {
        retentionTimeInMinutes: 0,
        retentionSizeInMB: 0,
      });
      // The topic policy reaches the broker asynchronously; trim until the older ledgers are gone.
      const deadline = Date.now() + 20_000;
      for (;;) {
        await admin('POST', `${channel}/trim`);
        const stats = (await (await admin('GET', `${channel}/internalStats`)).json()) as {
          ledgers: { ledgerId: number }[];
        };
        if (stats.ledgers.every((l) => BigInt(l.ledgerId) >= id.ledgerId)) return;
        if (Date.now() > deadline) throw new Error(`ledgers before ${id.ledgerId} not trimmed`);
        await new Promise((resolve) => setTimeout(resolve, 250));
      }
    },
    dispose: async () => {
      await single?.close();
      await batched?.close();
      await admin('DELETE', `${channel}?force=true`).catch(() => undefined);
    },
  });
}

describeSourceReaderContract('pulsar', pulsarFixture, { resumeAtRetentionEdge: 'refuses' });

/** The 200-row insert below: 200 × 4 float32 of vectors alone, decompressed. */
const isInsert = (r: ChannelRecord): boolean => r.value.length > 200 * 4 * 4;

describe('PulsarSourceReader on the real broker', () => {
  it('reads the ZSTD records the real Milvus writes: raw protos that start with MsgBase, batch positions that resume', async () => {
    // The Pulsar-backed source writes a create, an insert and then time ticks (~5/s) while the collection exists.
    const milvus = new MilvusClient({ address: env.pulsarMilvusAddress, logLevel: 'error' });
    const startMs = Date.now() - 1_000;
    const collection = `zstd_${randomUUID().replaceAll('-', '')}`;
    await milvus.createCollection({
      collection_name: collection,
      fields: [
        { name: 'id', data_type: DataType.Int64, is_primary_key: true },
        { name: 'vec', data_type: DataType.FloatVector, dim: 4 },
      ],
      shards_num: 1,
    });
    const got: ChannelRecord[] = [];
    let pchannel = '';
    try {
      const described = await milvus.describeCollection({ collection_name: collection });
      pchannel = described.physical_channel_names[0]!;
      const rows = Array.from({ length: 200 }, (_, i) => ({ id: String(i), vec: [i, 1, 2, 3] }));
      await milvus.insert({ collection_name: collection, data: rows });
      const reader = new PulsarSourceReader({ serviceUrl: env.pulsarUrl, channel: pchannel });
      try {
        // From just before the create: other suites' collections may share the pchannel, so read until the insert.
        await reader.open({ kind: 'timestamp', unixMs: startMs });
        const deadline = Date.now() + 30_000;
        while ((got.length < 20 || !got.some(isInsert)) && Date.now() < deadline)
          got.push(...(await reader.read(10, 500)));
      } finally {
        await reader.close();
      }
    } finally {
      await milvus.dropCollection({ collection_name: collection });
      await milvus.closeConnection();
    }
    expect(got.length).toBeGreaterThanOrEqual(20);
    // Milvus 2.3.5 writes each message as a batch of one: the ids carry batch index 0 (and batch size 1).
    const ids = got.map((r) => decodePulsarMessageId(r.msgId));
    expect(ids.every((id) => id.batchIndex === 0)).toBe(true);
    expect(got.some(isInsert)).toBe(true); // the insert, decompressed
    for (const r of got) {
      expect(r.channel).toBe(pchannel);
      expect(r.value[0]).toBe(0x0a); // field 1, MsgBase
    }
    // Resuming after any of them continues exactly at the next one.
    for (const k of [0, 7, 18]) {
      const again = new PulsarSourceReader({ serviceUrl: env.pulsarUrl, channel: pchannel });
      try {
        await again.open({ kind: 'after', msgId: got[k]!.msgId });
        const next = await readUntil(again, 1, 20_000, 1);
        expect(Buffer.from(next[0]!.msgId), `after record ${k}`).toEqual(
          Buffer.from(got[k + 1]!.msgId),
        );
      } finally {
        await again.close();
      }
    }
  });

  it('rejects a malformed message id with INVALID_ARGUMENT and never hands it to the native client', async () => {
    const reader = new PulsarSourceReader({
      serviceUrl: env.pulsarUrl,
      channel: 'cdc-test-malformed',
    });
    await expect(
      reader.open({ kind: 'after', msgId: new Uint8Array([0x08, 0xff]) }),
    ).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await reader.close();
  });

  it('reports an unreachable broker as retryable SOURCE_UNAVAILABLE', async () => {
    const reader = new PulsarSourceReader({
      serviceUrl: 'pulsar://127.0.0.1:1',
      channel: 'cdc-test-unreachable',
      operationTimeoutSeconds: 2,
    });
    const t0 = Date.now();
    await expect(reader.open({ kind: 'earliest' })).rejects.toMatchObject({
      code: 'SOURCE_UNAVAILABLE',
      retryable: true,
    });
    expect(Date.now() - t0).toBeLessThan(15_000);
    await reader.close();
  });

  it('rejects a second open, and reads nothing after close', async () => {
    const fx = await pulsarFixture();
    try {
      await fx.produce(['x']);
      const reader = fx.newReader();
      await reader.open({ kind: 'earliest' });
      await expect(reader.open({ kind: 'latest' })).rejects.toMatchObject({ code: 'INTERNAL' });
      expect((await readUntil(reader, 1)).length).toBe(1);
      await reader.close();
      expect(await reader.read(5, 50)).toEqual([]);
    } finally {
      await fx.dispose();
    }
  });
});
