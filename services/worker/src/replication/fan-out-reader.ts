import type { ChannelRecord, ReadOptions, SourceReader } from '../ports/source-reader.js';

/**
 * One read of a source channel shared by several consumers (the task's targets, fan-out), in lock step: the next
 * batch is read from the MQ once every consumer has taken the current one, so the channel is read once and runs at
 * most one batch ahead of the slowest target.
 *
 * Consumers see the same records in the same order; each view can skip what is at or before its own checkpoint
 * (the read starts at the earliest of them).
 */
export class FanOutReader {
  private batch: readonly ChannelRecord[] = [];
  private seq = 0;
  private readonly taken: number[];
  private fetching: Promise<void> | undefined;
  private waiters: (() => void)[] = [];

  constructor(
    private readonly upstream: SourceReader,
    consumers: number,
    /** Told how many records each MQ read returned (metrics). */
    private readonly onRead?: (records: number) => void,
  ) {
    this.taken = new Array<number>(consumers).fill(0);
  }

  /** Consumer `index`'s reader; `after`: skip records up to and including this message id. */
  view(index: number, after?: Uint8Array): SourceReader {
    let skipUntil = after;
    return {
      open: () => Promise.resolve(),
      close: () => Promise.resolve(),
      compareIds: (a, b) => this.upstream.compareIds(a, b),
      hasMore: () => this.upstream.hasMore?.() ?? false,
      read: async (maxRecords, maxWaitMs, signal, options) => {
        const records = await this.take(index, maxRecords, maxWaitMs, signal, options);
        const from = skipUntil;
        if (from === undefined) return [...records];
        const kept = records.filter((r) => this.upstream.compareIds(r.msgId, from) > 0);
        if (kept.length > 0) skipUntil = undefined;
        return kept;
      },
    };
  }

  private async take(
    index: number,
    maxRecords: number,
    maxWaitMs: number,
    signal?: AbortSignal,
    options?: ReadOptions,
  ): Promise<readonly ChannelRecord[]> {
    while (this.taken[index] === this.seq) {
      if (signal?.aborted) return [];
      if (this.taken.every((t) => t === this.seq)) {
        // Ticks are coalesced only for a single consumer: another may hold changes that each tick closes.
        const single = this.taken.length === 1 ? options : undefined;
        this.fetching ??= this.fetch(maxRecords, maxWaitMs, signal, single);
        await this.fetching;
      } else {
        await new Promise<void>((resolve) => {
          // Removed once woken: a long lease waits here for every batch.
          const done = (): void => {
            signal?.removeEventListener('abort', done);
            resolve();
          };
          this.waiters.push(done);
          signal?.addEventListener('abort', done, { once: true });
        });
      }
    }
    this.taken[index] = this.seq;
    this.wake();
    return this.batch;
  }

  private async fetch(
    maxRecords: number,
    maxWaitMs: number,
    signal?: AbortSignal,
    options?: ReadOptions,
  ): Promise<void> {
    try {
      this.batch = await this.upstream.read(maxRecords, maxWaitMs, signal, options);
      this.seq++;
      this.onRead?.(this.batch.length);
    } finally {
      this.fetching = undefined;
      this.wake();
    }
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }
}
