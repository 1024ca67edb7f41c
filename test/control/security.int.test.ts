/* eslint-disable @typescript-eslint/no-explicit-any -- gRPC clients from proto-loader are untyped in tests */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import { Queue } from 'bullmq';
import { Etcd3 } from 'etcd3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, startNodeProcess, type RunningProcess } from '../helpers/processes.js';
import { kafkaSourceSpec, stackEnv } from '../helpers/stack.js';
import { createTestPki, type TestPki } from '../helpers/tls-certs.js';
import {
  clients,
  ETCD,
  REDIS_URL,
  SECRET_KEY,
  startControl,
  stopControl,
  uniq,
  waitFor,
  type ClientAuth,
  type Clients,
  type ControlProcess,
} from './control-harness.js';

/**
 * The gRPC API secured end to end on the real stack: a control process with TLS, mutual TLS (client certificates
 * from a throwaway CA made by openssl) and tokens; real workers and cdcctl as child processes. Every secret (tokens,
 * private key lines) is then looked for in everything the processes printed, and in /metrics.
 */
const CLI = fileURLToPath(new URL('../../services/control/dist/cli/main.js', import.meta.url));
const ROOT = `${uniq('sectest')}/`;
const QUEUE_PREFIX = uniq('bullsec');
const TASK_ID = uniq('sec');
const API_TOKEN = `api-${randomBytes(24).toString('hex')}`;
const SECOND_API_TOKEN = `api2-${randomBytes(24).toString('hex')}`;
const WORKER_TOKEN = `wrk-${randomBytes(24).toString('hex')}`;
const WRONG_TOKEN = `wrong-${randomBytes(24).toString('hex')}`;
const SECRETS = [API_TOKEN, SECOND_API_TOKEN, WORKER_TOKEN, WRONG_TOKEN];
const stack = stackEnv();
const etcd = new Etcd3({ hosts: ETCD });
let pki: TestPki;
let control: ControlProcess;
let metricsPort: number;
/** Workers and failed control starts (by pid, in afterAll); their log files are searched for secrets. */
const children: RunningProcess[] = [];
const opened: Clients[] = [];
const printed: string[] = [];

const mtls = (): grpc.ChannelCredentials =>
  grpc.credentials.createSsl(
    readFileSync(pki.caCert),
    readFileSync(pki.clientKey),
    readFileSync(pki.clientCert),
  );

function connect(auth: ClientAuth): Clients {
  const c = clients(control.port, auth);
  opened.push(c);
  return c;
}

async function expectStatus(p: Promise<unknown>, code: grpc.status): Promise<any> {
  const err: any = await p.then(
    () => expect.fail('the call succeeded'),
    (e: unknown) => e,
  );
  expect(grpc.status[err.code]).toBe(grpc.status[code]);
  return err;
}

interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

function cdcctl(args: string[], env: Record<string, string> = {}): Promise<CliRun> {
  const proc = spawn(process.execPath, [CLI, '--address', `127.0.0.1:${control.port}`, ...args], {
    env: { ...process.env, CDCCTL_TOKEN: '', CDC_TOKEN: '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  proc.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  proc.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve) =>
    proc.once('close', (code) => {
      printed.push(stdout, stderr);
      resolve({ code, stdout, stderr });
    }),
  );
}

async function startWorker(name: string, token: string): Promise<RunningProcess> {
  const worker = startNodeProcess(name, 'services/worker/dist/main.js', {
    WORKER_ID: name,
    WORKER_CONTROL_ADDRESS: `127.0.0.1:${control.port}`,
    WORKER_CONTROL_TOKEN: token,
    WORKER_CONTROL_TLS_CA_FILE: pki.caCert,
    WORKER_CONTROL_TLS_CERT_FILE: pki.clientCert,
    WORKER_CONTROL_TLS_KEY_FILE: pki.clientKey,
    WORKER_CONTROL_TLS_SERVER_NAME: 'localhost',
    CDC_REDIS_URL: REDIS_URL,
    CDC_QUEUE_PREFIX: QUEUE_PREFIX,
    WORKER_METRICS_PORT: String(await freePort()),
    WORKER_LOCK_MS: '8000',
    WORKER_STALLED_CHECK_MS: '2000',
    LOG_LEVEL: 'info',
  });
  children.push(worker);
  return worker;
}

const logOf = (w: RunningProcess): string => readFileSync(w.logFile, 'utf8');

/** The exit code of a process expected to stop on its own, within 60 s (start-up is slow on a busy machine). */
function exitCode(p: RunningProcess): Promise<number | null> {
  if (p.child.exitCode !== null) return Promise.resolve(p.child.exitCode);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      reject(new Error(`${p.name} did not exit within 60 s`));
    }, 60_000);
    p.child.once('exit', (code) => {
      clearTimeout(timer);
      resolve(code);
    });
  });
}

beforeAll(async () => {
  pki = createTestPki();
  const workerTokensFile = join(pki.dir, 'worker-tokens');
  writeFileSync(workerTokensFile, `# workers\n${WORKER_TOKEN}\n`);
  metricsPort = await freePort();
  // Worker tokens from a file here, from the env in the start-up failure cases below.
  control = await startControl(
    controlEnv({ CONTROL_WORKER_TOKENS: '', CONTROL_WORKER_TOKENS_FILE: workerTokensFile }),
  );
});

/** TLS with client certificates and both token lists; `over` replaces settings. */
function controlEnv(over: Record<string, string> = {}): Record<string, string> {
  return {
    CONTROL_ETCD_ENDPOINTS: ETCD,
    CONTROL_ETCD_ROOT: ROOT,
    CDC_REDIS_URL: REDIS_URL,
    CDC_QUEUE_PREFIX: QUEUE_PREFIX,
    CONTROL_SECRET_KEY: SECRET_KEY,
    CONTROL_RECONCILE_INTERVAL_MS: '300',
    CONTROL_ELECTION_TTL_S: '2',
    CONTROL_ASSUMED_DML_CHANNELS: '1',
    CONTROL_METRICS_HOST: '127.0.0.1',
    CONTROL_METRICS_PORT: String(metricsPort),
    CONTROL_TLS_CERT_FILE: pki.serverCert,
    CONTROL_TLS_KEY_FILE: pki.serverKey,
    CONTROL_TLS_CLIENT_CA_FILE: pki.caCert,
    CONTROL_API_TOKENS: `${API_TOKEN}, ${SECOND_API_TOKEN}`,
    CONTROL_WORKER_TOKENS: WORKER_TOKEN,
    ...over,
  };
}

afterAll(async () => {
  for (const c of opened) c.close();
  await Promise.all(children.map((w) => w.stop()));
  if (control !== undefined) await stopControl(control);
  const queue = new Queue('cdc-leases', {
    prefix: QUEUE_PREFIX,
    connection: { host: '127.0.0.1', port: 6379 },
  });
  await queue.obliterate({ force: true }).catch(() => undefined);
  await queue.close();
  await etcd.delete().prefix(ROOT);
  etcd.close();
  pki.remove();
});

describe('gRPC API security (TLS, mutual TLS, tokens)', () => {
  it('refuses connections without TLS, without a client certificate, or with one from another CA', async () => {
    const plaintext = connect({ token: API_TOKEN });
    await expectStatus(plaintext.cdc.ListTasks({}), grpc.status.UNAVAILABLE);
    const noClientCert = connect({
      credentials: grpc.credentials.createSsl(readFileSync(pki.caCert)),
      token: API_TOKEN,
    });
    await expectStatus(noClientCert.cdc.ListTasks({}), grpc.status.UNAVAILABLE);
    const stranger = connect({
      credentials: grpc.credentials.createSsl(
        readFileSync(pki.caCert),
        readFileSync(pki.strangerKey),
        readFileSync(pki.strangerCert),
      ),
      token: API_TOKEN,
    });
    await expectStatus(stranger.cdc.ListTasks({}), grpc.status.UNAVAILABLE);
  });

  it('answers UNAUTHENTICATED without a token, with a wrong one, or with the other service’s token', async () => {
    const none = connect({ credentials: mtls() });
    const missing = await expectStatus(none.cdc.ListTasks({}), grpc.status.UNAUTHENTICATED);
    expect(missing.details).toMatch(/^missing credentials: .*API token.*authorization: Bearer/);
    await expectStatus(none.worker.Heartbeat({ worker_id: 'w' }), grpc.status.UNAUTHENTICATED);

    const wrong = connect({ credentials: mtls(), token: WRONG_TOKEN });
    const invalid = await expectStatus(wrong.cdc.ListTasks({}), grpc.status.UNAUTHENTICATED);
    expect(invalid.details).toBe('invalid credentials: the bearer token is not an API token');
    expect(JSON.stringify(invalid.metadata.getMap())).not.toContain(WRONG_TOKEN);

    const workerOnApi = connect({ credentials: mtls(), token: WORKER_TOKEN });
    await expectStatus(workerOnApi.cdc.ListTasks({}), grpc.status.UNAUTHENTICATED);
    await expectStatus(workerOnApi.cdc.GetTask({ task_id: 'x' }), grpc.status.UNAUTHENTICATED);
    const apiOnWorker = connect({ credentials: mtls(), token: API_TOKEN });
    const refused = await expectStatus(
      apiOnWorker.worker.Heartbeat({ worker_id: 'w' }),
      grpc.status.UNAUTHENTICATED,
    );
    expect(refused.details).toBe('invalid credentials: the bearer token is not a worker token');
  });

  it('guards the WatchTask stream too', async () => {
    const none = connect({ credentials: mtls() });
    const stream: grpc.ClientReadableStream<unknown> = (none.cdc.raw as any).WatchTask(
      { task_id: 'x' },
      new grpc.Metadata(),
    );
    const err = await new Promise<grpc.ServiceError>((resolve) => {
      stream.on('error', resolve);
    });
    expect(err.code).toBe(grpc.status.UNAUTHENTICATED);
  });

  it('serves each token’s own service, and health without a token', async () => {
    const api = connect({ credentials: mtls(), token: API_TOKEN });
    expect(await api.cdc.ListTasks({})).toMatchObject({ tasks: [] });
    const second = connect({ credentials: mtls(), token: SECOND_API_TOKEN });
    expect(await second.cdc.ListTasks({})).toMatchObject({ tasks: [] });
    const worker = connect({ credentials: mtls(), token: WORKER_TOKEN });
    await worker.worker.Heartbeat({ worker_id: 'probe' });
    const anonymous = connect({ credentials: mtls() });
    expect(await anonymous.health.Check({ service: '' })).toEqual({ status: 'SERVING' });
    expect(await anonymous.health.Check({ service: 'cdc.v1.CdcService' })).toEqual({
      status: 'SERVING',
    });
  });

  it('a worker with a refused token logs why and backs off; one with its token takes a lease', async () => {
    const api = connect({ credentials: mtls(), token: API_TOKEN });
    await api.cdc.CreateTask({
      task_id: TASK_ID,
      spec: {
        source: kafkaSourceSpec(stack),
        target: { uri: `http://${stack.targetMilvusAddress}`, mode: 'TARGET_MODE_API' },
        scope: { include: [{ database: uniq('sec_db').replace('-', '_'), collection: '*' }] },
        start: { kind: 'START_KIND_LATEST' },
      },
    });

    const refused = await startWorker(uniq('w-refused'), WRONG_TOKEN);
    const refusals = (): number => logOf(refused).split('refused this worker').length - 1;
    await waitFor(() => Promise.resolve(refusals() >= 3 ? true : undefined), 20_000, 'refusals');
    const lines = logOf(refused)
      .split('\n')
      .filter((l) => l.includes('refused this worker'))
      .map((l) => JSON.parse(l) as { level: number; retryInMs: number; reason: string });
    expect(lines[0]?.level).toBe(50); // error
    expect(lines[0]?.reason).toContain('invalid credentials');
    expect(lines.map((l) => l.retryInMs).slice(0, 3)).toEqual([1000, 2000, 4000]);
    expect(refused.child.exitCode).toBeNull(); // still running, waiting, not crash-looping

    const good = await startWorker(uniq('w-ok'), WORKER_TOKEN);
    const held = await waitFor(
      async () => {
        const pos = await api.cdc.GetTaskPositions({ task_id: TASK_ID });
        const mine = (pos.channels as { worker_id: string; epoch: string }[]).filter(
          (ch) => ch.worker_id === good.name,
        );
        return mine.length > 0 ? mine : undefined;
      },
      60_000,
      'a lease held by the worker with the right token',
    );
    expect(held[0]?.epoch).not.toBe('0');
    const pos = await api.cdc.GetTaskPositions({ task_id: TASK_ID });
    expect(pos.channels.some((ch: any) => ch.worker_id === refused.name)).toBe(false);
    expect(logOf(good)).toContain('control service accepted this worker');
  });

  it('a worker with an unreadable CA file exits 78 naming the variable and path', async () => {
    const missing = join(pki.dir, 'missing-ca.crt');
    const worker = startNodeProcess(uniq('w-noca'), 'services/worker/dist/main.js', {
      WORKER_CONTROL_ADDRESS: `127.0.0.1:${control.port}`,
      WORKER_CONTROL_TLS_CA_FILE: missing,
      WORKER_METRICS_PORT: '0',
    });
    children.push(worker);
    expect(await exitCode(worker)).toBe(78);
    const expected = `WORKER_CONTROL_TLS_CA_FILE: cannot read ${missing} (ENOENT)`;
    await waitFor(
      () => Promise.resolve(logOf(worker).includes(expected) ? true : undefined),
      5_000,
      'the config error in the worker log',
    );
  });

  it('cdcctl lists tasks with a token and CA; without one it prints UNAUTHENTICATED and exits 2', async () => {
    const tls = [
      '--ca-file',
      pki.caCert,
      '--cert-file',
      pki.clientCert,
      '--key-file',
      pki.clientKey,
    ];
    const ok = await cdcctl([...tls, '--token', API_TOKEN, '-o', 'json', 'list']);
    expect(ok.stderr).toBe('');
    expect(ok.code).toBe(0);
    const listed = JSON.parse(ok.stdout) as { tasks: { task_id: string }[] };
    expect(listed.tasks.map((t) => t.task_id)).toEqual([TASK_ID]);
    const byEnv = await cdcctl([...tls, '--server-name', 'localhost', 'list'], {
      CDCCTL_TOKEN: SECOND_API_TOKEN,
    });
    expect(byEnv.code).toBe(0);
    expect(byEnv.stdout).toContain(TASK_ID);

    const anonymous = await cdcctl([...tls, 'list']);
    expect(anonymous.code).toBe(2);
    expect(anonymous.stdout).toBe('');
    expect(anonymous.stderr).toMatch(
      /^error: UNAUTHENTICATED: missing credentials: .* \(give an API token with --token or env CDCCTL_TOKEN\)\n$/,
    );
    const wrong = await cdcctl([...tls, '--token', WRONG_TOKEN, 'list']);
    expect(wrong.code).toBe(2);
    expect(wrong.stderr).toMatch(/^error: UNAUTHENTICATED: invalid credentials/);
    const plaintext = await cdcctl(['--token', API_TOKEN, '--timeout', '3s', 'list']);
    expect(plaintext.code).toBe(1);
    expect(plaintext.stderr).toMatch(/^error: UNAVAILABLE: /);
  });

  it('refuses to start (exit 78) with an unreadable certificate or a key of another certificate', async () => {
    const failed = async (over: Record<string, string>, expected: string): Promise<void> => {
      const proc = startNodeProcess(uniq('control-bad-tls'), 'services/control/dist/main.js', {
        ...controlEnv({ CONTROL_GRPC_ADDRESS: '127.0.0.1:0', CONTROL_METRICS_PORT: '0' }),
        ...over,
      });
      children.push(proc); // stopped in afterAll should it not exit
      expect(await exitCode(proc)).toBe(78);
      await waitFor(
        () => Promise.resolve(logOf(proc).includes(expected) ? true : undefined),
        5_000,
        `"${expected}" in the control log`,
      );
    };
    const missing = join(pki.dir, 'missing.crt');
    await failed(
      { CONTROL_TLS_CERT_FILE: missing },
      `CONTROL_TLS_CERT_FILE: cannot read ${missing} (ENOENT)`,
    );
    await failed(
      { CONTROL_TLS_KEY_FILE: pki.clientKey },
      `CONTROL_TLS_KEY_FILE: ${pki.clientKey} is not the key of ${pki.serverCert}`,
    );
  });

  it('refuses an open API beyond loopback (exit 78) unless CONTROL_INSECURE=true says so, then warns', async () => {
    const open = {
      CONTROL_GRPC_ADDRESS: '0.0.0.0:0',
      CONTROL_METRICS_PORT: '0',
      CONTROL_TLS_CERT_FILE: '',
      CONTROL_TLS_KEY_FILE: '',
      CONTROL_TLS_CLIENT_CA_FILE: '',
      CONTROL_API_TOKENS: '',
      CONTROL_WORKER_TOKENS: '',
    };
    const refused = startNodeProcess(uniq('control-open'), 'services/control/dist/main.js', {
      ...controlEnv(open),
    });
    children.push(refused);
    expect(await exitCode(refused)).toBe(78);
    // Warnings and info lines reach the log through separate pipes: wait for the line itself.
    const inLog = (p: RunningProcess, text: string): Promise<boolean> =>
      waitFor(
        () => Promise.resolve(logOf(p).includes(text) ? true : undefined),
        10_000,
        `"${text}" in the log`,
      );
    await inLog(refused, 'CONTROL_GRPC_ADDRESS: 0.0.0.0:0 is reachable from other hosts');
    // Server TLS alone does not authenticate callers either.
    const tlsOnly = startNodeProcess(uniq('control-tls-only'), 'services/control/dist/main.js', {
      ...controlEnv({
        ...open,
        CONTROL_TLS_CERT_FILE: pki.serverCert,
        CONTROL_TLS_KEY_FILE: pki.serverKey,
      }),
    });
    children.push(tlsOnly);
    expect(await exitCode(tlsOnly)).toBe(78);

    const insecure = startNodeProcess(uniq('control-insecure'), 'services/control/dist/main.js', {
      ...controlEnv({ ...open, CONTROL_INSECURE: 'true' }),
    });
    children.push(insecure);
    await waitFor(
      () => Promise.resolve(logOf(insecure).includes('control ready') ? true : undefined),
      30_000,
      'the insecure control to start',
    );
    await inLog(insecure, 'CONTROL_INSECURE=true: the gRPC API');
    await insecure.stop();
  });

  it('no secret appears in any output or metric', async () => {
    const api = connect({ credentials: mtls(), token: API_TOKEN });
    await api.cdc.DeleteTask({ task_id: TASK_ID });
    const metrics = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
    expect(metrics).toContain('cdc_control');
    const outputs = [control.output(), metrics, ...children.map(logOf), ...printed];
    expect(control.output()).toContain('refused: unauthenticated'); // the refusals were logged...
    for (const secret of [...SECRETS, ...pki.keyLines()])
      for (const out of outputs) expect(out).not.toContain(secret); // ...without what was presented
  });
});
