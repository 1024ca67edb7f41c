/* eslint-disable @typescript-eslint/no-explicit-any -- JSON printed by the CLI is checked field by field */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
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
 * cdcctl, the built CLI (services/control/dist/cli/main.js), as a child process against a real control service on
 * real etcd and Redis. Tasks use deploy/examples/task.yaml: the local stack's source (Kafka 127.0.0.1:9092, etcd
 * root "source") and target Milvus (127.0.0.1:19540), which the create-time reachability checks contact.
 */
const CLI = fileURLToPath(new URL('../../services/control/dist/cli/main.js', import.meta.url));
const EXAMPLE = fileURLToPath(new URL('../../deploy/examples/task.yaml', import.meta.url));
const ROOT = `${uniq('cdcctl')}/`;
const QUEUE_PREFIX = uniq('bullcdcctl');
const etcd = new Etcd3({ hosts: ETCD });
let control: ControlProcess;
let c: Clients;
let dir: string;
const ID = uniq('t1');

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

function start(args: string[]): {
  proc: ReturnType<typeof spawn>;
  done: Promise<Run>;
  out: () => string;
} {
  const proc = spawn(process.execPath, [CLI, ...args], {
    env: { ...process.env, CDC_ADDRESS: `127.0.0.1:${control.port}`, CDC_TOKEN: '' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  proc.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
  proc.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const done = new Promise<Run>((resolve) =>
    proc.once('close', (code, signal) => {
      resolve({ code, signal, stdout, stderr });
    }),
  );
  return { proc, done, out: () => stdout };
}

const cli = (...args: string[]): Promise<Run> => start(args).done;

async function json(...args: string[]): Promise<any> {
  const r = await cli('--output', 'json', ...args);
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  return JSON.parse(r.stdout);
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'cdcctl-'));
  control = await startControl({
    CONTROL_ETCD_ENDPOINTS: ETCD,
    CONTROL_ETCD_ROOT: ROOT,
    CDC_REDIS_URL: REDIS_URL,
    CDC_QUEUE_PREFIX: QUEUE_PREFIX,
    CONTROL_SECRET_KEY: SECRET_KEY,
    CONTROL_RECONCILE_INTERVAL_MS: '300',
    CONTROL_ELECTION_TTL_S: '2',
    CONTROL_ASSUMED_DML_CHANNELS: '2',
    CONTROL_METRICS_PORT: '0',
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
  etcd.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('cdcctl', () => {
  it('creates a task from the example YAML, idempotently', async () => {
    const r = await cli('create', '-f', EXAMPLE, '--id', ID);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(`task ${ID} created (RUNNING)\n`);
    const again = await json('create', '-f', EXAMPLE, '--id', ID);
    expect(again.created).toBe(false);
    expect(again.task.task_id).toBe(ID);
  });

  it('gets and lists tasks as table and as stable JSON', async () => {
    const task = await json('get', ID);
    expect(task).toMatchObject({
      task_id: ID,
      state: 'TASK_STATE_RUNNING',
      reason: '',
      secret_fields_set: [],
      spec: {
        source: {
          etcd: { endpoints: ['http://127.0.0.1:2379'], root_path: 'source' },
          mq: { type: 'MQ_TYPE_KAFKA', address: '127.0.0.1:9092' },
          channel_prefix: 'source',
        },
        target: { uri: 'http://127.0.0.1:19540', mode: 'TARGET_MODE_API' },
        scope: { include: [{ database: 'default', collection: '*' }], exclude: [] },
        start: { kind: 'START_KIND_LATEST', timestamp: '0', positions: {} },
      },
    });
    expect(task.create_time_ms).toMatch(/^\d+$/);
    expect(task.channels).toEqual(
      expect.arrayContaining([
        'source-rootcoord-dml_0',
        'source-rootcoord-dml_1',
        'source-replicate-msg',
      ]),
    );
    const listed = await json('list');
    expect(listed.tasks.map((t: { task_id: string }) => t.task_id)).toEqual([ID]);

    const table = await cli('list');
    expect(table.code).toBe(0);
    expect(table.stdout.split('\n')[0]).toMatch(
      /^ID\s+STATE\s+CHANNELS\s+TARGET\s+UPDATED\s+REASON$/,
    );
    expect(table.stdout).toMatch(new RegExp(`${ID}\\s+RUNNING\\s+\\d+\\s+http://127.0.0.1:19540`));
    const detail = await cli('get', ID);
    expect(detail.stdout).toMatch(/^State:\s+RUNNING$/m);
    expect(detail.stdout).toMatch(/^Source MQ:\s+KAFKA 127.0.0.1:9092$/m);
  });

  it('accepts a bare spec in JSON with camelCase names, and never prints secrets', async () => {
    const file = join(dir, 'spec.json');
    const spec = JSON.parse(JSON.stringify(await json('get', ID))).spec;
    writeFileSync(
      file,
      JSON.stringify({
        source: {
          etcd: { endpoints: spec.source.etcd.endpoints, rootPath: 'source' },
          mq: { type: 'MQ_TYPE_KAFKA', address: '127.0.0.1:9092' },
          channelPrefix: 'source',
        },
        target: { uri: 'http://127.0.0.1:19540', token: 'root:S3cret-cdcctl' },
        scope: { include: [{ database: 'other_db' }] },
      }),
    );
    const id2 = uniq('t2');
    const created = await cli('-o', 'json', 'create', '-f', file, '--id', id2, '--paused');
    expect(created.code).toBe(0);
    expect(JSON.parse(created.stdout).task).toMatchObject({
      task_id: id2,
      state: 'TASK_STATE_PAUSED',
      secret_fields_set: ['target.token'],
    });
    for (const r of [created, await cli('get', id2), await cli('-o', 'json', 'get', id2)])
      expect(r.stdout).not.toContain('S3cret');
    expect((await cli('delete', id2)).stdout).toBe(`task ${id2} deleting (DELETING)\n`);
  });

  it('pauses, resets positions, resumes', async () => {
    // No worker runs here: only an immediate pause can stop channels that never reached a pause point.
    const paused = await json('pause', ID, '--reason', 'maintenance window', '--immediate');
    expect(paused).toMatchObject({ state: 'TASK_STATE_PAUSED', reason: 'maintenance window' });
    const reset = await json(
      'reset-positions',
      ID,
      '--channel',
      'source-rootcoord-dml_0',
      '--channel',
      'source-rootcoord-dml_1',
      '--timestamp',
      '2026-01-01T00:00:00Z',
    );
    const dml0 = reset.channels.find(
      (ch: { channel: string }) => ch.channel === 'source-rootcoord-dml_0',
    );
    expect(dml0.pending_start).toMatchObject({
      kind: 'START_KIND_TIMESTAMP',
      timestamp: (BigInt(Date.parse('2026-01-01T00:00:00Z')) << 18n).toString(),
    });
    const all = await json('reset-positions', ID, '--all-channels', '--earliest');
    for (const ch of all.channels) expect(ch.pending_start.kind).toBe('START_KIND_EARLIEST');
    const running = await cli('resume', ID);
    expect(running.stdout).toBe(`task ${ID} resumed (RUNNING)\n`);
    const both = await cli('reset-positions', ID, '--channel', 'x', '--earliest', '--latest');
    expect(both.code).toBe(2);
    expect(both.stderr).toMatch(/^error: INVALID_ARGUMENT: give exactly one of/);
    const notPaused = await cli('reset-positions', ID, '--all-channels', '--latest');
    expect(notPaused.code).toBe(2);
    expect(notPaused.stderr).toMatch(/^error: FAILED_PRECONDITION: task .* is running/i);
  });

  it('shows positions and quarantined messages reported by a worker', async () => {
    const lease = await c.worker.AcquireLease({
      task_id: ID,
      channel: 'source-rootcoord-dml_0',
      worker_id: 'w-cdcctl',
    });
    const nowTso = BigInt(Date.now()) << 18n;
    await c.worker.ReportCheckpoint({
      task_id: ID,
      channel: 'source-rootcoord-dml_0',
      epoch: lease.epoch,
      worker_id: 'w-cdcctl',
      position: {
        msg_id: Buffer.from([7, 0, 0, 0, 0, 0, 0, 0]),
        timestamp: String(nowTso - (30_000n << 18n)),
      },
      source_head_timestamp: String(nowTso),
      applied_rows: 42,
      applied_bytes: 4200,
    });
    await c.worker.ReportQuarantine({
      task_id: ID,
      channel: 'source-rootcoord-dml_0',
      epoch: lease.epoch,
      reason: 'decoding insert: bad field data',
      payload: Buffer.from('poison'),
    });
    const pos = await json('positions', ID);
    expect(pos.task_id).toBe(ID);
    const row = pos.channels.find(
      (ch: { channel: string }) => ch.channel === 'source-rootcoord-dml_0',
    );
    expect(row).toMatchObject({
      epoch: lease.epoch,
      worker_id: 'w-cdcctl',
      applied_rows: '42',
      position: { msg_id: Buffer.from([7, 0, 0, 0, 0, 0, 0, 0]).toString('base64') },
    });
    expect(Number(row.lag_ms)).toBeGreaterThanOrEqual(29_000);
    const table = await cli('positions', ID);
    expect(table.stdout).toMatch(/^CHANNEL\s+EPOCH\s+WORKER\s+CHECKPOINT\s+LAG/);
    expect(table.stdout).toMatch(/source-rootcoord-dml_0\s+\d+\s+w-cdcctl\s+\S+Z\s+3\d\.\ds\s+42/);

    const q = await json('quarantine', ID);
    expect(q.records).toHaveLength(1);
    expect(q.records[0]).toMatchObject({
      channel: 'source-rootcoord-dml_0',
      reason: 'decoding insert: bad field data',
      payload: Buffer.from('poison').toString('base64'),
      truncated: false,
    });
    expect((await cli('quarantine', ID)).stdout).toMatch(
      /source-rootcoord-dml_0\s+\d+\s+\S+Z\s+\S+\s+6\s+decoding insert: bad field data/,
    );
  });

  it('watch prints live updates until interrupted', async () => {
    const w = start(['watch', ID, '--interval', '200ms']);
    await waitFor(
      () => Promise.resolve(/channels in sync/.test(w.out()) ? true : undefined),
      10_000,
      'a watch update',
    );
    w.proc.kill('SIGINT');
    const r = await w.done;
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    expect(r.stdout).toMatch(new RegExp(`Z ${ID} (catching up|starting|in sync).*channels`));
    expect(r.stdout).toMatch(/^ {2}source-rootcoord-dml_0 lag=\S+ epoch=\d+ rows=42$/m);

    const j = start(['-o', 'json', 'watch', ID, '--interval', '200ms']);
    await waitFor(() => Promise.resolve(j.out().includes('\n') ? true : undefined), 10_000, 'json');
    j.proc.kill('SIGINT');
    const first = JSON.parse((await j.done).stdout.split('\n')[0] ?? '');
    expect(first.task.task_id).toBe(ID);
    expect(first.lag_ms).toMatch(/^\d+$/);
  });

  it('rejects a bad task file with INVALID_ARGUMENT (exit 2)', async () => {
    const server = join(dir, 'bad.yaml');
    writeFileSync(server, readFileSync(EXAMPLE, 'utf8').replace('[http://127.0.0.1:2379]', '[]'));
    const r = await cli('create', '-f', server, '--id', uniq('bad'));
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe(
      'error: INVALID_ARGUMENT: spec.source.etcd.endpoints: needs at least one endpoint\n',
    );
    const local = join(dir, 'typo.yaml');
    writeFileSync(local, 'spec:\n  source: {}\n  targt: {uri: x}\n');
    const t = await cli('create', '-f', local);
    expect(t.code).toBe(2);
    expect(t.stderr).toMatch(/^error: INVALID_ARGUMENT: .*typo\.yaml: spec\.targt: unknown field/);
    const e = join(dir, 'enum.yaml');
    writeFileSync(e, 'spec: {target: {mode: fast}}\n');
    expect((await cli('create', '-f', e)).stderr).toMatch(
      /spec\.target\.mode: must be one of: api, replicate\n$/,
    );
  });

  it('maps gRPC errors to exit codes', async () => {
    const missing = await cli('get', 'no-such-task');
    expect(missing.code).toBe(2);
    expect(missing.stderr).toBe('error: NOT_FOUND: task no-such-task not found\n');
    const unknown = await cli('frobnicate');
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/^error: INVALID_ARGUMENT: unknown command "frobnicate"/);
    const down = await cli('--address', '127.0.0.1:1', '--timeout', '2s', 'list');
    expect(down.code).toBe(1);
    expect(down.stderr).toMatch(/^error: UNAVAILABLE: /);
  });

  it('deletes a task; a watch on it ends when it is gone', async () => {
    const w = start(['watch', ID, '--interval', '200ms']);
    await waitFor(() => Promise.resolve(w.out() === '' ? undefined : true), 10_000, 'watch');
    const del = await json('delete', ID);
    expect(del.task).toMatchObject({ task_id: ID, state: 'TASK_STATE_DELETING' });
    const r = await w.done;
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`task ${ID} was deleted; watch ended`);
    expect((await cli('get', ID)).code).toBe(2);
    const again = await cli('delete', ID, '--ignore-not-found');
    expect(again.code).toBe(0);
    expect(again.stdout).toBe(`task ${ID} did not exist\n`);
  });
});
