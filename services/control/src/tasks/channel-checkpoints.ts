import type { ChannelRecord } from '../domain/model.js';

/**
 * The checkpoint timestamp of every DML channel of a task, the lowest over its targets (fan-out targets included), as
 * decimal strings; channels without a checkpoint are left out. The standby follower on the replicate channel's lease
 * applies a collection's alias, rename or property change only once every pchannel of the collection has passed the
 * change: every row written before it is then on the target.
 */
export function channelCheckpoints(
  records: ReadonlyMap<string, ChannelRecord>,
  opsChannel: string,
): Record<string, string> {
  const out = Object.create(null) as Record<string, string>;
  for (const [channel, rec] of records) {
    const ts = rec.position?.timestamp;
    if (channel === opsChannel || ts === undefined || ts === '' || ts === '0') continue;
    let low = BigInt(ts);
    for (const f of Object.values(rec.fanOutPositions ?? {})) {
      const t = BigInt(f.timestamp || '0');
      if (t < low) low = t;
    }
    out[channel] = low.toString();
  }
  return out;
}
