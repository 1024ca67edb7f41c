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
  /**
   * Report interval of idle leases (0: off). An idle lease may stay silent past the handover time: its write validity
   * ran out and its first write waits for a new confirmation, which it still gets while its epoch is current (a
   * takeover changes the epoch, by compare-and-set). Only after one idle gap more is it gone (`goneIn`).
   */
  readonly idleReportMs?: number;
}

/** How long a lease may stay silent and still count as reporting (status, fair share): one idle gap more. */
export function reportSilenceMs(baseMs: number, timing: Pick<LeaseTiming, 'idleReportMs'>): number {
  return baseMs + (timing.idleReportMs ?? 0);
}

/** How far a lease may apply until its next answer (see LeaseTiming.pauseLeadMs). */
export function applyUntil(now: number, timing: LeaseTiming): string {
  return composeTs(now + timing.pauseLeadMs).toString();
}

/**
 * Milliseconds until a silent lease is gone: never confirmed again, and stopped as far as a pause is concerned. The
 * handover time, plus one idle report gap when idle leases report less often. Both judgements use this one bound, so
 * no lease counted as stopped can be confirmed afterwards.
 */
export function goneIn(rec: ChannelRecord, now: number, timing: LeaseTiming): number {
  if (rec.released === true || rec.workerId === '') return 0;
  return Math.max(0, lastConfirmed(rec) + timing.handoverMs + (timing.idleReportMs ?? 0) - now);
}

/** Milliseconds until the channel may go to another worker: 0 once its holder released it or went silent. */
export function handoverIn(rec: ChannelRecord, now: number, timing: LeaseTiming): number {
  if (rec.released === true || rec.workerId === '') return 0;
  return Math.max(0, lastConfirmed(rec) + timing.handoverMs - now);
}

/** Records written before confirmations were stored count from their last update. */
function lastConfirmed(rec: ChannelRecord): number {
  return rec.confirmedMs ?? rec.updateTimeMs;
}
