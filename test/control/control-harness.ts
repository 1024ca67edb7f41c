/* eslint-disable @typescript-eslint/no-explicit-any -- gRPC clients from proto-loader are untyped in tests */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:net';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { CDC_PROTO_FILES, PROTO_LOADER_OPTIONS } from '@cdc/shared';
import type { Etcd3 } from 'etcd3';

/** Real-service handles for control-service tests: etcd and Redis on loopback, the built control binary. */
export const ETCD = process.env['ETCD_ENDPOINTS'] ?? 'http://127.0.0.1:2379';
export const REDIS_URL = process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379';
/** The control's handover time in these tests: a channel whose holder went silent this long may move. */
export const LEASE_HANDOVER_MS = 3_500;

/** Waits until a silent holder's channel may go to another worker. */
export function handover(): Promise<void> {
  return new Promise((r) => setTimeout(r, LEASE_HANDOVER_MS + 100));
}

const MAIN = fileURLToPath(new URL('../../services/control/dist/main.js', import.meta.url));

export interface ControlProcess {
  readonly proc: ChildProcess;
  readonly port: number;
  readonly output: () => string;
  readonly exited: Promise<number | null>;
}

export async function startControl(env: Record<string, string>): Promise<ControlProcess> {
  const proc = spawn(process.execPath, [MAIN], {
    env: {
      ...process.env,
      LOG_LEVEL: 'info',
      CONTROL_GRPC_ADDRESS: '127.0.0.1:0',
      // These tests seed their own source metadata: schedule exactly the channels it names.
      CONTROL_ASSUMED_DML_CHANNELS: '0',
      // Short lease timings, so a test that takes a channel over from a silent worker waits LEASE_HANDOVER_MS.
      CONTROL_REPORT_INTERVAL_MS: '1000',
      CONTROL_LEASE_WRITE_VALIDITY_MS: '3000',
      CONTROL_LEASE_CLOCK_MARGIN_MS: '100',
      CONTROL_LEASE_HANDOVER_MS: String(LEASE_HANDOVER_MS),
      CONTROL_PAUSE_LEAD_MS: '2000',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  proc.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) =>
    proc.once('exit', (code) => {
      resolve(code);
    }),
  );
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => {
      reject(new Error(`control did not start:\n${out}`));
    }, 15_000);
    proc.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /"msg":"control ready","port":(\d+)/.exec(out);
      if (m?.[1] !== undefined) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    });
    void exited.then((code) => {
      reject(new Error(`control exited ${code}:\n${out}`));
    });
  });
  return { proc, port, output: () => out, exited };
}

export async function stopControl(
  c: ControlProcess,
  signal: NodeJS.Signals = 'SIGTERM',
): Promise<number | null> {
  if (c.proc.exitCode === null && c.proc.signalCode === null && c.proc.pid !== undefined)
    process.kill(c.proc.pid, signal);
  return c.exited;
}

type Unary = (req: unknown) => Promise<any>;
type CdcMethods =
  | 'CreateTask'
  | 'GetTask'
  | 'ListTasks'
  | 'PauseTask'
  | 'ResumeTask'
  | 'DeleteTask'
  | 'GetTaskPositions'
  | 'ResetTaskPositions'
  | 'ListQuarantine'
  | 'PurgeQuarantine';
type WorkerMethods =
  | 'AcquireLease'
  | 'ReportCheckpoint'
  | 'ReportCheckpoints'
  | 'ReportQuarantine'
  | 'ReportQuarantineBatch'
  | 'ReportFailure'
  | 'ReleaseLease'
  | 'Heartbeat';
type Api<K extends string> = Record<K, Unary> & { raw: grpc.Client };
export interface Clients {
  cdc: Api<CdcMethods>;
  worker: Api<WorkerMethods>;
  health: Api<'Check'>;
  close(): void;
}

const definition = loadSync([...CDC_PROTO_FILES], PROTO_LOADER_OPTIONS);
const root = grpc.loadPackageDefinition(definition) as any;

function wrap<K extends string>(client: grpc.Client, metadata: grpc.Metadata): Api<K> {
  const out: Record<string, unknown> = { raw: client };
  return new Proxy(out, {
    get: (target, name: string) =>
      target[name] ??
      ((req: unknown) =>
        new Promise((resolve, reject) => {
          (client as any)[name](
            req,
            metadata,
            { deadline: Date.now() + 10_000 },
            (err: Error | null, res: unknown) => {
              if (err) reject(err);
              else resolve(res);
            },
          );
        })),
  }) as Api<K>;
}

/** Transport credentials (default plaintext) and a bearer token sent on every call (default none). */
export interface ClientAuth {
  readonly credentials?: grpc.ChannelCredentials;
  readonly token?: string;
}

export function clients(port: number, auth: ClientAuth = {}): Clients {
  const address = `127.0.0.1:${port}`;
  const creds = auth.credentials ?? grpc.credentials.createInsecure();
  const metadata = new grpc.Metadata();
  if (auth.token !== undefined) metadata.set('authorization', `Bearer ${auth.token}`);
  const cdc = new root.cdc.v1.CdcService(address, creds);
  const worker = new root.cdc.v1.WorkerService(address, creds);
  const healthDef = grpc.loadPackageDefinition(
    loadSync(require_health(), PROTO_LOADER_OPTIONS),
  ) as any;
  const health = new healthDef.grpc.health.v1.Health(address, creds);
  return {
    cdc: wrap(cdc, metadata),
    worker: wrap(worker, metadata),
    health: wrap(health, metadata),
    close: () => {
      cdc.close();
      worker.close();
      health.close();
    },
  };
}

function require_health(): string {
  return fileURLToPath(
    new URL(
      '../../services/control/node_modules/grpc-health-check/proto/health/v1/health.proto',
      import.meta.url,
    ),
  );
}

/** A TCP listener standing in as a reachable endpoint (target URI, MQ broker) for reachability probes. */
export async function tcpListener(): Promise<{ port: number; close: () => Promise<void> }> {
  const server: Server = createServer((s) => s.destroy());
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  return {
    port,
    close: () =>
      new Promise((r) =>
        server.close(() => {
          r();
        }),
      ),
  };
}

/** Writes a minimal source-Milvus metadata tree: gid timestamp and collections naming DML pchannels. */
export async function seedSourceMetadata(
  etcd: Etcd3,
  rootPath: string,
  prefix: string,
  pchannels: number[],
): Promise<void> {
  await etcd.put(`${rootPath}/kv/gid/timestamp`).value(Buffer.alloc(8));
  for (const i of pchannels)
    await etcd
      .put(`${rootPath}/meta/root-coord/database/collection-info/1/${1000 + i}`)
      .value(Buffer.from(`\x0a\x05coll${i}\x42\x17${prefix}-rootcoord-dml_${i}\x0a`, 'latin1'));
}

export function uniq(label: string): string {
  return `${label}-${randomUUID().slice(0, 8)}`;
}

export const SECRET_KEY = randomBytes(32).toString('base64');

export async function waitFor<T>(
  fn: () => Promise<T | undefined>,
  timeoutMs: number,
  what: string,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await fn();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(
    `timed out waiting for ${what}${last instanceof Error ? `: ${last.message}` : ''}`,
  );
}
