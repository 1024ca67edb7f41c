/**
 * SourceReader over one Pulsar topic (`persistent://{tenant}/{namespace}/{pchannel}`) with the pulsar-client Reader
 * API. pulsar-client is an optional dependency with a native addon, so it is imported only when a reader opens.
 *
 * The Reader is already pull-based. Each `readNext` occupies a libuv threadpool thread while it waits, so waits
 * are cut into short polls: that also bounds how long an aborted read or close() waits.
 */
import { CdcError, comparePulsarIds, errorMessage, isCdcError, pulsarIdOrder } from '@cdc/shared';
import type { Logger, PulsarIdOrder } from '@cdc/shared';
import type {
  ChannelRecord,
  ReaderStart,
  SourceReader,
  SourceReaderFactory,
} from '../ports/source-reader.js';

/* ---- the slice of pulsar-client's API used here (typed locally: the package may be absent) ---- */
export interface PulsarMessageId {
  serialize(): Buffer;
}
export interface PulsarMessage {
  getData(): Buffer;
  getMessageId(): PulsarMessageId;
  getProperties(): Record<string, string>;
  getPublishTimestamp(): number;
}
export interface PulsarReader {
  readNext(timeoutMs: number): Promise<PulsarMessage>;
  seekTimestamp(unixMs: number): Promise<unknown>;
  close(): Promise<unknown>;
}
export interface PulsarClient {
  createReader(config: {
    topic: string;
    startMessageId: PulsarMessageId;
    receiverQueueSize?: number;
  }): Promise<PulsarReader>;
  close(): Promise<unknown>;
}
export interface PulsarModule {
  Client: new (config: {
    serviceUrl: string;
    operationTimeoutSeconds?: number;
    connectionTimeoutMs?: number;
    log?: (level: number, file: string, line: number, message: string) => void;
  }) => PulsarClient;
  MessageId: {
    earliest(): PulsarMessageId;
    latest(): PulsarMessageId;
    deserialize(data: Buffer): PulsarMessageId;
  };
}

/** A variable specifier keeps TypeScript and bundlers from resolving the optional package at build time. */
const PULSAR_PACKAGE = 'pulsar-client';

export async function loadPulsarClient(): Promise<PulsarModule> {
  const mod = (await import(PULSAR_PACKAGE)) as { default?: PulsarModule } & Partial<PulsarModule>;
  return mod.default ?? (mod as PulsarModule);
}

export interface PulsarSourceReaderOptions {
  /** e.g. `pulsar://127.0.0.1:6650`. */
  readonly serviceUrl: string;
  /** Milvus pchannel name; the topic is `persistent://{tenant}/{namespace}/{channel}`. */
  readonly channel: string;
  readonly tenant?: string;
  readonly namespace?: string;
  readonly logger?: Logger;
  readonly operationTimeoutSeconds?: number;
  readonly receiverQueueSize?: number;
  /** Longest single `readNext` wait. Default 100. */
  readonly pollMs?: number;
  /** How long the retention check waits for the topic's first retained message. Default 3000. */
  readonly probeTimeoutMs?: number;
  /** Test seam; defaults to importing pulsar-client. */
  readonly loadPulsar?: () => Promise<PulsarModule>;
}

export type PulsarSourceReaderState = 'idle' | 'opening' | 'running' | 'stopped';

const isTimeout = (err: unknown): boolean => /timeout/i.test(errorMessage(err));

export class PulsarSourceReader implements SourceReader {
  compareIds(a: Uint8Array, b: Uint8Array): number {
    return comparePulsarIds(pulsarIdOrder(a), pulsarIdOrder(b));
  }

  private stateValue: PulsarSourceReaderState = 'idle';
  private client: PulsarClient | undefined;
  private reader: PulsarReader | undefined;
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
      const poll = this.opts.pollMs ?? 100;
      // Wait for the first record in short polls, then take what is already buffered (1 ms polls).
      while (out.length === 0 && this.stateValue === 'running' && !signal?.aborted) {
        await this.pollInto(reader, out, Math.max(1, Math.min(poll, deadline - Date.now())));
        if (Date.now() >= deadline) break;
      }
      while (out.length > 0 && out.length < maxRecords && this.stateValue === 'running') {
        if (!(await this.pollInto(reader, out, 1))) break;
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
    let pulsar: PulsarModule;
    try {
      pulsar = await (this.opts.loadPulsar ?? loadPulsarClient)();
    } catch (err) {
      throw new CdcError(
        'FAILED_PRECONDITION',
        `pulsar-client native library is not installed: ${errorMessage(err)}`,
        { retryable: false, cause: err },
      );
    }
    const log = this.opts.logger;
    const client = new pulsar.Client({
      serviceUrl: this.opts.serviceUrl,
      operationTimeoutSeconds: this.opts.operationTimeoutSeconds ?? 30,
      // The C++ client logs every connection at INFO to stdout; route it to debug.
      log: (_level, file, line, message) => log?.debug({ pulsar: `${file}:${line}` }, message),
    });
    this.client = client;
    const queue = this.opts.receiverQueueSize;
    const create = (startMessageId: PulsarMessageId): Promise<PulsarReader> =>
      client.createReader({
        topic: this.topic,
        startMessageId,
        ...(queue === undefined ? {} : { receiverQueueSize: queue }),
      });
    switch (start.kind) {
      case 'earliest':
        this.reader = await create(pulsar.MessageId.earliest());
        break;
      case 'latest':
        this.reader = await create(pulsar.MessageId.latest());
        break;
      case 'timestamp':
        this.reader = await create(pulsar.MessageId.earliest());
        await this.reader.seekTimestamp(start.unixMs);
        break;
      case 'after': {
        const order = pulsarIdOrder(start.msgId);
        const id = pulsar.MessageId.deserialize(Buffer.from(start.msgId));
        await this.checkRetained(order, () => create(pulsar.MessageId.earliest()));
        this.last = order;
        // A Reader's start id is exclusive: the first message is the one after `id`.
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
   * A Pulsar Reader whose start id was deleted by retention silently starts at the first retained message.
   * So look at that message first: if it is past the start id's successor, records may be gone.
   */
  private async checkRetained(
    start: PulsarIdOrder,
    probe: () => Promise<PulsarReader>,
  ): Promise<void> {
    if (start.ledgerId < 0n) return;
    const reader = await probe();
    try {
      const first = await reader
        .readNext(this.opts.probeTimeoutMs ?? 3_000)
        .catch((err: unknown) => {
          if (isTimeout(err)) return undefined;
          throw err;
        });
      if (first === undefined) return;
      const firstOrder = pulsarIdOrder(first.getMessageId().serialize());
      // Entries of one ledger are numbered without gaps, so start + 1 in the same ledger proves nothing is missing;
      // across ledgers it cannot be proven, and failing beats a silent skip.
      const next =
        firstOrder.ledgerId === start.ledgerId && firstOrder.entryId === start.entryId + 1n;
      if (!next && comparePulsarIds(firstOrder, start) > 0) {
        throw new CdcError(
          'FAILED_PRECONDITION',
          `resuming ${this.opts.channel}: the position was deleted by retention (first retained is ledger ${firstOrder.ledgerId} entry ${firstOrder.entryId}); reset the position`,
          { retryable: false, details: { channel: this.opts.channel } },
        );
      }
    } finally {
      await reader.close().catch(() => undefined);
    }
  }

  /** One readNext; true when a record was appended. Timeouts are "nothing yet", other errors surface. */
  private async pollInto(
    reader: PulsarReader,
    out: ChannelRecord[],
    timeoutMs: number,
  ): Promise<boolean> {
    let msg: PulsarMessage;
    try {
      msg = await reader.readNext(timeoutMs);
    } catch (err) {
      if (isTimeout(err) || this.stateValue !== 'running') return false;
      throw this.unavailable('reading', err);
    }
    const msgId = new Uint8Array(msg.getMessageId().serialize());
    const order = pulsarIdOrder(msgId);
    // Never hand out a message twice, whatever a reconnect redelivers.
    if (this.last !== undefined && comparePulsarIds(order, this.last) <= 0) return true;
    this.last = order;
    const data = msg.getData();
    out.push({
      channel: this.opts.channel,
      msgId,
      value: new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
      headers: { ...msg.getProperties() },
      publishTimeMs: msg.getPublishTimestamp(),
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
          : { logger: opts.logger.child({ component: 'pulsar-source-reader', channel }) }),
      }),
  };
}
