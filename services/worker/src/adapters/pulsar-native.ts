/**
 * A small binding of the Apache Pulsar C client (`libpulsar`, its C API) through koffi, an FFI package whose
 * prebuilt binaries ship inside its npm packages. The library itself is the one inside the PyPI wheel
 * `pulsar-client` (installed by deploy/local/pulsar-client.sh, or any libpulsar ≥ 3.x: PULSAR_CLIENT_LIBRARY).
 *
 * Every call that may wait on the client's I/O threads runs off the main thread (koffi `.async`): the client logs
 * through a JS callback that koffi queues to the main thread, so a blocking call on the main thread could deadlock
 * with an I/O thread that logs while holding a lock the call needs. Only pure memory operations run synchronously.
 * Both koffi and the library are loaded on first use, so nothing native is touched unless a Pulsar source is read.
 */
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { CdcError, errorMessage } from '@cdc/shared';

/** pulsar_result values this binding tells apart (include/pulsar/c/result.h). */
export const PULSAR_OK = 0;
export const PULSAR_TIMEOUT = 3;
export const PULSAR_ALREADY_CLOSED = 15;

export type PulsarLogLevel = 'debug' | 'info' | 'warn' | 'error';
export type PulsarLogFn = (level: PulsarLogLevel, message: string) => void;

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
    super(`${call}: ${resultText} (pulsar_result ${result})`);
    this.name = 'PulsarCallError';
  }
}

export const isPulsarTimeout = (err: unknown): boolean =>
  err instanceof PulsarCallError && err.result === PULSAR_TIMEOUT;

/** Where the library is looked for: PULSAR_CLIENT_LIBRARY, the local cache, then the system loader. */
export function pulsarLibraryCandidates(env: NodeJS.ProcessEnv = process.env): string[] {
  const explicit = env['PULSAR_CLIENT_LIBRARY'];
  if (explicit) return [explicit];
  const cache = env['CDC_CACHE_DIR'] ?? join(homedir(), '.cache', 'milvus-cdc-ts');
  return [join(cache, 'libpulsar', 'libpulsar.so'), 'libpulsar.so'];
}

/* eslint-disable @typescript-eslint/no-explicit-any -- koffi's call signatures are untyped by nature */
type KoffiModule = (typeof import('koffi'))['default'];
type Fn = ((...args: any[]) => any) & { async: (...args: any[]) => void };
type Ptr = unknown;

interface Api {
  koffi: KoffiModule;
  fns: Record<string, Fn>;
  /** The one logger callback of the process (the C++ client caches loggers per source file, for good). */
  logger: unknown;
  /** The one send-receipt callback; the context value says which send it answers. */
  sendDone: unknown;
}

let logSink: PulsarLogFn | undefined;
/** Where the C++ client's log lines (INFO and above) go; the latest client's choice wins, process-wide. */
export function setPulsarLogSink(sink: PulsarLogFn | undefined): void {
  logSink = sink;
}
/* eslint-enable @typescript-eslint/no-explicit-any */

const SIGNATURES = [
  'const char *pulsar_result_str(int result)',
  'void *pulsar_client_configuration_create()',
  'void pulsar_client_configuration_free(void *conf)',
  'void pulsar_client_configuration_set_operation_timeout_seconds(void *conf, int timeout)',
  'void pulsar_client_configuration_set_logger(void *conf, pulsar_logger *logger, void *ctx)',
  'void *pulsar_client_create(const char *serviceUrl, void *conf)',
  'int pulsar_client_close(void *client)',
  'void pulsar_client_free(void *client)',
  'void *pulsar_reader_configuration_create()',
  'void pulsar_reader_configuration_free(void *conf)',
  'void pulsar_reader_configuration_set_receiver_queue_size(void *conf, int size)',
  'int pulsar_client_create_reader(void *client, const char *topic, void *startId, void *conf, _Out_ void **reader)',
  'int pulsar_reader_read_next_with_timeout(void *reader, _Out_ void **msg, int timeoutMs)',
  'int pulsar_reader_seek_by_timestamp(void *reader, uint64_t timestamp)',
  'int pulsar_reader_has_message_available(void *reader, _Out_ int *available)',
  'int pulsar_reader_close(void *reader)',
  'void pulsar_reader_free(void *reader)',
  'void *pulsar_message_create()',
  'void pulsar_message_free(void *msg)',
  'void pulsar_message_set_content(void *msg, const uint8_t *data, size_t size)',
  'void *pulsar_message_get_data(void *msg)',
  'uint32_t pulsar_message_get_length(void *msg)',
  'uint64_t pulsar_message_get_publish_timestamp(void *msg)',
  'void *pulsar_message_get_message_id(void *msg)',
  'void *pulsar_message_get_properties(void *msg)',
  'int pulsar_string_map_size(void *map)',
  'const char *pulsar_string_map_get_key(void *map, int idx)',
  'const char *pulsar_string_map_get_value(void *map, int idx)',
  'void pulsar_string_map_free(void *map)',
  'void *pulsar_message_id_earliest()',
  'void *pulsar_message_id_latest()',
  'void *pulsar_message_id_serialize(void *id, _Out_ int *len)',
  'void *pulsar_message_id_deserialize(const uint8_t *data, uint32_t len)',
  'void pulsar_message_id_free(void *id)',
  'void *pulsar_producer_configuration_create()',
  'void pulsar_producer_configuration_free(void *conf)',
  'void pulsar_producer_configuration_set_batching_enabled(void *conf, int enabled)',
  'void pulsar_producer_configuration_set_batching_max_messages(void *conf, unsigned int n)',
  'void pulsar_producer_configuration_set_batching_max_publish_delay_ms(void *conf, unsigned long ms)',
  'void pulsar_producer_configuration_set_compression_type(void *conf, int type)',
  'int pulsar_client_create_producer(void *client, const char *topic, void *conf, _Out_ void **producer)',
  // ctx is declared as an integer of pointer size: it carries a key, not an address.
  'void pulsar_producer_send_async(void *producer, void *msg, pulsar_send_callback *cb, intptr_t ctx)',
  'int pulsar_producer_flush(void *producer)',
  'int pulsar_producer_close(void *producer)',
  'void pulsar_producer_free(void *producer)',
];

let loading: Promise<Api> | undefined;

/** Loads koffi and libpulsar once; a missing piece is FAILED_PRECONDITION naming what to install. */
export function loadPulsarNative(env: NodeJS.ProcessEnv = process.env): Promise<Api> {
  loading ??= (async () => {
    let koffi: KoffiModule;
    try {
      koffi = (await import('koffi')).default;
    } catch (err) {
      throw new CdcError(
        'FAILED_PRECONDITION',
        `pulsar client: the koffi package is not installed: ${errorMessage(err)}`,
        { retryable: false, cause: err },
      );
    }
    const candidates = pulsarLibraryCandidates(env);
    const failures: string[] = [];
    for (const path of candidates) {
      if (path.includes('/') && !existsSync(path)) {
        failures.push(`${path}: not found`);
        continue;
      }
      try {
        const lib = koffi.load(path);
        const loggerProto = koffi.proto(
          'void pulsar_logger(int level, const char *file, int line, const char *message, void *ctx)',
        );
        const logger = koffi.register(
          (level: number, _file: string, _line: number, message: string) => {
            logSink?.(LEVELS[level] ?? 'error', message);
          },
          koffi.pointer(loggerProto),
        );
        const sendProto = koffi.proto(
          'void pulsar_send_callback(int result, void *msgId, intptr_t ctx)',
        );
        const fns: Record<string, Fn> = {};
        for (const sig of SIGNATURES) {
          const fn = lib.func(sig) as Fn;
          fns[/(\w+)\(/.exec(sig)![1]!] = fn;
        }
        const sendDone = koffi.register((result: number, msgId: Ptr, ctx: number | bigint) => {
          const key = Number(ctx);
          const done = pendingSends.get(key);
          pendingSends.delete(key);
          trackSends();
          if (done === undefined) return;
          if (result !== PULSAR_OK) done(result);
          else done(result, serializeMessageId({ koffi, fns }, msgId));
        }, koffi.pointer(sendProto));
        return { koffi, fns, logger, sendDone };
      } catch (err) {
        failures.push(`${path}: ${errorMessage(err).split('\n')[0]}`);
      }
    }
    throw new CdcError(
      'FAILED_PRECONDITION',
      `pulsar client library (libpulsar) is not installed: ${failures.join('; ')}; run deploy/local/pulsar-client.sh or set PULSAR_CLIENT_LIBRARY`,
      { retryable: false },
    );
  })();
  loading.catch(() => {
    loading = undefined;
  });
  return loading;
}

const LEVELS: readonly PulsarLogLevel[] = ['debug', 'info', 'warn', 'error'];

/** One client connection; readers and producers created from it are closed before it. */
export class PulsarNativeClient {
  private handle: Ptr;
  private closed = false;

  private constructor(
    private readonly api: Api,
    serviceUrl: string,
    operationTimeoutSeconds: number,
    log: PulsarLogFn | undefined,
  ) {
    const { fns } = api;
    const conf = fns['pulsar_client_configuration_create']!();
    try {
      fns['pulsar_client_configuration_set_operation_timeout_seconds']!(
        conf,
        operationTimeoutSeconds,
      );
      // Without a logger the C++ client prints every connection at INFO on stdout, the worker's log stream.
      if (log !== undefined) setPulsarLogSink(log);
      fns['pulsar_client_configuration_set_logger']!(conf, api.logger, null);
      this.handle = fns['pulsar_client_create']!(serviceUrl, conf);
    } finally {
      fns['pulsar_client_configuration_free']!(conf);
    }
    if (this.handle === null) {
      throw new PulsarCallError('pulsar_client_create', 22, `invalid service URL ${serviceUrl}`);
    }
  }

  static async create(
    serviceUrl: string,
    opts: { operationTimeoutSeconds?: number; log?: PulsarLogFn; env?: NodeJS.ProcessEnv } = {},
  ): Promise<PulsarNativeClient> {
    const api = await loadPulsarNative(opts.env);
    return new PulsarNativeClient(api, serviceUrl, opts.operationTimeoutSeconds ?? 30, opts.log);
  }

  /** Runs a native call on a worker thread; a non-zero pulsar_result rejects with PulsarCallError. */
  call(name: string, ...args: unknown[]): Promise<unknown> {
    const fn = this.api.fns[name]!;
    return new Promise((resolve, reject) => {
      fn.async(...args, (err: unknown, res: unknown) => {
        if (err) reject(err instanceof Error ? err : new Error(String(err)));
        else resolve(res);
      });
    });
  }

  async check(name: string, ...args: unknown[]): Promise<void> {
    const result = (await this.call(name, ...args)) as number;
    if (result !== PULSAR_OK) throw this.error(name, result);
  }

  error(name: string, result: number): PulsarCallError {
    return new PulsarCallError(name, result, this.api.fns['pulsar_result_str']!(result) as string);
  }

  get fns(): Record<string, Fn> {
    return this.api.fns;
  }

  /** `start`: 'earliest', 'latest', or serialized MessageIdData; a reader's start is exclusive. */
  async createReader(
    topic: string,
    start: 'earliest' | 'latest' | Uint8Array,
    receiverQueueSize?: number,
  ): Promise<PulsarNativeReader> {
    const { fns } = this;
    const conf = fns['pulsar_reader_configuration_create']!();
    const startId =
      start === 'earliest'
        ? fns['pulsar_message_id_earliest']!()
        : start === 'latest'
          ? fns['pulsar_message_id_latest']!()
          : fns['pulsar_message_id_deserialize']!(start, start.length);
    try {
      if (receiverQueueSize !== undefined)
        fns['pulsar_reader_configuration_set_receiver_queue_size']!(conf, receiverQueueSize);
      const out: Ptr[] = [null];
      await this.check('pulsar_client_create_reader', this.handle, topic, startId, conf, out);
      return new PulsarNativeReader(this, out[0]);
    } finally {
      if (typeof start !== 'string') fns['pulsar_message_id_free']!(startId);
      fns['pulsar_reader_configuration_free']!(conf);
    }
  }

  /** A producer for tests and tools; `batching` packs sends until `flush()` into one entry. */
  async createProducer(
    topic: string,
    opts: { batching?: boolean; zstd?: boolean } = {},
  ): Promise<PulsarNativeProducer> {
    const { fns } = this;
    const conf = fns['pulsar_producer_configuration_create']!();
    try {
      fns['pulsar_producer_configuration_set_batching_enabled']!(conf, opts.batching ? 1 : 0);
      if (opts.batching) {
        fns['pulsar_producer_configuration_set_batching_max_messages']!(conf, 1000);
        fns['pulsar_producer_configuration_set_batching_max_publish_delay_ms']!(conf, 60_000);
      }
      if (opts.zstd) fns['pulsar_producer_configuration_set_compression_type']!(conf, 3);
      const out: Ptr[] = [null];
      await this.check('pulsar_client_create_producer', this.handle, topic, conf, out);
      return new PulsarNativeProducer(this, this.api, out[0]);
    } finally {
      fns['pulsar_producer_configuration_free']!(conf);
    }
  }

  /** Copies a received message (data, id, properties) into JS memory and frees the native one. */
  takeMessage(msg: Ptr): PulsarNativeMessage {
    const { fns, koffi } = this.api;
    try {
      const length = fns['pulsar_message_get_length']!(msg) as number;
      const data =
        length === 0
          ? new Uint8Array(0)
          : new Uint8Array(koffi.view(fns['pulsar_message_get_data']!(msg), length).slice(0));
      const id = fns['pulsar_message_get_message_id']!(msg);
      let msgId: Uint8Array;
      try {
        msgId = this.serializeId(id);
      } finally {
        fns['pulsar_message_id_free']!(id);
      }
      const map = fns['pulsar_message_get_properties']!(msg);
      const properties: Record<string, string> = {};
      try {
        const n = fns['pulsar_string_map_size']!(map) as number;
        for (let i = 0; i < n; i++) {
          const key = fns['pulsar_string_map_get_key']!(map, i) as string;
          properties[key] = fns['pulsar_string_map_get_value']!(map, i) as string;
        }
      } finally {
        fns['pulsar_string_map_free']!(map);
      }
      const publishTimeMs = Number(fns['pulsar_message_get_publish_timestamp']!(msg));
      return { data, msgId, properties, publishTimeMs };
    } finally {
      fns['pulsar_message_free']!(msg);
    }
  }

  serializeId(id: Ptr): Uint8Array {
    return serializeMessageId(this.api, id);
  }

  /** Idempotent. Closes the connection, then frees the client off the main thread. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    try {
      const result = (await this.call('pulsar_client_close', this.handle)) as number;
      if (result !== PULSAR_OK && result !== PULSAR_ALREADY_CLOSED)
        throw this.error('pulsar_client_close', result);
    } finally {
      await this.call('pulsar_client_free', this.handle);
    }
  }
}

function serializeMessageId(api: Pick<Api, 'koffi' | 'fns'>, id: Ptr): Uint8Array {
  const len: number[] = [0];
  const buf = api.fns['pulsar_message_id_serialize']!(id, len);
  try {
    return new Uint8Array(api.koffi.view(buf, len[0]!).slice(0));
  } finally {
    libcFree(api.koffi)(buf);
  }
}

let freeFn: ((p: unknown) => void) | undefined;
/** pulsar_message_id_serialize returns malloc'ed memory. */
function libcFree(koffi: KoffiModule): (p: unknown) => void {
  freeFn ??= koffi.load('libc.so.6').func('void free(void *p)') as (p: unknown) => void;
  return freeFn;
}

export class PulsarNativeReader {
  private closed = false;

  constructor(
    private readonly client: PulsarNativeClient,
    private readonly handle: Ptr,
  ) {}

  /** The next message, or undefined when none arrived within `timeoutMs` (0: only what is already buffered). */
  async readNext(timeoutMs: number): Promise<PulsarNativeMessage | undefined> {
    if (this.closed) return undefined;
    const out: Ptr[] = [null];
    const name = 'pulsar_reader_read_next_with_timeout';
    const result = (await this.client.call(name, this.handle, out, timeoutMs)) as number;
    if (result === PULSAR_TIMEOUT) return undefined;
    if (result !== PULSAR_OK) throw this.client.error(name, result);
    return this.client.takeMessage(out[0]);
  }

  seekTimestamp(unixMs: number): Promise<void> {
    return this.client.check('pulsar_reader_seek_by_timestamp', this.handle, BigInt(unixMs));
  }

  async hasMessageAvailable(): Promise<boolean> {
    const out = [0];
    await this.client.check('pulsar_reader_has_message_available', this.handle, out);
    return out[0] !== 0;
  }

  /** Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    try {
      const result = (await this.client.call('pulsar_reader_close', this.handle)) as number;
      if (result !== PULSAR_OK && result !== PULSAR_ALREADY_CLOSED)
        throw this.client.error('pulsar_reader_close', result);
    } finally {
      await this.client.call('pulsar_reader_free', this.handle);
    }
  }
}

type SendDone = (result: number, msgId?: Uint8Array) => void;
/** Sends waiting for their receipt, by the key passed as the callback context. */
const pendingSends = new Map<number, SendDone>();
let nextSendKey = 1;
/** koffi's hand-over from a native thread does not keep Node alive; this timer does while receipts are due. */
let keepAlive: NodeJS.Timeout | undefined;
function trackSends(): void {
  if (pendingSends.size > 0) keepAlive ??= setInterval(() => undefined, 60_000);
  else if (keepAlive !== undefined) {
    clearInterval(keepAlive);
    keepAlive = undefined;
  }
}

export class PulsarNativeProducer {
  /** Native async calls run on a thread pool; chaining them keeps the sends in call order. */
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly client: PulsarNativeClient,
    private readonly api: Api,
    private readonly handle: Ptr,
  ) {}

  /** Resolves with the message id once the broker persisted it (with batching: after `flush()`). */
  send(data: Uint8Array): Promise<Uint8Array> {
    const { fns } = this.api;
    const key = nextSendKey++;
    const done = new Promise<Uint8Array>((resolve, reject) => {
      pendingSends.set(key, (result, msgId) => {
        if (msgId === undefined) reject(this.client.error('pulsar_producer_send_async', result));
        else resolve(msgId);
      });
    });
    trackSends();
    const msg = fns['pulsar_message_create']!();
    fns['pulsar_message_set_content']!(msg, data, data.length);
    const send = (): Promise<unknown> =>
      this.client.call('pulsar_producer_send_async', this.handle, msg, this.api.sendDone, key);
    this.queue = this.queue
      .then(send, send)
      .catch((err: unknown) => {
        pendingSends.get(key)?.(-1);
        pendingSends.delete(key);
        trackSends();
        throw err;
      })
      .finally(() => fns['pulsar_message_free']!(msg));
    return done;
  }

  flush(): Promise<void> {
    const flush = (): Promise<void> => this.client.check('pulsar_producer_flush', this.handle);
    const flushed = this.queue.then(flush, flush);
    this.queue = flushed;
    return flushed;
  }

  async close(): Promise<void> {
    try {
      await this.client.call('pulsar_producer_close', this.handle);
    } finally {
      await this.client.call('pulsar_producer_free', this.handle);
    }
  }
}
