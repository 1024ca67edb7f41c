/**
 * The Pulsar client objects over the C API (pulsar-native-lib.ts): a client, its readers, and a producer for tests
 * and tools. Every call that may wait on the client's I/O threads runs on koffi's worker threads: the client logs
 * through a JS callback that koffi hands to the main thread, so a blocking call on the main thread could deadlock
 * with an I/O thread that logs while holding a lock the call needs. Only pure memory operations run synchronously.
 */
import { loadPulsarLib, serializeMessageId, setPulsarLogSink } from './pulsar-native-lib.js';
import type { Pointer, PulsarLib, PulsarLogFn } from './pulsar-native-lib.js';

export type { PulsarLogFn, PulsarLogLevel } from './pulsar-native-lib.js';

/** pulsar_result values this binding tells apart (include/pulsar/c/result.h). */
export const PULSAR_OK = 0;
export const PULSAR_TIMEOUT = 3;
export const PULSAR_ALREADY_CLOSED = 15;
const PULSAR_INVALID_URL = 22;
const COMPRESSION_ZSTD = 3;

/** A message copied out of native memory (the native message is freed before this is returned). */
export interface PulsarNativeMessage {
  readonly data: Uint8Array;
  /** Serialized `MessageIdData`. */
  readonly msgId: Uint8Array;
  readonly properties: Record<string, string>;
  readonly publishTimeMs: number;
}

export class PulsarCallError extends Error {
  constructor(
    readonly call: string,
    readonly result: number,
    resultText: string,
  ) {
    super(`${call}: ${resultText} (pulsar_result ${String(result)})`);
    this.name = 'PulsarCallError';
  }
}

function failure(lib: PulsarLib, call: string, result: number): PulsarCallError {
  return new PulsarCallError(call, result, lib.c.pulsar_result_str(result));
}

/** One client connection; readers and producers created from it are closed before it. */
export class PulsarNativeClient {
  private closed = false;

  private constructor(
    private readonly lib: PulsarLib,
    private readonly handle: Pointer,
  ) {}

  static async create(
    serviceUrl: string,
    opts: { operationTimeoutSeconds?: number; log?: PulsarLogFn; env?: NodeJS.ProcessEnv } = {},
  ): Promise<PulsarNativeClient> {
    const lib = await loadPulsarLib(opts.env);
    const { c } = lib;
    const conf = c.pulsar_client_configuration_create();
    let handle: Pointer;
    try {
      c.pulsar_client_configuration_set_operation_timeout_seconds(
        conf,
        opts.operationTimeoutSeconds ?? 30,
      );
      // Without a logger the C++ client prints every connection at INFO on stdout, the worker's log stream.
      if (opts.log !== undefined) setPulsarLogSink(opts.log);
      c.pulsar_client_configuration_set_logger(conf, lib.logger, null);
      handle = c.pulsar_client_create(serviceUrl, conf);
    } finally {
      c.pulsar_client_configuration_free(conf);
    }
    if (handle === null) {
      throw new PulsarCallError(
        'pulsar_client_create',
        PULSAR_INVALID_URL,
        `invalid URL ${serviceUrl}`,
      );
    }
    return new PulsarNativeClient(lib, handle);
  }

  /** `start`: 'earliest', 'latest', or serialized MessageIdData; a reader's start is exclusive. */
  async createReader(
    topic: string,
    start: 'earliest' | 'latest' | Uint8Array,
    receiverQueueSize?: number,
  ): Promise<PulsarNativeReader> {
    const { c, cAsync } = this.lib;
    const conf = c.pulsar_reader_configuration_create();
    const startId =
      start === 'earliest'
        ? c.pulsar_message_id_earliest()
        : start === 'latest'
          ? c.pulsar_message_id_latest()
          : c.pulsar_message_id_deserialize(start, start.length);
    try {
      if (receiverQueueSize !== undefined)
        c.pulsar_reader_configuration_set_receiver_queue_size(conf, receiverQueueSize);
      const out: Pointer[] = [null];
      const result = await cAsync.pulsar_client_create_reader(
        this.handle,
        topic,
        startId,
        conf,
        out,
      );
      if (result !== PULSAR_OK) throw failure(this.lib, 'pulsar_client_create_reader', result);
      return new PulsarNativeReader(this.lib, out[0] ?? null);
    } finally {
      if (typeof start !== 'string') c.pulsar_message_id_free(startId);
      c.pulsar_reader_configuration_free(conf);
    }
  }

  /** A producer for tests and tools; `batching` packs the sends until `flush()` into one entry. */
  async createProducer(
    topic: string,
    opts: { batching?: boolean; zstd?: boolean } = {},
  ): Promise<PulsarNativeProducer> {
    const { c, cAsync } = this.lib;
    const conf = c.pulsar_producer_configuration_create();
    try {
      c.pulsar_producer_configuration_set_batching_enabled(conf, opts.batching ? 1 : 0);
      if (opts.batching) {
        c.pulsar_producer_configuration_set_batching_max_messages(conf, 1000);
        c.pulsar_producer_configuration_set_batching_max_publish_delay_ms(conf, 60_000);
      }
      if (opts.zstd) c.pulsar_producer_configuration_set_compression_type(conf, COMPRESSION_ZSTD);
      const out: Pointer[] = [null];
      const result = await cAsync.pulsar_client_create_producer(this.handle, topic, conf, out);
      if (result !== PULSAR_OK) throw failure(this.lib, 'pulsar_client_create_producer', result);
      return new PulsarNativeProducer(this.lib, out[0] ?? null);
    } finally {
      c.pulsar_producer_configuration_free(conf);
    }
  }

  /** Idempotent. Closes the connection, then frees the client off the main thread. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const { cAsync } = this.lib;
    try {
      const result = await cAsync.pulsar_client_close(this.handle);
      if (result !== PULSAR_OK && result !== PULSAR_ALREADY_CLOSED)
        throw failure(this.lib, 'pulsar_client_close', result);
    } finally {
      await cAsync.pulsar_client_free(this.handle);
    }
  }
}

/** Copies a received message (data, id, properties) into JS memory and frees the native one. */
function takeMessage(lib: PulsarLib, msg: Pointer): PulsarNativeMessage {
  const { c, koffi } = lib;
  try {
    const length = c.pulsar_message_get_length(msg);
    const data =
      length === 0
        ? new Uint8Array(0)
        : new Uint8Array(koffi.view(c.pulsar_message_get_data(msg), length).slice(0));
    const id = c.pulsar_message_get_message_id(msg);
    let msgId: Uint8Array;
    try {
      msgId = serializeMessageId(lib, id);
    } finally {
      c.pulsar_message_id_free(id);
    }
    const map = c.pulsar_message_get_properties(msg);
    const properties: Record<string, string> = {};
    try {
      const n = c.pulsar_string_map_size(map);
      for (let i = 0; i < n; i++)
        properties[c.pulsar_string_map_get_key(map, i)] = c.pulsar_string_map_get_value(map, i);
    } finally {
      c.pulsar_string_map_free(map);
    }
    const publishTimeMs = Number(c.pulsar_message_get_publish_timestamp(msg));
    return { data, msgId, properties, publishTimeMs };
  } finally {
    c.pulsar_message_free(msg);
  }
}

export class PulsarNativeReader {
  private closed = false;

  constructor(
    private readonly lib: PulsarLib,
    private readonly handle: Pointer,
  ) {}

  /** The next message, or undefined when none arrived within `timeoutMs` (0: only what is already buffered). */
  async readNext(timeoutMs: number): Promise<PulsarNativeMessage | undefined> {
    if (this.closed) return undefined;
    const out: Pointer[] = [null];
    const call = 'pulsar_reader_read_next_with_timeout';
    const result = await this.lib.cAsync[call](this.handle, out, timeoutMs);
    if (result === PULSAR_TIMEOUT) return undefined;
    if (result !== PULSAR_OK) throw failure(this.lib, call, result);
    return takeMessage(this.lib, out[0] ?? null);
  }

  async seekTimestamp(unixMs: number): Promise<void> {
    const call = 'pulsar_reader_seek_by_timestamp';
    const result = await this.lib.cAsync[call](this.handle, BigInt(unixMs));
    if (result !== PULSAR_OK) throw failure(this.lib, call, result);
  }

  async hasMessageAvailable(): Promise<boolean> {
    const out = [0];
    const call = 'pulsar_reader_has_message_available';
    const result = await this.lib.cAsync[call](this.handle, out);
    if (result !== PULSAR_OK) throw failure(this.lib, call, result);
    return out[0] !== 0;
  }

  /** Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const { cAsync } = this.lib;
    try {
      const result = await cAsync.pulsar_reader_close(this.handle);
      if (result !== PULSAR_OK && result !== PULSAR_ALREADY_CLOSED)
        throw failure(this.lib, 'pulsar_reader_close', result);
    } finally {
      await cAsync.pulsar_reader_free(this.handle);
    }
  }
}

let nextSendKey = 1;
/** koffi's hand-over from a native thread does not keep Node alive; this timer does while receipts are due. */
let keepAlive: NodeJS.Timeout | undefined;
function trackSends(lib: PulsarLib): void {
  if (lib.pendingSends.size > 0) keepAlive ??= setInterval(() => undefined, 60_000);
  else if (keepAlive !== undefined) {
    clearInterval(keepAlive);
    keepAlive = undefined;
  }
}

export class PulsarNativeProducer {
  /** Native async calls run on a thread pool; chaining them keeps the sends in call order. */
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly lib: PulsarLib,
    private readonly handle: Pointer,
  ) {}

  /** Resolves with the message id once the broker persisted it (with batching: after `flush()`). */
  send(data: Uint8Array): Promise<Uint8Array> {
    const { c, cAsync, pendingSends } = this.lib;
    const key = nextSendKey++;
    const done = new Promise<Uint8Array>((resolve, reject) => {
      pendingSends.set(key, (result, msgId) => {
        trackSends(this.lib);
        if (msgId === undefined) reject(failure(this.lib, 'pulsar_producer_send_async', result));
        else resolve(msgId);
      });
    });
    trackSends(this.lib);
    const msg = c.pulsar_message_create();
    c.pulsar_message_set_content(msg, data, data.length);
    const send = (): Promise<void> =>
      cAsync.pulsar_producer_send_async(this.handle, msg, this.lib.sendDone, key);
    this.queue = this.queue
      .then(send, send)
      .catch((err: unknown) => {
        pendingSends.get(key)?.(-1);
        pendingSends.delete(key);
        throw err;
      })
      .finally(() => {
        c.pulsar_message_free(msg);
      });
    return done;
  }

  flush(): Promise<void> {
    const flush = async (): Promise<void> => {
      const result = await this.lib.cAsync.pulsar_producer_flush(this.handle);
      if (result !== PULSAR_OK) throw failure(this.lib, 'pulsar_producer_flush', result);
    };
    const flushed = this.queue.then(flush, flush);
    this.queue = flushed;
    return flushed;
  }

  async close(): Promise<void> {
    const { cAsync } = this.lib;
    try {
      await this.queue.catch(() => undefined);
      await cAsync.pulsar_producer_close(this.handle);
    } finally {
      await cAsync.pulsar_producer_free(this.handle);
    }
  }
}
