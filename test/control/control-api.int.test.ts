/* eslint-disable @typescript-eslint/no-explicit-any -- gRPC clients from proto-loader are untyped in tests */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { status } from '@grpc/grpc-js';
import { Queue } from 'bullmq';
import { Etcd3 } from 'etcd3';
import { leaseJobId } from '@cdc/shared';
import { GrpcWorkerControl } from '../../services/worker/src/adapters/control-client.js';
import {
  clients,
  ETCD,
  handover,
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

const etcd = new Etcd3({ hosts: ETCD });
const ROOT = `${uniq('ctltest')}/`;
const SOURCE_ROOT = uniq('src');
const PREFIX = 'srcpfx';
const QUEUE_PREFIX = uniq('bullctl');
let target: Awaited<ReturnType<typeof tcpListener>>;
let control: ControlProcess;
let c: Clients;
let queue: Queue;

const env = (): Record<string, string> => ({
  CONTROL_ETCD_ENDPOINTS: ETCD,
  CONTROL_ETCD_ROOT: ROOT,
  CDC_REDIS_URL: REDIS_URL,
  CDC_QUEUE_PREFIX: QUEUE_PREFIX,
  CONTROL_SECRET_KEY: SECRET_KEY,
  CONTROL_RECONCILE_INTERVAL_MS: '300',
  CONTROL_ELECTION_TTL_S: '2',
});

function spec(
  over: { db?: string; coll?: string; uri?: string; root?: string; start?: unknown } = {},
): Record<string, unknown> {
  return {
    source: {
      etcd: { endpoints: [ETCD], root_path: over.root ?? SOURCE_ROOT, username: '', password: '' },
      mq: { type: 'MQ_TYPE_KAFKA', address: `127.0.0.1:${target.port}` },
      channel_prefix: PREFIX,
    },
    target: { uri: over.uri ?? `http://127.0.0.1:${target.port}`, token: 'root:TopSecret-42' },
    scope: { include: [{ database: over.db ?? 'db1', collection: over.coll ?? '*' }] },
    ...(over.start === undefined ? {} : { start: over.start }),
  };
}

async function expectCode(p: Promise<unknown>, code: status, message: RegExp): Promise<void> {
  await expect(p).rejects.toMatchObject({ code, details: expect.stringMatching(message) });
}

beforeAll(async () => {
  target = await tcpListener();
  await seedSourceMetadata(etcd, SOURCE_ROOT, PREFIX, [0, 1, 3]);
  control = await startControl(env());
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
  await etcd.delete().prefix(ROOT);
  await etcd.delete().prefix(`${SOURCE_ROOT}/`);
  etcd.close();
  await target.close();
});

describe('control service: API', () => {
  it('reports SERVING through the standard health service', async () => {
    expect(await c.health.Check({ service: '' })).toEqual({ status: 'SERVING' });
    expect(await c.health.Check({ service: 'cdc.v1.CdcService' })).toEqual({ status: 'SERVING' });
  });

  it.each([
    ['bad task id', () => ({ task_id: 'a:b' }), /^task_id: /],
    ['missing spec', () => ({ spec: null }), /^spec: is required/],
    [
      'no etcd endpoint',
      () => ({
        spec: { ...spec(), source: { ...(spec().source as object), etcd: { endpoints: [] } } },
      }),
      /^spec\.source\.etcd\.endpoints: /,
    ],
    [
      'mq type',
      () => ({
        spec: { ...spec(), source: { ...(spec().source as object), mq: { address: 'x:1' } } },
      }),
      /^spec\.source\.mq\.type: /,
    ],
    [
      'mq address',
      () => ({
        spec: {
          ...spec(),
          source: { ...(spec().source as object), mq: { type: 'MQ_TYPE_KAFKA' } },
        },
      }),
      /^spec\.source\.mq\.address: /,
    ],
    [
      'sasl mechanism',
      () => ({
        spec: {
          ...spec(),
          source: {
            ...(spec().source as object),
            mq: { type: 'MQ_TYPE_KAFKA', address: 'x:1', sasl: { mechanism: 'gssapi' } },
          },
        },
      }),
      /^spec\.source\.mq\.sasl\.mechanism: /,
    ],
    [
      'pulsar token on kafka',
      () => ({
        spec: {
          ...spec(),
          source: {
            ...(spec().source as object),
            mq: { type: 'MQ_TYPE_KAFKA', address: 'x:1', token: 't' },
          },
        },
      }),
      /^spec\.source\.mq\.token: /,
    ],
    [
      'channel prefix',
      () => ({
        spec: { ...spec(), source: { ...(spec().source as object), channel_prefix: 'a:b' } },
      }),
      /^spec\.source\.channel_prefix: /,
    ],
    [
      'target uri',
      () => ({ spec: { ...spec(), target: { uri: '' } } }),
      /^spec\.target\.uri: is required/,
    ],
    [
      'token and password',
      () => ({
        spec: { ...spec(), target: { uri: 'h:1', token: 't', username: 'u', password: 'p' } },
      }),
      /^spec\.target\.token: /,
    ],
    [
      'user without password',
      () => ({ spec: { ...spec(), target: { uri: 'h:1', username: 'u' } } }),
      /^spec\.target\.password: /,
    ],
    [
      'tls key without cert',
      () => ({
        spec: {
          ...spec(),
          target: { uri: 'h:1', tls: { enabled: true, key_pem: '-----BEGIN KEY' } },
        },
      }),
      /^spec\.target\.tls\.key_pem: /,
    ],
    [
      'empty scope',
      () => ({ spec: { ...spec(), scope: { include: [] } } }),
      /^spec\.scope\.include: /,
    ],
    [
      'bad pattern',
      () => ({ spec: { ...spec(), scope: { include: [{ database: 'd b' }] } } }),
      /^spec\.scope\.include\[0\]\.database: /,
    ],
    [
      'bad exclude',
      () => ({
        spec: {
          ...spec(),
          scope: { include: [{ database: '*' }], exclude: [{ collection: 'x.y' }] },
        },
      }),
      /^spec\.scope\.exclude\[0\]\.collection: /,
    ],
    [
      'mapping wildcard',
      () => ({ spec: { ...spec(), name_mapping: [{ source_database: '*' }] } }),
      /^spec\.name_mapping\[0\]\.source_database: /,
    ],
    [
      'mapping twice',
      () => ({
        spec: { ...spec(), name_mapping: [{ source_database: 'a' }, { source_database: 'a' }] },
      }),
      /^spec\.name_mapping\[1\]\.source_database: .*twice/,
    ],
    [
      'mapping collection',
      () => ({
        spec: { ...spec(), name_mapping: [{ source_database: 'a', collections: { c: 'x y' } }] },
      }),
      /^spec\.name_mapping\[0\]\.collections\["c"\]: /,
    ],
    [
      'timestamp missing',
      () => ({ spec: spec({ start: { kind: 'START_KIND_TIMESTAMP' } }) }),
      /^spec\.start\.timestamp: is required/,
    ],
    [
      'timestamp on latest',
      () => ({ spec: spec({ start: { kind: 'START_KIND_LATEST', timestamp: '5' } }) }),
      /^spec\.start\.timestamp: is only allowed/,
    ],
    [
      'positions empty',
      () => ({ spec: spec({ start: { kind: 'START_KIND_POSITIONS' } }) }),
      /^spec\.start\.positions: needs at least one/,
    ],
    [
      'position channel',
      () => ({
        spec: spec({
          start: { kind: 'START_KIND_POSITIONS', positions: { other: { msg_id: 'AQ==' } } },
        }),
      }),
      /^spec\.start\.positions\["other"\]: /,
    ],
    [
      'position msg id',
      () => ({
        spec: spec({
          start: {
            kind: 'START_KIND_POSITIONS',
            positions: { [`${PREFIX}-rootcoord-dml_0`]: { timestamp: '1' } },
          },
        }),
      }),
      /\.msg_id: is required/,
    ],
  ])('rejects %s with INVALID_ARGUMENT naming the field', async (_name, req, message) => {
    await expectCode(
      c.cdc.CreateTask({ task_id: uniq('v'), spec: spec(), ...(req as () => object)() }),
      status.INVALID_ARGUMENT,
      message,
    );
  });

  it('rejects unreachable source and target with FAILED_PRECONDITION', async () => {
    await expectCode(
      c.cdc.CreateTask({ task_id: uniq('u'), spec: spec({ root: 'no-such-root' }) }),
      status.FAILED_PRECONDITION,
      /no Milvus metadata under root_path/,
    );
    await expectCode(
      c.cdc.CreateTask({ task_id: uniq('u'), spec: spec({ uri: 'http://127.0.0.1:1' }) }),
      status.FAILED_PRECONDITION,
      /^target .* is unreachable/,
    );
    const bad = spec();
    (bad['source'] as any).mq.address = '127.0.0.1:1';
    await expectCode(
      c.cdc.CreateTask({ task_id: uniq('u'), spec: bad }),
      status.FAILED_PRECONDITION,
      /^source mq is unreachable/,
    );
    const badEtcd = spec();
    (badEtcd['source'] as any).etcd.endpoints = ['127.0.0.1:1'];
    await expectCode(
      c.cdc.CreateTask({ task_id: uniq('u'), spec: badEtcd }),
      status.FAILED_PRECONDITION,
      /^source etcd .* is unreachable/,
    );
  });

  it('creates idempotently, never returns or stores secrets in clear, rejects overlaps', async () => {
    const id = uniq('t');
    const first = await c.cdc.CreateTask({ task_id: id, spec: spec({ db: 'ov' }) });
    expect(first.created).toBe(true);
    expect(first.task.state).toBe('TASK_STATE_RUNNING');
    expect(first.task.channels).toEqual([
      `${PREFIX}-rootcoord-dml_0`,
      `${PREFIX}-rootcoord-dml_1`,
      `${PREFIX}-rootcoord-dml_3`,
      `${PREFIX}-replicate-msg`,
    ]);
    expect(first.task.spec.target.token).toBe('');
    expect(first.task.secret_fields_set).toEqual(['target.token']);
    const again = await c.cdc.CreateTask({ task_id: id, spec: spec({ db: 'ov' }) });
    expect(again).toMatchObject({ created: false, task: { task_id: id } });
    await expectCode(
      c.cdc.CreateTask({ task_id: id, spec: spec({ db: 'ov', coll: 'other' }) }),
      status.ALREADY_EXISTS,
      /different spec/,
    );
    await expectCode(
      c.cdc.CreateTask({ task_id: uniq('t'), spec: spec({ db: 'o*', coll: 'c1' }) }),
      status.ALREADY_EXISTS,
      new RegExp(`overlaps .* of task ${id}`),
    );
    const stored = (await etcd.get(`${ROOT}tasks/${id}`).string()) ?? '';
    expect(stored).not.toContain('TopSecret-42');
    expect(stored).toContain('sealedSecrets');
    await c.cdc.DeleteTask({ task_id: id });
  });

  it('fan-out: seals the secrets of every target, gives each target its checkpoint and reads from the earliest', async () => {
    const id = uniq('fan');
    const second = await tcpListener();
    const other = `127.0.0.1:${second.port}`;
    const created = await c.cdc.CreateTask({
      task_id: id,
      spec: { ...spec({ db: 'fan' }), fan_out: [{ uri: other, token: 'root:FanSecret-7' }] },
      start_paused: true,
    });
    expect(created.task.spec.fan_out).toMatchObject([{ uri: other, token: '' }]);
    expect(created.task.secret_fields_set).toEqual(['target.token', 'fan_out.0.token']);
    const stored = (await etcd.get(`${ROOT}tasks/${id}`).string()) ?? '';
    expect(stored).not.toContain('FanSecret-7');
    await c.cdc.ResumeTask({ task_id: id });
    const ch = `${PREFIX}-rootcoord-dml_0`;
    const a = await c.worker.AcquireLease({ task_id: id, channel: ch, worker_id: 'wa' });
    expect(a.task.spec.fan_out[0].token).toBe('root:FanSecret-7');
    expect(a.target_positions).toEqual({});
    const at = (offset: number, ts: bigint) => ({
      msg_id: Buffer.from([offset, 0, 0, 0, 0, 0, 0, 0]),
      timestamp: String(ts),
      batch_index: 0,
    });
    const now = BigInt(Date.now()) << 18n;
    await c.worker.ReportCheckpoint({
      task_id: id,
      channel: ch,
      epoch: a.epoch,
      worker_id: 'wa',
      position: at(9, now),
      fan_out_positions: { [other]: at(4, now - 1000n) },
      source_head_timestamp: String(now),
    });
    await c.worker.ReleaseLease({ task_id: id, channel: ch, epoch: a.epoch, worker_id: 'wa' });
    const b = await c.worker.AcquireLease({ task_id: id, channel: ch, worker_id: 'wb' });
    expect(b.start).toMatchObject({
      kind: 'START_KIND_POSITIONS',
      position: { msg_id: at(4, 0n).msg_id },
    });
    expect(Object.keys(b.target_positions).sort()).toEqual(
      [other, `http://127.0.0.1:${target.port}`].sort(),
    );
    expect(b.target_positions[other].msg_id).toEqual(at(4, 0n).msg_id);
    await expectCode(
      c.cdc.CreateTask({
        task_id: uniq('fan'),
        spec: { ...spec({ db: 'fan2' }), fan_out: [{ uri: `http://127.0.0.1:${target.port}` }] },
      }),
      status.INVALID_ARGUMENT,
      /^spec\.fan_out\[0\]\.uri: .* is the same server as spec\.target/,
    );
    await c.cdc.DeleteTask({ task_id: id });
    await second.close();
  });

  it('gets, lists with pages, and 404s', async () => {
    const ids = [uniq('la'), uniq('lb'), uniq('lc')];
    for (const [i, id] of ids.entries())
      await c.cdc.CreateTask({ task_id: id, spec: spec({ db: `list${i}` }), start_paused: true });
    expect((await c.cdc.GetTask({ task_id: ids[0] })).state).toBe('TASK_STATE_PAUSED');
    await expectCode(c.cdc.GetTask({ task_id: 'nope' }), status.NOT_FOUND, /task nope not found/);
    const seen: string[] = [];
    let token = '';
    do {
      const page = await c.cdc.ListTasks({ page_size: 1, page_token: token });
      expect(page.tasks.length).toBeLessThanOrEqual(1);
      seen.push(...(page.tasks as { task_id: string }[]).map((t) => t.task_id));
      token = page.next_page_token;
    } while (token !== '');
    for (const id of ids) expect(seen).toContain(id);
    await expectCode(
      c.cdc.ListTasks({ page_token: '!!' }),
      status.INVALID_ARGUMENT,
      /^page_token: /,
    );
    await expectCode(c.cdc.ListTasks({ page_size: 501 }), status.INVALID_ARGUMENT, /^page_size: /);
    for (const id of ids) await c.cdc.DeleteTask({ task_id: id });
  });
});

describe('control service: leases, checkpoints and state', () => {
  const id = uniq('lease');
  const ch0 = `${PREFIX}-rootcoord-dml_0`;
  const pos = (ts: number, idx = 0) => ({
    msg_id: Buffer.from([ts, 0, 0, 0, 0, 0, 0, 0]),
    timestamp: String(BigInt(Date.now()) << 18n),
    batch_index: idx,
  });

  it('keeps one lease job per channel', async () => {
    await c.cdc.CreateTask({ task_id: id, spec: spec({ db: 'lease' }) });
    const task = await c.cdc.GetTask({ task_id: id });
    await waitFor(
      async () => {
        const jobs = await queue.getJobs(['waiting', 'active']);
        const mine = jobs.filter((j) => j.data.taskId === id);
        return mine.length === task.channels.length ? mine : undefined;
      },
      10_000,
      'lease jobs',
    );
    const job = await queue.getJob(leaseJobId(id, ch0));
    expect(job?.name).toBe('lease');
    expect(job?.data).toEqual({ taskId: id, channel: ch0 });
  });

  it('answers a batch of reports one by one: a stale epoch or a bad field refuses only its report', async () => {
    const [ch1, ch3] = [`${PREFIX}-rootcoord-dml_1`, `${PREFIX}-rootcoord-dml_3`];
    const a1 = await c.worker.AcquireLease({ task_id: id, channel: ch1, worker_id: 'wa' });
    const a3 = await c.worker.AcquireLease({ task_id: id, channel: ch3, worker_id: 'wa' });
    const report = (channel: string, epoch: string) => ({
      task_id: id,
      channel,
      epoch,
      worker_id: 'wa',
      position: pos(5),
      source_head_timestamp: String(BigInt(Date.now()) << 18n),
      applied_rows: 7,
    });
    const res = await c.worker.ReportCheckpoints({
      reports: [
        report(ch1, a1.epoch),
        report(ch3, String(BigInt(a3.epoch) + 1n)),
        report(ch3, '0'),
      ],
    });
    expect(res.results).toHaveLength(3);
    expect(res.results[0]).toMatchObject({ answer: { keep_lease: true }, error: null });
    expect(BigInt(res.results[0].answer.apply_until) >> 18n).toBeGreaterThan(Date.now());
    expect(res.results[1]).toMatchObject({
      answer: null,
      error: { code: 'LEASE_LOST', retryable: false, message: 'stale lease epoch' },
    });
    expect(res.results[2]).toMatchObject({
      answer: null,
      error: { code: 'INVALID_ARGUMENT', field: 'epoch' },
    });
    const positions = await c.cdc.GetTaskPositions({ task_id: id });
    const at = (ch: string): { applied_rows?: string } | undefined =>
      (positions.channels as { channel: string; applied_rows?: string }[]).find(
        (x) => x.channel === ch,
      );
    expect(at(ch1)).toMatchObject({ worker_id: 'wa', applied_rows: '7' });
    expect(at(ch3)?.applied_rows ?? '0').toBe('0');
    await expectCode(
      c.worker.ReportCheckpoints({
        reports: Array.from({ length: 1025 }, () => report(ch1, a1.epoch)),
      }),
      status.INVALID_ARGUMENT,
      /^reports: has 1025 reports/,
    );
    // The worker's client sends its leases' reports together and hands each lease its own result.
    const worker = new GrpcWorkerControl({ address: `127.0.0.1:${control.port}` });
    try {
      const input = (channel: string, epoch: string) => ({
        taskId: id,
        channel,
        epoch,
        workerId: 'wa',
        sourceHeadTimestamp: 0n,
        appliedRows: 8,
        appliedBytes: 0,
        caughtUp: true,
        pauseReached: 0n,
      });
      const [ok, stale] = await Promise.allSettled([
        worker.reportCheckpoint(input(ch3, a3.epoch)),
        worker.reportCheckpoint(input(ch1, '999')),
      ]);
      expect(ok).toMatchObject({ status: 'fulfilled', value: { keepLease: true } });
      expect(stale).toMatchObject({
        status: 'rejected',
        reason: { code: 'LEASE_LOST', message: 'ReportCheckpoint: stale lease epoch' },
      });
    } finally {
      await worker.close();
    }
    await c.worker.ReleaseLease({ task_id: id, channel: ch1, epoch: a1.epoch, worker_id: 'wa' });
    await c.worker.ReleaseLease({ task_id: id, channel: ch3, epoch: a3.epoch, worker_id: 'wa' });
  });

  it('fences checkpoints by epoch and reports positions and lag', async () => {
    const a = await c.worker.AcquireLease({ task_id: id, channel: ch0, worker_id: 'wa' });
    expect(a.epoch).toBe('1');
    expect(a.task.spec.target.token).toBe('root:TopSecret-42');
    // "latest" is pinned to the task's creation time, so writes before the first lease are not skipped
    expect(a.start).toMatchObject({ kind: 'START_KIND_TIMESTAMP', from_checkpoint: false });
    expect(Number(BigInt(a.start.timestamp) >> 18n)).toBeGreaterThan(Date.now() - 600_000);
    const p = pos(7, 3);
    const head = String((BigInt(Date.now()) + 2000n) << 18n);
    expect(
      await c.worker.ReportCheckpoint({
        task_id: id,
        channel: ch0,
        epoch: a.epoch,
        worker_id: 'wa',
        position: p,
        source_head_timestamp: head,
        applied_rows: 10,
        applied_bytes: 100,
      }),
    ).toMatchObject({ keep_lease: true, reason: '', replicate_watermark: '0', pause: null });
    // wa may still be writing: the channel moves only once wa went unconfirmed for the handover time.
    await expectCode(
      c.worker.AcquireLease({ task_id: id, channel: ch0, worker_id: 'wb' }),
      status.UNAVAILABLE,
      /held by worker wa/,
    );
    await handover();
    const b = await c.worker.AcquireLease({ task_id: id, channel: ch0, worker_id: 'wb' });
    expect(b.epoch).toBe('2');
    expect(Number(b.write_validity_ms)).toBe(3000);
    expect(b.start).toMatchObject({
      kind: 'START_KIND_POSITIONS',
      from_checkpoint: true,
      position: { batch_index: 3 },
    });
    await expectCode(
      c.worker.ReportCheckpoint({
        task_id: id,
        channel: ch0,
        epoch: a.epoch,
        worker_id: 'wa',
        position: pos(9),
      }),
      status.FAILED_PRECONDITION,
      /^stale lease epoch$/,
    );
    await expectCode(
      c.worker.ReportQuarantine({ task_id: id, channel: ch0, epoch: a.epoch, reason: 'x' }),
      status.FAILED_PRECONDITION,
      /stale lease epoch/,
    );
    // Worker ids name etcd keys: bounded and hostname-like. A rogue caller cannot take a held channel either.
    await expectCode(
      c.worker.Heartbeat({ worker_id: 'w'.repeat(129) }),
      status.INVALID_ARGUMENT,
      /^worker_id: must be 1-128 characters/,
    );
    await expectCode(
      c.worker.AcquireLease({ task_id: id, channel: ch0, worker_id: 'bad id\n' }),
      status.INVALID_ARGUMENT,
      /^worker_id: /,
    );
    await expectCode(
      c.worker.AcquireLease({ task_id: id, channel: ch0, worker_id: 'rogue' }),
      status.UNAVAILABLE,
      /held by worker wb/,
    );
    await expectCode(
      c.worker.ReportFailure({
        task_id: id,
        channel: ch0,
        epoch: a.epoch,
        reason: 'x',
        needs_person: true,
      }),
      status.FAILED_PRECONDITION,
      /stale lease epoch/,
    );
    expect((await c.cdc.GetTask({ task_id: id })).state).toBe('TASK_STATE_RUNNING');
    await expectCode(
      c.worker.AcquireLease({ task_id: id, channel: 'nope', worker_id: 'wb' }),
      status.NOT_FOUND,
      /not a channel/,
    );
    await expectCode(
      c.worker.ReportCheckpoint({ task_id: id, channel: ch0, worker_id: 'wb' }),
      status.INVALID_ARGUMENT,
      /^epoch: /,
    );
    const positions = await c.cdc.GetTaskPositions({ task_id: id });
    const row = positions.channels.find((x: any) => x.channel === ch0);
    expect(row).toMatchObject({
      epoch: '2',
      worker_id: 'wb',
      applied_rows: '0',
      position: { batch_index: 3 },
    });
    expect(Number(row.lag_ms)).toBeGreaterThanOrEqual(1500);
    const q = await c.worker.ReportQuarantine({
      task_id: id,
      channel: ch0,
      epoch: b.epoch,
      position: p,
      reason: 'bad row',
      payload: Buffer.alloc(70_000, 1),
    });
    const list = await c.cdc.ListQuarantine({ task_id: id });
    expect(list.records).toHaveLength(1);
    expect(list.records[0]).toMatchObject({
      quarantine_id: q.quarantine_id,
      reason: 'bad row',
      truncated: true,
    });
    expect(list.records[0].payload.length).toBe(65_536);
  });

  it('streams status with WatchTask', async () => {
    const call = (c.cdc.raw as any).WatchTask({ task_id: id, interval_ms: 200 });
    const first = await new Promise<any>((resolve, reject) => {
      call.once('data', resolve);
      call.once('error', reject);
    });
    call.cancel();
    expect(first.task.task_id).toBe(id);
    expect(first.channels.length).toBe(4);
  });

  it('pauses (leases stop), resets positions only while paused, resumes from the reset', async () => {
    await expectCode(
      c.cdc.ResetTaskPositions({
        task_id: id,
        resets: [{ channel: ch0, start: { kind: 'START_KIND_EARLIEST' } }],
      }),
      status.FAILED_PRECONDITION,
      /needs a paused task/,
    );
    // Only ch0 has a lease (wb's): an immediate pause waits for that lease alone.
    const pausing = await c.cdc.PauseTask({
      task_id: id,
      reason: 'maintenance',
      immediate: true,
    });
    expect(pausing).toMatchObject({
      state: 'TASK_STATE_PAUSING',
      reason: 'maintenance',
      pause_immediate: true,
    });
    const pause = { timestamp: pausing.pause_timestamp, immediate: true };
    expect(
      await c.worker.ReportCheckpoint({ task_id: id, channel: ch0, epoch: '2', worker_id: 'wb' }),
    ).toMatchObject({ keep_lease: true, pause });
    expect(
      await c.worker.ReportCheckpoint({
        task_id: id,
        channel: ch0,
        epoch: '2',
        worker_id: 'wb',
        pause_reached: pausing.pause_timestamp,
      }),
    ).toMatchObject({ keep_lease: false, reason: 'task paused' });
    expect((await c.cdc.GetTask({ task_id: id })).state).toBe('TASK_STATE_PAUSING');
    await c.worker.ReleaseLease({ task_id: id, channel: ch0, epoch: '2', worker_id: 'wb' });
    expect(await c.cdc.GetTask({ task_id: id })).toMatchObject({
      state: 'TASK_STATE_PAUSED',
      reason: 'maintenance',
    });
    await expectCode(
      c.worker.AcquireLease({ task_id: id, channel: ch0, worker_id: 'wb' }),
      status.FAILED_PRECONDITION,
      /is paused/,
    );
    // The worker's own client rebuilds the control's error from the trailers: a paused task stays
    // FAILED_PRECONDITION (the lease is refused), a stale epoch is LEASE_LOST (the one answer that ends a lease).
    const worker = new GrpcWorkerControl({ address: `127.0.0.1:${control.port}` });
    try {
      await expect(worker.acquireLease(id, ch0, 'wb')).rejects.toMatchObject({
        code: 'FAILED_PRECONDITION',
        retryable: false,
      });
      const stale = {
        taskId: id,
        channel: ch0,
        epoch: '1',
        workerId: 'wa',
        sourceHeadTimestamp: 0n,
        appliedRows: 0,
        appliedBytes: 0,
        caughtUp: false,
        pauseReached: 0n,
      };
      await expect(worker.reportCheckpoint(stale)).rejects.toMatchObject({
        code: 'LEASE_LOST',
        retryable: false,
        message: 'ReportCheckpoint: stale lease epoch',
      });
    } finally {
      await worker.close();
    }
    await waitFor(
      async () =>
        (await queue.getJobs(['waiting'])).some((j) => j.data.taskId === id) ? undefined : true,
      10_000,
      'jobs removed',
    );
    await expectCode(
      c.cdc.ResetTaskPositions({ task_id: id, resets: [{ channel: 'zz', start: {} }] }),
      status.INVALID_ARGUMENT,
      /^resets\[0\]\.channel: /,
    );
    await expectCode(
      c.cdc.ResetTaskPositions({ task_id: id, resets: [] }),
      status.INVALID_ARGUMENT,
      /^resets: /,
    );
    const reset = await c.cdc.ResetTaskPositions({
      task_id: id,
      resets: [{ channel: ch0, start: { kind: 'START_KIND_TIMESTAMP', timestamp: '12345' } }],
    });
    const row = reset.channels.find((x: any) => x.channel === ch0);
    expect(row).toMatchObject({
      epoch: '3',
      position: null,
      pending_start: { kind: 'START_KIND_TIMESTAMP', timestamp: '12345' },
    });
    expect((await c.cdc.ResumeTask({ task_id: id })).state).toBe('TASK_STATE_RUNNING');
    const lease = await c.worker.AcquireLease({ task_id: id, channel: ch0, worker_id: 'wc' });
    expect(lease.epoch).toBe('4');
    expect(lease.start).toMatchObject({
      kind: 'START_KIND_TIMESTAMP',
      timestamp: '12345',
      from_checkpoint: false,
    });
    await waitFor(
      async () =>
        (await queue.getJobs(['waiting'])).some((j) => j.data.taskId === id) ? true : undefined,
      10_000,
      'jobs back',
    );
    await c.worker.ReleaseLease({ task_id: id, channel: ch0, epoch: lease.epoch, worker_id: 'wc' });
  });

  it('pauses the task when a worker reports a failure that needs a person', async () => {
    const lease = await c.worker.AcquireLease({ task_id: id, channel: ch0, worker_id: 'wd' });
    await c.worker.ReportFailure({
      task_id: id,
      channel: ch0,
      epoch: lease.epoch,
      reason: 'target schema conflict',
      needs_person: true,
    });
    const t = await c.cdc.GetTask({ task_id: id });
    expect(t).toMatchObject({
      state: 'TASK_STATE_PAUSED',
      reason: `${ch0}: target schema conflict`,
    });
  });

  it('keeps tasks and the pause across a restart of the control service', async () => {
    expect(await stopControl(control)).toBe(0);
    c.close();
    control = await startControl(env());
    c = clients(control.port);
    const t = await c.cdc.GetTask({ task_id: id });
    expect(t.state).toBe('TASK_STATE_PAUSED');
    await new Promise((r) => setTimeout(r, 1500));
    expect((await queue.getJobs(['waiting'])).some((j) => j.data.taskId === id)).toBe(false);
    // Secrets still open with the same key after the restart.
    await c.cdc.ResumeTask({ task_id: id });
    const lease = await c.worker.AcquireLease({ task_id: id, channel: ch0, worker_id: 'we' });
    expect(lease.task.spec.target.token).toBe('root:TopSecret-42');
  });

  it('deletes: leases end, then the task and its checkpoints disappear', async () => {
    const del = await c.cdc.DeleteTask({ task_id: id });
    expect(del.task.state).toBe('TASK_STATE_DELETING');
    // Deletion is asynchronous: with no worker holding a channel, the scheduler's next pass may remove the task
    // before this call lands (the DELETING → PAUSED refusal itself is unit-tested in state-machine.test.ts).
    await expect(c.cdc.PauseTask({ task_id: id })).rejects.toSatisfy(
      (err: { code: status; details: string }) =>
        (err.code === status.FAILED_PRECONDITION &&
          /deleting; cannot move to paused/.test(err.details)) ||
        (err.code === status.NOT_FOUND && /not found/.test(err.details)),
    );
    await waitFor(
      async () => {
        try {
          await c.cdc.GetTask({ task_id: id });
          return undefined;
        } catch (err: any) {
          return err.code === status.NOT_FOUND ? true : undefined;
        }
      },
      40_000,
      'task removed',
    );
    expect(await etcd.getAll().prefix(`${ROOT}channels/${id}/`).count()).toBe(0);
    expect(await c.cdc.DeleteTask({ task_id: id, ignore_not_found: true })).toEqual({ task: null });
    await expectCode(c.cdc.DeleteTask({ task_id: id }), status.NOT_FOUND, /not found/);
  });
});
