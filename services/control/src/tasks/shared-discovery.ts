import { createHash } from 'node:crypto';
import type { TaskSpec } from '../domain/model.js';
import { systemClock } from './ports.js';
import type { ChannelDiscovery, Clock, DiscoverOptions } from './ports.js';

/** Sources whose last discovery is kept; past it the oldest goes (a result is only worth its age anyway). */
const MAX_SOURCES = 1_024;

/**
 * Channel discovery shared by the tasks of one source. Every task re-discovers its channels each
 * CONTROL_DISCOVERY_INTERVAL_MS, and each discovery opens an etcd client to the source and reads its whole root-coord
 * metadata: 30 tasks on one source did that once a second, and a source with many collections makes each read long.
 * A read no older than the caller accepts serves every task of the same source (same etcd address, credentials, root
 * path and channel prefix), and callers that come while it runs share it. A failed read is not kept.
 */
export class SharedChannelDiscovery implements ChannelDiscovery {
  private readonly reads = new Map<
    string,
    { readonly at: number; readonly channels: Promise<string[]> }
  >();

  constructor(
    private readonly inner: ChannelDiscovery,
    private readonly clock: Clock = systemClock,
  ) {}

  discover(spec: TaskSpec, opts: DiscoverOptions = {}): Promise<string[]> {
    const key = sourceKey(spec);
    const now = this.clock.now();
    const kept = this.reads.get(key);
    const maxAge = opts.maxAgeMs;
    if (kept !== undefined && maxAge !== undefined && now - kept.at <= maxAge)
      return copyOf(kept.channels);
    const channels = this.inner.discover(spec);
    const read = { at: now, channels };
    this.reads.delete(key); // re-inserted last: the map stays ordered by age
    this.reads.set(key, read);
    if (this.reads.size > MAX_SOURCES) {
      const oldest = this.reads.keys().next();
      if (oldest.done !== true) this.reads.delete(oldest.value);
    }
    channels.catch(() => {
      if (this.reads.get(key) === read) this.reads.delete(key);
    });
    return copyOf(channels);
  }
}

/** A copy for each caller, the first included: callers may keep or sort what they get. */
const copyOf = (channels: Promise<string[]>): Promise<string[]> => channels.then((c) => [...c]);

/** What the discovered channels depend on, hashed: the key holds credentials, and is never shown. */
function sourceKey(spec: TaskSpec): string {
  const { etcd, channel_prefix: prefix } = spec.source;
  return createHash('sha256').update(JSON.stringify({ etcd, prefix })).digest('base64');
}
