import { composeTs } from '@cdc/shared';
import type { ChannelRecord } from '../domain/model.js';

/**
 * Fencing of target writes (guarantee 1). A worker writes only within `writeValidityMs` of sending a request that the
 * control service answered by confirming its lease, and every target call it makes ends before that. The control
 * service hands a channel to another worker only when its holder released it, or `handoverMs` after the last
 * confirmation; `handoverMs` > `writeValidityMs` + the clock margin (config.ts refuses anything else), so the old
 * holder's last write ended before the new holder's first.
 */
export interface LeaseTiming {
  readonly writeValidityMs: number;
  readonly handoverMs: number;
  /**
   * Leases apply no change newer than the control clock plus this lead at their last answer, and a pause point is set
   * this far ahead (TaskService.pause), so a channel hears of a pause before it could pass it.
   */
  readonly pauseLeadMs: number;
}

/** How far a lease may apply until its next answer (see LeaseTiming.pauseLeadMs). */
export function applyUntil(now: number, timing: LeaseTiming): string {
  return composeTs(now + timing.pauseLeadMs).toString();
}

/** Milliseconds until the channel may go to another worker: 0 once its holder released it or went silent. */
export function handoverIn(rec: ChannelRecord, now: number, timing: LeaseTiming): number {
  if (rec.released === true || rec.workerId === '') return 0;
  // Records written before confirmations were stored count from their last update.
  const confirmed = rec.confirmedMs ?? rec.updateTimeMs;
  return Math.max(0, confirmed + timing.handoverMs - now);
}
