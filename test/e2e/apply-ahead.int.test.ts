/**
 * Changes at the head of a channel are written before the time tick that closes them (WORKER_APPLY_AHEAD_OF_TICKS),
 * on the real stack: a real worker reading Kafka and writing the target Milvus. The order must stay Milvus's: a change
 * read later but stamped earlier (several proxies racing on one channel), or an upsert's Delete read after its
 * Insert, must leave each key as the sorted pack would.
 *
 * A real source writes such crossings only when proxies race, so they are crafted from the collection's own records
 * into a topic of the task's own channel prefix that no Milvus consumes (as hostile-records does), after a copy of what
 * the source wrote for the collection. Each crossing first waits until the target shows the change that went ahead,
 * which also proves it went before its tick: no tick follows it until the end.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { composeTs, decodeMessage, encodeMessage } from '@cdc/shared';
import type { DeleteMessage, InsertMessage, TimeTickMessage } from '@cdc/shared';
import { connectKafka, readTopicRange, topicHighWatermarks } from '../helpers/kafka.js';
import type { CapturedRecord } from '../helpers/kafka.js';
import { allRows, compareCollection, countRows, isConverged } from '../helpers/milvus-compare.js';
import { waitUntil } from '../helpers/processes.js';
import { E2eHarness, env } from './harness.js';
import {
  createIdVecCollection,
  indexAndLoad,
  createOwnChannelTask,
  ownChannel,
  sourceOpsTopic,
} from './own-channel.js';

const h = new E2eHarness();

beforeAll(async () => {
  await h.startControl();
  await h.startWorker('worker-ahead');
}, 60_000);

afterAll(async () => {
  await h.cleanup();
}, 60_000);

const decode = (r: CapturedRecord) => decodeMessage(Buffer.from(r.value, 'base64'));

describe('changes applied ahead of their tick', () => {
  it('leave every key as the pack order would when later-read changes come earlier in it', async () => {
    const client = h.client!;
    const db = `${h.prefix}_db`;
    const coll = { db_name: db, collection_name: 'ahead' };
    const ref = { db, collection: 'ahead' };
    const channelPrefix = `ahead${h.id}`;
    const taskId = `ahead-${h.id}`;
    const kafka = connectKafka(env.kafkaBrokers);
    await createOwnChannelTask(h, taskId, channelPrefix, coll);

    // The collection as the source writes it: ids 0..9, then 9 deleted (a real Delete to craft from).
    const marks0 = await topicHighWatermarks(kafka, env.sourceChannelPrefix);
    await h.source.createDatabase({ db_name: db });
    await createIdVecCollection(h.source, coll, 1);
    const info = await h.source.describeCollection(coll);
    const pchannel = info.physical_channel_names[0]!;
    await h.source.insert({
      ...coll,
      data: Array.from({ length: 10 }, (_, i) => ({ id: String(i), vec: [i, 1, 2, 3] })),
    });
    await h.source.delete({ ...coll, filter: 'id in [9]' });
    await indexAndLoad(h.source, coll);
    await new Promise((r) => setTimeout(r, 1_500)); // the ticks after the delete
    const copied = await readTopicRange(
      kafka,
      pchannel,
      marks0.get(pchannel) ?? 0n,
      (await topicHighWatermarks(kafka, pchannel)).get(pchannel)!,
    );
    const ops = await readTopicRange(
      kafka,
      sourceOpsTopic,
      marks0.get(sourceOpsTopic) ?? 0n,
      (await topicHighWatermarks(kafka, sourceOpsTopic)).get(sourceOpsTopic)!,
    );
    const messages = copied.map(decode);
    const ours = (m: { collectionId?: bigint }) => m.collectionId === BigInt(info.collectionID);
    const insert = messages.find((m): m is InsertMessage => m.type === 'Insert' && ours(m));
    const del = messages.find((m): m is DeleteMessage => m.type === 'Delete' && ours(m));
    const tick = messages.filter((m): m is TimeTickMessage => m.type === 'TimeTick').at(-1);
    if (insert === undefined || del === undefined || tick === undefined)
      throw new Error('no insert, delete or tick of the collection in the copied range');

    const channel = ownChannel(pchannel, channelPrefix);
    const producer = kafka.producer();
    await producer.connect();
    const send = (...values: Uint8Array[]) =>
      producer.send({ topic: channel, messages: values.map((v) => ({ value: Buffer.from(v) })) });
    await send(...copied.map((r) => Buffer.from(r.value, 'base64')));
    await producer.send({
      topic: `${channelPrefix}-replicate-msg`,
      messages: ops.map((r) => ({ value: Buffer.from(r.value, 'base64') })),
    });
    await waitUntil(
      'the copy on the target',
      async () => {
        const diff = await compareCollection(h.source, h.target, ref).catch(() => undefined);
        return diff !== undefined && isConverged(diff);
      },
      120_000,
      1_000,
    );

    const insertOf = (id: bigint, ts: bigint, vec: number[]): Uint8Array =>
      encodeMessage({
        ...insert,
        base: { ...insert.base, timestamp: ts },
        timestamps: [ts],
        rowIds: [id],
        numRows: 1n,
        fields: insert.fields.map((f) => ({
          ...f,
          values:
            f.values.kind === 'long'
              ? { kind: 'long', data: [id] }
              : f.values.kind === 'floatVector'
                ? { ...f.values, data: vec }
                : f.values,
        })),
      });
    const deleteOf = (id: bigint, ts: bigint): Uint8Array =>
      encodeMessage({
        ...del,
        base: { ...del.base, timestamp: ts },
        timestamps: [ts],
        numRows: 1n,
        primaryKeys: { type: 'Int64', values: [id] },
      });
    const target = async (): Promise<Map<string, string>> => allRows(h.target, ref);
    const shows = (what: string, check: (rows: Map<string, string>) => boolean) =>
      waitUntil(
        `the target ${what} before any tick`,
        async () => check(await target()),
        20_000,
        200,
      );

    const t = composeTs(Date.now());
    // 1. Insert(100) at t+2 goes ahead; then a Delete(100) stamped t+1 (earlier) is read: the row stays.
    await send(insertOf(100n, t + 2n, [100, 1, 2, 3]));
    await shows('has 100', (rows) => rows.has('100'));
    await send(deleteOf(100n, t + 1n));
    // 2. Delete(5) at t+4 goes ahead; then an Insert(5) stamped t+3 (earlier) is read: the row stays deleted.
    await send(deleteOf(5n, t + 4n));
    await shows('lost 5', (rows) => !rows.has('5'));
    await send(insertOf(5n, t + 3n, [5, 5, 5, 5]));
    // 3. An upsert of 6 (Insert, then Delete with the same stamp) read in two parts: the new row stays.
    await send(insertOf(6n, t + 5n, [6, 6, 6, 6]));
    await shows('has the new 6', (rows) => rows.get('6')?.includes('6,6,6,6') === true);
    await send(deleteOf(6n, t + 5n));
    await new Promise((r) => setTimeout(r, 2_000)); // the later-read changes are read and handled
    await send(encodeMessage({ ...tick, base: { ...tick.base, timestamp: t + 10n } }));
    await producer.disconnect();

    const checkpointTs = async (): Promise<bigint> => {
      const res = await client.call<{
        channels?: { channel: string; position?: { timestamp?: string } }[];
      }>('GetTaskPositions', { task_id: taskId });
      return BigInt(res.channels?.find((c) => c.channel === channel)?.position?.timestamp ?? '0');
    };
    await waitUntil(
      'the checkpoint at the last tick',
      async () => (await checkpointTs()) >= t + 10n,
      30_000,
      500,
    );

    const rows = await target();
    expect([...rows.keys()].sort((a, b) => Number(a) - Number(b))).toEqual([
      '0',
      '1',
      '2',
      '3',
      '4',
      '6',
      '7',
      '8',
      '100',
    ]);
    expect(rows.get('6')).toContain('6,6,6,6');
    expect(await countRows(h.target, ref)).toBe(9); // count(*) would show a doubled 6
    await client.call('DeleteTask', { task_id: taskId });
  }, 300_000);
});
