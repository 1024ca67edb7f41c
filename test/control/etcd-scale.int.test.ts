/* eslint-disable @typescript-eslint/no-explicit-any -- gRPC clients from proto-loader are untyped in tests */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { status, type ServiceError } from '@grpc/grpc-js';
import { Queue } from 'bullmq';
import { Etcd3 } from 'etcd3';
import { leaseJobId } from '@cdc/shared';
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
  type Clients,
  type ControlProcess,
} from './control-harness.js';

/**
 * The control service on the real etcd with records larger than one gRPC response holds by default (4 MiB): six
 * task records of 780 KB (as the API stored them before specs were bounded), five 1 MB worker ids, a source whose
 * metadata is 4.7 MB. Every read pages, so ListTasks, CreateTask, the scheduler, checkpoints and channel discovery
 * keep working; and the API no longer stores such records.
 */
// The test's own client reads and writes the large records.
const etcd = new Etcd3({
  hosts: ETCD,
  grpcOptions: { 'grpc.max_receive_message_length': 64 * 1024 * 1024 },
});
const ROOT = `${uniq('scale')}/`;
const SOURCE_ROOT = uniq('scalesrc');
const BIG_SOURCE_ROOT = uniq('scalebig');
const PREFIX = 'scalepfx';
const QUEUE_PREFIX = uniq('bullscale');
const KB = 1000;

let target: Awaited<ReturnType<typeof tcpListener>>;
let control: ControlProcess;
let c: Clients;
let queue: Queue;

function spec(db: string, sourceRoot = SOURCE_ROOT): Record<string, any> {
  const addr = `127.0.0.1:${target.port}`;
  return {
    source: {
      etcd: { endpoints: [ETCD], root_path: sourceRoot },
      mq: { type: 'MQ_TYPE_KAFKA', address: addr },
      channel_prefix: PREFIX,
    },
    target: { uri: `http://${addr}` },
    scope: { include: [{ database: db, collection: '*' }] },
  };
}

/** A valid name_mapping of about `bytes` bytes of JSON: collection renames of 255-character names. */
function bigMapping(bytes: number): Record<string, any>[] {
  const name = (kind: string, m: number, i: number): string =>
    `${kind}${m}_${i}_`.padEnd(255, kind === 'c' ? 'x' : 'y');
  const perEntry = 2 * 255 + 6;
  const mappings: Record<string, any>[] = [];
  let left = bytes;
  for (let m = 0; left > 0; m++) {
    const n = Math.min(1024, Math.ceil(left / perEntry));
    const collections: Record<string, string> = {};
    for (let i = 0; i < n; i++) collections[name('c', m, i)] = name('t', m, i);
    mappings.push({ source_database: `m${m}`, target_database: `m${m}t`, collections });
    left -= n * perEntry;
  }
  return mappings;
}

async function expectCode(p: Promise<unknown>, code: number, pattern: RegExp): Promise<void> {
  let err: ServiceError | undefined;
  try {
    await p;
  } catch (e) {
    err = e as ServiceError;
  }
  expect(err, 'expected the call to fail').toBeDefined();
  expect(`${status[err?.code ?? 0]}: ${err?.details ?? ''}`).toMatch(pattern);
  expect(err?.code).toBe(code);
}

async function allTaskIds(): Promise<string[]> {
  const ids: string[] = [];
  let token = '';
  for (let page = 0; page < 100; page++) {
    const res = await c.cdc.ListTasks({ page_size: 500, page_token: token });
    ids.push(...(res.tasks as { task_id: string }[]).map((t) => t.task_id));
    token = res.next_page_token;
    if (token === '') return ids;
  }
  throw new Error('ListTasks did not end');
}

beforeAll(async () => {
  target = await tcpListener();
  await seedSourceMetadata(etcd, SOURCE_ROOT, PREFIX, [0, 1]);
  // A source with 4.7 MB of collection metadata: six 780 KB values, each naming its DML channel.
  await etcd.put(`${BIG_SOURCE_ROOT}/kv/gid/timestamp`).value(Buffer.alloc(8));
  for (let i = 0; i < 6; i++)
    await etcd
      .put(`${BIG_SOURCE_ROOT}/meta/root-coord/database/collection-info/1/${2000 + i}`)
      .value(
        Buffer.concat([
          Buffer.from(`\x0a\x05coll${i}\x42\x17${PREFIX}-rootcoord-dml_${i}\x0a`, 'latin1'),
          Buffer.alloc(780 * KB, 0x20),
        ]),
      );
  control = await startControl({
    CONTROL_ETCD_ENDPOINTS: ETCD,
    CONTROL_ETCD_ROOT: ROOT,
    CONTROL_REDIS_URL: REDIS_URL,
    CONTROL_QUEUE_PREFIX: QUEUE_PREFIX,
    CONTROL_SECRET_KEY: SECRET_KEY,
    CONTROL_RECONCILE_INTERVAL_MS: '300',
    CONTROL_ELECTION_TTL_S: '2',
  });
  c = clients(control.port);
  queue = new Queue('cdc-leases', {
    prefix: QUEUE_PREFIX,
    connection: { host: '127.0.0.1', port: 6379 },
  });
});

afterAll(async () => {
  c.close();
  await stopControl(control);
  await queue.obliterate({ force: true }).catch(() => undefined);
  await queue.close();
  for (const prefix of [ROOT, `${SOURCE_ROOT}/`, `${BIG_SOURCE_ROOT}/`])
    await etcd.delete().prefix(prefix);
  etcd.close();
  await target.close();
});

describe('control service: etcd at scale', () => {
  it('refuses a spec above 256 KiB as stored, naming the field, before anything is written', async () => {
    const id = uniq('huge');
    await expectCode(
      c.cdc.CreateTask({
        task_id: id,
        spec: { ...spec('hugedb'), name_mapping: bigMapping(780 * KB) },
      }),
      status.INVALID_ARGUMENT,
      /^INVALID_ARGUMENT: spec\.name_mapping\[0\]\.collections: makes the spec \d+ bytes as stored .*at most 262144 allowed/,
    );
    expect(await etcd.get(`${ROOT}tasks/${id}`).string()).toBeNull();
  });

  it('six 780 KB task records: ListTasks pages, GetTask, CreateTask and the scheduler keep working', async () => {
    // Records as the API stored them before the size limit: a small task created normally, cloned with a 780 KB
    // name_mapping straight into etcd.
    const template = uniq('tmpl');
    await c.cdc.CreateTask({ task_id: template, spec: spec('tmpldb'), start_paused: true });
    const stored = JSON.parse((await etcd.get(`${ROOT}tasks/${template}`).string()) ?? '{}');
    const big = Array.from({ length: 6 }, (_, i) => `big-${i}`);
    for (const [i, id] of big.entries()) {
      const record = {
        ...stored,
        taskId: id,
        spec: {
          ...stored.spec,
          scope: { include: [{ database: `legacy${i}`, collection: '*' }], exclude: [] },
          name_mapping: bigMapping(780 * KB),
        },
      };
      const value = JSON.stringify(record);
      expect(value.length).toBeGreaterThan(780 * KB);
      await etcd.put(`${ROOT}tasks/${id}`).value(value);
    }

    // Every task is listed, page by page, each answer within a client's default 4 MiB.
    const ids = await allTaskIds();
    expect(ids).toEqual([...big, template].sort());
    const first = await c.cdc.ListTasks({ page_size: 500 });
    expect(first.tasks.length).toBeLessThan(7);
    expect(first.next_page_token).not.toBe('');

    expect((await c.cdc.GetTask({ task_id: 'big-3' })).spec.name_mapping.length).toBe(2);

    // CreateTask reads every task (overlap checks) and the scheduler lists them each pass.
    const fresh = uniq('fresh');
    const created = await c.cdc.CreateTask({ task_id: fresh, spec: spec('freshdb') });
    expect(created.task.state).toBe('TASK_STATE_RUNNING');
    const ch0 = `${PREFIX}-rootcoord-dml_0`;
    await waitFor(async () => queue.getJob(leaseJobId(fresh, ch0)), 10_000, 'the lease job');
    expect((await allTaskIds()).length).toBe(8);
  });

  it('refuses 1 MB worker ids, and 1 MB ids stored before do not break checkpoints', async () => {
    await expectCode(
      c.worker.Heartbeat({ worker_id: 'w'.repeat(1_000_000) }),
      status.INVALID_ARGUMENT,
      /^INVALID_ARGUMENT: worker_id: must be 1-128 characters/,
    );
    await expectCode(
      c.worker.Heartbeat({ worker_id: 'bad id' }),
      status.INVALID_ARGUMENT,
      /^INVALID_ARGUMENT: worker_id: must be 1-128 characters/,
    );
    expect(await etcd.getAll().prefix(`${ROOT}workers/`).keys()).toEqual([]);
    // Heartbeats of five 1 MB ids, as the API stored them before the limit.
    for (let i = 0; i < 5; i++)
      await etcd.put(`${ROOT}workers/${String(i).repeat(1_000_000)}`).value(String(Date.now()));

    const id = uniq('ckpt');
    await c.cdc.CreateTask({ task_id: id, spec: spec('ckptdb') });
    const ch0 = `${PREFIX}-rootcoord-dml_0`;
    const lease = await c.worker.AcquireLease({ task_id: id, channel: ch0, worker_id: 'w-scale' });
    const position = {
      msg_id: Buffer.from([7, 0, 0, 0, 0, 0, 0, 0]),
      timestamp: String(BigInt(Date.now()) << 18n),
      batch_index: 0,
    };
    // The report reads every worker (fair share).
    const res = await c.worker.ReportCheckpoint({
      task_id: id,
      channel: ch0,
      epoch: lease.epoch,
      worker_id: 'w-scale',
      position,
    });
    expect(res.keep_lease).toBe(true);
    const positions = await c.cdc.GetTaskPositions({ task_id: id });
    const mine = (positions.channels as any[]).find((ch) => ch.channel === ch0);
    expect(mine.position.msg_id).toEqual(position.msg_id);
  });

  it('discovers the channels of a source with 4.7 MB of metadata', async () => {
    const id = uniq('bigsrc');
    const created = await c.cdc.CreateTask({
      task_id: id,
      spec: spec('bigsrcdb', BIG_SOURCE_ROOT),
      start_paused: true,
    });
    expect(created.task.state, created.task.reason).toBe('TASK_STATE_PAUSED');
    expect(created.task.channels).toEqual([
      ...Array.from({ length: 6 }, (_, i) => `${PREFIX}-rootcoord-dml_${i}`),
      `${PREFIX}-replicate-msg`,
    ]);
  });

  it('refuses oversized worker reports before storing them', async () => {
    const id = uniq('rep');
    await c.cdc.CreateTask({ task_id: id, spec: spec('repdb') });
    const ch0 = `${PREFIX}-rootcoord-dml_0`;
    const lease = await c.worker.AcquireLease({ task_id: id, channel: ch0, worker_id: 'w-rep' });
    const ref = { task_id: id, channel: ch0, epoch: lease.epoch };
    await expectCode(
      c.worker.ReportFailure({ ...ref, reason: 'r'.repeat(5000), needs_person: true }),
      status.INVALID_ARGUMENT,
      /^INVALID_ARGUMENT: reason: is 5000 characters long; at most 4096 allowed/,
    );
    await expectCode(
      c.worker.ReportQuarantine({ ...ref, reason: 'r'.repeat(5000) }),
      status.INVALID_ARGUMENT,
      /^INVALID_ARGUMENT: reason: is 5000 characters long/,
    );
    await expectCode(
      c.worker.ReportQuarantine({
        ...ref,
        position: { msg_id: Buffer.alloc(1000), timestamp: '1' },
        reason: 'x',
      }),
      status.INVALID_ARGUMENT,
      /^INVALID_ARGUMENT: position\.msg_id: is 1000 bytes long; at most 192 allowed/,
    );
    expect((await c.cdc.GetTask({ task_id: id })).state).toBe('TASK_STATE_RUNNING');
    expect(await etcd.getAll().prefix(`${ROOT}quarantine/${id}/`).keys()).toEqual([]);
  });
});
