/**
 * Quarantine end to end: a real worker reads 150 malformed records from a real Kafka channel and quarantines them
 * through the real control service (batched reports) into the real etcd, with a cap of 100 per task. At the cap the
 * task pauses with "quarantine full" and holds exactly 100 entries; after the control restarts with a higher cap and
 * the task resumes, the worker replays the channel from the start (no checkpoint passed the refused records): the
 * 100 stored ones are not stored again and the 50 refused ones are not lost, exactly 150 entries in all.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { Queue } from 'bullmq';
import { Etcd3 } from 'etcd3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { malformed } from '../fault/inject.js';
import { CdcTestClient, waitForControl } from '../helpers/cdc-client.js';
import { connectKafka } from '../helpers/kafka.js';
import { freePort, startNodeProcess, waitUntil } from '../helpers/processes.js';
import type { RunningProcess } from '../helpers/processes.js';
import { kafkaSourceSpec, stackEnv } from '../helpers/stack.js';

const env = stackEnv();
const id = randomUUID().slice(0, 8);
const prefix = `qe2e${id}`;
const topic = `${prefix}-rootcoord-dml_0`;
const root = `cdc-qe2e-${id}/`;
const queuePrefix = `cdc-qe2e-${id}`;
const taskId = `qe2e-${id}`;
const secret = randomBytes(32).toString('base64');
const RECORDS = 150;
const kafka = connectKafka(env.kafkaBrokers);
let port = 0;
let control: RunningProcess | undefined;
let worker: RunningProcess | undefined;
let client: CdcTestClient;

function startControl(maxEntries: number): RunningProcess {
  return startNodeProcess('qe2e-control', 'services/control/dist/main.js', {
    CONTROL_GRPC_ADDRESS: `127.0.0.1:${port}`,
    CONTROL_ETCD_ENDPOINTS: env.etcdEndpoints.join(','),
    CONTROL_ETCD_ROOT: root,
    CONTROL_QUEUE_PREFIX: queuePrefix,
    CONTROL_REDIS_URL: env.redisUrl,
    CONTROL_SECRET_KEY: secret,
    CONTROL_METRICS_PORT: '0',
    CONTROL_RECONCILE_INTERVAL_MS: '500',
    CONTROL_ASSUMED_DML_CHANNELS: '1',
    CONTROL_QUARANTINE_MAX_ENTRIES: String(maxEntries),
    LOG_LEVEL: 'info',
  });
}

async function quarantined(): Promise<{ quarantine_id: string; position: { msg_id: Buffer } }[]> {
  const out: { quarantine_id: string; position: { msg_id: Buffer } }[] = [];
  let token = '';
  for (let page = 0; page < 100; page++) {
    const res = await client.call<{
      records?: { quarantine_id: string; position: { msg_id: Buffer } }[];
      next_page_token?: string;
    }>('ListQuarantine', { task_id: taskId, page_size: 500, page_token: token });
    out.push(...(res.records ?? []));
    token = res.next_page_token ?? '';
    if (token === '') break;
  }
  return out;
}

const task = () => client.call<{ state: string; reason: string }>('GetTask', { task_id: taskId });

beforeAll(async () => {
  const producer = kafka.producer();
  await producer.connect();
  await producer.send({
    topic,
    messages: Array.from({ length: RECORDS }, (_, i) => ({ value: malformed(i) })),
  });
  await producer.disconnect();
  port = await freePort();
  control = startControl(100);
  client = new CdcTestClient(`127.0.0.1:${port}`);
  await waitForControl(client);
  worker = startNodeProcess('qe2e-worker', 'services/worker/dist/main.js', {
    WORKER_ID: `qe2e-worker-${id}`,
    CONTROL_ADDRESS: `127.0.0.1:${port}`,
    REDIS_URL: env.redisUrl,
    QUEUE_PREFIX: queuePrefix,
    METRICS_PORT: '0',
    LOG_LEVEL: 'info',
  });
});

afterAll(async () => {
  await client.call('DeleteTask', { task_id: taskId }).catch(() => undefined);
  await worker?.stop();
  await control?.stop();
  client.close();
  const etcd = new Etcd3({ hosts: env.etcdEndpoints.map((h) => `http://${h}`) });
  await etcd.delete().prefix(root);
  etcd.close();
  const url = new URL(env.redisUrl);
  const queue = new Queue('cdc-leases', {
    prefix: queuePrefix,
    connection: { host: url.hostname, port: Number(url.port || 6379) },
  });
  await queue.obliterate({ force: true }).catch(() => undefined);
  await queue.close();
  const admin = kafka.admin();
  await admin.connect();
  await admin.deleteTopics({ topics: [topic] }).catch(() => undefined);
  await admin.disconnect();
});

describe('quarantine end to end (worker, control, Kafka, etcd)', () => {
  it('pauses the task at the cap, then after a resume stores every record exactly once', async () => {
    await client.call('CreateTask', {
      task_id: taskId,
      spec: {
        source: kafkaSourceSpec(env, prefix),
        target: { uri: env.targetMilvusAddress },
        scope: { include: [{ database: `qe2e_${id}`, collection: '*' }] },
        start: { kind: 'START_KIND_EARLIEST' },
      },
    });
    await waitUntil(
      'the task paused with "quarantine full"',
      async () => (await task()).state === 'TASK_STATE_PAUSED',
      120_000,
      500,
    );
    expect((await task()).reason).toMatch(/^quarantine full: 100 messages/);
    expect(await quarantined()).toHaveLength(100);

    // A higher cap (restart), then resume: the channel replays from the start.
    await control?.stop();
    control = startControl(1_000);
    await waitForControl(client);
    await client.call('ResumeTask', { task_id: taskId });
    await waitUntil(
      `${RECORDS} records quarantined`,
      async () => (await quarantined()).length >= RECORDS,
      120_000,
      1_000,
    );
    // Replayed records are not stored again (the first 100 were read twice).
    await new Promise((r) => setTimeout(r, 3_000));
    const records = await quarantined();
    expect(records).toHaveLength(RECORDS);
    const offsets = records.map((r) => Buffer.from(r.position.msg_id).readBigUInt64LE());
    expect(new Set(offsets).size).toBe(RECORDS);
    expect((await task()).state).toBe('TASK_STATE_RUNNING');
  }, 300_000);
});
