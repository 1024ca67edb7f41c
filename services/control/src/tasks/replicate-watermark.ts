import type { ChannelRecord } from '../domain/model.js';

/**
 * A channel whose holder has seen its source head stand still for this long, while caught up, is one the source
 * stopped ticking (no collection left on it): Milvus ticks a channel in use every 200 ms and workers report at least
 * every second, so three seconds of reports without a new tick are not a pause between ticks. Kept short because such a
 * channel holds every target pchannel's time back until it is recognised.
 */
export const IDLE_CHANNEL_MS = 3_000;
/**
 * How recent the holder's last report must be for its channel to count as idle: a holder that died leaves a record
 * nobody updates, while the source may write to the channel again (a new collection on it).
 */
export const LIVE_REPORT_MS = 2_500;

/**
 * Replicate mode: the time the target's pchannels may be ticked to. Every message not yet applied on any of the task's
 * DML channels is newer than this, so a tick up to it never overtakes one (see DESIGN.md, replicate mode).
 *
 * The lowest checkpoint timestamp over the DML channels (and, with fan-out, over every target's checkpoint on them),
 * leaving out:
 * - channels that have read nothing yet (no checkpoint, no head: a pchannel no collection used has no topic);
 * - idle channels: the current holder's last report, at most LIVE_REPORT_MS ago, said it was caught up (a grant
 *   clears that) with its checkpoint at the head (so not in the middle of applying a pack), and reports saw that
 *   head stand still for IDLE_CHANNEL_MS up to the last one. Milvus stops ticking a pchannel once its last
 *   collection is dropped, so such a checkpoint would hold every target channel back forever; what it carries next
 *   is written after now. A new holder that reads anything the old one left advances the head.
 * A channel that has read but not yet checkpointed (its first pack is being applied: a new collection's create and
 * first rows) holds every tick back, 0n: its oldest message is older than anything a tick could carry, and a message
 * a target receives after a newer tick is filed behind the target's checkpoint, where a query does not see it until
 * the segment is flushed (seen in the replicate-mode e2e: a create slowed by the target, its rows invisible).
 * The window from a first message to the report of its head is still open (≤ one report, sent at once).
 * A channel whose worker stopped reporting still counts: it may hold unread older messages.
 * Returns 0n when no channel qualifies.
 */
export function replicateWatermark(
  records: readonly (ChannelRecord | undefined)[],
  nowMs: number,
): bigint {
  let low: bigint | undefined;
  for (const rec of records) {
    const ts = rec?.position?.timestamp;
    if (rec === undefined) continue;
    if (ts === undefined || ts === '' || ts === '0') {
      if (BigInt(rec.sourceHeadTimestamp) > 0n && rec.released !== true) return 0n;
      continue;
    }
    const position = BigInt(ts);
    const idle =
      position >= BigInt(rec.sourceHeadTimestamp) &&
      rec.caughtUp === true &&
      rec.updateTimeMs - (rec.headAdvancedMs ?? rec.updateTimeMs) > IDLE_CHANNEL_MS &&
      nowMs - rec.updateTimeMs < LIVE_REPORT_MS &&
      rec.released !== true &&
      rec.endRequested === undefined;
    if (idle) continue;
    for (const p of [
      position,
      ...Object.values(rec.fanOutPositions ?? {}).map((f) => BigInt(f.timestamp)),
    ])
      if (low === undefined || p < low) low = p;
  }
  return low ?? 0n;
}
