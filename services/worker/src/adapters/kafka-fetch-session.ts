/**
 * One fetch loop for every Kafka channel a worker reads through the same client: each round is one Fetch per broker
 * carrying partition 0 of every channel whose reader wants records, at that reader's next offset, so N channels cost
 * one long-poll (not N), and a new channel is read from its next round on (no group to join). Records are handed to
 * each reader in offset order; the reader checks them (gaps, refused batches) and queues them. Readers of the same
 * topic (several tasks on one source channel) share what one fetch returns when it covers their position.
 */
import { errorMessage } from '@cdc/shared';
import type { Logger } from '@cdc/shared';
import type { FetchPart, KafkaWire, WireMessage } from './kafka-wire.js';

/** One reader's partition as the session sees it. */
export interface FetchedPartition {
  readonly topic: string;
  /** Offset of the next record the reader wants. */
  nextOffset(): bigint;
  /** Whether to fetch for it this round (its queue has room and the read-ahead budget allows). */
  wantsRecords(): boolean;
  /** Its replicator waits for a change, and none came for a while (a quiet channel): its rounds may wait longer. */
  idle?(): boolean;
  /** Compressed bytes to ask for it this round, at most `max` (absent: `max`). */
  fetchBytes?(max: number): number;
  /**
   * The records one fetch returned for it, in offset order, and the broker's end of the partition then (when the
   * broker said); resolves once they are queued.
   */
  deliver(messages: readonly WireMessage[], highWatermark?: bigint): Promise<void>;
  /** The broker has no record at `nextOffset()` (retention, or beyond the end). */
  outOfRange(): Promise<void>;
  /** The session cannot fetch for it any more (broker unreachable after retries). */
  fail(err: unknown): void;
}

export interface FetchSessionOptions {
  /** Broker long-poll time per round when no channel has records. */
  readonly maxWaitMs: number;
  /** Compressed bytes asked per partition (the broker still returns a first batch larger than this whole). */
  readonly partitionMaxBytes: number;
  readonly log?: Logger;
  /** Consecutive failed rounds before the readers of the round are failed (they reopen from their checkpoint). */
  readonly maxFailedRounds?: number;
  /**
   * Broker wait of a round when every reader is idle (0 or absent: `maxWaitMs`): the round returns then, or sooner
   * once a change's worth of bytes arrived, instead of with every time tick (5 a second per channel). A change on an
   * idle channel is read up to this much later.
   */
  readonly idleMaxWaitMs?: number;
}

/** Bytes that end an idle round early: more than the time ticks of 16 channels for a few seconds. */
const IDLE_ROUND_MIN_BYTES = 64 * 1024;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class KafkaFetchSession {
  /**
   * The readers, by topic (a topic with none is removed): a round looks only at the readers of the topics it fetched
   * (with 30 tasks a worker holds ~250 readers of 16 topics, and scanning all of them for each partition was ~9% of an
   * idle worker's time).
   */
  private readonly byTopic = new Map<string, Set<FetchedPartition>>();
  private loop: Promise<void> | undefined;
  private wakeUp: (() => void) | undefined;
  private connected: Promise<void> | undefined;
  private failedRounds = 0;
  /** Rotates which reader of a topic read by several goes first (one fetch holds a partition once). */
  private round = 0;

  constructor(
    readonly wire: KafkaWire,
    private readonly opts: FetchSessionOptions,
  ) {}

  get size(): number {
    let n = 0;
    for (const readers of this.byTopic.values()) n += readers.size;
    return n;
  }

  connect(): Promise<void> {
    this.connected ??= this.wire.connect().catch((err: unknown) => {
      this.connected = undefined;
      throw err;
    });
    return this.connected;
  }

  add(p: FetchedPartition): void {
    let readers = this.byTopic.get(p.topic);
    if (readers === undefined) {
      readers = new Set();
      this.byTopic.set(p.topic, readers);
    }
    readers.add(p);
    this.ensureLoop();
    this.wake();
  }

  private ensureLoop(): void {
    if (this.loop !== undefined) return;
    this.loop = this.run().finally(() => {
      this.loop = undefined;
      // A reader added while the loop was ending.
      if (this.byTopic.size > 0) this.ensureLoop();
    });
  }

  remove(p: FetchedPartition): void {
    const readers = this.byTopic.get(p.topic);
    readers?.delete(p);
    if (readers?.size === 0) this.byTopic.delete(p.topic);
    this.wake();
  }

  /** A reader has room again, or was added: fetch without waiting for the idle timeout. */
  wake(): void {
    const w = this.wakeUp;
    this.wakeUp = undefined;
    w?.();
  }

  /** Resolves when the loop has ended (no partition left). */
  async drained(): Promise<void> {
    await this.loop;
  }

  private async run(): Promise<void> {
    while (this.byTopic.size > 0) {
      const wanted = this.pick();
      if (wanted.length === 0) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, this.opts.maxWaitMs);
          this.wakeUp = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        continue;
      }
      try {
        await this.fetchRound(wanted);
        this.failedRounds = 0;
      } catch (err) {
        this.failedRounds++;
        this.opts.log?.warn(
          { err: errorMessage(err), channels: wanted.length, failedRounds: this.failedRounds },
          'kafka fetch failed; retrying',
        );
        if (this.failedRounds >= (this.opts.maxFailedRounds ?? 5)) {
          for (const p of wanted) p.fail(err);
          this.failedRounds = 0;
        }
        await this.wire.refreshMetadata().catch(() => undefined);
        await sleep(Math.min(2_000, 100 * 2 ** this.failedRounds));
      }
    }
  }

  /** The readers to fetch for this round, each topic once. */
  private pick(): FetchedPartition[] {
    const start = this.round++;
    const picked: FetchedPartition[] = [];
    for (const readers of this.byTopic.values()) {
      const all = [...readers];
      for (let i = 0; i < all.length; i++) {
        const p = all[(start + i) % all.length];
        if (p !== undefined && p.wantsRecords()) {
          picked.push(p);
          break;
        }
      }
    }
    return picked;
  }

  private async fetchRound(wanted: readonly FetchedPartition[]): Promise<void> {
    const max = this.opts.partitionMaxBytes;
    const parts: FetchPart[] = wanted.map((p) => ({
      topic: p.topic,
      offset: p.nextOffset(),
      maxBytes: p.fetchBytes?.(max) ?? max,
    }));
    const idleWait = this.opts.idleMaxWaitMs ?? 0;
    const lazy = idleWait > this.opts.maxWaitMs && this.allIdle();
    const outcomes = await this.wire.fetch(parts, {
      maxWaitMs: lazy ? idleWait : this.opts.maxWaitMs,
      partitionMaxBytes: this.opts.partitionMaxBytes,
      ...(lazy ? { minBytes: IDLE_ROUND_MIN_BYTES } : {}),
    });
    for (const o of outcomes) {
      const i = parts.findIndex((x) => x.topic === o.topic);
      const p = wanted[i];
      const offset = parts[i]?.offset;
      // Closed meanwhile, or it moved on (another round delivered): the records are not for its position.
      if (p === undefined || offset === undefined) continue;
      if (this.byTopic.get(p.topic)?.has(p) !== true || p.nextOffset() !== offset) continue;
      if (o.kind !== 'records') {
        await p.outOfRange().catch((err: unknown) => {
          p.fail(err);
        });
        continue;
      }
      // Every reader of the topic whose next offset the fetch covers takes its share: tasks reading the same channel
      // from the same place (idle tasks at the head, above all) cost one fetch and one record-batch decode, not one each.
      for (const reader of this.sharing(p, offset, o.messages)) {
        try {
          await reader.deliver(o.messages, o.highWatermark);
        } catch (err) {
          reader.fail(err);
        }
      }
    }
  }

  private allIdle(): boolean {
    for (const readers of this.byTopic.values())
      for (const p of readers) if (p.idle?.() !== true) return false;
    return true;
  }

  /** `fetched` (the reader the fetch was for) first, then every other reader whose position lies inside `messages`. */
  private sharing(
    fetched: FetchedPartition,
    from: bigint,
    messages: readonly WireMessage[],
  ): FetchedPartition[] {
    const last = messages[messages.length - 1];
    if (last === undefined) return [fetched];
    const end = BigInt(last.offset);
    const readers = [fetched];
    for (const other of this.byTopic.get(fetched.topic) ?? []) {
      if (other === fetched || !other.wantsRecords()) continue;
      const next = other.nextOffset();
      if (next >= from && next <= end) readers.push(other);
    }
    return readers;
  }
}
