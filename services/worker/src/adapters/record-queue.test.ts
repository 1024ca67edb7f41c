import { describe, expect, it } from 'vitest';
import type { ChannelRecord } from '../ports/source-reader.js';
import { RecordQueue } from './record-queue.js';

const rec = (n: number, size = 1): ChannelRecord => ({
  channel: 'ch',
  msgId: new Uint8Array([n]),
  value: new Uint8Array(size),
  headers: {},
  publishTimeMs: n,
});

describe('RecordQueue', () => {
  it('is full at either bound and can resume at half of both', () => {
    const q = new RecordQueue({ maxRecords: 4, maxBytes: 100 });
    for (let i = 0; i < 3; i++) q.push(rec(i));
    expect(q.full).toBe(false);
    q.push(rec(3));
    expect(q.full).toBe(true);
    q.take(1);
    expect([q.full, q.canResume]).toEqual([false, false]);
    q.take(1);
    expect(q.canResume).toBe(true);

    const big = new RecordQueue({ maxRecords: 100, maxBytes: 10 });
    big.push(rec(0, 10));
    expect(big.full).toBe(true);
  });

  it('hands records out in order, at most max at a time', () => {
    const q = new RecordQueue({ maxRecords: 10, maxBytes: 1000 });
    for (let i = 0; i < 5; i++) q.push(rec(i));
    expect(q.take(2).map((r) => r.publishTimeMs)).toEqual([0, 1]);
    expect(q.take(10).map((r) => r.publishTimeMs)).toEqual([2, 3, 4]);
  });

  it('wakes a waiter on push, failure, close and abort, and times out otherwise', async () => {
    const q = new RecordQueue({ maxRecords: 10, maxBytes: 1000 });
    const t0 = Date.now();
    await q.wait(50);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(40);

    const pushed = q.wait(10_000);
    q.push(rec(1));
    await pushed;
    q.take(1);

    const ac = new AbortController();
    const aborted = q.wait(10_000, ac.signal);
    ac.abort();
    await aborted;

    const failed = q.wait(10_000);
    q.fail(new Error('first'));
    q.fail(new Error('second'));
    await failed;
    expect(q.error?.message).toBe('first');

    const q2 = new RecordQueue({ maxRecords: 10, maxBytes: 1000 });
    const closed = q2.wait(10_000);
    q2.close();
    await closed;
    q2.push(rec(1));
    expect(q2.length).toBe(0);
  });
  it('wakes a waiter that asks for some records only for those, or at its time limit', async () => {
    const q = new RecordQueue({ maxRecords: 10, maxBytes: 1000 });
    const odd = (r: ChannelRecord) => r.publishTimeMs % 2 === 1;
    let woken = false;
    const waiting = q.wait(5_000, undefined, odd).then(() => (woken = true));
    q.push(rec(0));
    q.push(rec(2));
    await new Promise((r) => setTimeout(r, 30));
    expect(woken).toBe(false);
    q.push(rec(3));
    await waiting;
    expect(q.take(10).map((r) => r.publishTimeMs)).toEqual([0, 2, 3]);

    q.push(rec(4));
    const t0 = Date.now();
    await q.wait(60, undefined, odd);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(55);
    q.push(rec(5));
    const t1 = Date.now();
    await q.wait(5_000, undefined, odd); // one is queued already
    expect(Date.now() - t1).toBeLessThan(50);
  });
});
