import { cutText } from '@cdc/shared';
import type { QuarantinedMessage } from '../ports/lease-progress.js';
import type { QuarantineReportEntry } from '../ports/worker-control.js';

/**
 * Bytes of a payload sent to the control service, which keeps at most CONTROL_QUARANTINE_PAYLOAD_CAP (default
 * 64 KiB; at most about 1.1 MiB with etcd's default request limit): a whole 5 MB message would only be cut there,
 * and would not fit a call.
 */
export const MAX_PAYLOAD_BYTES = 1024 * 1024;
/**
 * Entries per call: the control service takes up to 256 and stores 63 per etcd transaction (etcd's 128 ops: two
 * keys per entry, and the task's count).
 */
export const MAX_BATCH_ENTRIES = 252;
/** Bytes per call, under the control service's 4 MiB receive limit. */
const MAX_BATCH_BYTES = 2 * 1024 * 1024;
/** Framing, position and target of one entry. */
const ENTRY_OVERHEAD_BYTES = 512;

export interface QuarantineBatcherOptions {
  readonly send: (entries: readonly QuarantineReportEntry[]) => Promise<void>;
  readonly maxEntries?: number;
  readonly maxBytes?: number;
}

/**
 * Collects quarantined messages and sends them several per call, in channel order. A failed send keeps its entries
 * at the head for the next flush, so nothing is dropped; one flush runs at a time.
 */
export class QuarantineBatcher {
  private readonly pending: { entry: QuarantineReportEntry; bytes: number }[] = [];
  private pendingBytes = 0;
  private chain: Promise<void> = Promise.resolve();
  private readonly maxEntries: number;
  private readonly maxBytes: number;

  constructor(private readonly opts: QuarantineBatcherOptions) {
    this.maxEntries = opts.maxEntries ?? MAX_BATCH_ENTRIES;
    this.maxBytes = opts.maxBytes ?? MAX_BATCH_BYTES;
  }

  /** Entries not yet stored by the control service. */
  get size(): number {
    return this.pending.length;
  }

  /** Adds a message (payload and reason cut to what the control service takes); true once a call's worth waits. */
  push(message: QuarantinedMessage, target: string): boolean {
    const entry: QuarantineReportEntry = {
      msgId: message.msgId,
      timestamp: message.timestamp,
      reason: cutText(message.reason),
      payload: message.payload.subarray(0, MAX_PAYLOAD_BYTES),
      payloadSize: message.payload.length,
      target,
    };
    const bytes =
      entry.payload.length + Buffer.byteLength(entry.reason) + target.length + ENTRY_OVERHEAD_BYTES;
    this.pending.push({ entry, bytes });
    this.pendingBytes += bytes;
    return this.pending.length >= this.maxEntries || this.pendingBytes >= this.maxBytes;
  }

  /** Sends everything pending (also what is added meanwhile). Rejects with the first failed call's error. */
  flush(): Promise<void> {
    const run = this.chain.then(() => this.drain());
    this.chain = run.catch(() => undefined);
    return run;
  }

  private async drain(): Promise<void> {
    while (this.pending.length > 0) {
      let count = 0;
      let bytes = 0;
      for (const p of this.pending) {
        if (count > 0 && (count >= this.maxEntries || bytes + p.bytes > this.maxBytes)) break;
        count++;
        bytes += p.bytes;
      }
      await this.opts.send(this.pending.slice(0, count).map((p) => p.entry));
      this.pending.splice(0, count);
      this.pendingBytes -= bytes;
    }
  }
}
