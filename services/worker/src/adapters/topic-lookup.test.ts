import { performance } from 'node:perf_hooks';
import { describe, expect, it } from 'vitest';
import { FOUND_TOPIC_TTL_MS, MISSING_TOPIC_RECHECK_MS, TopicLookup } from './topic-lookup.js';

function lookupOver(topics: Set<string>) {
  let now = 0;
  const asked: string[] = [];
  let failNext = false;
  const lookup = new TopicLookup(
    (topic) => {
      asked.push(topic);
      if (failNext) {
        failNext = false;
        return Promise.reject(new Error('broker gone'));
      }
      return Promise.resolve(topics.has(topic));
    },
    () => now,
  );
  return {
    lookup,
    asked,
    advance: (ms: number) => (now += ms),
    failOnce: () => (failNext = true),
  };
}

describe('TopicLookup', () => {
  it('asks the broker once for every reader that asks about a topic at the same time', async () => {
    const { lookup, asked } = lookupOver(new Set());
    const answers = await Promise.all(Array.from({ length: 30 }, () => lookup.exists('dml_7')));
    expect(answers).toEqual(Array(30).fill(false));
    expect(asked).toEqual(['dml_7']);
  });

  it('answers a missing topic from memory until the recheck interval, then asks again and sees it appear', async () => {
    const topics = new Set<string>();
    const { lookup, asked, advance } = lookupOver(topics);
    expect(await lookup.exists('dml_7')).toBe(false);
    topics.add('dml_7');
    advance(MISSING_TOPIC_RECHECK_MS - 1);
    expect(await lookup.exists('dml_7')).toBe(false);
    expect(asked).toHaveLength(1);
    advance(1);
    expect(await lookup.exists('dml_7')).toBe(true);
    expect(asked).toHaveLength(2);
  });

  it('trusts a found topic for longer, and keeps topics apart', async () => {
    const { lookup, asked, advance } = lookupOver(new Set(['dml_0']));
    expect(await lookup.exists('dml_0')).toBe(true);
    expect(await lookup.exists('dml_1')).toBe(false);
    advance(FOUND_TOPIC_TTL_MS - 1);
    expect(await lookup.exists('dml_0')).toBe(true);
    expect(asked).toEqual(['dml_0', 'dml_1']);
    advance(1);
    await lookup.exists('dml_0');
    expect(asked).toEqual(['dml_0', 'dml_1', 'dml_0']);
  });

  it('remembers no failed look: the next reader asks again', async () => {
    const { lookup, asked, failOnce } = lookupOver(new Set(['dml_0']));
    failOnce();
    await expect(lookup.exists('dml_0')).rejects.toThrow('broker gone');
    expect(await lookup.exists('dml_0')).toBe(true);
    expect(asked).toEqual(['dml_0', 'dml_0']);
  });

  describe('whenExists', () => {
    function watched(topics: Set<string>) {
      const asked: string[] = [];
      let fail = false;
      const lookup = new TopicLookup(
        (topic) => {
          asked.push(topic);
          return fail
            ? Promise.reject(new Error('broker gone'))
            : Promise.resolve(topics.has(topic));
        },
        () => performance.now(),
        10,
      );
      return { lookup, asked, setFail: (f: boolean) => (fail = f) };
    }

    it('serves every reader waiting for a topic with one look per poll, and lets them all go when it appears', async () => {
      const topics = new Set<string>();
      const { lookup, asked } = watched(topics);
      const stop = new AbortController();
      let resolved = 0;
      const waits = Array.from({ length: 30 }, () =>
        lookup.whenExists('dml_7', stop.signal).then(() => resolved++),
      );
      await new Promise((r) => setTimeout(r, 55));
      expect(resolved).toBe(0);
      // About one look per 10 ms poll for the 30 waiters together.
      expect(asked.length).toBeGreaterThan(0);
      expect(asked.length).toBeLessThan(10);
      topics.add('dml_7');
      await Promise.all(waits);
      expect(resolved).toBe(30);
      const looks = asked.length;
      await new Promise((r) => setTimeout(r, 40));
      expect(asked).toHaveLength(looks);
    });

    it('rejects an aborted wait and stops polling once nobody waits', async () => {
      const { lookup, asked } = watched(new Set());
      const stop = new AbortController();
      const wait = lookup.whenExists('dml_7', stop.signal);
      await new Promise((r) => setTimeout(r, 25));
      stop.abort(new Error('task pausing'));
      await expect(wait).rejects.toThrow('task pausing');
      const looks = asked.length;
      await new Promise((r) => setTimeout(r, 40));
      expect(asked.length).toBeLessThanOrEqual(looks + 1);
      await expect(lookup.whenExists('dml_7', stop.signal)).rejects.toThrow('task pausing');
    });

    it('keeps waiting through failed looks (broker unreachable)', async () => {
      const topics = new Set<string>();
      const { lookup, asked, setFail } = watched(topics);
      setFail(true);
      const wait = lookup.whenExists('dml_7', new AbortController().signal);
      await new Promise((r) => setTimeout(r, 35));
      expect(asked.length).toBeGreaterThan(1);
      topics.add('dml_7');
      setFail(false);
      await wait;
    });
  });
});
