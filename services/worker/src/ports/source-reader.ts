import { CdcError, type DecodedMessage, type MessageHeaders } from '@cdc/shared';

/** Where a reader starts on its channel. `after` resumes strictly after the given message id. */
export type ReaderStart =
  | { readonly kind: 'earliest' }
  | { readonly kind: 'latest' }
  | { readonly kind: 'after'; readonly msgId: Uint8Array }
  | { readonly kind: 'timestamp'; readonly unixMs: number };

/** One raw record of a source channel, exactly as the MQ delivered it (decompressed). */
export interface ChannelRecord {
  readonly channel: string;
  /** Serialized MQ message id as Milvus stores it (Kafka: 8-byte LE offset; Pulsar: MessageIdData bytes). */
  readonly msgId: Uint8Array;
  readonly value: Uint8Array;
  readonly headers: MessageHeaders;
  /** Broker timestamp of the record, milliseconds (informational; ordering uses Milvus timestamps). */
  readonly publishTimeMs: number;
  /**
   * Set when the reader refused the record (over a size cap, or part of a record batch that could not be
   * decompressed within its cap): the reason, to quarantine it with. `value` is then empty; for a refused batch one
   * record stands for its whole offset range.
   */
  readonly rejected?: string;
  /**
   * Set by readers that decode themselves (Milvus 2.6 WAL): the message in the shapes of the 2.3–2.5 codec. Absent:
   * decode `value` as a msgstream record.
   */
  readonly decoded?: DecodedMessage;
}

/** How a consumer wants one `read` served; readers that cannot honour an option ignore it (still correct). */
export interface ReadOptions {
  /**
   * The consumer holds nothing a time tick would close (it is caught up and idle), so a tick only moves its checkpoint
   * and a later tick supersedes it: wait the whole `maxWaitMs` unless a record that is not a time tick arrives, and
   * hand out a run of consecutive time ticks as its last one. An idle channel is then handled about once per wait, not
   * on each of the source's ticks (every 200 ms), while a change still wakes the consumer at once.
   */
  readonly coalesceTicks?: boolean;
  /**
   * Nothing the consumer waits for is urgent (a channel without time ticks waiting for its next op): while every
   * channel read with it waits like this, a reader may fetch less often, so a record can arrive up to
   * WORKER_IDLE_FETCH_WAIT_MS later. Implied by `coalesceTicks`.
   */
  readonly idle?: boolean;
}

/**
 * Reads one source channel (a Kafka topic's partition 0 or a Pulsar topic) in order.
 *
 * Lifecycle: `open(start)` once, then `read()` repeatedly, then `close()` (idempotent, always safe).
 * - `read` returns the next records in MQ order, at most `maxRecords`; it waits up to `maxWaitMs` for the first one and
 *   returns `[]` when none arrived. It never skips or repeats a record within one open reader (apart from
 *   time ticks coalesced on request, see ReadOptions).
 * - An aborted `signal` makes `read` return promptly (possibly `[]`).
 * - Errors are `CdcError`s: `SOURCE_UNAVAILABLE` (retryable) when the MQ is unreachable; a start position that no
 *   longer exists (retention) is `FAILED_PRECONDITION` (not retryable: a person must reset the position).
 * - Readers do not commit anything to the MQ: progress lives only in the CDC checkpoint store.
 */
export interface SourceReader {
  open(start: ReaderStart): Promise<void>;
  read(
    maxRecords: number,
    maxWaitMs: number,
    signal?: AbortSignal,
    options?: ReadOptions,
  ): Promise<ChannelRecord[]>;
  close(): Promise<void>;
  /**
   * Whether records the reader knows of are still to be handed out: queued, or before the end of the channel the MQ
   * reported last. A read can return fewer records than asked for while more wait (a byte cap), so only this says the
   * consumer is at the end. Absent: a read that returned fewer than asked for is taken to mean so.
   */
  hasMore?(): boolean;
  /** Orders two message ids of this channel (negative: `a` comes first). */
  compareIds(a: Uint8Array, b: Uint8Array): number;
}

export interface SourceReaderFactory {
  create(channel: string): SourceReader;
}

/** Resolves once a channel's topic exists; rejects when `signal` aborts. */
export type TopicAppearance = (signal: AbortSignal) => Promise<void>;

/**
 * A retryable open() failure saying the channel has no topic yet (a pchannel no collection has used): the source has
 * written nothing there, so the lease counts as caught up while it waits for the topic to appear. Readers that can
 * watch for the topic say how (`whenTopicAppears`), so the lease waits instead of opening again and again.
 */
export class ChannelWithoutTopicError extends CdcError {
  constructor(
    channel: string,
    readonly whenTopicAppears?: TopicAppearance,
  ) {
    super('SOURCE_UNAVAILABLE', `opening topic ${channel}: topic does not exist`, {
      retryable: true,
      details: { channel, nothingToRead: true },
    });
  }
}

export function channelWithoutTopic(channel: string, whenTopicAppears?: TopicAppearance): CdcError {
  return new ChannelWithoutTopicError(channel, whenTopicAppears);
}

export function isChannelWithoutTopic(err: unknown): boolean {
  return err instanceof CdcError && err.details['nothingToRead'] === true;
}

/** How to wait for the missing topic of a `channelWithoutTopic` failure, when its reader can watch for it. */
export function topicAppearanceOf(err: unknown): TopicAppearance | undefined {
  return err instanceof ChannelWithoutTopicError ? err.whenTopicAppears : undefined;
}
