/* eslint-disable @typescript-eslint/no-explicit-any -- gRPC clients from proto-loader are untyped in tests */
/**
 * WatchTask's per-caller stream cap on the real control service (etcd, Redis): with
 * CONTROL_WATCH_STREAMS_PER_CALLER=3 a caller's 4th concurrent stream gets RESOURCE_EXHAUSTED, closing one frees
 * its slot, and another caller (another bearer token) is not affected.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Metadata, status, type ClientReadableStream, type ServiceError } from '@grpc/grpc-js';
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

const etcd = new Etcd3({ hosts: ETCD });
const ROOT = `${uniq('watchtest')}/`;
const SOURCE_ROOT = uniq('src');
const PREFIX = 'watchpfx';
const TOKEN_A = `a-${'1'.repeat(32)}`;
const TOKEN_B = `b-${'2'.repeat(32)}`;
const WORKER_TOKEN = `w-${'3'.repeat(32)}`;
let target: Awaited<ReturnType<typeof tcpListener>>;
let control: ControlProcess;
let a: Clients;
let b: Clients;
const taskId = uniq('watched');

function open(c: Clients, token: string): ClientReadableStream<unknown> {
  const md = new Metadata();
  md.set('authorization', `Bearer ${token}`);
  return (c.cdc.raw as any).WatchTask(
    { task_id: taskId, interval_ms: 200 },
    md,
  ) as ClientReadableStream<unknown>;
}

function firstMessage(s: ClientReadableStream<unknown>): Promise<unknown> {
  return new Promise((resolve, reject) => {
    s.once('data', resolve);
    s.once('error', reject);
  });
}

function closeQuietly(s: ClientReadableStream<unknown>): void {
  s.on('error', () => undefined);
  s.cancel();
}

beforeAll(async () => {
  target = await tcpListener();
  await seedSourceMetadata(etcd, SOURCE_ROOT, PREFIX, [0]);
  control = await startControl({
    CONTROL_ETCD_ENDPOINTS: ETCD,
    CONTROL_ETCD_ROOT: ROOT,
    CDC_REDIS_URL: REDIS_URL,
    CDC_QUEUE_PREFIX: uniq('bullwatch'),
    CONTROL_SECRET_KEY: SECRET_KEY,
    CONTROL_API_TOKENS: `${TOKEN_A},${TOKEN_B}`,
    CONTROL_WORKER_TOKENS: WORKER_TOKEN,
    CONTROL_WATCH_STREAMS_PER_CALLER: '3',
  });
  a = clients(control.port, { token: TOKEN_A });
  b = clients(control.port, { token: TOKEN_B });
  await a.cdc.CreateTask({
    task_id: taskId,
    spec: {
      source: {
        etcd: { endpoints: [ETCD], root_path: SOURCE_ROOT },
        mq: { type: 'MQ_TYPE_KAFKA', address: `127.0.0.1:${target.port}` },
        channel_prefix: PREFIX,
      },
      target: { uri: `http://127.0.0.1:${target.port}` },
      scope: { include: [{ database: 'db1', collection: '*' }] },
    },
    start_paused: true,
  });
});

afterAll(async () => {
  a.close();
  b.close();
  await stopControl(control);
  await etcd.delete().prefix(ROOT);
  await etcd.delete().prefix(`${SOURCE_ROOT}/`);
  etcd.close();
  await target.close();
});

describe('WatchTask stream cap', () => {
  it('refuses a caller’s 4th stream with RESOURCE_EXHAUSTED; a closed one frees its slot; others unaffected', async () => {
    const mine = [open(a, TOKEN_A), open(a, TOKEN_A), open(a, TOKEN_A)];
    await Promise.all(mine.map(firstMessage));

    const over = open(a, TOKEN_A);
    const err = await new Promise<ServiceError>((resolve, reject) => {
      over.once('error', resolve);
      over.once('data', () => {
        reject(new Error('the 4th stream was accepted'));
      });
    });
    expect(err.code).toBe(status.RESOURCE_EXHAUSTED);
    expect(err.details).toMatch(/already has 3 WatchTask streams open/);

    const theirs = open(b, TOKEN_B); // another token is another caller
    await firstMessage(theirs);

    closeQuietly(mine.pop()!);
    let again: ClientReadableStream<unknown> | undefined;
    const deadline = Date.now() + 5_000;
    for (;;) {
      const s = open(a, TOKEN_A);
      try {
        await firstMessage(s);
        again = s;
        break;
      } catch (e) {
        // The server learns of the cancel asynchronously: retry briefly until the slot is back.
        if ((e as ServiceError).code !== status.RESOURCE_EXHAUSTED || Date.now() > deadline)
          throw e;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    for (const s of [...mine, theirs, again]) closeQuietly(s);
    expect(control.output()).toMatch(/WatchTask refused: too many streams/);
    expect(control.output()).not.toContain(TOKEN_A);
  });
});
