import { describe, expect, it } from 'vitest';
import type { TaskSpec } from '../domain/model.js';
import { spec } from '../testing/memory-stores.js';
import type { ChannelDiscovery } from './ports.js';
import { SharedChannelDiscovery } from './shared-discovery.js';

/** Counts reads of the source; each read answers with its number, so a shared result is visible. */
function countingSource(fail = false) {
  const reads: TaskSpec[] = [];
  const discovery: ChannelDiscovery = {
    discover: (s) => {
      reads.push(s);
      return fail
        ? Promise.reject(new Error('source etcd unreachable'))
        : Promise.resolve([`read-${String(reads.length)}`]);
    },
  };
  return { discovery, reads };
}

function clock(start = 1_000) {
  let now = start;
  return { now: () => now, advance: (ms: number) => (now += ms) };
}

const otherSource = (): TaskSpec => {
  const s = spec();
  return { ...s, source: { ...s.source, etcd: { ...s.source.etcd, root_path: 'other' } } };
};

describe('SharedChannelDiscovery', () => {
  it('serves every task of one source from one read no older than the caller accepts', async () => {
    const source = countingSource();
    const time = clock();
    const shared = new SharedChannelDiscovery(source.discovery, time);
    expect(await shared.discover(spec(), { maxAgeMs: 15_000 })).toEqual(['read-1']);
    time.advance(10_000);
    // Another task, other scope, same source.
    const other = {
      ...spec(),
      scope: { include: [{ database: 'b', collection: '*' }], exclude: [] },
    };
    expect(await shared.discover(other, { maxAgeMs: 15_000 })).toEqual(['read-1']);
    time.advance(6_000);
    expect(await shared.discover(spec(), { maxAgeMs: 15_000 })).toEqual(['read-2']);
    expect(source.reads).toHaveLength(2);
  });

  it('reads afresh when asked for no age (CreateTask), and keeps that read for later callers', async () => {
    const source = countingSource();
    const shared = new SharedChannelDiscovery(source.discovery, clock());
    expect(await shared.discover(spec(), { maxAgeMs: 15_000 })).toEqual(['read-1']);
    expect(await shared.discover(spec())).toEqual(['read-2']);
    expect(await shared.discover(spec(), { maxAgeMs: 15_000 })).toEqual(['read-2']);
  });

  it('gives every caller its own copy, the first one included', async () => {
    const source = countingSource();
    const shared = new SharedChannelDiscovery(source.discovery, clock());
    const first = await shared.discover(spec(), { maxAgeMs: 15_000 });
    first.push('changed by its caller');
    expect(await shared.discover(spec(), { maxAgeMs: 15_000 })).toEqual(['read-1']);
  });

  it('shares a read in flight', async () => {
    const source = countingSource();
    const shared = new SharedChannelDiscovery(source.discovery, clock());
    const all = await Promise.all(
      Array.from({ length: 30 }, () => shared.discover(spec(), { maxAgeMs: 15_000 })),
    );
    expect(new Set(all.flat())).toEqual(new Set(['read-1']));
    expect(source.reads).toHaveLength(1);
  });

  it('keeps sources apart: another etcd root, prefix or credential is another read', async () => {
    const source = countingSource();
    const shared = new SharedChannelDiscovery(source.discovery, clock());
    const base = spec();
    const otherPrefix = { ...base, source: { ...base.source, channel_prefix: 'other' } };
    const otherUser = {
      ...base,
      source: { ...base.source, etcd: { ...base.source.etcd, username: 'u2', password: 'p2' } },
    };
    for (const s of [base, otherSource(), otherPrefix, otherUser])
      await shared.discover(s, { maxAgeMs: 15_000 });
    expect(source.reads).toHaveLength(4);
  });

  it('does not keep a failed read: the next caller reads again', async () => {
    const failing = countingSource(true);
    const shared = new SharedChannelDiscovery(failing.discovery, clock());
    await expect(shared.discover(spec(), { maxAgeMs: 15_000 })).rejects.toThrow('unreachable');
    await expect(shared.discover(spec(), { maxAgeMs: 15_000 })).rejects.toThrow('unreachable');
    expect(failing.reads).toHaveLength(2);
  });
});
