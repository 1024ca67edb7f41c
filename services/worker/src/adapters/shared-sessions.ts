/**
 * One session per client (the fetch loop and connections of a KafkaJS client), shared by its readers, and kept a
 * while after the last reader leaves. Without the linger, a lease waiting for its channel's topic (it opens a reader
 * every few seconds until the topic appears) built and closed the connection each time when no other channel of the
 * client was read: on a fresh 16-channel source with 30 tasks, ~55 connections a second per worker.
 */

/** How long a session outlives its last reader. */
export const SESSION_LINGER_MS = 10_000;

interface Entry<S> {
  readonly session: S;
  readers: number;
  linger: NodeJS.Timeout | undefined;
}

export interface JoinedSession<S> {
  readonly session: S;
  /** Idempotent; the session ends `lingerMs` after its last reader left, unless another joined meanwhile. */
  leave(): void;
}

export class SharedSessions<K extends object, S> {
  private readonly entries = new WeakMap<K, Entry<S>>();

  constructor(
    private readonly create: (key: K) => S,
    private readonly close: (session: S) => Promise<void>,
    private readonly lingerMs = SESSION_LINGER_MS,
  ) {}

  join(key: K): JoinedSession<S> {
    let entry = this.entries.get(key);
    if (entry === undefined) {
      entry = { session: this.create(key), readers: 0, linger: undefined };
      this.entries.set(key, entry);
    }
    clearTimeout(entry.linger);
    entry.linger = undefined;
    entry.readers++;
    const e = entry;
    let left = false;
    return {
      session: e.session,
      leave: () => {
        if (left) return;
        left = true;
        if (--e.readers > 0) return;
        e.linger = setTimeout(() => {
          void this.end(key, e);
        }, this.lingerMs);
        e.linger.unref();
      },
    };
  }

  private async end(key: K, e: Entry<S>): Promise<void> {
    if (e.readers > 0) return;
    // A reader joining from now on gets a new session; this one closes on its own.
    if (this.entries.get(key) === e) this.entries.delete(key);
    await this.close(e.session).catch(() => undefined);
  }
}
