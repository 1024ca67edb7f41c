/**
 * Hostile records on a running task's channel (issue 13, part 2): a ~111-byte Insert declaring num_rows = 1e8, a
 * ~60 KB zstd record batch that expands to ~1.9 GB, and an Insert timestamped beyond every later tick, between
 * real Milvus records of good rows written with the SDK. The worker runs with a 1 GiB heap; it must stay up, stay
 * under its memory budget, keep checkpointing, replicate the good rows exactly and list each bad record in
 * ListQuarantine with its reason.
 *
 * The bad records go into a topic of the task's own channel prefix that no Milvus consumes (as the fault suite's
 * poison scenario does): the source Milvus' own consumers share the real topics and would crash on them. The good
 * records are the source's real records, copied from its pchannel, so the channel carries exactly what Milvus wrote.
 */
import { readFileSync } from 'node:fs';
import { compress, isLoaded } from '@foxglove/wasm-zstd';
import kafkajs from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeMessage, encodeMessage, composeTs } from '@cdc/shared';
import type { InsertMessage } from '@cdc/shared';
import { zstdCodec } from '../../services/worker/src/adapters/kafka-zstd-codec.js';
import { connectKafka, readTopicRange, topicHighWatermarks } from '../helpers/kafka.js';
import type { CapturedRecord } from '../helpers/kafka.js';
import { compareCollection, countRows, isConverged } from '../helpers/milvus-compare.js';
import { waitUntil } from '../helpers/processes.js';
import type { RunningProcess } from '../helpers/processes.js';
import { E2eHarness, env } from './harness.js';
import {
  createIdVecCollection,
  indexAndLoad,
  createOwnChannelTask,
  ownChannel,
  sourceOpsTopic,
} from './own-channel.js';

const { CompressionCodecs, CompressionTypes } = kafkajs;
const HEAP_LIMIT_MIB = 1024;
/** The worker's budget on this run: its heap limit plus the documented off-heap share (README "Memory budget"). */
const RSS_BUDGET_MIB = HEAP_LIMIT_MIB + 256;

const h = new E2eHarness();
let worker: RunningProcess;
let peakRssKib = 0;
let sampler: NodeJS.Timeout | undefined;

/** Producing zstd batches: real compression, or exactly the frame the next send must carry. */
let nextFrame: Buffer | undefined;
function useTestZstdCodec(): void {
  CompressionCodecs[CompressionTypes.ZSTD] = () => ({
    compress: (encoder: { buffer: Buffer }) => {
      const frame = nextFrame ?? Buffer.from(compress(encoder.buffer));
      nextFrame = undefined;
      return Promise.resolve(frame);
    },
    decompress: (b: Buffer) => zstdCodec().decompress(b),
  });
}

function varint(n: number): number[] {
  const out: number[] = [];
  let v = n;
  while (v >= 0x80) {
    out.push((v % 0x80) | 0x80);
    v = Math.floor(v / 0x80);
  }
  out.push(v);
  return out;
}

/**
 * A zstd frame (no content size) holding one Kafka record whose value is `rleBlocks` × 128 KiB of zeros: raw
 * blocks for the record's framing, RLE blocks for the value. 14,500 blocks: ~58 KB that expand to ~1.9 GB.
 */
function bombFrame(rleBlocks: number): Buffer {
  const valueBytes = rleBlocks * 128 * 1024;
  const zz = (n: number) => varint(n * 2); // zigzag of a non-negative int
  const body = [0, ...zz(0), ...zz(0), 1 /* null key */, ...zz(valueBytes)];
  const recordLength = body.length + valueBytes + 1;
  const head = Buffer.from([...zz(recordLength), ...body]);
  const blocks: Buffer[] = [Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0x00, 13 << 3])];
  const block = (last: number, type: number, size: number, data: Buffer) => {
    const h3 = Buffer.alloc(3);
    h3.writeUIntLE(last | (type << 1) | (size << 3), 0, 3);
    blocks.push(h3, data);
  };
  block(0, 0, head.length, head);
  for (let i = 0; i < rleBlocks; i++) block(0, 1, 128 * 1024, Buffer.from([0]));
  block(1, 0, 1, Buffer.from([0])); // no record headers
  return Buffer.concat(blocks);
}

function sampleRss(pid: number): void {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    if (m?.[1] !== undefined) peakRssKib = Math.max(peakRssKib, Number(m[1]));
  } catch {
    // the process is gone: the exit check below reports it
  }
}

const decode = (r: CapturedRecord) => decodeMessage(Buffer.from(r.value, 'base64'));

beforeAll(async () => {
  await isLoaded;
  await h.startControl();
  worker = await h.startWorker('worker-hostile', {
    NODE_OPTIONS: `--max-old-space-size=${HEAP_LIMIT_MIB}`,
  });
  sampler = setInterval(() => {
    sampleRss(worker.child.pid ?? 0);
  }, 200);
}, 60_000);

afterAll(async () => {
  clearInterval(sampler);
  await h.cleanup();
}, 60_000);

describe('hostile records on a running channel', () => {
  it('quarantines each bad record with its reason; the worker stays up and in budget; good rows arrive', async () => {
    const client = h.client!;
    const db = `${h.prefix}_db`;
    const coll = { db_name: db, collection_name: 'hostile' };
    const channelPrefix = `hostile${h.id}`;
    const taskId = `hostile-${h.id}`;
    const kafka = connectKafka(env.kafkaBrokers);
    useTestZstdCodec();
    await createOwnChannelTask(h, taskId, channelPrefix, coll);

    // Good rows through the SDK; their real records are copied from the source pchannel.
    const marks0 = await topicHighWatermarks(kafka, env.sourceChannelPrefix);
    await h.source.createDatabase({ db_name: db });
    await createIdVecCollection(h.source, coll, 1);
    const info = await h.source.describeCollection(coll);
    const pchannel = info.physical_channel_names[0]!;
    const rows = (from: number) =>
      Array.from({ length: 200 }, (_, i) => ({ id: String(from + i), vec: [from + i, 1, 2, 3] }));
    await h.source.insert({ ...coll, data: rows(0) });
    await indexAndLoad(h.source, coll);
    await new Promise((r) => setTimeout(r, 1_500));
    const mid = (await topicHighWatermarks(kafka, pchannel)).get(pchannel)!;
    await h.source.insert({ ...coll, data: rows(200) });
    await new Promise((r) => setTimeout(r, 4_000)); // ticks after the bad records: more than the carry bound
    const end = (await topicHighWatermarks(kafka, pchannel)).get(pchannel)!;
    const first = await readTopicRange(kafka, pchannel, marks0.get(pchannel) ?? 0n, mid);
    const second = await readTopicRange(kafka, pchannel, mid, end);
    const ops = await readTopicRange(
      kafka,
      sourceOpsTopic,
      marks0.get(sourceOpsTopic) ?? 0n,
      (await topicHighWatermarks(kafka, sourceOpsTopic)).get(sourceOpsTopic)!,
    );

    // The bad records, framed as Milvus writes them: built from a real Insert of the collection.
    const real = first
      .map(decode)
      .find(
        (m): m is InsertMessage =>
          m.type === 'Insert' && m.collectionId === BigInt(info.collectionID),
      );
    if (real === undefined) throw new Error('no insert of the collection in the copied range');
    const lastTick = first
      .map(decode)
      .filter((m) => m.type === 'TimeTick')
      .at(-1)!.base.timestamp;
    const oneRow = (id: bigint, ts: bigint, numRows: bigint): Buffer =>
      Buffer.from(
        encodeMessage({
          ...real,
          timestamps: [ts],
          rowIds: [id],
          numRows,
          fields: real.fields.map((f) => ({
            ...f,
            values:
              f.values.kind === 'long'
                ? { kind: 'long', data: [id] }
                : f.values.kind === 'floatVector'
                  ? { ...f.values, data: [1, 1, 1, 1] }
                  : f.values,
          })),
        }),
      );
    const hugeRows = oneRow(900_001n, lastTick + 1n, 100_000_000n);
    const future = oneRow(900_002n, composeTs(Date.now() + 365 * 86_400_000), 1n);
    const bomb = bombFrame(14_500);
    expect(hugeRows.length).toBeLessThan(256); // ~200 bytes declaring 1e8 rows
    expect(bomb.length).toBeLessThan(61_000);

    const poisoned = ownChannel(pchannel, channelPrefix);
    const producer = kafka.producer();
    await producer.connect();
    const send = (values: Buffer[], compression = CompressionTypes.None) =>
      producer.send({ topic: poisoned, compression, messages: values.map((value) => ({ value })) });
    const values = (rs: CapturedRecord[]) => rs.map((r) => Buffer.from(r.value, 'base64'));
    await send(values(first), CompressionTypes.ZSTD);
    const badFrom = (await topicHighWatermarks(kafka, poisoned)).get(poisoned)!;
    await send([hugeRows]);
    nextFrame = bomb;
    await send([Buffer.from('replaced by the bomb frame')], CompressionTypes.ZSTD);
    await send([future]);
    const badTo = (await topicHighWatermarks(kafka, poisoned)).get(poisoned)!;
    await send(values(second), CompressionTypes.ZSTD);
    await producer.send({
      topic: `${channelPrefix}-replicate-msg`,
      messages: values(ops).map((value) => ({ value })),
    });
    await producer.disconnect();
    expect(badTo - badFrom).toBe(3n);

    const checkpointOffset = async (): Promise<bigint> => {
      const res = await client.call<{
        channels?: { channel: string; position?: { msg_id?: Buffer } }[];
      }>('GetTaskPositions', { task_id: taskId });
      const id = res.channels?.find((c) => c.channel === poisoned)?.position?.msg_id;
      return id === undefined || id.length !== 8 ? -1n : Buffer.from(id).readBigInt64LE(0);
    };
    type Listed = { reason?: string; position?: { msg_id?: Buffer } };
    let listed: Listed[] = [];
    await waitUntil(
      'three quarantined records, the good rows on the target and the checkpoint past the bad records',
      async () => {
        if (worker.child.exitCode !== null || worker.child.signalCode !== null) return true;
        listed =
          (await client.call<{ records?: Listed[] }>('ListQuarantine', { task_id: taskId }))
            .records ?? [];
        const diff = await compareCollection(h.source, h.target, {
          db,
          collection: 'hostile',
        }).catch(() => undefined);
        return (
          listed.length >= 3 &&
          diff !== undefined &&
          isConverged(diff) &&
          (await checkpointOffset()) >= badTo
        );
      },
      240_000,
      2_000,
    );
    sampleRss(worker.child.pid ?? 0);
    console.log(`hostile records: worker peak RSS ${(peakRssKib / 1024).toFixed(0)} MiB`);
    for (const r of listed) console.log(`quarantined: ${r.reason ?? ''}`);

    expect(worker.child.exitCode).toBeNull();
    expect(worker.child.signalCode).toBeNull();
    expect(peakRssKib / 1024).toBeLessThan(RSS_BUDGET_MIB);
    const reasons = listed.map((r) => r.reason ?? '');
    expect(reasons).toHaveLength(3);
    expect(
      reasons.find((r) => r.includes('num_rows 100000000 differs from the 1 row timestamps')),
    ).toBeDefined();
    expect(
      reasons.find((r) =>
        /refused: its zstd blocks state at least 1900\d+ decompressed bytes/.test(r),
      ),
    ).toBeDefined();
    expect(reasons.find((r) => r.includes("Insert breaks the channel's tick order"))).toBeDefined();
    const positions = listed
      .map((r) => Buffer.from(r.position?.msg_id ?? Buffer.alloc(8)).readBigInt64LE(0))
      .sort((a, b) => (a < b ? -1 : 1));
    expect(positions).toEqual([badFrom, badFrom + 1n, badFrom + 2n]);
    expect(await checkpointOffset()).toBeGreaterThanOrEqual(badTo);
    const ref = { db, collection: 'hostile' };
    expect(await countRows(h.target, ref)).toBe(400);
    expect(await countRows(h.source, ref)).toBe(400);
    await client.call('DeleteTask', { task_id: taskId });
  }, 420_000);
});
