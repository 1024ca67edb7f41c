/**
 * KafkaSourceReader and the shared fetch loop against an in-memory stand-in for the brokers (KafkaWire); the real
 * broker is exercised by test/worker/kafka-source-reader.int.test.ts.
 */
import { describe, expect, it } from 'vitest';
import type { Kafka } from 'kafkajs';
import { decodeKafkaMessageId, encodeKafkaMessageId } from '@cdc/shared';
import { insertMsg, RecordLog, timeTickMsg } from '../testing/fakes.js';
import { KafkaFetchSession } from './kafka-fetch-session.js';
import { KafkaSourceReader } from './kafka-source-reader.js';
import type { FetchOutcome, FetchPart, KafkaWire, WireMessage } from './kafka-wire.js';
import { ReadBudget } from './read-budget.js';
import { TopicLookup } from './topic-lookup.js';
import { isChannelWithoutTopic } from '../ports/source-reader.js';

const asBuffer = (v: Uint8Array | undefined): Buffer | undefined =>
  v === undefined ? undefined : Buffer.from(v.buffer, v.byteOffset, v.byteLength);

/** Topics of offsets [low, high): record n has value `v<n>`. Fetches return at most `perFetch` records. */
class FakeWire implements KafkaWire {
  low = 0n;
  high = 100n;
  topics = new Set(['ch']);
  perFetch = 50;
  fetches: FetchPart[][] = [];
  failNext = 0;
  connects = 0;
  disconnects = 0;
  /** Values and headers as views into one large buffer per fetch, as KafkaJS decodes a decompressed batch. */
  sharedBatch = false;
  /** Offsets the fetch answers with for a topic, whatever was asked (to simulate jumps). */
  served = new Map<string, number[]>();
  /** Record values by offset, instead of `v<n>`. */
  values = new Map<number, Uint8Array>();

  connect(): Promise<void> {
    this.connects++;
    return Promise.resolve();
  }
  disconnect(): Promise<void> {
    this.disconnects++;
    return Promise.resolve();
  }
  refreshMetadata(): Promise<void> {
    return Promise.resolve();
  }
  topicExists(topic: string): Promise<boolean> {
    return Promise.resolve(this.topics.has(topic));
  }
  watermarks(): Promise<{ low: bigint; high: bigint }> {
    return Promise.resolve({ low: this.low, high: this.high });
  }
  offsetAtTime(): Promise<bigint | undefined> {
    return Promise.resolve(42n);
  }
  /** What each fetch asked the broker to wait for. */
  waits: { maxWaitMs: number; minBytes: number }[] = [];

  async fetch(
    parts: readonly FetchPart[],
    opts?: { maxWaitMs: number; minBytes?: number },
  ): Promise<FetchOutcome[]> {
    await new Promise((r) => setTimeout(r, 1));
    this.fetches.push([...parts]);
    this.waits.push({ maxWaitMs: opts?.maxWaitMs ?? 0, minBytes: opts?.minBytes ?? 1 });
    if (this.failNext > 0) {
      this.failNext--;
      throw new Error('broker gone');
    }
    return parts.map((p): FetchOutcome => {
      if (p.offset < this.low || p.offset > this.high)
        return { kind: 'out-of-range', topic: p.topic };
      const offsets =
        this.served.get(p.topic) ??
        Array.from({ length: Number(this.high - p.offset) }, (_, i) => Number(p.offset) + i);
      this.served.delete(p.topic);
      const batch = Buffer.alloc(1 << 20);
      const inBatch = (text: string, at: number): Buffer => {
        const view = batch.subarray(at, at + text.length);
        view.write(text);
        return view;
      };
      const messages: WireMessage[] = offsets.slice(0, this.perFetch).map((o, i) => ({
        offset: String(o),
        timestamp: '1000',
        headers: this.sharedBatch ? { trace: inBatch(`t${o}`, 64 * i + 32) } : {},
        value:
          asBuffer(this.values.get(o)) ??
          (this.sharedBatch ? inBatch(`v${o}`, 64 * i) : Buffer.from(`v${o}`)),
      }));
      return { kind: 'records', topic: p.topic, messages, highWatermark: this.high };
    });
  }
}

const budget = () => new ReadBudget({ maxQueuedBytes: 1 << 30, maxHeapBytes: 0 });

function reader(
  wire: FakeWire,
  session: KafkaFetchSession,
  channel = 'ch',
  maxQueuedRecords = 100,
  b = budget(),
  maxReadBytes?: number,
): KafkaSourceReader {
  return new KafkaSourceReader({
    kafka: Object.create(null) as Kafka,
    channel,
    maxQueuedRecords,
    session,
    budget: b,
    ...(maxReadBytes === undefined ? {} : { maxReadBytes }),
  });
}

const newSession = (wire: FakeWire) =>
  new KafkaFetchSession(wire, { maxWaitMs: 20, partitionMaxBytes: 1024, maxFailedRounds: 2 });

const texts = (rs: { value: Uint8Array }[]): string[] =>
  rs.map((r) => Buffer.from(r.value).toString());

async function readN(r: KafkaSourceReader, n: number): Promise<string[]> {
  const out: string[] = [];
  for (let i = 0; i < 200 && out.length < n; i++)
    out.push(...texts(await r.read(n - out.length, 50)));
  return out;
}

describe('KafkaSourceReader over the shared fetch loop (in-memory brokers)', () => {
  it('starts after a message id, and drops records fetched from before it', async () => {
    const wire = new FakeWire();
    const session = newSession(wire);
    wire.served.set('ch', [3, 4, 10, 11, 10]);
    const r = reader(wire, session);
    await r.open({ kind: 'after', msgId: encodeKafkaMessageId(9n) });
    const got = await r.read(2, 1_000);
    expect(texts(got)).toEqual(['v10', 'v11']);
    expect(got[0]!.msgId).toEqual(encodeKafkaMessageId(10n));
    expect(wire.fetches[0]).toEqual([{ topic: 'ch', offset: 10n, maxBytes: 1024 }]);
    await r.close();
  });

  it('asks each fetch for what the queue has room for, by the size of the records fetched last', async () => {
    const wire = new FakeWire();
    wire.high = 200n;
    for (let o = 0; o < 200; o++) wire.values.set(o, Buffer.alloc(1_000, 1));
    const session = new KafkaFetchSession(wire, { maxWaitMs: 20, partitionMaxBytes: 1 << 20 });
    const r = reader(wire, session); // room for 100 records; the wire answers 50 a fetch
    await r.open({ kind: 'earliest' });
    for (let i = 0; i < 200 && wire.fetches.length < 2; i++)
      await new Promise((res) => setTimeout(res, 5));
    const asked = wire.fetches.map((f) => f[0]?.maxBytes);
    // The first knows no record size: a small fetch. The second: room for 50 records of 1,000 bytes and framing.
    expect(asked.slice(0, 2)).toEqual([64 * 1024, 50 * 1_080]);
    expect(await readN(r, 100)).toHaveLength(100);
    await r.close();
  });

  it('resolves a timestamp start by the broker offset lookup', async () => {
    const wire = new FakeWire();
    const r = reader(wire, newSession(wire));
    await r.open({ kind: 'timestamp', unixMs: 123 });
    expect((await readN(r, 1))[0]).toBe('v42');
    await r.close();
  });

  it('reads several channels with one fetch per round, and stops when the last reader closes', async () => {
    const wire = new FakeWire();
    wire.topics = new Set(['a', 'b', 'c']);
    const session = newSession(wire);
    const rs = ['a', 'b', 'c'].map((t) => reader(wire, session, t));
    for (const r of rs) await r.open({ kind: 'earliest' });
    for (const r of rs) expect(await readN(r, 3)).toEqual(['v0', 'v1', 'v2']);
    expect(wire.fetches.some((f) => f.length === 3)).toBe(true);
    for (const r of rs) await r.close();
    await session.drained();
    expect(session.size).toBe(0);
  });

  it('fetches a topic read by two readers once per round, each at its own offset', async () => {
    const wire = new FakeWire();
    const session = newSession(wire);
    const early = reader(wire, session);
    const late = reader(wire, session);
    await early.open({ kind: 'earliest' });
    await late.open({ kind: 'after', msgId: encodeKafkaMessageId(49n) });
    expect((await readN(early, 2))[0]).toBe('v0');
    expect((await readN(late, 2))[0]).toBe('v50');
    for (const f of wire.fetches) expect(new Set(f.map((p) => p.topic)).size).toBe(f.length);
    await early.close();
    await late.close();
  });

  it('serves readers of one topic at the same place from one fetch (tasks sharing a channel)', async () => {
    const wire = new FakeWire();
    const session = newSession(wire);
    const rs = [0, 1, 2, 3].map(() => reader(wire, session));
    // Three at the same offset, one a little ahead inside the same fetch: all four take their share of one fetch.
    for (const r of rs.slice(0, 3))
      await r.open({ kind: 'after', msgId: encodeKafkaMessageId(9n) });
    await rs[3]!.open({ kind: 'after', msgId: encodeKafkaMessageId(19n) });
    const got = await Promise.all(rs.map((r) => readN(r, 5)));
    expect(got.slice(0, 3)).toEqual([0, 1, 2].map(() => ['v10', 'v11', 'v12', 'v13', 'v14']));
    expect(got[3]).toEqual(['v20', 'v21', 'v22', 'v23', 'v24']);
    const firstRound = wire.fetches[0]!;
    expect(firstRound).toHaveLength(1);
    expect(wire.fetches.length).toBeLessThanOrEqual(2);
    for (const r of rs) await r.close();
  });

  it('holds at most its queue bound and fetches the rest once the replicator made room', async () => {
    const wire = new FakeWire();
    const session = newSession(wire);
    const r = reader(wire, session, 'ch', 4);
    await r.open({ kind: 'earliest' });
    await expect.poll(() => (r as unknown as { queue: { length: number } }).queue.length).toBe(4);
    await new Promise((res) => setTimeout(res, 60));
    expect((r as unknown as { queue: { length: number } }).queue.length).toBe(4);
    expect(await readN(r, 10)).toEqual(Array.from({ length: 10 }, (_, i) => `v${i}`));
    await r.close();
  });

  it('leaves a reader that holds records out of the rounds while the worker budget is spent', async () => {
    const wire = new FakeWire();
    wire.perFetch = 3;
    const session = newSession(wire);
    const spent = new ReadBudget({ maxQueuedBytes: 2, maxHeapBytes: 0 });
    const r = reader(wire, session, 'ch', 100, spent);
    await r.open({ kind: 'earliest' });
    await expect.poll(() => spent.queuedBytes).toBeGreaterThan(0);
    const fetches = wire.fetches.length;
    await new Promise((res) => setTimeout(res, 60));
    expect(wire.fetches.length).toBe(fetches);
    expect(await readN(r, 6)).toEqual(['v0', 'v1', 'v2', 'v3', 'v4', 'v5']);
    await r.close();
    expect(spent.queuedBytes).toBe(0);
  });

  it('copies records out of the fetched batch, so a queued one does not keep the whole batch in memory', async () => {
    const wire = new FakeWire();
    wire.sharedBatch = true;
    const session = newSession(wire);
    const r = reader(wire, session);
    await r.open({ kind: 'earliest' });
    const got = await r.read(5, 500);
    expect(texts(got)).toEqual(['v0', 'v1', 'v2', 'v3', 'v4']);
    for (const rec of got) {
      expect(rec.value.buffer.byteLength).toBeLessThan(4096);
      const trace = rec.headers['trace'] as Buffer;
      expect(trace.toString()).toBe(`t${texts([rec])[0]!.slice(1)}`);
      expect(trace.buffer.byteLength).toBeLessThan(1 << 20);
    }
    await r.close();
  });

  it('hands out at most maxReadBytes per read (at least one record)', async () => {
    const wire = new FakeWire();
    const session = newSession(wire);
    const r = reader(wire, session, 'ch', 100, budget(), 5);
    await r.open({ kind: 'earliest' });
    expect(texts(await r.read(10, 500))).toEqual(['v0', 'v1']);
    expect(texts(await r.read(10, 500))).toEqual(['v2', 'v3']);
    const one = reader(wire, newSession(wire), 'ch', 100, budget(), 1);
    await one.open({ kind: 'earliest' });
    expect(texts(await one.read(10, 500))).toEqual(['v0']);
    await Promise.all([r.close(), one.close()]);
  });

  it('hands out queued records before repeated fetch failures, then fails retryably', async () => {
    const wire = new FakeWire();
    wire.perFetch = 1;
    const session = newSession(wire);
    const r = reader(wire, session);
    await r.open({ kind: 'earliest' });
    await expect
      .poll(() => (r as unknown as { queue: { length: number } }).queue.length)
      .toBeGreaterThan(0);
    wire.failNext = 1_000;
    const got: string[] = [];
    const err = await (async () => {
      for (;;) got.push(...texts(await r.read(10, 200)));
    })().catch((e: unknown) => e);
    expect(got[0]).toBe('v0');
    expect(err).toMatchObject({ code: 'SOURCE_UNAVAILABLE', retryable: true });
    await r.close();
  });

  it('accepts an offset jump the broker still covers, and fails on one retention caused', async () => {
    const wire = new FakeWire();
    const session = newSession(wire);
    const r = reader(wire, session);
    wire.served.set('ch', [10, 12]);
    await r.open({ kind: 'after', msgId: encodeKafkaMessageId(9n) });
    expect(await readN(r, 2)).toEqual(['v10', 'v12']);
    await r.close();
    const gap = reader(wire, newSession(wire));
    wire.served.set('ch', [20, 21]);
    await gap.open({ kind: 'after', msgId: encodeKafkaMessageId(9n) });
    wire.low = 20n;
    await expect(gap.read(10, 1_000)).rejects.toMatchObject({ code: 'FAILED_PRECONDITION' });
    await gap.close();
  });

  it('fails when the broker no longer has the next offset (retention while reading)', async () => {
    const wire = new FakeWire();
    const r = reader(wire, newSession(wire));
    await r.open({ kind: 'after', msgId: encodeKafkaMessageId(9n) });
    wire.low = 50n;
    await expect(
      (async () => {
        for (;;) await r.read(100, 200);
      })(),
    ).rejects.toMatchObject({ code: 'FAILED_PRECONDITION', retryable: false });
    await r.close();
  });

  it('enforces its lifecycle: read before open, bad maxRecords, concurrent reads', async () => {
    const wire = new FakeWire();
    wire.high = 0n;
    const session = newSession(wire);
    const idle = reader(wire, session);
    await expect(idle.read(1, 0)).rejects.toMatchObject({ code: 'INTERNAL' });
    const r = reader(wire, session);
    await r.open({ kind: 'latest' });
    await expect(r.read(0, 0)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    const pending = r.read(1, 5_000);
    await expect(r.read(1, 0)).rejects.toMatchObject({ code: 'INTERNAL' });
    await r.close();
    expect(await pending).toEqual([]);
    await expect(r.open({ kind: 'latest' })).rejects.toMatchObject({ code: 'INTERNAL' });
  });

  it('reports a missing topic as retryable SOURCE_UNAVAILABLE', async () => {
    const wire = new FakeWire();
    wire.topics = new Set();
    const r = reader(wire, newSession(wire));
    await expect(r.open({ kind: 'earliest' })).rejects.toMatchObject({
      code: 'SOURCE_UNAVAILABLE',
      retryable: true,
    });
    await r.close();
  });
  it('looks a missing topic up once for every reader waiting on it, without joining the fetch loop', async () => {
    const wire = new FakeWire();
    wire.topics = new Set();
    const session = newSession(wire);
    let looks = 0;
    const topics = new TopicLookup((topic) => {
      looks++;
      return wire.topicExists(topic);
    });
    const readers = Array.from(
      { length: 30 },
      () =>
        new KafkaSourceReader({
          kafka: Object.create(null) as Kafka,
          channel: 'ch',
          session,
          topics,
        }),
    );
    const opened = await Promise.allSettled(readers.map((r) => r.open({ kind: 'earliest' })));
    expect(opened.every((o) => o.status === 'rejected' && isChannelWithoutTopic(o.reason))).toBe(
      true,
    );
    expect(looks).toBe(1);
    expect(wire.connects).toBe(0);
    expect(session.size).toBe(0);
    for (const r of readers) await r.close();
  });

  it('coalesces time ticks on request: waits past them for a change, and hands out the last of each run', async () => {
    const wire = new FakeWire();
    const msgs = new RecordLog('ch')
      .add(timeTickMsg(10n), timeTickMsg(20n), timeTickMsg(30n))
      .add(insertMsg({ collectionId: 10n, ids: [1n], ts: 31n }), timeTickMsg(40n)).records;
    msgs.forEach((m, o) => wire.values.set(o, m.value));
    wire.high = 3n;
    const r = reader(wire, newSession(wire));
    await r.open({ kind: 'earliest' });
    const coalesce = { coalesceTicks: true };
    const offsets = (rs: { msgId: Uint8Array }[]) => rs.map((x) => decodeKafkaMessageId(x.msgId));

    const t0 = Date.now();
    expect(offsets(await r.read(100, 300, undefined, coalesce))).toEqual([2n]);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(290); // ticks alone do not end the wait

    const t1 = Date.now();
    const reading = r.read(100, 10_000, undefined, coalesce);
    await new Promise((res) => setTimeout(res, 50));
    wire.high = 5n; // the insert and its tick arrive
    expect(offsets(await reading)).toEqual([3n, 4n]);
    expect(Date.now() - t1).toBeLessThan(2_000); // a change ends it at once
    await r.close();
  });
  it('asks the broker to wait longer once every reader waited quiet a while, and as before after a change', async () => {
    const wire = new FakeWire();
    wire.topics = new Set(['a', 'b']);
    wire.high = 0n; // nothing to read: every round comes back empty
    const session = new KafkaFetchSession(wire, {
      maxWaitMs: 20,
      partitionMaxBytes: 1024,
      idleMaxWaitMs: 300,
    });
    const quietReader = (channel: string) =>
      new KafkaSourceReader({
        kafka: Object.create(null) as Kafka,
        channel,
        session,
        budget: budget(),
        quietBeforeIdleMs: 400,
      });
    const a = quietReader('a');
    const b = quietReader('b');
    await a.open({ kind: 'earliest' });
    await b.open({ kind: 'earliest' });
    const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
    const lastWait = () => wire.waits[wire.waits.length - 1];
    const usual = { maxWaitMs: 20, minBytes: 1 };

    const plainB = b.read(10, 300); // waits for any record, a time tick included: not idle
    const idleA = a.read(10, 5_000, undefined, { coalesceTicks: true });
    await sleep(200);
    expect(lastWait()).toEqual(usual);
    await plainB;
    const idleB = b.read(10, 5_000, undefined, { idle: true });
    await sleep(250); // both quiet for the 400 ms since they opened
    expect(lastWait()?.maxWaitMs).toBe(300);
    expect(lastWait()?.minBytes).toBeGreaterThan(1);

    wire.high = 1n; // a change on both channels ends both waits
    expect(texts(await idleA)).toEqual(['v0']);
    expect(texts(await idleB)).toEqual(['v0']);
    const again = [
      a.read(10, 5_000, undefined, { coalesceTicks: true }),
      b.read(10, 5_000, undefined, { idle: true }),
    ];
    await sleep(50);
    expect(lastWait()).toEqual(usual); // a change came less than the quiet time ago
    await sleep(500);
    expect(lastWait()?.maxWaitMs).toBe(300);
    await a.close();
    await b.close();
    await Promise.all(again);
  });

  it('says it has more while records wait beyond a byte-capped read, and not once at the end', async () => {
    const wire = new FakeWire();
    wire.high = 10n; // values v0..v9, 2 bytes each
    const r = reader(wire, newSession(wire), 'ch', 100, budget(), 4);
    expect(r.hasMore()).toBe(false); // nothing known yet
    await r.open({ kind: 'earliest' });
    const got: string[] = [];
    let sawMore = false;
    while (got.length < 10) {
      const batch = texts(await r.read(100, 1_000));
      expect(batch.length).toBeLessThanOrEqual(2); // 4 bytes a read
      got.push(...batch);
      if (got.length < 10) sawMore ||= r.hasMore();
    }
    expect(sawMore).toBe(true);
    expect(r.hasMore()).toBe(false);
    wire.high = 11n; // a new record: known once fetched
    await r.read(100, 1_000);
    expect(r.hasMore()).toBe(false);
    await r.close();
  });
});
