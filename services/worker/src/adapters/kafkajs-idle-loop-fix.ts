/**
 * KafkaJS 2.2.4 (pinned; no later release) re-arms a 1 ms timer on every broker connection forever once a request
 * was answered: `scheduleCheckPendingRequests` schedules a check even with nothing pending, at a negative delay
 * (`throttledUntil` is -1 when not throttled), and the check schedules the next (tulios/kafkajs#1556, #1704; fixes
 * proposed in #1667 and #1768, never merged). Measured here: ~1,440 timer wakes a second per idle worker, more than
 * everything else the worker does while idle. The replacement schedules a check only while requests wait, at the end
 * of the broker's throttle or after KafkaJS's own 10 ms when that end has passed (#1532's reason for it); with nothing
 * pending there is nothing to check, and a request that has to wait schedules its own check when it is queued.
 */
import { createRequire } from 'node:module';

/** What the replacement needs of KafkaJS's RequestQueue (kafkajs/src/network/requestQueue). */
export interface KafkaRequestQueue {
  pending: unknown[];
  throttledUntil: number;
  throttleCheckTimeoutId: NodeJS.Timeout | null;
  checkPendingRequests(): void;
  scheduleCheckPendingRequests(): void;
}

/** KafkaJS's CHECK_PENDING_REQUESTS_INTERVAL. */
const CHECK_PENDING_REQUESTS_MS = 10;
const FIXED = Symbol('cdc: idle-loop fix applied');

export function scheduleCheckPendingRequests(this: KafkaRequestQueue): void {
  if (this.throttleCheckTimeoutId !== null || this.pending.length === 0) return;
  const untilUnthrottled = this.throttledUntil - Date.now();
  this.throttleCheckTimeoutId = setTimeout(
    () => {
      this.throttleCheckTimeoutId = null;
      this.checkPendingRequests();
    },
    untilUnthrottled > 0 ? untilUnthrottled : CHECK_PENDING_REQUESTS_MS,
  );
}

/** The RequestQueue class of the KafkaJS the worker loads (the same module instance its connections use). */
export function kafkaRequestQueueClass(): { prototype: KafkaRequestQueue } {
  const require = createRequire(import.meta.url);
  return require('kafkajs/src/network/requestQueue/index.js') as { prototype: KafkaRequestQueue };
}

/** Idempotent. Throws when KafkaJS no longer has the method (an upgrade must re-check whether the bug is fixed). */
export function fixKafkaIdleLoop(
  queueClass: { prototype: KafkaRequestQueue } = kafkaRequestQueueClass(),
): void {
  const proto = queueClass.prototype as KafkaRequestQueue & { [FIXED]?: true };
  if (proto[FIXED] === true) return;
  if (typeof proto.scheduleCheckPendingRequests !== 'function')
    throw new Error(
      'KafkaJS RequestQueue has no scheduleCheckPendingRequests: re-check the idle-loop fix',
    );
  proto.scheduleCheckPendingRequests = scheduleCheckPendingRequests;
  proto[FIXED] = true;
}
