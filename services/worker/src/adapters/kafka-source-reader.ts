/**
 * SourceReader over one Kafka topic (a Milvus pchannel, partition 0), built on KafkaJS.
 *
 * KafkaJS only consumes through a consumer group, so each reader joins a throwaway group (unique id, nothing
 * committed) and seeks partition 0 to the resolved start offset. Its push callback feeds a bounded
 * `RecordQueue`; a full queue pauses the partition. Offsets are checked on the way in: an offset below the next
 * expected one is a re-fetch and is dropped, a jump above it is accepted only when the broker still has the
 * missing offsets' range (a retention gap fails the reader instead of skipping records).
 */
import { randomUUID } from 'node:crypto';
import type { Consumer, EachMessagePayload, Kafka, KafkaMessage } from 'kafkajs';
import {
  CdcError,
  decodeKafkaMessageId,
  encodeKafkaMessageId,
  isCdcError,
  tlsRejection,
  tlsRejectionMessage,
} from '@cdc/shared';
import type { Logger } from '@cdc/shared';
import type {
  ChannelRecord,
  ReaderStart,
  SourceReader,
  SourceReaderFactory,
} from '../ports/source-reader.js';
import { createKafkaClient } from './kafka-client.js';
import type { KafkaClientOptions } from './kafka-client.js';
import { resolveStartOffset } from './kafka-position.js';
import type { Watermarks } from './kafka-position.js';
import { RecordQueue } from './record-queue.js';
import { REJECTED_BATCH_HEADER, rejectedBatchOf } from './kafka-zstd-codec.js';

const PARTITION = 0;

export interface KafkaSourceReaderOptions {
  readonly kafka: Kafka;
  /** Topic name = Milvus pchannel name. */
  readonly channel: string;
  readonly logger?: Logger;
  /** Queue bound in records; the partition is paused while the queue is full. Default 1000. */
  readonly maxQueuedRecords?: number;
  /**
   * Queue bound in payload bytes (Milvus records reach 10 MiB). Default 16 MiB: a worker catching up holds one queue
   * per leased channel (17 on a default source), and at 64 MiB each the 1M-row benchmark peaked at 1.4 GiB RSS for one
   * worker while the target, not the read-ahead, set the pace.
   */
  readonly maxQueuedBytes?: number;
  /** Broker long-poll time per fetch; it also bounds how long close() waits for a fetch in flight. Default 1000. */
  readonly fetchMaxWaitMs?: number;
  /** Prefix of the throwaway consumer group id. Default `cdc-reader`. */
  readonly groupIdPrefix?: string;
  /**
   * Compressed bytes one fetch asks for (KafkaJS `maxBytes` and `maxBytesPerPartition`: one partition per reader).
   * The broker still returns a first batch larger than this whole (up to its `message.max.bytes`). Default 1 MiB.
   */
  readonly fetchMaxBytes?: number;
  /** A record whose value is larger is quarantined instead of decoded. Default 16 MiB (Milvus writes ≤ 10 MiB). */
  readonly maxRecordBytes?: number;
}

export const DEFAULT_FETCH_MAX_BYTES = 1024 * 1024;
export const DEFAULT_MAX_RECORD_BYTES = 16 * 1024 * 1024;

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

function toRecord(channel: string, m: KafkaMessage, rejected?: string): ChannelRecord {
  const value = rejected === undefined ? (m.value ?? Buffer.alloc(0)) : Buffer.alloc(0);
  return {
    channel,
    msgId: encodeKafkaMessageId(BigInt(m.offset)),
    value: new Uint8Array(value.buffer, value.byteOffset, value.byteLength),
    headers: Object.fromEntries(
      Object.entries(m.headers ?? {}).map(([k, v]) => [k, Array.isArray(v) ? v[0] : v]),
    ),
    publishTimeMs: Number(m.timestamp),
    ...(rejected === undefined ? {} : { rejected }),
  };
}

function headerOf(m: KafkaMessage, key: string): Buffer | string | undefined {
  const v = m.headers?.[key];
  return Array.isArray(v) ? v[0] : v;
}

export class KafkaSourceReader implements SourceReader {
  compareIds(a: Uint8Array, b: Uint8Array): number {
    const x = decodeKafkaMessageId(a);
    const y = decodeKafkaMessageId(b);
    return x < y ? -1 : x > y ? 1 : 0;
  }

  private stateValue: KafkaSourceReaderState = 'idle';
  private readonly queue: RecordQueue;
  private consumer: Consumer | undefined;
  private opening: Promise<void> | undefined;
  private closing: Promise<void> | undefined;
  private reading = false;
  private paused = false;
  /** Offset of the next record to hand out; everything below it was delivered (or precedes the start). */
  private nextOffset = 0n;
  /** Last offset of the refused record batch being passed over (its first record stands for all of it). */
  private rejectedThrough = -1n;

  constructor(private readonly opts: KafkaSourceReaderOptions) {
    this.queue = new RecordQueue({
      maxRecords: opts.maxQueuedRecords ?? 1000,
      maxBytes: opts.maxQueuedBytes ?? 16 * 1024 * 1024,
    });
  }

  get state(): KafkaSourceReaderState {
    return this.stateValue;
  }

  get channel(): string {
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
      await this.queue.wait(Math.max(0, maxWaitMs), signal);
      // An aborted caller may drop what it gets, so nothing is dequeued for it.
      if (signal?.aborted || this.stateValue !== 'running') return [];
      const out = this.queue.take(maxRecords);
      const failure = this.queue.error;
      if (out.length === 0 && failure !== undefined) throw failure;
      this.resumeIfDrained();
      return out;
    } finally {
      this.reading = false;
    }
  }

  /** Idempotent; waits for an open in flight, then disconnects the consumer (which leaves its group). */
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
    const offset = await this.resolveStart(start);
    this.nextOffset = offset;
    this.stopIfClosed();
    const consumer = this.opts.kafka.consumer({
      groupId: `${this.opts.groupIdPrefix ?? 'cdc-reader'}-${randomUUID()}`,
      allowAutoTopicCreation: false,
      maxWaitTimeInMs: this.opts.fetchMaxWaitMs ?? 1000,
      maxBytes: this.opts.fetchMaxBytes ?? DEFAULT_FETCH_MAX_BYTES,
      maxBytesPerPartition: this.opts.fetchMaxBytes ?? DEFAULT_FETCH_MAX_BYTES,
      // A crashed consumer is reported, not restarted: the caller reopens at its own checkpoint.
      retry: { restartOnFailure: () => Promise.resolve(false) },
    });
    this.consumer = consumer;
    consumer.on(consumer.events.CRASH, (e) => {
      this.queue.fail(unavailable('consuming', this.channel, e.payload.error));
    });
    await consumer.connect();
    // fromBeginning: if the seek below ever lost a race, records would come from before the start and be
    // dropped by the offset check rather than skipped.
    await consumer.subscribe({ topics: [this.channel], fromBeginning: true });
    const running = consumer.run({
      autoCommit: false,
      partitionsConsumedConcurrently: 1,
      eachMessage: (p) => this.onMessage(p),
    });
    // Seek before run() resolves: KafkaJS applies it before the first fetch.
    consumer.seek({ topic: this.channel, partition: PARTITION, offset: offset.toString() });
    await running;
    const failure = this.queue.error;
    if (failure !== undefined) throw failure;
    this.stopIfClosed();
    this.stateValue = 'running';
    this.opts.logger?.debug(
      { channel: this.channel, offset: offset.toString() },
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

  private async resolveStart(start: ReaderStart): Promise<bigint> {
    const admin = this.opts.kafka.admin();
    try {
      await admin.connect();
      // listTopics first: a metadata request for a missing topic would auto-create it on the broker.
      const topics = await admin.listTopics();
      if (!topics.includes(this.channel)) {
        throw new CdcError(
          'SOURCE_UNAVAILABLE',
          `opening kafka topic ${this.channel}: topic does not exist`,
          {
            retryable: true,
            details: { channel: this.channel },
          },
        );
      }
      const marks = await this.watermarks(admin);
      let byTimestamp: bigint | undefined;
      if (start.kind === 'timestamp') {
        const found = await admin.fetchTopicOffsetsByTimestamp(this.channel, start.unixMs);
        const p0 = found.find((o) => o.partition === PARTITION);
        if (p0 !== undefined) byTimestamp = BigInt(p0.offset);
      }
      return resolveStartOffset(this.channel, start, marks, byTimestamp);
    } finally {
      await admin.disconnect().catch(() => undefined);
    }
  }

  private async watermarks(admin: ReturnType<Kafka['admin']>): Promise<Watermarks> {
    const offsets = await admin.fetchTopicOffsets(this.channel);
    const p0 = offsets.find((o) => o.partition === PARTITION);
    if (p0 === undefined) {
      throw new CdcError(
        'SOURCE_UNAVAILABLE',
        `opening kafka topic ${this.channel}: no partition 0`,
        {
          retryable: true,
          details: { channel: this.channel },
        },
      );
    }
    return { low: BigInt(p0.low), high: BigInt(p0.high) };
  }

  private async onMessage({ partition, message }: EachMessagePayload): Promise<void> {
    if (partition !== PARTITION || this.queue.error !== undefined) return;
    const offset = BigInt(message.offset);
    if (offset < this.nextOffset) return;
    if (offset > this.nextOffset && !(await this.gapIsRetained(offset))) return;
    this.nextOffset = offset + 1n;
    const refused = rejectedBatchOf(headerOf(message, REJECTED_BATCH_HEADER));
    if (refused !== undefined) {
      if (offset <= this.rejectedThrough) return;
      this.rejectedThrough = refused.lastOffset;
      this.queue.push(toRecord(this.channel, message, refused.reason));
    } else {
      this.queue.push(toRecord(this.channel, message, this.oversized(message)));
    }
    if (this.queue.full && !this.paused) {
      this.paused = true;
      this.consumer?.pause([{ topic: this.channel, partitions: [PARTITION] }]);
    }
  }

  private oversized(message: KafkaMessage): string | undefined {
    const max = this.opts.maxRecordBytes ?? DEFAULT_MAX_RECORD_BYTES;
    const size = message.value?.byteLength ?? 0;
    if (size <= max) return undefined;
    return `record of ${size} bytes is larger than the ${max}-byte cap (WORKER_MAX_RECORD_BYTES)`;
  }

  /**
   * Offsets may legitimately jump (transaction markers, compaction), but KafkaJS also jumps silently to the low
   * watermark when the next offset was deleted by retention. Only the broker's low watermark tells them apart.
   */
  private async gapIsRetained(offset: bigint): Promise<boolean> {
    const admin = this.opts.kafka.admin();
    try {
      await admin.connect();
      const { low } = await this.watermarks(admin);
      if (low <= this.nextOffset) return true;
      this.queue.fail(
        new CdcError(
          'FAILED_PRECONDITION',
          `reading ${this.channel}: offsets ${this.nextOffset}..${offset - 1n} were deleted by retention before they were read`,
          {
            retryable: false,
            details: {
              channel: this.channel,
              next: this.nextOffset.toString(),
              low: low.toString(),
            },
          },
        ),
      );
    } catch (err) {
      this.queue.fail(unavailable('checking offsets of', this.channel, err));
    } finally {
      await admin.disconnect().catch(() => undefined);
    }
    this.consumer?.pause([{ topic: this.channel, partitions: [PARTITION] }]);
    return false;
  }

  private resumeIfDrained(): void {
    if (!this.paused || !this.queue.canResume || this.queue.error !== undefined) return;
    this.paused = false;
    this.consumer?.resume([{ topic: this.channel, partitions: [PARTITION] }]);
  }

  private async teardown(): Promise<void> {
    const consumer = this.consumer;
    this.consumer = undefined;
    if (consumer === undefined) return;
    try {
      await consumer.disconnect();
    } catch (err) {
      this.opts.logger?.warn({ err, channel: this.channel }, 'kafka consumer disconnect failed');
    }
  }
}

export interface KafkaSourceReaderFactoryOptions extends KafkaClientOptions {
  readonly maxQueuedRecords?: number;
  readonly maxQueuedBytes?: number;
  readonly fetchMaxWaitMs?: number;
  readonly groupIdPrefix?: string;
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
        ...(opts.groupIdPrefix === undefined ? {} : { groupIdPrefix: opts.groupIdPrefix }),
        ...(opts.fetchMaxBytes === undefined ? {} : { fetchMaxBytes: opts.fetchMaxBytes }),
        ...(opts.maxRecordBytes === undefined ? {} : { maxRecordBytes: opts.maxRecordBytes }),
      }),
  };
}
