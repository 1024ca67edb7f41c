/* eslint-disable @typescript-eslint/no-explicit-any -- gRPC clients from proto-loader are untyped in tests */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { status, type ServiceError } from '@grpc/grpc-js';
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
  type Clients,
  type ControlProcess,
} from './control-harness.js';

/**
 * The quarantine (dead-letter) list on the real etcd through the control service: deduplicated by position,
 * batches stored in transactions within etcd's limits, a cap per task that pauses the task ("quarantine full"),
 * purge, answers within a client's 4 MiB, and a payload cap that must fit etcd's request limit.
 */
const etcd = new Etcd3({ hosts: ETCD });
const ROOT = `${uniq('quar')}/`;
const SOURCE_ROOT = uniq('quarsrc');
const PREFIX = 'quarpfx';
const QUEUE_PREFIX = uniq('bullquar');
const CAP = 300;
const ch = (i: number): string => `${PREFIX}-rootcoord-dml_${i}`;

let target: Awaited<ReturnType<typeof tcpListener>>;
let control: ControlProcess;
let c: Clients;

function spec(db: string): Record<string, any> {
  const addr = `127.0.0.1:${target.port}`;
  return {
    source: {
      etcd: { endpoints: [ETCD], root_path: SOURCE_ROOT },
      mq: { type: 'MQ_TYPE_KAFKA', address: addr },
      channel_prefix: PREFIX,
    },
    target: { uri: `http://${addr}` },
    scope: { include: [{ database: db, collection: '*' }] },
  };
}

const position = (offset: number) => {
  const id = Buffer.alloc(8);
  id.writeBigUInt64LE(BigInt(offset));
  return { msg_id: id, timestamp: String(449000000000000000n + BigInt(offset)), batch_index: 0 };
};
const entry = (offset: number, over: Record<string, unknown> = {}) => ({
  position: position(offset),
  reason: `undecodable record at ${offset}`,
  payload: Buffer.from(`payload ${offset}`),
  ...over,
});

async function runningTaskWithLeases(
  db: string,
  channels: number[],
): Promise<{ id: string; leases: { task_id: string; channel: string; epoch: string }[] }> {
  const id = uniq(db);
  await c.cdc.CreateTask({ task_id: id, spec: spec(db) });
  const leases = [];
  for (const i of channels) {
    const lease = await c.worker.AcquireLease({ task_id: id, channel: ch(i), worker_id: `w${i}` });
    leases.push({ task_id: id, channel: ch(i), epoch: lease.epoch });
  }
  return { id, leases };
}

async function listAll(taskId: string): Promise<{ records: any[]; pages: number }> {
  const records: any[] = [];
  let token = '';
  let pages = 0;
  do {
    const page = await c.cdc.ListQuarantine({ task_id: taskId, page_size: 500, page_token: token });
    records.push(...page.records);
    token = page.next_page_token;
    pages++;
  } while (token !== '' && pages < 1000);
  return { records, pages };
}

async function failure(p: Promise<unknown>): Promise<ServiceError> {
  try {
    await p;
  } catch (err) {
    return err as ServiceError;
  }
  throw new Error('expected the call to fail');
}

beforeAll(async () => {
  target = await tcpListener();
  await seedSourceMetadata(etcd, SOURCE_ROOT, PREFIX, [0, 1, 2]);
  control = await startControl({
    CONTROL_ETCD_ENDPOINTS: ETCD,
    CONTROL_ETCD_ROOT: ROOT,
    CONTROL_REDIS_URL: REDIS_URL,
    CONTROL_QUEUE_PREFIX: QUEUE_PREFIX,
    CONTROL_SECRET_KEY: SECRET_KEY,
    CONTROL_RECONCILE_INTERVAL_MS: '300',
    CONTROL_ELECTION_TTL_S: '2',
    CONTROL_QUARANTINE_MAX_ENTRIES: String(CAP),
  });
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
  await etcd.delete().prefix(`${SOURCE_ROOT}/`);
  etcd.close();
  await target.close();
});

describe('control service: quarantine', () => {
  it('stores a replayed message once (per target)', async () => {
    const { id, leases } = await runningTaskWithLeases('dedupe', [0]);
    const lease = leases[0]!;
    const first = await c.worker.ReportQuarantine({ ...lease, ...entry(5) });
    const again = await c.worker.ReportQuarantine({ ...lease, ...entry(5) });
    expect(again.quarantine_id).toBe(first.quarantine_id);
    // The same position refused by a fan-out target is its own entry; replayed in a batch, still one.
    const batch = await c.worker.ReportQuarantineBatch({
      ...lease,
      worker_id: 'w0',
      entries: [entry(5), entry(5, { target_uri: 'http://fan:19530' }), entry(6)],
    });
    expect(batch.quarantine_ids[0]).toBe(first.quarantine_id);
    const { records } = await listAll(id);
    expect(records.map((r): unknown => r.quarantine_id)).toEqual(batch.quarantine_ids);
    // A new lease (epoch) replaying the channel adds nothing either.
    await c.worker.ReleaseLease({ ...lease, worker_id: 'w0' });
    const next = await c.worker.AcquireLease({ task_id: id, channel: ch(0), worker_id: 'w9' });
    const replay = await c.worker.ReportQuarantineBatch({
      ...lease,
      epoch: next.epoch,
      entries: [entry(5), entry(6)],
    });
    expect(replay.quarantine_ids).toEqual([batch.quarantine_ids[0], batch.quarantine_ids[2]]);
    expect((await listAll(id)).records).toHaveLength(3);
    // The old epoch is fenced.
    const stale = await failure(c.worker.ReportQuarantineBatch({ ...lease, entries: [entry(7)] }));
    expect(stale.code).toBe(status.FAILED_PRECONDITION);
    expect(stale.details).toBe('stale lease epoch');
  });

  it('stores a batch beyond etcd’s transaction limits (ops and bytes) whole, in order', async () => {
    const { id, leases } = await runningTaskWithLeases('batch', [0]);
    const lease = leases[0]!;
    // 250 entries: more than 63 per transaction (128 ops).
    const many = Array.from({ length: 250 }, (_, i) => entry(1000 + i));
    const res = await c.worker.ReportQuarantineBatch({ ...lease, entries: many });
    expect(res.quarantine_ids).toHaveLength(250);
    expect([...res.quarantine_ids].sort()).toEqual(res.quarantine_ids);
    // 48 payloads of 64 KiB: 4.2 MB of base64, three 1.5 MiB etcd requests and more than one 4 MiB answer.
    const big = Array.from({ length: 48 }, (_, i) =>
      entry(5000 + i, { payload: Buffer.alloc(65_536, i) }),
    );
    const bigRes = await c.worker.ReportQuarantineBatch({ ...lease, entries: big });
    expect(bigRes.quarantine_ids).toHaveLength(48);
    // ListQuarantine keeps each answer within a client's default 4 MiB: the large records take several pages.
    const { records, pages } = await listAll(id);
    expect(records.map((r): unknown => r.quarantine_id)).toEqual([
      ...res.quarantine_ids,
      ...bigRes.quarantine_ids,
    ]);
    expect(pages).toBeGreaterThan(1);
    const last = records[records.length - 1];
    expect(last.payload).toEqual(Buffer.alloc(65_536, 47));
    expect(last.truncated).toBe(false);
  });

  it('caps a task’s quarantine exactly under concurrent channels, pauses it "quarantine full", and purges', async () => {
    const { id, leases } = await runningTaskWithLeases('cap', [0, 1, 2]);
    // Three channels report 120 messages each, 20 per call, at the same time: 360 for a cap of 300.
    const results = await Promise.allSettled(
      leases.map(async (lease, l) => {
        for (let b = 0; b < 6; b++)
          await c.worker.ReportQuarantineBatch({
            ...lease,
            entries: Array.from({ length: 20 }, (_, i) => entry(l * 1000 + b * 20 + i)),
          });
      }),
    );
    const refused = results.filter((r) => r.status === 'rejected');
    expect(refused.length).toBeGreaterThan(0);
    for (const r of refused) {
      const err = r.reason as ServiceError;
      expect(err.code).toBe(status.FAILED_PRECONDITION);
      expect(err.details).toMatch(/^quarantine full: task .* holds 300 quarantined messages/);
    }
    expect((await listAll(id)).records).toHaveLength(CAP);
    // An immediate pause: PAUSED once the leases stopped (a worker refused "quarantine full" releases its lease).
    expect((await c.cdc.GetTask({ task_id: id })).state).toMatch(/^TASK_STATE_PAUS(ING|ED)$/);
    for (const [i, lease] of leases.entries())
      await c.worker.ReleaseLease({ ...lease, worker_id: `w${i}` });
    const task = await c.cdc.GetTask({ task_id: id });
    expect(task.state).toBe('TASK_STATE_PAUSED');
    expect(task.reason).toMatch(
      /^quarantine full: 300 messages \(CONTROL_QUARANTINE_MAX_ENTRIES\)/,
    );
    // The single-message RPC is capped too.
    const single = await failure(c.worker.ReportQuarantine({ ...leases[0], ...entry(99_999) }));
    expect(single.details).toMatch(/^quarantine full/);

    expect((await c.cdc.PurgeQuarantine({ task_id: id })).purged).toBe(String(CAP));
    expect((await listAll(id)).records).toHaveLength(0);
    expect((await c.cdc.ResumeTask({ task_id: id })).state).toBe('TASK_STATE_RUNNING');
    const lease = await c.worker.AcquireLease({ task_id: id, channel: ch(0), worker_id: 'w0' });
    const after = await c.worker.ReportQuarantineBatch({
      task_id: id,
      channel: ch(0),
      epoch: lease.epoch,
      entries: [entry(1)],
    });
    expect(after.quarantine_ids).toHaveLength(1);
    await expect(c.cdc.PurgeQuarantine({ task_id: 'nope' })).rejects.toMatchObject({
      code: status.NOT_FOUND,
    });
  });

  it('refuses at start a payload cap whose record would not fit etcd’s request limit', async () => {
    let err: unknown;
    const started = await startControl({
      CONTROL_ETCD_ENDPOINTS: ETCD,
      CONTROL_ETCD_ROOT: ROOT,
      CONTROL_REDIS_URL: REDIS_URL,
      CONTROL_SECRET_KEY: SECRET_KEY,
      CONTROL_METRICS_PORT: '0',
      CONTROL_QUARANTINE_PAYLOAD_CAP: '4194304',
    }).catch((e: unknown) => {
      err = e;
      return undefined;
    });
    if (started !== undefined) await stopControl(started);
    expect(String(err)).toMatch(/control exited 78/);
    expect(String(err)).toMatch(
      /CONTROL_QUARANTINE_PAYLOAD_CAP: a quarantine record with 4194304 bytes of payload takes up to \d+ bytes in etcd .* above CONTROL_ETCD_MAX_REQUEST_BYTES \(1572864\); at most \d+/,
    );
  });
});
