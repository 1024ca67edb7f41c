/**
 * Bridges a push-based MQ client to the pull-based `SourceReader.read()`: a bounded FIFO with one waiting reader.
 * The producer side asks `full` after each push and pauses its consumer; the reader side resumes it once the
 * queue has drained to half (`canResume`), so a slow target does not make the consumer flap.
 */
import type { ChannelRecord } from '../ports/source-reader.js';

export interface RecordQueueLimits {
  readonly maxRecords: number;
  readonly maxBytes: number;
}

/** Bytes queued over every channel of the worker (ReadBudget); told of each push and take. */
export interface QueuedBytesAccount {
  add(bytes: number): void;
  release(bytes: number): void;
}

export class RecordQueue {
  private items: ChannelRecord[] = [];
  private bytes = 0;
  private wake: (() => void) | undefined;
  private wakeFor: ((record: ChannelRecord) => boolean) | undefined;
  private failure: Error | undefined;
  private closed = false;

  constructor(
    private readonly limits: RecordQueueLimits,
    private readonly account?: QueuedBytesAccount,
  ) {}

  get length(): number {
    return this.items.length;
  }

  get full(): boolean {
    return this.items.length >= this.limits.maxRecords || this.bytes >= this.limits.maxBytes;
  }

  /** What it can take before it is full: records, and bytes of their values. */
  get room(): { readonly records: number; readonly bytes: number } {
    return {
      records: Math.max(0, this.limits.maxRecords - this.items.length),
      bytes: Math.max(0, this.limits.maxBytes - this.bytes),
    };
  }

  get canResume(): boolean {
    return (
      this.items.length <= this.limits.maxRecords / 2 && this.bytes <= this.limits.maxBytes / 2
    );
  }

  /** The error that ended the stream; `read` raises it once the records queued before it are taken. */
  get error(): Error | undefined {
    return this.failure;
  }

  push(record: ChannelRecord): void {
    if (this.closed || this.failure !== undefined) return;
    this.items.push(record);
    this.bytes += record.value.byteLength;
    this.account?.add(record.value.byteLength);
    this.notify(record);
  }

  /** Keeps the first failure: later ones are usually consequences of it. */
  fail(err: Error): void {
    this.failure ??= err;
    this.notify();
  }

  close(): void {
    this.closed = true;
    this.items = [];
    this.account?.release(this.bytes);
    this.bytes = 0;
    this.notify();
  }

  /** Up to `max` records, and past the first only while they stay within `maxBytes` together. */
  take(max: number, maxBytes = Number.POSITIVE_INFINITY): ChannelRecord[] {
    let n = 0;
    let taken = 0;
    for (const item of this.items) {
      const size = item.value.byteLength;
      if (n === max || (n > 0 && taken + size > maxBytes)) break;
      taken += size;
      n++;
    }
    const out = this.items.splice(0, n);
    this.bytes -= taken;
    this.account?.release(taken);
    return out;
  }

  /**
   * Resolves when a record (one `wakeFor` accepts, when given) or a failure is available, on close, after `maxWaitMs`,
   * or when `signal` aborts.
   */
  wait(
    maxWaitMs: number,
    signal?: AbortSignal,
    wakeFor?: (record: ChannelRecord) => boolean,
  ): Promise<void> {
    const ready =
      wakeFor === undefined ? this.items.length > 0 : this.items.some((r) => wakeFor(r));
    if (ready || this.failure !== undefined || this.closed || signal?.aborted) {
      return Promise.resolve();
    }
    return new Promise<void>((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', done);
        if (this.wake === done) {
          this.wake = undefined;
          this.wakeFor = undefined;
        }
        resolve();
      };
      const timer = setTimeout(done, maxWaitMs);
      signal?.addEventListener('abort', done, { once: true });
      this.wake?.();
      this.wake = done;
      this.wakeFor = wakeFor;
    });
  }

  /** Wakes the waiting reader; a pushed record only if its `wakeFor` accepts it. */
  private notify(pushed?: ChannelRecord): void {
    if (pushed !== undefined && this.wakeFor !== undefined && !this.wakeFor(pushed)) return;
    this.wake?.();
  }
}
