import { createServer } from 'node:net';
import { Queue } from 'bullmq';
import { Etcd3 } from 'etcd3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  clients,
  ETCD,
  REDIS_URL,
  SECRET_KEY,
  startControl,
  stopControl,
  uniq,
  waitFor,
  type Clients,
  type ControlProcess,
} from './control-harness.js';

/**
 * The control service's /metrics and /healthz, scraped over HTTP from a real control process on real etcd and
 * Redis, with no worker running (the test plays the worker through WorkerService calls). The task is the local
 * stack's example (Kafka 127.0.0.1:9092, target Milvus 127.0.0.1:19540), which create-time checks contact.
 */
const ROOT = `${uniq('ctlmetrics')}/`;
const QUEUE_PREFIX = uniq('bullmetrics');
const etcd = new Etcd3({ hosts: ETCD });
const ID = uniq('mt');
const DML0 = 'source-rootcoord-dml_0';
let metricsPort: number;
let control: ControlProcess;
let c: Clients;

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const address = server.address();
  await new Promise((r) => server.close(r));
  return typeof address === 'object' && address !== null ? address.port : 0;
}

const env = (port: number): Record<string, string> => ({
  CONTROL_ETCD_ENDPOINTS: ETCD,
  CONTROL_ETCD_ROOT: ROOT,
  CDC_REDIS_URL: REDIS_URL,
  CDC_QUEUE_PREFIX: QUEUE_PREFIX,
  CONTROL_SECRET_KEY: SECRET_KEY,
  CONTROL_RECONCILE_INTERVAL_MS: '300',
  CONTROL_ELECTION_TTL_S: '2',
  CONTROL_ASSUMED_DML_CHANNELS: '2',
  CONTROL_METRICS_HOST: '127.0.0.1',
  CONTROL_METRICS_PORT: String(port),
});

/** Parsed exposition: "name{labels}" → value. Label order is as prom-client prints it. */
async function scrape(): Promise<Map<string, number>> {
  const res = await fetch(`http://127.0.0.1:${metricsPort}/metrics`);
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
  const out = new Map<string, number>();
  for (const line of (await res.text()).split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const i = line.lastIndexOf(' ');
    out.set(line.slice(0, i), Number(line.slice(i + 1)));
  }
  return out;
}

/** Scrapes until `pick` returns a value (gauges refresh at most once a second). */
function eventually<T>(pick: (m: Map<string, number>) => T | undefined, what: string): Promise<T> {
  return waitFor(async () => pick(await scrape()), 15_000, what);
}

const spec = {
  source: {
    etcd: { endpoints: [ETCD], root_path: 'source' },
    mq: { type: 'MQ_TYPE_KAFKA', address: '127.0.0.1:9092' },
    channel_prefix: 'source',
  },
  target: { uri: 'http://127.0.0.1:19540' },
  scope: { include: [{ database: 'default', collection: '*' }] },
};

beforeAll(async () => {
  metricsPort = await freePort();
  control = await startControl(env(metricsPort));
  c = clients(control.port);
});

afterAll(async () => {
  c.close();
  await stopControl(control);
  const queue = new Queue('cdc-leases', {
    prefix: QUEUE_PREFIX,
    connection: { host: '127.0.0.1', port: 6379 },
  });
  await queue.obliterate({ force: true }).catch(() => undefined);
  await queue.close();
  await etcd.delete().prefix(ROOT);
  etcd.close();
});

describe('control /metrics', () => {
  it('serves /healthz, the leader flag and process metrics', async () => {
    const health = await fetch(`http://127.0.0.1:${metricsPort}/healthz`);
    expect(health.status).toBe(200);
    expect(await health.text()).toBe('ok\n');
    expect((await fetch(`http://127.0.0.1:${metricsPort}/nope`)).status).toBe(404);
    await eventually((m) => (m.get('cdc_control_leader') === 1 ? true : undefined), 'leader=1');
    const m = await scrape();
    expect(m.get('process_cpu_user_seconds_total')).toBeGreaterThan(0);
    expect(m.get('cdc_control_tasks{state="RUNNING"}')).toBe(0);
  });

  it('shows a created task by state, its channels and waiting lease jobs (no worker running)', async () => {
    const { task } = await c.cdc.CreateTask({ task_id: ID, spec });
    expect(task.state).toBe('TASK_STATE_RUNNING');
    const channels = task.channels.length as number;
    expect(channels).toBeGreaterThanOrEqual(3);
    const m = await eventually(
      (x) => ((x.get('cdc_control_lease_jobs{state="waiting"}') ?? 0) >= channels ? x : undefined),
      'a waiting lease job per channel',
    );
    expect(m.get('cdc_control_lease_jobs{state="waiting"}')).toBe(channels);
    expect(m.get('cdc_control_lease_jobs{state="active"}')).toBe(0);
    expect(m.get('cdc_control_tasks{state="RUNNING"}')).toBe(1);
    expect(m.get('cdc_control_tasks{state="PAUSED"}')).toBe(0);
    expect(m.get(`cdc_control_task_channels{task="${ID}"}`)).toBe(channels);
    // No worker serves the channel: its lag is the time since the task started, and rises.
    const lag = m.get(`cdc_control_channel_lag_seconds{task="${ID}",channel="${DML0}"}`) ?? -1;
    expect(lag).toBeGreaterThanOrEqual(0);
    expect(lag).toBeLessThan(60);
    expect(m.get(`cdc_control_quarantine_records{task="${ID}"}`)).toBe(0);
  });

  it('counts checkpoint reports, stale epochs and quarantine, and exports lag from checkpoints', async () => {
    const a = await c.worker.AcquireLease({ task_id: ID, channel: DML0, worker_id: 'wa' });
    await c.worker.ReleaseLease({ task_id: ID, channel: DML0, epoch: a.epoch, worker_id: 'wa' });
    const b = await c.worker.AcquireLease({ task_id: ID, channel: DML0, worker_id: 'wb' });
    const now = BigInt(Date.now()) << 18n;
    await c.worker.ReportCheckpoint({
      task_id: ID,
      channel: DML0,
      epoch: b.epoch,
      worker_id: 'wb',
      position: { msg_id: Buffer.alloc(8), timestamp: String(now - (40_000n << 18n)) },
      source_head_timestamp: String(now),
    });
    await expect(
      c.worker.ReportCheckpoint({ task_id: ID, channel: DML0, epoch: a.epoch, worker_id: 'wa' }),
    ).rejects.toMatchObject({ details: 'stale lease epoch' });
    await c.worker.ReportQuarantine({
      task_id: ID,
      channel: DML0,
      epoch: b.epoch,
      reason: 'poison',
      payload: Buffer.from('x'),
    });
    const m = await eventually(
      (x) => (x.get(`cdc_control_quarantine_records{task="${ID}"}`) === 1 ? x : undefined),
      'the stored quarantine record',
    );
    expect(m.get(`cdc_control_checkpoint_reports_total{task="${ID}"}`)).toBe(1);
    expect(m.get(`cdc_control_stale_epoch_rejections_total{task="${ID}"}`)).toBe(1);
    expect(m.get(`cdc_control_quarantine_reports_total{task="${ID}"}`)).toBe(1);
    const lag = m.get(`cdc_control_channel_lag_seconds{task="${ID}",channel="${DML0}"}`) ?? 0;
    expect(lag).toBeGreaterThanOrEqual(39);
    expect(lag).toBeLessThan(120);
    expect(m.get(`cdc_control_task_lag_seconds{task="${ID}"}`)).toBe(lag);
  });

  it('follows pause (waiting jobs removed) and delete (task series disappear)', async () => {
    await c.cdc.PauseTask({ task_id: ID, immediate: true });
    // The one lease taken above stops: the task is PAUSED once it let go.
    for (const ch of (await c.cdc.GetTaskPositions({ task_id: ID })).channels)
      if (ch.worker_id !== '')
        await c.worker
          .ReleaseLease({
            task_id: ID,
            channel: ch.channel,
            epoch: ch.epoch,
            worker_id: ch.worker_id,
          })
          .catch(() => undefined);
    const paused = await eventually(
      (x) => (x.get('cdc_control_lease_jobs{state="waiting"}') === 0 ? x : undefined),
      'waiting jobs removed',
    );
    expect(paused.get('cdc_control_tasks{state="PAUSED"}')).toBe(1);
    expect(paused.get('cdc_control_tasks{state="RUNNING"}')).toBe(0);
    await c.cdc.DeleteTask({ task_id: ID });
    const gone = await eventually(
      (x) =>
        x.get('cdc_control_tasks{state="PAUSED"}') === 0 &&
        x.get('cdc_control_tasks{state="DELETING"}') === 0
          ? x
          : undefined,
      'the task removed',
    );
    expect([...gone.keys()].filter((k) => k.includes(`task_channels{task="${ID}"`))).toEqual([]);
    expect([...gone.keys()].filter((k) => k.includes('channel_lag_seconds'))).toEqual([]);
  });

  it('keeps serving gRPC when the metrics port is taken (logged, not fatal)', async () => {
    const second = await startControl(env(metricsPort));
    try {
      await waitFor(
        () =>
          Promise.resolve(/metrics server not started/.test(second.output()) ? true : undefined),
        10_000,
        'the metrics port clash logged',
      );
      const c2 = clients(second.port);
      try {
        const health = await c2.health.Check({ service: '' });
        expect(health.status).toBe('SERVING');
      } finally {
        c2.close();
      }
    } finally {
      await stopControl(second);
    }
  });
});
