import { createRequire } from 'node:module';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { fixKafkaIdleLoop, kafkaRequestQueueClass } from './kafkajs-idle-loop-fix.js';
import type { KafkaRequestQueue } from './kafkajs-idle-loop-fix.js';

const quiet = {
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
};

type QueueClass = new (o: object) => KafkaRequestQueue;

/** A copy of the pinned KafkaJS RequestQueue as published: the unit suite shares one module graph, so the one the
 * worker loads may be fixed already by another test file. */
function unpatchedQueueClass(): QueueClass {
  const require = createRequire(import.meta.url);
  const path = require.resolve('kafkajs/src/network/requestQueue/index.js');
  const loaded = require.cache[path];
  Reflect.deleteProperty(require.cache, path);
  try {
    return require(path) as QueueClass;
  } finally {
    if (loaded !== undefined) require.cache[path] = loaded;
  }
}

/** A real KafkaJS RequestQueue, and how often it checked its pending requests. */
function requestQueue(RequestQueue = kafkaRequestQueueClass() as unknown as QueueClass): {
  queue: KafkaRequestQueue;
  checks: () => number;
} {
  const queue = new RequestQueue({
    maxInFlightRequests: null,
    requestTimeout: 30_000,
    enforceRequestTimeout: true,
    clientId: 'test',
    broker: '127.0.0.1:9092',
    logger: quiet,
  });
  let checks = 0;
  const check = queue.checkPendingRequests.bind(queue);
  queue.checkPendingRequests = () => {
    checks++;
    check();
  };
  return { queue, checks: () => checks };
}

describe('the KafkaJS idle-loop fix', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('is needed: the pinned KafkaJS checks an empty queue every millisecond, for ever', () => {
    const { queue, checks } = requestQueue(unpatchedQueueClass());
    queue.checkPendingRequests();
    vi.advanceTimersByTime(100);
    expect(checks()).toBeGreaterThan(50);
    vi.clearAllTimers();
  });

  it('checks nothing while nothing is pending, and a waiting request at the end of the throttle', () => {
    fixKafkaIdleLoop();
    fixKafkaIdleLoop(); // idempotent
    const { queue, checks } = requestQueue();
    queue.checkPendingRequests();
    vi.advanceTimersByTime(1_000);
    expect(checks()).toBe(1);
    expect(queue.throttleCheckTimeoutId).toBeNull();

    queue.throttledUntil = Date.now() + 300;
    queue.pending.push({ throttled: true });
    queue.scheduleCheckPendingRequests();
    queue.scheduleCheckPendingRequests(); // one check at a time
    vi.advanceTimersByTime(299);
    expect(checks()).toBe(1);
    queue.pending.length = 0; // sent meanwhile (a real check would send it); the next check finds nothing
    vi.advanceTimersByTime(1);
    expect(checks()).toBe(2);
    vi.advanceTimersByTime(1_000);
    expect(checks()).toBe(2);
  });

  it('checks a request still waiting after its throttle ended again after 10 ms (a marginal throttle)', () => {
    fixKafkaIdleLoop();
    const { queue, checks } = requestQueue();
    queue.throttledUntil = Date.now() - 1;
    queue.pending.push({ throttled: true });
    queue.scheduleCheckPendingRequests();
    vi.advanceTimersByTime(9);
    expect(checks()).toBe(0);
    queue.pending.length = 0;
    vi.advanceTimersByTime(1);
    expect(checks()).toBe(1);
  });
});
