/* eslint-disable @typescript-eslint/no-explicit-any -- proto-loader clients are untyped */
import * as grpc from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { CDC_PROTO_FILES, createLogger, PROTO_LOADER_OPTIONS, type pb } from '@cdc/shared';
import { protoPath as healthProtoPath } from 'grpc-health-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ControlServer } from '../server.js';
import { requireToken } from './auth.js';
import { TokenSet } from './tokens.js';

/**
 * The token guard inside a real ControlServer on loopback (plaintext: TLS is the integration test's job), called
 * through a real gRPC client, with handlers that record whether they ran.
 */
const API = 'api-token-0123456789abcdef';
const WORKER = 'worker-token-0123456789abcdef';
const log = createLogger({ service: 'auth-test', level: 'silent' });
const ran: string[] = [];
const handlers = {
  cdc: {
    ListTasks: (_call: unknown, cb: grpc.sendUnaryData<unknown>) => {
      ran.push('ListTasks');
      cb(null, { tasks: [] });
    },
    WatchTask: (call: grpc.ServerWritableStream<unknown, unknown>) => {
      ran.push('WatchTask');
      call.end();
    },
  } as pb.CdcServiceHandlers, // only the methods this test calls
  worker: {
    Heartbeat: (_call: unknown, cb: grpc.sendUnaryData<unknown>) => {
      ran.push('Heartbeat');
      cb(null, {});
    },
  } as pb.WorkerServiceHandlers,
};
const guarded = new ControlServer(handlers, log, {
  api: { tokens: new TokenSet([API]), credential: 'an API token' },
  worker: { tokens: new TokenSet([WORKER]), credential: 'a worker token' },
});
const open = new ControlServer(handlers, log);
const root = grpc.loadPackageDefinition(
  loadSync([...CDC_PROTO_FILES], PROTO_LOADER_OPTIONS),
) as any;
const health = grpc.loadPackageDefinition(loadSync(healthProtoPath, PROTO_LOADER_OPTIONS)) as any;
let guardedPort = 0;
let openPort = 0;
const stubs: grpc.Client[] = [];

function stub(ctor: any, port: number): any {
  const s = new ctor(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  stubs.push(s);
  return s;
}

function call(client: any, method: string, req: unknown, token?: string): Promise<any> {
  const md = new grpc.Metadata();
  if (token !== undefined) md.set('authorization', `Bearer ${token}`);
  return new Promise((resolve, reject) => {
    client[method](req, md, { deadline: Date.now() + 5000 }, (err: Error | null, res: unknown) => {
      if (err) reject(err);
      else resolve(res);
    });
  });
}

function streamError(client: any, token?: string): Promise<grpc.ServiceError | 'ended'> {
  const md = new grpc.Metadata();
  if (token !== undefined) md.set('authorization', `Bearer ${token}`);
  const stream: grpc.ClientReadableStream<unknown> = client.WatchTask({ task_id: 't' }, md);
  return new Promise((resolve) => {
    stream.on('error', resolve);
    stream.on('data', () => undefined);
    stream.on('end', () => {
      resolve('ended');
    });
  });
}

beforeAll(async () => {
  guardedPort = await guarded.listen('127.0.0.1:0');
  openPort = await open.listen('127.0.0.1:0');
});

afterAll(async () => {
  for (const s of stubs) s.close();
  await Promise.all([guarded.stop(1000), open.stop(1000)]);
});

describe('requireToken', () => {
  it('refuses a call without a token before the handler runs', async () => {
    ran.length = 0;
    const cdc = stub(root.cdc.v1.CdcService, guardedPort);
    await expect(call(cdc, 'ListTasks', {})).rejects.toMatchObject({
      code: grpc.status.UNAUTHENTICATED,
      details: expect.stringMatching(/^missing credentials: this service requires an API token/),
    });
    expect(ran).toEqual([]);
  });

  it('refuses a wrong token without echoing it, and each service refuses the other one’s token', async () => {
    ran.length = 0;
    const cdc = stub(root.cdc.v1.CdcService, guardedPort);
    const worker = stub(root.cdc.v1.WorkerService, guardedPort);
    const wrong = 'not-the-token-0123456789';
    const err = await call(cdc, 'ListTasks', {}, wrong).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: grpc.status.UNAUTHENTICATED });
    expect(JSON.stringify(err)).not.toContain(wrong);
    expect((err as Error).message).not.toContain(wrong);
    await expect(call(cdc, 'ListTasks', {}, WORKER)).rejects.toMatchObject({
      code: grpc.status.UNAUTHENTICATED,
      details: 'invalid credentials: the bearer token is not an API token',
    });
    await expect(call(worker, 'Heartbeat', { worker_id: 'w' }, API)).rejects.toMatchObject({
      code: grpc.status.UNAUTHENTICATED,
      details: 'invalid credentials: the bearer token is not a worker token',
    });
    expect(ran).toEqual([]);
  });

  it('runs the handler for the right token', async () => {
    ran.length = 0;
    const cdc = stub(root.cdc.v1.CdcService, guardedPort);
    const worker = stub(root.cdc.v1.WorkerService, guardedPort);
    await expect(call(cdc, 'ListTasks', {}, API)).resolves.toMatchObject({ tasks: [] });
    await expect(call(worker, 'Heartbeat', { worker_id: 'w' }, WORKER)).resolves.toEqual({
      report_now_task_ids: [],
    });
    expect(ran).toEqual(['ListTasks', 'Heartbeat']);
  });

  it('guards server streams: UNAUTHENTICATED as the stream status', async () => {
    ran.length = 0;
    const cdc = stub(root.cdc.v1.CdcService, guardedPort);
    expect(await streamError(cdc)).toMatchObject({ code: grpc.status.UNAUTHENTICATED });
    expect(ran).toEqual([]);
    expect(await streamError(cdc, API)).toBe('ended');
    expect(ran).toEqual(['WatchTask']);
  });

  it('leaves health open, and everything open without token policies', async () => {
    const h = stub(health.grpc.health.v1.Health, guardedPort);
    await expect(call(h, 'Check', { service: '' })).resolves.toEqual({ status: 'SERVING' });
    const cdc = stub(root.cdc.v1.CdcService, openPort);
    await expect(call(cdc, 'ListTasks', {})).resolves.toMatchObject({ tasks: [] });
  });

  it('refuses to wrap a client-streaming method rather than leave it unguarded', () => {
    const method = {
      path: '/x.S/Upload',
      requestStream: true,
      responseStream: false,
    } as unknown as grpc.MethodDefinition<unknown, unknown>;
    expect(() =>
      requireToken(
        { Upload: method },
        { Upload: () => undefined },
        { tokens: new TokenSet([API]), credential: 'an API token' },
        log,
      ),
    ).toThrow(/client-streaming methods are not supported/);
  });
});
