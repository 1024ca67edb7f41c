/**
 * SourceReader over one Kafka topic (a Milvus pchannel, partition 0), read by offset without a consumer group.
 *
 * Every reader of a worker's Kafka client shares one fetch loop (KafkaFetchSession: one Fetch per broker and round for
 * all channels), which hands each reader the records at its next offset; a reader feeds them into a bounded
 * `RecordQueue` and is left out of the rounds while the queue is full, or while it holds records and the worker's
 * read-ahead budget (bytes queued, heap) is spent. Offsets are checked on the way in: an offset below the next
 * expected one is a re-fetch and is dropped, a jump above it is accepted only when the broker still has the missing
 * offsets' range (a retention gap fails the reader instead of skipping records).
 */
import type { Kafka } from 'kafkajs';
import {
  CdcError,
  decodeKafkaMessageId,
  encodeKafkaMessageId,
  isCdcError,
  tlsRejection,
  tlsRejectionMessage,
} from '@cdc/shared';
import type { Logger } from '@cdc/shared';
import {
  channelWithoutTopic,
  type ChannelRecord,
  type ReadOptions,
  type ReaderStart,
  type SourceReader,
  type SourceReaderFactory,
} from '../ports/source-reader.js';
import { createKafkaClient } from './kafka-client.js';
import type { KafkaClientOptions } from './kafka-client.js';
import { KafkaFetchSession } from './kafka-fetch-session.js';
import type { FetchedPartition } from './kafka-fetch-session.js';
import { resolveStartOffset } from './kafka-position.js';
import { kafkaWireOf } from './kafka-wire.js';
import type { WireMessage } from './kafka-wire.js';
import { workerReadBudget } from './read-budget.js';
import type { ReadBudget } from './read-budget.js';
import { RecordQueue } from './record-queue.js';
import { TopicLookup } from './topic-lookup.js';
import { coalesceTicks, isNotTimeTick } from './time-ticks.js';
import { REJECTED_BATCH_HEADER, rejectedBatchOf } from './kafka-zstd-codec.js';

export interface KafkaSourceReaderOptions {
  readonly kafka: Kafka;
  /** Topic name = Milvus pchannel name. */
  readonly channel: string;
  readonly logger?: Logger;
  /** Queue bound in records; the channel is not fetched while the queue is full. Default 1000. */
  readonly maxQueuedRecords?: number;
  /**
   * Queue bound in payload bytes (Milvus records reach 10 MiB). Default 16 MiB; the worker's read-ahead budget
   * (ReadBudget) bounds all channels together.
   */
  readonly maxQueuedBytes?: number;
  /** Broker long-poll time of a fetch round when no channel has records. Default 200 (see the default). */
  readonly fetchMaxWaitMs?: number;
  /** Broker wait of a fetch round while every reader of the session is idle (KafkaFetchSession `idleMaxWaitMs`). */
  readonly idleFetchWaitMs?: number;
  /** How long the channel waits for a change before the reader counts as idle. Default QUIET_BEFORE_IDLE_MS. */
  readonly quietBeforeIdleMs?: number;
  /**
   * Compressed bytes one fetch asks for this channel (Fetch partition `max_bytes`). The broker still returns a first
   * batch larger than this whole (up to its `message.max.bytes`). Default 1 MiB.
   */
  readonly fetchMaxBytes?: number;
  /** A record whose value is larger is quarantined instead of decoded. Default 16 MiB (Milvus writes ≤ 10 MiB). */
  readonly maxRecordBytes?: number;
  /**
   * Most record bytes one read() hands out (at least one record). What a replicator took no longer counts against
   * the read-ahead budget, and it holds a read until it has applied it, so this bounds that unaccounted part.
   */
  readonly maxReadBytes?: number;
  /** The read-ahead budget shared by the worker's readers (default the process-wide one). */
  readonly budget?: ReadBudget;
  /** The fetch loop to read through (default: the one shared by every reader of `kafka`). */
  readonly session?: KafkaFetchSession;
  /** Whether the channel's topic exists (default: the lookup shared by every reader of `kafka`, or `session`'s). */
  readonly topics?: TopicLookup;
}

export const DEFAULT_FETCH_MAX_BYTES = 1024 * 1024;
export const DEFAULT_MAX_RECORD_BYTES = 16 * 1024 * 1024;
export const DEFAULT_MAX_READ_BYTES = 4 * 1024 * 1024;
/**
 * A channel added to a worker's fetch session (a new lease) is first fetched in the round after the one in flight, so
 * the long poll bounds how long a new lease waits for its first records: up to this when every channel the session
 * reads is silent (channels in use tick every 200 ms and end a round as early). Was 500: 0.1-0.6 s of a new task's
 * time to its first row on a fresh source.
 */
const DEFAULT_FETCH_MAX_WAIT_MS = 200;

/** How long a channel waits for a change before its reader counts as idle (see `idle`). */
export const QUIET_BEFORE_IDLE_MS = 2_000;

/** A reader's first fetch, before it knows its records' size (fetchBytes); the broker still returns a whole batch. */
const FIRST_FETCH_BYTES = 64 * 1024;
/** The least a fetch asks for once sized by the queue's room. */
const MIN_FETCH_BYTES = 16 * 1024;
/** A record's framing in its batch, and a batch header when batches hold one record (Milvus' ticks), about. */
const RECORD_OVERHEAD_BYTES = 80;

/** `idle` → open() → `opening` → `running` → close() → `stopped`. Failures surface from read(). */
export type KafkaSourceReaderState = 'idle' | 'opening' | 'running' | 'stopped';

function unavailable(action: string, channel: string, cause: unknown): CdcError {
  if (isCdcError(cause)) return cause;
  // The broker and the spec's TLS settings disagree: no retry fixes that, the task pauses with the reason.
  const tls = tlsRejection(cause);
  if (tls !== undefined)
    return new CdcError(
      'FAILED_PRECONDITION',
      `${action} kafka topic ${channel}: ${tlsRejectionMessage('source Kafka', tls)}`,
      { retryable: false, cause, details: { channel } },
    );
  return new CdcError('SOURCE_UNAVAILABLE', `${action} kafka topic ${channel}`, {
    retryable: true,
    cause,
    details: { channel },
  });
}

/**
 * The bytes on their own memory when they are a small part of a larger buffer (the decompressed record batch, often
 * megabytes): a queued record, or one of its headers, would otherwise keep the whole batch alive, and the read-ahead
 * budget, which counts record bytes, would not see it.
 */
function owned(bytes: Uint8Array): Uint8Array {
  if (bytes.buffer.byteLength <= 2 * bytes.byteLength + 4096)
    return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const copy = new Uint8Array(bytes.byteLength);
  copy.set(bytes);
  return copy;
}

function toRecord(channel: string, m: WireMessage, rejected?: string): ChannelRecord {
  const value = rejected === undefined ? (m.value ?? Buffer.alloc(0)) : Buffer.alloc(0);
  return {
    channel,
    msgId: encodeKafkaMessageId(BigInt(m.offset)),
    value: owned(value),
    headers: Object.fromEntries(
      Object.entries(m.headers ?? {}).map(([k, v]) => {
        const first = Array.isArray(v) ? v[0] : v;
        return [k, typeof first === 'string' || first === undefined ? first : Buffer.from(first)];
      }),
    ),
    publishTimeMs: Number(m.timestamp),
    ...(rejected === undefined ? {} : { rejected }),
  };
}

/** Average bytes of the messages as fetched (value, headers and framing; uncompressed, so at least as large). */
function averageRecordBytes(messages: readonly WireMessage[]): number {
  let total = 0;
  for (const m of messages) {
    total += RECORD_OVERHEAD_BYTES + (m.value?.byteLength ?? 0);
    for (const [k, v] of Object.entries(m.headers ?? {}))
      for (const one of Array.isArray(v) ? v : [v])
        total += k.length + (typeof one === 'string' ? one.length : (one?.byteLength ?? 0));
  }
  return total / messages.length;
}

function headerOf(m: WireMessage, key: string): Buffer | string | undefined {
  const v = m.headers?.[key];
  return Array.isArray(v) ? v[0] : v;
}

/** Records already made of a fetched message: the readers of one topic (several tasks) get the same one. */
const recordsOfMessages = new WeakMap<WireMessage, ChannelRecord>();

/**
 * Topic lookups of each KafkaJS client, through a connection of their own that stays open: a reader looks its topic
 * up before it joins the fetch loop, so a lease waiting for its topic builds no loop and no connection per look.
 */
const topicLookups = new WeakMap<Kafka, TopicLookup>();

function topicLookupOf(opts: KafkaSourceReaderOptions): TopicLookup {
  if (opts.topics !== undefined) return opts.topics;
  if (opts.session !== undefined) {
    const wire = opts.session.wire;
    return new TopicLookup((topic) => wire.topicExists(topic));
  }
  let lookup = topicLookups.get(opts.kafka);
  if (lookup === undefined) {
    const wire = kafkaWireOf(opts.kafka);
    // KafkaJS shares a connect in flight and returns at once while connected; after a broker restart it reconnects.
    lookup = new TopicLookup(async (topic) => {
      await wire.connect();
      return wire.topicExists(topic);
    });
    topicLookups.set(opts.kafka, lookup);
  }
  return lookup;
}

/** The fetch loop shared by the readers of one KafkaJS client, while any is open. */
const sessions = new WeakMap<Kafka, { session: KafkaFetchSession; readers: number }>();

function joinSession(opts: KafkaSourceReaderOptions): {
  session: KafkaFetchSession;
  leave: () => Promise<void>;
} {
  if (opts.session !== undefined) return { session: opts.session, leave: () => Promise.resolve() };
  const kafka = opts.kafka;
  let entry = sessions.get(kafka);
  if (entry === undefined) {
    entry = {
      session: new KafkaFetchSession(kafkaWireOf(kafka), {
        maxWaitMs: opts.fetchMaxWaitMs ?? DEFAULT_FETCH_MAX_WAIT_MS,
        partitionMaxBytes: opts.fetchMaxBytes ?? DEFAULT_FETCH_MAX_BYTES,
        ...(opts.idleFetchWaitMs === undefined ? {} : { idleMaxWaitMs: opts.idleFetchWaitMs }),
        ...(opts.logger === undefined ? {} : { log: opts.logger }),
      }),
      readers: 0,
    };
    sessions.set(kafka, entry);
  }
  entry.readers++;
  const e = entry;
  return {
    session: e.session,
    leave: async () => {
      if (--e.readers > 0) return;
      // The last reader of the client: end the loop and close its connections.
      if (sessions.get(kafka) === e) sessions.delete(kafka);
      await e.session.drained();
      await e.session.wire.disconnect().catch(() => undefined);
    },
  };
}

export class KafkaSourceReader implements SourceReader, FetchedPartition {
  compareIds(a: Uint8Array, b: Uint8Array): number {
    const x = decodeKafkaMessageId(a);
    const y = decodeKafkaMessageId(b);
    return x < y ? -1 : x > y ? 1 : 0;
  }

  private stateValue: KafkaSourceReaderState = 'idle';
  private readonly queue: RecordQueue;
  private readonly budget: ReadBudget;
  private joined: { session: KafkaFetchSession; leave: () => Promise<void> } | undefined;
  private opening: Promise<void> | undefined;
  private closing: Promise<void> | undefined;
  private reading = false;
  /** A read waits for a change and takes only time ticks meanwhile (see `idle`). */
  private waitingForChange = false;
  /** When the last record that is not a time tick was fetched (or the reader joined the fetch loop), ms. */
  private lastChangeAt = 0;
  /** Offset of the next record to hand out; everything below it was delivered (or precedes the start). */
  private next = 0n;
  /** The broker's end of the partition at the last fetch that said (-1: not known yet). */
  private end = -1n;
  /** Average size of the records of the last fetch (0: none yet), to size the next (fetchBytes). */
  private bytesPerRecord = 0;
  /** Last offset of the refused record batch being passed over (its first record stands for all of it). */
  private rejectedThrough = -1n;

  constructor(private readonly opts: KafkaSourceReaderOptions) {
    this.budget = opts.budget ?? workerReadBudget;
    this.queue = new RecordQueue(
      {
        maxRecords: opts.maxQueuedRecords ?? 1000,
        maxBytes: opts.maxQueuedBytes ?? 16 * 1024 * 1024,
      },
      this.budget,
    );
  }

  get state(): KafkaSourceReaderState {
    return this.stateValue;
  }

  get channel(): string {
    return this.opts.channel;
  }

  get topic(): string {
    return this.opts.channel;
  }

  open(start: ReaderStart): Promise<void> {
    if (this.stateValue !== 'idle') {
      return Promise.reject(
        new CdcError('INTERNAL', `opening kafka reader: reader is ${this.stateValue}`, {
          retryable: false,
        }),
      );
    }
    this.stateValue = 'opening';
    this.opening = this.doOpen(start).catch(async (err: unknown) => {
      await this.teardown();
      throw unavailable('opening', this.channel, err);
    });
    return this.opening;
  }

  async read(
    maxRecords: number,
    maxWaitMs: number,
    signal?: AbortSignal,
    options?: ReadOptions,
  ): Promise<ChannelRecord[]> {
    if (this.stateValue === 'stopped') return [];
    if (this.stateValue !== 'running') {
      throw new CdcError('INTERNAL', `reading kafka reader: reader is ${this.stateValue}`, {
        retryable: false,
      });
    }
    if (!Number.isInteger(maxRecords) || maxRecords < 1) {
      throw new CdcError('INVALID_ARGUMENT', 'maxRecords: must be a positive integer', {
        retryable: false,
      });
    }
    if (this.reading) {
      throw new CdcError('INTERNAL', 'reading kafka reader: a read is already in progress', {
        retryable: false,
      });
    }
    this.reading = true;
    try {
      const coalesce = options?.coalesceTicks === true;
      this.waitingForChange = (coalesce || options?.idle === true) && maxWaitMs > 0;
      await this.queue.wait(Math.max(0, maxWaitMs), signal, coalesce ? isNotTimeTick : undefined);
      // An aborted caller may drop what it gets, so nothing is dequeued for it.
      if (signal?.aborted || this.stateValue !== 'running') return [];
      const taken = this.queue.take(maxRecords, this.opts.maxReadBytes ?? DEFAULT_MAX_READ_BYTES);
      const out = coalesce ? coalesceTicks(taken) : taken;
      const failure = this.queue.error;
      if (taken.length === 0 && failure !== undefined) throw failure;
      // Room again (below half): the next fetch round includes this channel.
      if (taken.length > 0 && this.queue.canResume) this.joined?.session.wake();
      return out;
    } finally {
      this.reading = false;
      this.waitingForChange = false;
    }
  }

  hasMore(): boolean {
    return this.queue.length > 0 || this.next < this.end;
  }

  /** Idempotent; waits for an open in flight, then leaves the fetch loop. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      this.stateValue = 'stopped';
      this.queue.close();
      await this.opening?.catch(() => undefined);
      await this.teardown();
    })();
    return this.closing;
  }

  private async doOpen(start: ReaderStart): Promise<void> {
    // Metadata only (never creates the topic, unlike a consumer subscription with auto-creation on).
    const topics = topicLookupOf(this.opts);
    if (!(await topics.exists(this.channel)))
      throw channelWithoutTopic(this.channel, (signal) => topics.whenExists(this.channel, signal));
    this.stopIfClosed();
    this.joined = joinSession(this.opts);
    const { session } = this.joined;
    await session.connect();
    const wire = session.wire;
    const marks = await wire.watermarks(this.channel);
    const byTimestamp =
      start.kind === 'timestamp' ? await wire.offsetAtTime(this.channel, start.unixMs) : undefined;
    this.next = resolveStartOffset(this.channel, start, marks, byTimestamp);
    this.stopIfClosed();
    this.lastChangeAt = Date.now();
    session.add(this);
    this.stateValue = 'running';
    this.opts.logger?.debug(
      { channel: this.channel, offset: this.next.toString() },
      'kafka reader opened',
    );
  }

  private stopIfClosed(): void {
    if (this.stateValue === 'stopped') {
      throw new CdcError('INTERNAL', 'opening kafka reader: closed while opening', {
        retryable: false,
      });
    }
  }

  // FetchedPartition: what the shared fetch loop asks and hands over.

  nextOffset(): bigint {
    return this.next;
  }

  /**
   * Enough for the room the queue has, by the size of the records fetched last: what does not fit is decoded only to
   * be dropped and fetched again. Records of a few dozen bytes (an idle channel's time ticks, one per Kafka batch)
   * would otherwise come by the thousand per fetch on every channel catching up, a heap of short-lived objects far
   * beyond the queue's bound. The first fetch of a reader is small: its record size is not known yet.
   */
  fetchBytes(max: number): number {
    if (this.bytesPerRecord === 0) return Math.min(max, FIRST_FETCH_BYTES);
    const room = this.queue.room;
    const wanted = Math.min(room.records * this.bytesPerRecord, room.bytes);
    return Math.min(max, Math.max(MIN_FETCH_BYTES, Math.ceil(wanted)));
  }

  /**
   * Its replicator waits for a change, and none came for `quietBeforeIdleMs`: a channel that changes every second or
   * so keeps its fetch rounds prompt, only a quiet one lets them wait longer (KafkaFetchSession `idleMaxWaitMs`).
   */
  idle(): boolean {
    return (
      this.waitingForChange &&
      this.stateValue === 'running' &&
      Date.now() - this.lastChangeAt >= (this.opts.quietBeforeIdleMs ?? QUIET_BEFORE_IDLE_MS)
    );
  }

  wantsRecords(): boolean {
    return (
      this.stateValue === 'running' &&
      this.queue.error === undefined &&
      !this.queue.full &&
      this.budget.allows(this.queue.length)
    );
  }

  async deliver(messages: readonly WireMessage[], highWatermark?: bigint): Promise<void> {
    if (highWatermark !== undefined && highWatermark > this.end) this.end = highWatermark;
    if (messages.length > 0) this.bytesPerRecord = averageRecordBytes(messages);
    for (const message of messages) {
      if (this.queue.error !== undefined || this.stateValue !== 'running') return;
      // Full: the rest is fetched again once the replicator made room (the queue's bounds hold exactly).
      if (this.queue.full) return;
      const offset = BigInt(message.offset);
      if (offset < this.next) continue;
      if (offset > this.next && !(await this.gapIsRetained(offset))) return;
      this.next = offset + 1n;
      if (message.isControlRecord === true) continue; // transaction markers carry no data
      const refused = rejectedBatchOf(headerOf(message, REJECTED_BATCH_HEADER));
      if (refused !== undefined) {
        if (offset <= this.rejectedThrough) continue;
        this.rejectedThrough = refused.lastOffset;
        this.queue.push(toRecord(this.channel, message, refused.reason));
      } else {
        const record = this.recordOf(message);
        if (isNotTimeTick(record)) this.lastChangeAt = Date.now();
        this.queue.push(record);
      }
    }
  }

  async outOfRange(): Promise<void> {
    const wire = this.joined?.session.wire;
    if (wire === undefined) return;
    const { low, high } = await wire.watermarks(this.channel);
    if (this.next < low) {
      this.failRetention(this.next, low);
      return;
    }
    if (this.next > high) {
      this.queue.fail(
        new CdcError(
          'FAILED_PRECONDITION',
          `reading ${this.channel}: offset ${this.next} is beyond the end of the topic (${high}); was it recreated?`,
          { retryable: false, details: { channel: this.channel, next: this.next.toString() } },
        ),
      );
    }
    // Otherwise the range moved while asking: the next round fetches again.
  }

  fail(err: unknown): void {
    this.queue.fail(unavailable('reading', this.channel, err));
  }

  /** The record of a fetched message, made once for every reader of the topic it goes to (records are immutable). */
  private recordOf(message: WireMessage): ChannelRecord {
    const rejected = this.oversized(message);
    if (rejected !== undefined) return toRecord(this.channel, message, rejected);
    // Only readers of this topic (this channel) are handed the message.
    let record = recordsOfMessages.get(message);
    if (record === undefined) {
      record = toRecord(this.channel, message);
      recordsOfMessages.set(message, record);
    }
    return record;
  }

  private oversized(message: WireMessage): string | undefined {
    const max = this.opts.maxRecordBytes ?? DEFAULT_MAX_RECORD_BYTES;
    const size = message.value?.byteLength ?? 0;
    if (size <= max) return undefined;
    return `record of ${size} bytes is larger than the ${max}-byte cap (WORKER_MAX_RECORD_BYTES)`;
  }

  /**
   * Offsets may legitimately jump (transaction markers, compaction), but a fetch at a deleted offset can also come
   * back from a later one. Only the broker's low watermark tells them apart.
   */
  private async gapIsRetained(offset: bigint): Promise<boolean> {
    const wire = this.joined?.session.wire;
    if (wire === undefined) return false;
    try {
      const { low } = await wire.watermarks(this.channel);
      if (low <= this.next) return true;
      this.failRetention(this.next, low, offset);
    } catch (err) {
      this.queue.fail(unavailable('checking offsets of', this.channel, err));
    }
    return false;
  }

  private failRetention(next: bigint, low: bigint, seen?: bigint): void {
    const through = seen === undefined ? low - 1n : seen - 1n;
    this.queue.fail(
      new CdcError(
        'FAILED_PRECONDITION',
        `reading ${this.channel}: offsets ${next}..${through} were deleted by retention before they were read`,
        {
          retryable: false,
          details: { channel: this.channel, next: next.toString(), low: low.toString() },
        },
      ),
    );
  }

  private async teardown(): Promise<void> {
    const joined = this.joined;
    this.joined = undefined;
    if (joined === undefined) return;
    joined.session.remove(this);
    await joined.leave();
  }
}

export interface KafkaSourceReaderFactoryOptions extends KafkaClientOptions {
  readonly maxQueuedRecords?: number;
  readonly maxQueuedBytes?: number;
  readonly fetchMaxWaitMs?: number;
  readonly idleFetchWaitMs?: number;
  readonly fetchMaxBytes?: number;
  readonly maxRecordBytes?: number;
}

/** One KafkaJS client shared by every reader the worker creates. */
export function createKafkaSourceReaderFactory(
  opts: KafkaSourceReaderFactoryOptions,
): SourceReaderFactory {
  const kafka = createKafkaClient(opts);
  return {
    create: (channel: string) =>
      new KafkaSourceReader({
        kafka,
        channel,
        ...(opts.logger === undefined
          ? {}
          : { logger: opts.logger.child({ component: 'kafka-source-reader', channel }) }),
        ...(opts.maxQueuedRecords === undefined ? {} : { maxQueuedRecords: opts.maxQueuedRecords }),
        ...(opts.maxQueuedBytes === undefined ? {} : { maxQueuedBytes: opts.maxQueuedBytes }),
        ...(opts.fetchMaxWaitMs === undefined ? {} : { fetchMaxWaitMs: opts.fetchMaxWaitMs }),
        ...(opts.idleFetchWaitMs === undefined ? {} : { idleFetchWaitMs: opts.idleFetchWaitMs }),
        ...(opts.fetchMaxBytes === undefined ? {} : { fetchMaxBytes: opts.fetchMaxBytes }),
        ...(opts.maxRecordBytes === undefined ? {} : { maxRecordBytes: opts.maxRecordBytes }),
      }),
  };
}
