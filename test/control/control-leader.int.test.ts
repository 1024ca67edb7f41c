import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Queue } from 'bullmq';
import { Etcd3 } from 'etcd3';
import {
  clients,
  ETCD,
  REDIS_URL,
  SECRET_KEY,
  seedSourceMetadata,
  startControl,
  stopControl,
  tcpListener,
  uniq,
  waitFor,
  type ControlProcess,
} from './control-harness.js';

const etcd = new Etcd3({ hosts: ETCD });
const ROOT = `${uniq('ctlleader')}/`;
const SOURCE_ROOT = uniq('srcl');
const QUEUE_PREFIX = uniq('bullleader');
const procs: ControlProcess[] = [];
let target: Awaited<ReturnType<typeof tcpListener>>;
let queue: Queue;

const env = (id: string): Record<string, string> => ({
  CONTROL_ETCD_ENDPOINTS: ETCD,
  CONTROL_ETCD_ROOT: ROOT,
  CDC_REDIS_URL: REDIS_URL,
  CDC_QUEUE_PREFIX: QUEUE_PREFIX,
  CONTROL_SECRET_KEY: SECRET_KEY,
  CONTROL_RECONCILE_INTERVAL_MS: '500',
  CONTROL_ELECTION_TTL_S: '3',
  CONTROL_INSTANCE_ID: id,
});

const elected = (p: ControlProcess): boolean => p.output().includes('elected scheduler leader');

beforeAll(async () => {
  target = await tcpListener();
  await seedSourceMetadata(etcd, SOURCE_ROOT, 'lp', [0, 1]);
  queue = new Queue('cdc-leases', {
    prefix: QUEUE_PREFIX,
    connection: { host: '127.0.0.1', port: 6379 },
  });
});

afterAll(async () => {
  for (const p of procs) await stopControl(p, 'SIGKILL');
  await queue.obliterate({ force: true }).catch(() => undefined);
  await queue.close();
  await etcd.delete().prefix(ROOT);
  await etcd.delete().prefix(`${SOURCE_ROOT}/`);
  etcd.close();
  await target.close();
});

describe('control service: two replicas', () => {
  it('elects one leader; any replica serves; the other takes over scheduling within 15 s of a kill', async () => {
    const a = await startControl(env('replica-a'));
    procs.push(a);
    await waitFor(async () => Promise.resolve(elected(a) ? true : undefined), 10_000, 'a elected');
    const b = await startControl(env('replica-b'));
    procs.push(b);
    const ca = clients(a.port);
    const cb = clients(b.port);
    const id = uniq('ha');
    await cb.cdc.CreateTask({
      task_id: id,
      spec: {
        source: {
          etcd: { endpoints: [ETCD], root_path: SOURCE_ROOT },
          mq: { type: 'MQ_TYPE_KAFKA', address: `127.0.0.1:${target.port}` },
          channel_prefix: 'lp',
        },
        target: { uri: `127.0.0.1:${target.port}` },
        scope: { include: [{ database: '*', collection: '*' }] },
      },
    });
    expect((await ca.cdc.GetTask({ task_id: id })).state).toBe('TASK_STATE_RUNNING');
    await waitFor(
      async () => ((await queue.getJobs(['waiting'])).length === 3 ? true : undefined),
      10_000,
      'jobs scheduled by leader a',
    );
    await new Promise((r) => setTimeout(r, 1500));
    expect(elected(b)).toBe(false);

    await stopControl(a, 'SIGKILL');
    const killedAt = Date.now();
    await queue.drain();
    expect(await queue.getJobs(['waiting'])).toHaveLength(0);
    await waitFor(async () => Promise.resolve(elected(b) ? true : undefined), 15_000, 'b elected');
    await waitFor(
      async () => ((await queue.getJobs(['waiting'])).length === 3 ? true : undefined),
      15_000,
      'jobs re-added by leader b',
    );
    expect(Date.now() - killedAt).toBeLessThan(15_000);
    ca.close();
    cb.close();
  });
});
