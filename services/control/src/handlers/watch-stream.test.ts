import { EventEmitter } from 'node:events';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import {
  CDC_PROTO_FILES,
  PROTO_LOADER_OPTIONS,
  PROTO_ROOT,
  createLogger,
  type pb,
} from '@cdc/shared';
import { afterEach, describe, expect, it } from 'vitest';
import { WatchLimiter, watchHandler, watchTask, type WatchCall } from './watch-stream.js';

const log = createLogger({ service: 'watch-test', level: 'silent' });
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A status message whose task reason carries `reason` (each poll's own, so every poll is a change). */
function taskStatus(reason: string): Required<pb.TaskStatus> {
  return { task: { task_id: 't', reason }, channels: [], lag_ms: '0' };
}

/** A server stream whose buffer is "full" until the test drains it. */
class FakeCall extends EventEmitter implements WatchCall {
  cancelled = false;
  full = false;
  readonly written: Required<pb.TaskStatus>[] = [];
  constructor(readonly request: Partial<pb.WatchTaskRequest__Output>) {
    super();
  }
  write(message: Required<pb.TaskStatus>): boolean {
    this.written.push(message);
    return !this.full;
  }
  end(): void {
    this.emit('close');
  }
  cancel(): void {
    this.cancelled = true;
    this.emit('cancelled');
  }
}

describe('WatchLimiter', () => {
  it('gives each caller at most its cap of slots, and a slot back once', () => {
    const limiter = new WatchLimiter(2);
    const a = limiter.acquire('a');
    const b = limiter.acquire('a');
    expect(a).toBeDefined();
    expect(b).toBeDefined();
    expect(limiter.acquire('a')).toBeUndefined();
    expect(limiter.acquire('other')).toBeDefined();
    a?.();
    a?.(); // released twice: still one slot back, not two
    expect(limiter.held('a')).toBe(1);
    expect(limiter.acquire('a')).toBeDefined();
    expect(limiter.acquire('a')).toBeUndefined();
  });
});

describe('watchTask backpressure', () => {
  it('stops polling and writing while the client does not read, then sends the newest status', async () => {
    const call = new FakeCall({ task_id: 't', interval_ms: 200 });
    let polls = 0;
    const done = watchTask(call, () => Promise.resolve(taskStatus(String(++polls))), log);
    await sleep(500);
    expect(call.written.length).toBeGreaterThanOrEqual(2);
    call.full = true;
    await sleep(450); // the next write reports a full buffer
    const blocked = { polls, written: call.written.length };
    await sleep(1_000); // five intervals: nothing polled, nothing queued
    expect({ polls, written: call.written.length }).toEqual(blocked);
    call.full = false;
    call.emit('drain');
    await sleep(50);
    expect(call.written.length).toBe(blocked.written + 1);
    // Polled after the drain, not a stale one.
    expect(call.written.at(-1)).toEqual(taskStatus(String(blocked.polls + 1)));
    call.cancel();
    await done;
  });

  it('ends at once when the client cancels while blocked', async () => {
    const call = new FakeCall({ task_id: 't', interval_ms: 200 });
    call.full = true;
    const done = watchTask(call, () => Promise.resolve(taskStatus('1')), log);
    await sleep(100);
    call.cancel();
    await expect(Promise.race([done.then(() => 'ended'), sleep(1_000)])).resolves.toBe('ended');
  });
});

describe('WatchTask over real gRPC', () => {
  const def = loadSync(
    CDC_PROTO_FILES.map((f) => join(PROTO_ROOT, f)),
    PROTO_LOADER_OPTIONS,
  );
  const pkg = grpc.loadPackageDefinition(def) as unknown as {
    cdc: { v1: { CdcService: grpc.ServiceClientConstructor } };
  };
  const cleanups: (() => void)[] = [];
  afterEach(() => {
    for (const c of cleanups.splice(0)) c();
  });

  async function serve(
    status: () => Promise<Required<pb.TaskStatus>>,
    limiter: WatchLimiter,
    onWrite?: (ok: boolean) => void,
  ): Promise<
    grpc.Client & Record<string, (...args: unknown[]) => grpc.ClientReadableStream<unknown>>
  > {
    const server = new grpc.Server();
    const handler = watchHandler(status, limiter, log);
    server.addService(pkg.cdc.v1.CdcService.service, {
      WatchTask: (call: grpc.ServerWritableStream<pb.WatchTaskRequest__Output, pb.TaskStatus>) => {
        if (onWrite !== undefined) {
          const write = call.write.bind(call) as (m: unknown) => boolean;
          call.write = ((m: unknown) => {
            const ok = write(m);
            onWrite(ok);
            return ok;
          }) as typeof call.write;
        }
        handler(call);
      },
    });
    const port = await new Promise<number>((resolve, reject) => {
      server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => {
        if (err) reject(err);
        else resolve(p);
      });
    });
    const client = new pkg.cdc.v1.CdcService(
      `127.0.0.1:${port}`,
      grpc.credentials.createInsecure(),
    ) as unknown as grpc.Client &
      Record<string, (...args: unknown[]) => grpc.ClientReadableStream<unknown>>;
    cleanups.push(() => {
      client.close();
      server.forceShutdown();
    });
    return client;
  }

  it('refuses a stream over the per-caller cap with RESOURCE_EXHAUSTED, and frees the slot on cancel', async () => {
    const limiter = new WatchLimiter(2);
    const client = await serve(() => Promise.resolve(taskStatus('ok')), limiter);
    const open = (): grpc.ClientReadableStream<unknown> => {
      const s = client['WatchTask']?.({ task_id: 't', interval_ms: 200 });
      if (s === undefined) throw new Error('no WatchTask');
      return s;
    };
    const firstMessage = (s: grpc.ClientReadableStream<unknown>): Promise<unknown> =>
      new Promise((resolve, reject) => {
        s.once('data', resolve);
        s.once('error', reject);
      });
    const a = open();
    const b = open();
    await Promise.all([firstMessage(a), firstMessage(b)]);
    const c = open();
    c.on('data', () => undefined);
    const err = await new Promise<grpc.ServiceError>((resolve) => c.once('error', resolve));
    expect(err.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
    expect(err.details).toMatch(/CONTROL_WATCH_STREAMS_PER_CALLER/);
    a.cancel();
    a.on('error', () => undefined);
    const deadline = Date.now() + 5_000;
    while (limiter.held('peer:127.0.0.1') > 1 && Date.now() < deadline) await sleep(20);
    const d = open();
    await firstMessage(d);
    b.cancel();
    d.cancel();
    b.on('error', () => undefined);
    d.on('error', () => undefined);
  });

  it('holds the stream while a client does not read: no unbounded queue, no polling', async () => {
    let polls = 0;
    let fullAtPoll: number | undefined;
    // grpc-js reports a full buffer after ~33 unread messages (its stream's and HTTP/2's buffers), whatever their size.
    const big = 'x'.repeat(64 * 1024);
    const client = await serve(
      () => Promise.resolve(taskStatus(`${++polls}${big}`)),
      new WatchLimiter(4),
      (ok) => {
        if (!ok && fullAtPoll === undefined) fullAtPoll = polls;
      },
    );
    const stream = client['WatchTask']?.({ task_id: 't', interval_ms: 200 });
    if (stream === undefined) throw new Error('no WatchTask');
    stream.on('error', () => undefined);
    let received = 0;
    stream.on('data', () => {
      if (++received === 1) stream.pause(); // read one message, then stop reading
    });
    const deadline = Date.now() + 20_000;
    while (fullAtPoll === undefined && Date.now() < deadline) await sleep(50);
    expect(fullAtPoll, 'write() never reported a full buffer').toBeDefined();
    await sleep(1_000); // 5 intervals
    expect(polls).toBe(fullAtPoll);
    stream.resume();
    const resumed = Date.now() + 10_000;
    while (polls === fullAtPoll && Date.now() < resumed) await sleep(50);
    expect(polls).toBeGreaterThan(fullAtPoll ?? 0); // polling again once the client read
    expect(received).toBeGreaterThan(1);
    stream.cancel();
  }, 30_000);
});
