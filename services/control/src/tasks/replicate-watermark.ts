import type { ChannelRecord } from '../domain/model.js';

/**
 * A live channel whose source head has not moved for this long is one the source stopped ticking (no collection
 * left on it): Milvus ticks a channel in use every 200 ms and workers report every second, so three reports without
 * a new tick are not a pause between ticks. Kept short because such a channel holds every target pchannel's time back
 * until it is recognised.
 */
export const IDLE_CHANNEL_MS = 3_000;
/** A channel whose worker reported this recently is live. */
export const LIVE_REPORT_MS = 5_000;

/**
 * Replicate mode: the time the target's pchannels may be ticked to. Every message not yet applied on any of the task's
 * DML channels is newer than this, so a tick up to it never overtakes one (see DESIGN.md, replicate mode).
 *
 * The lowest checkpoint timestamp over the DML channels (and, with fan-out, over every target's checkpoint on them),
 * leaving out:
 * - channels without a checkpoint: nothing read yet (a pchannel no collection used has no topic);
 * - idle channels: caught up (checkpoint at the head, so not in the middle of applying a pack), their worker
 *   reporting, and the head still for IDLE_CHANNEL_MS. Milvus stops ticking a pchannel once its last collection is
 *   dropped, so such a checkpoint would hold every target channel back forever; what it carries next is written
 *   after now. (The first message it then carries may reach the target just after a tick newer than itself; Milvus
 *   still delivers it, in the next tick window.)
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
    if (rec === undefined || ts === undefined || ts === '' || ts === '0') continue;
    const position = BigInt(ts);
    const idle =
      position >= BigInt(rec.sourceHeadTimestamp) &&
      nowMs - (rec.headAdvancedMs ?? nowMs) > IDLE_CHANNEL_MS &&
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
