import { describe, expect, it } from 'vitest';
import { emptyChannelRecord, type ChannelRecord } from '../domain/model.js';
import { FairShare, IDLE_WORKER_GRACE_MS } from './fair-share.js';
import type { ChannelStore } from './ports.js';

/** Leases held (key "task/channel" → record) and heartbeats (worker → last seen), all in memory. */
function store(leases: Map<string, ChannelRecord>, heartbeats: Map<string, number>): ChannelStore {
  const none = () => Promise.reject(new Error('not used'));
  return {
    get: none,
    list: none,
    put: none,
    touchWorker: none,
    listAll: () => Promise.resolve(new Map(leases)),
    listWorkers: () => Promise.resolve(new Map(heartbeats)),
  };
}

/** Leases "t/ch0" … of `count` channels, each held by `holderOf(i)` and updated at `atMs`. */
function held(
  count: number,
  holderOf: (i: number) => string,
  atMs: number,
): Map<string, ChannelRecord> {
  const leases = new Map<string, ChannelRecord>();
  for (let i = 0; i < count; i++)
    leases.set(`t/ch${String(i)}`, {
      ...emptyChannelRecord(),
      workerId: holderOf(i),
      epoch: '1',
      updateTimeMs: atMs,
    });
  return leases;
}

describe('FairShare', () => {
  it('lets heartbeat-only ids move channels for a short grace at most, never for good', async () => {
    const now = { t: 1_000_000 };
    const leases = new Map<string, ChannelRecord>();
    for (let i = 0; i < 16; i++)
      leases.set(`t/ch${String(i).padStart(2, '0')}`, {
        ...emptyChannelRecord(),
        workerId: 'real',
        epoch: '1',
        updateTimeMs: now.t,
      });
    const heartbeats = new Map<string, number>([['real', now.t]]);
    for (let i = 0; i < 50; i++) heartbeats.set(`made-up-${String(i)}`, now.t);
    const share = new FairShare(store(leases, heartbeats), { now: () => now.t }, 5_000);

    // A new worker is below its share at first: the real one gives up leases past the share.
    expect(await share.shouldRelease('t/ch15', 'real')).toBe(true);

    // The made-up ids keep heartbeating but never take a lease: past the grace they no longer count.
    now.t += IDLE_WORKER_GRACE_MS + 3_000;
    for (const id of heartbeats.keys()) heartbeats.set(id, now.t);
    for (const rec of leases.values()) rec.updateTimeMs = now.t;
    for (let i = 0; i < 16; i++)
      expect(await share.shouldRelease(`t/ch${String(i).padStart(2, '0')}`, 'real')).toBe(false);
  });

  it('spreads leases onto a real new worker that takes them', async () => {
    const now = { t: 1_000_000 };
    const leases = held(4, () => 'a', now.t);
    const heartbeats = new Map([
      ['a', now.t],
      ['b', now.t],
    ]);
    const share = new FairShare(store(leases, heartbeats), { now: () => now.t }, 5_000);
    expect(await share.shouldRelease('t/ch3', 'a')).toBe(true);
    expect(await share.shouldRelease('t/ch0', 'a')).toBe(false);
  });

  it('gives nothing up for a worker whose lease was taken over after it went silent (crashed)', async () => {
    const now = { t: 1_000_000 };
    const leases = held(8, (i) => (i < 4 ? 'dead' : 'survivor'), now.t);
    const heartbeats = new Map([
      ['dead', now.t],
      ['survivor', now.t],
    ]);
    const share = new FairShare(store(leases, heartbeats), { now: () => now.t }, 5_000);
    expect(await share.shouldRelease('t/ch7', 'survivor')).toBe(false); // 4 each: fair
    // 'dead' stops reporting; after the handover time the survivor takes its channels, still inside its live window.
    now.t += 4_000;
    for (let i = 0; i < 4; i++) {
      const key = `t/ch${String(i)}`;
      share.noteLease(key, 'survivor', 'dead');
      leases.set(key, { ...emptyChannelRecord(), workerId: 'survivor', updateTimeMs: now.t });
    }
    for (let i = 4; i < 8; i++)
      leases.set(`t/ch${String(i)}`, { ...leases.get(`t/ch${String(i)}`)!, updateTimeMs: now.t });
    for (const at of [now.t, now.t + 2_500]) {
      now.t = at;
      for (let i = 0; i < 8; i++)
        expect(await share.shouldRelease(`t/ch${String(i)}`, 'survivor')).toBe(false);
    }
    // Seen again (it was alive after all): it counts once more.
    heartbeats.set('dead', now.t + 2_500);
    now.t += 2_500;
    expect(await share.shouldRelease('t/ch7', 'survivor')).toBe(true);
  });

  it('reads the leases once for every report judged while the view is stale', async () => {
    const now = { t: 1_000_000 };
    const leases = held(8, (i) => (i < 6 ? 'a' : 'b'), now.t);
    const heartbeats = new Map([
      ['a', now.t],
      ['b', now.t],
    ]);
    const reads = { n: 0 };
    const counted = store(leases, heartbeats);
    const listAll = counted.listAll.bind(counted);
    counted.listAll = () => {
      reads.n++;
      return listAll();
    };
    const share = new FairShare(counted, { now: () => now.t }, 5_000);
    const judge = () =>
      Promise.all(
        [...leases.keys()].map((key) => share.shouldRelease(key, key < 't/ch6' ? 'a' : 'b')),
      );

    // a holds 6 of 8, the share is 4: it gives up its last two (in key order), once each.
    expect(await judge()).toEqual([false, false, false, false, true, true, false, false]);
    expect(reads.n).toBe(1);
    now.t += 60_000; // stale: one read again, however many reports wait for it
    for (const id of heartbeats.keys()) heartbeats.set(id, now.t);
    for (const rec of leases.values()) rec.updateTimeMs = now.t;
    await judge();
    expect(reads.n).toBe(2);
  });
});
