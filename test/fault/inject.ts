/**
 * Poison-record scenario: a task on a separate channel prefix whose topics no Milvus consumes (so the injected bytes
 * cannot harm the source's own consumers). Real records of a real source collection are copied into it between
 * 10,000 malformed ones; the worker must quarantine every malformed record and replicate the good rows.
 */
import { randomBytes } from 'node:crypto';
import { DataType } from '@zilliz/milvus2-sdk-node';
import type { MilvusClient } from '@zilliz/milvus2-sdk-node';
import type { CdcTestClient } from '../helpers/cdc-client.js';
import { connectKafka, readTopicRange, topicHighWatermarks } from '../helpers/kafka.js';
import { compareCollection, isConverged, milvusClient } from '../helpers/milvus-compare.js';
import { waitUntil } from '../helpers/processes.js';
import type { StackEnv } from '../helpers/stack.js';
import { kafkaSourceSpec } from '../helpers/stack.js';

export interface InjectOptions {
  readonly client: CdcTestClient;
  readonly source: MilvusClient;
  readonly env: StackEnv;
  readonly db: string;
  readonly count: number;
  readonly taskSuffix: string;
  readonly secret: string;
}

export interface InjectResult {
  quarantined: number;
  listedFirstPage: number;
  goodRowsWritten: number;
  goodRowsOnTarget: number;
  elapsedMs: number;
}

/** Bytes that start like a msgstream payload (MsgBase, field 1) but declare more bytes than follow. */
export function malformed(i: number): Buffer {
  const tail = randomBytes(1 + (i % 64));
  return i % 2 === 0
    ? Buffer.concat([Buffer.from([0x0a, 0xff, 0xff, 0xff, 0x0f]), tail])
    : Buffer.concat([Buffer.from([0x0a, 0x03, 0x08, 0x90, 0x03, 0x6a, 0xff, 0xff, 0x7f]), tail]); // Insert, field 13 cut
}

async function quarantineCount(client: CdcTestClient, taskId: string): Promise<number> {
  let total = 0;
  let token = '';
  for (let page = 0; page < 1_000; page++) {
    const res = await client.call<{ records?: unknown[]; next_page_token?: string }>(
      'ListQuarantine',
      {
        task_id: taskId,
        page_size: 500,
        page_token: token,
      },
    );
    total += res.records?.length ?? 0;
    token = res.next_page_token ?? '';
    if (token === '') break;
  }
  return total;
}

export async function injectMalformed(o: InjectOptions): Promise<InjectResult> {
  const started = Date.now();
  const db = `${o.db}_p`;
  const prefix = `poison${o.taskSuffix}`;
  const taskId = `poison-${o.taskSuffix}`;
  const kafka = connectKafka(o.env.kafkaBrokers);
  await o.client.call('CreateTask', {
    task_id: taskId,
    spec: {
      source: kafkaSourceSpec(o.env, prefix),
      target: { uri: o.env.targetMilvusAddress },
      scope: { include: [{ database: db, collection: 'good' }] },
      start: { kind: 'START_KIND_EARLIEST' },
    },
  });

  // A real collection on the source; its records are what the poisoned channel carries besides the garbage.
  await o.source.createDatabase({ db_name: db });
  await o.source.createCollection({
    db_name: db,
    collection_name: 'good',
    shards_num: 1,
    fields: [
      { name: 'id', data_type: DataType.Int64, is_primary_key: true },
      { name: 'vec', data_type: DataType.FloatVector, dim: 4 },
    ],
  });
  const info = await o.source.describeCollection({ db_name: db, collection_name: 'good' });
  const pchannel = info.physical_channel_names[0]!;
  const before = (await topicHighWatermarks(kafka, pchannel)).get(pchannel) ?? 0n;
  // Index and load travel on the replicate channel: copy those records too.
  const opsTopic = `${o.env.sourceChannelPrefix}-replicate-msg`;
  const opsBefore = (await topicHighWatermarks(kafka, opsTopic)).get(opsTopic) ?? 0n;
  const goodRows = 500;
  await o.source.insert({
    db_name: db,
    collection_name: 'good',
    data: Array.from({ length: goodRows }, (_, i) => ({ id: String(i), vec: [i, 0, 0, 1] })),
  });
  await o.source.createIndex({
    db_name: db,
    collection_name: 'good',
    field_name: 'vec',
    index_type: 'FLAT',
    metric_type: 'L2',
  });
  await o.source.loadCollectionSync({ db_name: db, collection_name: 'good' });
  await new Promise((r) => setTimeout(r, 1_500)); // let time ticks follow the insert
  const after = (await topicHighWatermarks(kafka, pchannel)).get(pchannel) ?? 0n;
  const real = await readTopicRange(kafka, pchannel, before === 0n ? 0n : before - 1n, after);
  const opsAfter = (await topicHighWatermarks(kafka, opsTopic)).get(opsTopic) ?? 0n;
  const ops = await readTopicRange(kafka, opsTopic, opsBefore, opsAfter);
  // The CreateCollection record precedes `before`; find it by scanning back a little if needed.
  const head = await readTopicRange(kafka, pchannel, before > 50n ? before - 50n : 0n, before);

  const poisoned = pchannel.replace(/^.*-rootcoord-dml_/, `${prefix}-rootcoord-dml_`);
  const producer = kafka.producer();
  await producer.connect();
  const send = async (values: Buffer[]): Promise<void> => {
    for (let i = 0; i < values.length; i += 500) {
      await producer.send({
        topic: poisoned,
        messages: values.slice(i, i + 500).map((value) => ({ value })),
      });
    }
  };
  const half = Math.floor(o.count / 2);
  await send(Array.from({ length: half }, (_, i) => malformed(i)));
  await send([...head, ...real].map((r) => Buffer.from(r.value, 'base64')));
  await send(Array.from({ length: o.count - half }, (_, i) => malformed(half + i)));
  await producer.send({
    topic: `${prefix}-replicate-msg`,
    messages: ops.map((r) => ({ value: Buffer.from(r.value, 'base64') })),
  });
  await producer.disconnect();

  const target = milvusClient(o.env.targetMilvusAddress);
  let quarantined = 0;
  let goodRowsOnTarget = 0;
  try {
    await waitUntil(
      'malformed records quarantined and good rows replicated',
      async () => {
        quarantined = await quarantineCount(o.client, taskId);
        const diff = await compareCollection(o.source, target, { db, collection: 'good' }).catch(
          () => undefined,
        );
        goodRowsOnTarget = diff?.targetRows ?? 0;
        return quarantined >= o.count && diff !== undefined && isConverged(diff);
      },
      480_000,
      3_000,
    );
  } catch (err) {
    console.error(
      `poison scenario: ${String(err)}; quarantined ${quarantined}, good rows ${goodRowsOnTarget}`,
    );
  }
  const firstPage = await o.client.call<{ records?: { reason?: string }[] }>('ListQuarantine', {
    task_id: taskId,
    page_size: 5,
  });
  await o.client.call('DeleteTask', { task_id: taskId });
  for (const c of [o.source, target]) {
    await c.dropCollection({ db_name: db, collection_name: 'good' }).catch(() => undefined);
    await c.dropDatabase({ db_name: db }).catch(() => undefined);
  }
  await target.closeConnection();
  return {
    quarantined,
    listedFirstPage: firstPage.records?.length ?? 0,
    goodRowsWritten: goodRows,
    goodRowsOnTarget,
    elapsedMs: Date.now() - started,
  };
}
