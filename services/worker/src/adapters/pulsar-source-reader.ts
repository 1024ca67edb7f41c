/**
 * SourceReader over one Pulsar topic (`persistent://{tenant}/{namespace}/{pchannel}`) with the Pulsar C client's
 * Reader API, bound through FFI in pulsar-native.ts (loaded only when a reader opens).
 *
 * Reads poll the reader's receive queue without waiting (a zero timeout), with short pauses while it is empty:
 * a native wait would hold a worker thread of the shared pool per idle channel, and an abort or close could not
 * interrupt it.
 */
import {
  CdcError,
  comparePulsarIds,
  decodePulsarMessageId,
  encodePulsarMessageId,
  isCdcError,
  pulsarIdOrder,
} from '@cdc/shared';
import type { Logger, PulsarIdOrder } from '@cdc/shared';
import type {
  ChannelRecord,
  ReaderStart,
  SourceReader,
  SourceReaderFactory,
} from '../ports/source-reader.js';
import { PulsarNativeClient } from './pulsar-native.js';
import type { PulsarLogFn, PulsarNativeMessage } from './pulsar-native.js';

/* ---- the slice of the client this reader uses (a seam for unit tests) ---- */
export interface PulsarReaderHandle {
  /** The next message, or undefined when none arrived within `timeoutMs` (0: only what is buffered). */
  readNext(timeoutMs: number): Promise<PulsarNativeMessage | undefined>;
  seekTimestamp(unixMs: number): Promise<void>;
  hasMessageAvailable(): Promise<boolean>;
  close(): Promise<void>;
}
export interface PulsarConnection {
  /** A reader's start id is exclusive: the first message is the one after it. */
  createReader(
    topic: string,
    start: 'earliest' | 'latest' | Uint8Array,
    receiverQueueSize?: number,
  ): Promise<PulsarReaderHandle>;
  close(): Promise<void>;
}
export type PulsarConnect = (
  serviceUrl: string,
  opts: { operationTimeoutSeconds: number; log?: PulsarLogFn },
) => Promise<PulsarConnection>;

export interface PulsarSourceReaderOptions {
  /** e.g. `pulsar://127.0.0.1:6650`. */
  readonly serviceUrl: string;
  /** Milvus pchannel name; the topic is `persistent://{tenant}/{namespace}/{channel}`. */
  readonly channel: string;
  readonly tenant?: string;
  readonly namespace?: string;
  readonly logger?: Logger;
  /** Where the native client's own log lines go: one sink per process, so not a channel's logger. */
  readonly clientLogger?: Logger;
  readonly operationTimeoutSeconds?: number;
  /** Messages the client fetches ahead. Default 200. */
  readonly receiverQueueSize?: number;
  /** Longest pause between two polls of an empty queue. Default 20. */
  readonly pollMs?: number;
  /** How long the retention check waits for the topic's first retained message. Default 3000. */
  readonly probeTimeoutMs?: number;
  /** Test seam; defaults to the native client. */
  readonly connect?: PulsarConnect;
}

export type PulsarSourceReaderState = 'idle' | 'opening' | 'running' | 'stopped';

export class PulsarSourceReader implements SourceReader {
  compareIds(a: Uint8Array, b: Uint8Array): number {
    return comparePulsarIds(pulsarIdOrder(a), pulsarIdOrder(b));
  }

  private stateValue: PulsarSourceReaderState = 'idle';
  private client: PulsarConnection | undefined;
  private reader: PulsarReaderHandle | undefined;
  private opening: Promise<void> | undefined;
  private closing: Promise<void> | undefined;
  private reading = false;
  /** Records read for a caller that aborted meanwhile; handed out first next time. */
  private carry: ChannelRecord[] = [];
  private last: PulsarIdOrder | undefined;
  readonly topic: string;

  constructor(private readonly opts: PulsarSourceReaderOptions) {
    this.topic = `persistent://${opts.tenant ?? 'public'}/${opts.namespace ?? 'default'}/${opts.channel}`;
  }

  get state(): PulsarSourceReaderState {
    return this.stateValue;
  }

  open(start: ReaderStart): Promise<void> {
    if (this.stateValue !== 'idle') {
      return Promise.reject(
        new CdcError('INTERNAL', `opening pulsar reader: reader is ${this.stateValue}`, {
          retryable: false,
        }),
      );
    }
    this.stateValue = 'opening';
    this.opening = this.doOpen(start).catch(async (err: unknown) => {
      await this.teardown();
      throw this.unavailable('opening', err);
    });
    return this.opening;
  }

  async read(
    maxRecords: number,
    maxWaitMs: number,
    signal?: AbortSignal,
  ): Promise<ChannelRecord[]> {
    if (this.stateValue === 'stopped') return [];
    const reader = this.reader;
    if (this.stateValue !== 'running' || reader === undefined) {
      throw new CdcError('INTERNAL', `reading pulsar reader: reader is ${this.stateValue}`, {
        retryable: false,
      });
    }
    if (!Number.isInteger(maxRecords) || maxRecords < 1) {
      throw new CdcError('INVALID_ARGUMENT', 'maxRecords: must be a positive integer', {
        retryable: false,
      });
    }
    if (this.reading) {
      throw new CdcError('INTERNAL', 'reading pulsar reader: a read is already in progress', {
        retryable: false,
      });
    }
    if (signal?.aborted) return [];
    this.reading = true;
    try {
      if (this.carry.length > 0) return this.carry.splice(0, maxRecords);
      const out: ChannelRecord[] = [];
      const deadline = Date.now() + Math.max(0, maxWaitMs);
      const maxPause = this.opts.pollMs ?? 20;
      let pause = 1;
      while (this.stateValue === 'running' && !signal?.aborted && out.length < maxRecords) {
        if (await this.pollInto(reader, out)) {
          pause = 1;
          continue;
        }
        const left = deadline - Date.now();
        if (out.length > 0 || left <= 0) break;
        await sleep(Math.min(pause, left), signal);
        pause = Math.min(pause * 2, maxPause);
      }
      if (this.stateValue !== 'running') return [];
      if (signal?.aborted) {
        this.carry = out;
        return [];
      }
      return out;
    } finally {
      this.reading = false;
    }
  }

  /** Idempotent; closes the reader and the client even if one of them fails. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      this.stateValue = 'stopped';
      this.carry = [];
      await this.opening?.catch(() => undefined);
      await this.teardown();
    })();
    return this.closing;
  }

  private async doOpen(start: ReaderStart): Promise<void> {
    const log = this.opts.clientLogger;
    const connect: PulsarConnect =
      this.opts.connect ?? ((url, opts) => PulsarNativeClient.create(url, opts));
    const client = await connect(this.opts.serviceUrl, {
      operationTimeoutSeconds: this.opts.operationTimeoutSeconds ?? 30,
      // The client logs connections at INFO; they belong at debug here, its warnings stay warnings.
      ...(log === undefined
        ? {}
        : {
            log: (level, message) => {
              if (level === 'warn' || level === 'error') log[level]({ pulsar: true }, message);
              else log.debug({ pulsar: true }, message);
            },
          }),
    });
    this.client = client;
    const queue = this.opts.receiverQueueSize ?? 200;
    const create = (startId: 'earliest' | 'latest' | Uint8Array): Promise<PulsarReaderHandle> =>
      client.createReader(this.topic, startId, queue);
    switch (start.kind) {
      case 'earliest':
      case 'latest':
        this.reader = await create(start.kind);
        break;
      case 'timestamp':
        this.reader = await create('earliest');
        await this.reader.seekTimestamp(start.unixMs);
        break;
      case 'after': {
        const order = pulsarIdOrder(start.msgId);
        const id = canonicalMessageId(start.msgId);
        await this.checkRetained(order, () => create('earliest'));
        this.last = order;
        this.reader = await create(id);
        break;
      }
    }
    if (this.stateValue === 'stopped') {
      throw new CdcError('INTERNAL', 'opening pulsar reader: closed while opening', {
        retryable: false,
      });
    }
    this.stateValue = 'running';
  }

  /**
   * A Pulsar Reader whose start id was deleted by retention silently starts at the first retained message, so
   * look at that message first. Retention deletes whole ledgers, oldest first: a first retained message at or
   * before the start id proves everything after it is still there. One after it means the start id's ledger is
   * gone, and whether entries followed the start id in that ledger cannot be known: failing beats a silent skip.
   */
  private async checkRetained(
    start: PulsarIdOrder,
    probe: () => Promise<PulsarReaderHandle>,
  ): Promise<void> {
    if (start.ledgerId < 0n) return;
    const reader = await probe();
    try {
      const first = await reader.readNext(this.opts.probeTimeoutMs ?? 3_000);
      if (first === undefined) {
        // Nothing arrived: either the topic holds no message at all (so the start id is gone too) or it is slow.
        if (await reader.hasMessageAvailable()) {
          throw new CdcError(
            'SOURCE_UNAVAILABLE',
            `resuming ${this.opts.channel}: no message arrived from ${this.topic}`,
            {
              retryable: true,
              details: { channel: this.opts.channel },
            },
          );
        }
        throw this.retentionGap('the topic holds no message');
      }
      const firstOrder = pulsarIdOrder(first.msgId);
      if (comparePulsarIds(firstOrder, start) > 0) {
        throw this.retentionGap(
          `first retained is ledger ${firstOrder.ledgerId} entry ${firstOrder.entryId}`,
        );
      }
    } finally {
      await reader.close().catch(() => undefined);
    }
  }

  private retentionGap(why: string): CdcError {
    return new CdcError(
      'FAILED_PRECONDITION',
      `resuming ${this.opts.channel}: the position was deleted by retention (${why}); reset the position`,
      { retryable: false, details: { channel: this.opts.channel } },
    );
  }

  /** Takes what the client already received, without waiting; true when a message was there. */
  private async pollInto(reader: PulsarReaderHandle, out: ChannelRecord[]): Promise<boolean> {
    let msg: PulsarNativeMessage | undefined;
    try {
      msg = await reader.readNext(0);
    } catch (err) {
      if (this.stateValue !== 'running') return false;
      throw this.unavailable('reading', err);
    }
    if (msg === undefined) return false;
    const order = pulsarIdOrder(msg.msgId);
    // Never hand out a message twice, whatever a reconnect or a batch redelivers.
    if (this.last !== undefined && comparePulsarIds(order, this.last) <= 0) return true;
    this.last = order;
    out.push({
      channel: this.opts.channel,
      msgId: msg.msgId,
      value: msg.data,
      headers: msg.properties,
      publishTimeMs: msg.publishTimeMs,
    });
    return true;
  }

  private unavailable(action: string, cause: unknown): CdcError {
    if (isCdcError(cause)) return cause;
    return new CdcError('SOURCE_UNAVAILABLE', `${action} pulsar topic ${this.topic}`, {
      retryable: true,
      cause,
      details: { channel: this.opts.channel },
    });
  }

  private async teardown(): Promise<void> {
    const { reader, client } = this;
    this.reader = undefined;
    this.client = undefined;
    for (const step of [() => reader?.close(), () => client?.close()]) {
      try {
        await step();
      } catch (err) {
        this.opts.logger?.warn({ err, channel: this.opts.channel }, 'pulsar reader cleanup failed');
      }
    }
  }
}

/**
 * The id handed to the native client, rebuilt from the decoded fields (ledger, entry, partition, batch index and
 * size): the native parser must never see bytes it could reject, whatever a stored position holds.
 */
function canonicalMessageId(bytes: Uint8Array): Uint8Array {
  const id = decodePulsarMessageId(bytes);
  return encodePulsarMessageId({
    ledgerId: id.ledgerId,
    entryId: id.entryId,
    partition: id.partition,
    batchIndex: id.batchIndex,
    ackSet: [],
    ...(id.batchSize === undefined ? {} : { batchSize: id.batchSize }),
  });
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}

export type PulsarSourceReaderFactoryOptions = Omit<PulsarSourceReaderOptions, 'channel'>;

export function createPulsarSourceReaderFactory(
  opts: PulsarSourceReaderFactoryOptions,
): SourceReaderFactory {
  return {
    create: (channel: string) =>
      new PulsarSourceReader({
        ...opts,
        channel,
        ...(opts.logger === undefined
          ? {}
          : {
              logger: opts.logger.child({ component: 'pulsar-source-reader', channel }),
              clientLogger: opts.logger.child({ component: 'pulsar-client' }),
            }),
      }),
  };
}
