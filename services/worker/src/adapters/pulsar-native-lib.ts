/**
 * Loads the Apache Pulsar C client (`libpulsar`, its C API) through koffi, an FFI package whose prebuilt binaries
 * ship inside its npm packages. The library is the one inside the PyPI wheel `pulsar-client` (installed by
 * deploy/local/pulsar-client.sh), or any libpulsar 3.x (WORKER_PULSAR_CLIENT_LIBRARY). Declaring the C signatures here
 * needs no C or C++ headers at build time. Loaded on first use only, so nothing native runs without a Pulsar source.
 */
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { CdcError, errorMessage } from '@cdc/shared';
import type koffiDefault from 'koffi';

type KoffiModule = typeof koffiDefault;
/** An opaque native pointer (a koffi External), or null. */
export type Pointer = object | null;

/** The C functions used, typed as koffi passes them (out-parameters are one-element arrays). */
export interface PulsarCApi {
  pulsar_result_str(result: number): string;
  pulsar_client_configuration_create(): Pointer;
  pulsar_client_configuration_free(conf: Pointer): void;
  pulsar_client_configuration_set_operation_timeout_seconds(conf: Pointer, seconds: number): void;
  pulsar_client_configuration_set_logger(conf: Pointer, logger: unknown, ctx: null): void;
  pulsar_client_create(serviceUrl: string, conf: Pointer): Pointer;
  pulsar_client_close(client: Pointer): number;
  pulsar_client_free(client: Pointer): void;
  pulsar_reader_configuration_create(): Pointer;
  pulsar_reader_configuration_free(conf: Pointer): void;
  pulsar_reader_configuration_set_receiver_queue_size(conf: Pointer, size: number): void;
  pulsar_client_create_reader(
    client: Pointer,
    topic: string,
    start: Pointer,
    conf: Pointer,
    out: Pointer[],
  ): number;
  pulsar_reader_read_next_with_timeout(reader: Pointer, out: Pointer[], timeoutMs: number): number;
  pulsar_reader_seek_by_timestamp(reader: Pointer, unixMs: bigint): number;
  pulsar_reader_has_message_available(reader: Pointer, out: number[]): number;
  pulsar_reader_close(reader: Pointer): number;
  pulsar_reader_free(reader: Pointer): void;
  pulsar_message_create(): Pointer;
  pulsar_message_free(msg: Pointer): void;
  pulsar_message_set_content(msg: Pointer, data: Uint8Array, size: number): void;
  pulsar_message_get_data(msg: Pointer): Pointer;
  pulsar_message_get_length(msg: Pointer): number;
  pulsar_message_get_publish_timestamp(msg: Pointer): number | bigint;
  pulsar_message_get_message_id(msg: Pointer): Pointer;
  pulsar_message_get_properties(msg: Pointer): Pointer;
  pulsar_string_map_size(map: Pointer): number;
  pulsar_string_map_get_key(map: Pointer, idx: number): string;
  pulsar_string_map_get_value(map: Pointer, idx: number): string;
  pulsar_string_map_free(map: Pointer): void;
  pulsar_message_id_earliest(): Pointer;
  pulsar_message_id_latest(): Pointer;
  pulsar_message_id_serialize(id: Pointer, len: number[]): Pointer;
  pulsar_message_id_deserialize(data: Uint8Array, len: number): Pointer;
  pulsar_message_id_free(id: Pointer): void;
  pulsar_producer_configuration_create(): Pointer;
  pulsar_producer_configuration_free(conf: Pointer): void;
  pulsar_producer_configuration_set_batching_enabled(conf: Pointer, enabled: number): void;
  pulsar_producer_configuration_set_batching_max_messages(conf: Pointer, n: number): void;
  pulsar_producer_configuration_set_batching_max_publish_delay_ms(conf: Pointer, ms: number): void;
  pulsar_producer_configuration_set_compression_type(conf: Pointer, type: number): void;
  pulsar_client_create_producer(
    client: Pointer,
    topic: string,
    conf: Pointer,
    out: Pointer[],
  ): number;
  pulsar_producer_send_async(producer: Pointer, msg: Pointer, cb: unknown, ctx: number): void;
  pulsar_producer_flush(producer: Pointer): number;
  pulsar_producer_close(producer: Pointer): number;
  pulsar_producer_free(producer: Pointer): void;
}

const SIGNATURES: Record<keyof PulsarCApi, string> = {
  pulsar_result_str: 'const char *pulsar_result_str(int result)',
  pulsar_client_configuration_create: 'void *pulsar_client_configuration_create()',
  pulsar_client_configuration_free: 'void pulsar_client_configuration_free(void *conf)',
  pulsar_client_configuration_set_operation_timeout_seconds:
    'void pulsar_client_configuration_set_operation_timeout_seconds(void *conf, int timeout)',
  pulsar_client_configuration_set_logger:
    'void pulsar_client_configuration_set_logger(void *conf, pulsar_logger *logger, void *ctx)',
  pulsar_client_create: 'void *pulsar_client_create(const char *serviceUrl, void *conf)',
  pulsar_client_close: 'int pulsar_client_close(void *client)',
  pulsar_client_free: 'void pulsar_client_free(void *client)',
  pulsar_reader_configuration_create: 'void *pulsar_reader_configuration_create()',
  pulsar_reader_configuration_free: 'void pulsar_reader_configuration_free(void *conf)',
  pulsar_reader_configuration_set_receiver_queue_size:
    'void pulsar_reader_configuration_set_receiver_queue_size(void *conf, int size)',
  pulsar_client_create_reader:
    'int pulsar_client_create_reader(void *client, const char *topic, void *start, void *conf, _Out_ void **reader)',
  pulsar_reader_read_next_with_timeout:
    'int pulsar_reader_read_next_with_timeout(void *reader, _Out_ void **msg, int timeoutMs)',
  pulsar_reader_seek_by_timestamp:
    'int pulsar_reader_seek_by_timestamp(void *reader, uint64_t timestamp)',
  pulsar_reader_has_message_available:
    'int pulsar_reader_has_message_available(void *reader, _Out_ int *available)',
  pulsar_reader_close: 'int pulsar_reader_close(void *reader)',
  pulsar_reader_free: 'void pulsar_reader_free(void *reader)',
  pulsar_message_create: 'void *pulsar_message_create()',
  pulsar_message_free: 'void pulsar_message_free(void *msg)',
  pulsar_message_set_content:
    'void pulsar_message_set_content(void *msg, const uint8_t *data, size_t size)',
  pulsar_message_get_data: 'void *pulsar_message_get_data(void *msg)',
  pulsar_message_get_length: 'uint32_t pulsar_message_get_length(void *msg)',
  pulsar_message_get_publish_timestamp: 'uint64_t pulsar_message_get_publish_timestamp(void *msg)',
  pulsar_message_get_message_id: 'void *pulsar_message_get_message_id(void *msg)',
  pulsar_message_get_properties: 'void *pulsar_message_get_properties(void *msg)',
  pulsar_string_map_size: 'int pulsar_string_map_size(void *map)',
  pulsar_string_map_get_key: 'const char *pulsar_string_map_get_key(void *map, int idx)',
  pulsar_string_map_get_value: 'const char *pulsar_string_map_get_value(void *map, int idx)',
  pulsar_string_map_free: 'void pulsar_string_map_free(void *map)',
  pulsar_message_id_earliest: 'void *pulsar_message_id_earliest()',
  pulsar_message_id_latest: 'void *pulsar_message_id_latest()',
  pulsar_message_id_serialize: 'void *pulsar_message_id_serialize(void *id, _Out_ int *len)',
  pulsar_message_id_deserialize:
    'void *pulsar_message_id_deserialize(const uint8_t *data, uint32_t len)',
  pulsar_message_id_free: 'void pulsar_message_id_free(void *id)',
  pulsar_producer_configuration_create: 'void *pulsar_producer_configuration_create()',
  pulsar_producer_configuration_free: 'void pulsar_producer_configuration_free(void *conf)',
  pulsar_producer_configuration_set_batching_enabled:
    'void pulsar_producer_configuration_set_batching_enabled(void *conf, int enabled)',
  pulsar_producer_configuration_set_batching_max_messages:
    'void pulsar_producer_configuration_set_batching_max_messages(void *conf, unsigned int n)',
  pulsar_producer_configuration_set_batching_max_publish_delay_ms:
    'void pulsar_producer_configuration_set_batching_max_publish_delay_ms(void *conf, unsigned long ms)',
  pulsar_producer_configuration_set_compression_type:
    'void pulsar_producer_configuration_set_compression_type(void *conf, int type)',
  pulsar_client_create_producer:
    'int pulsar_client_create_producer(void *client, const char *topic, void *conf, _Out_ void **producer)',
  // ctx is declared as an integer of pointer size: it carries a key, not an address.
  pulsar_producer_send_async:
    'void pulsar_producer_send_async(void *producer, void *msg, pulsar_send_callback *cb, intptr_t ctx)',
  pulsar_producer_flush: 'int pulsar_producer_flush(void *producer)',
  pulsar_producer_close: 'int pulsar_producer_close(void *producer)',
  pulsar_producer_free: 'void pulsar_producer_free(void *producer)',
};

/** Each function also runs on koffi's worker threads, as a promise. */
export type PulsarCApiAsync = {
  [K in keyof PulsarCApi]: (
    ...args: Parameters<PulsarCApi[K]>
  ) => Promise<ReturnType<PulsarCApi[K]>>;
};

export type PulsarLogLevel = 'debug' | 'info' | 'warn' | 'error';
export type PulsarLogFn = (level: PulsarLogLevel, message: string) => void;
const LEVELS: readonly PulsarLogLevel[] = ['debug', 'info', 'warn', 'error'];

export type SendDone = (result: number, msgId?: Uint8Array) => void;

export interface PulsarLib {
  readonly koffi: KoffiModule;
  readonly c: PulsarCApi;
  readonly cAsync: PulsarCApiAsync;
  /** The one logger callback of the process: the C++ client keeps loggers per source file, for good. */
  readonly logger: unknown;
  /** The one send-receipt callback; its context value is the key of the send in `pendingSends`. */
  readonly sendDone: unknown;
  readonly pendingSends: Map<number, SendDone>;
  /** libc `free`, for the buffer `pulsar_message_id_serialize` mallocs. */
  readonly free: (p: Pointer) => void;
}

let logSink: PulsarLogFn | undefined;
/** Where the C++ client's log lines (INFO and above) go; the latest client's choice wins, process-wide. */
export function setPulsarLogSink(sink: PulsarLogFn | undefined): void {
  logSink = sink;
}

/** Where the library is looked for: WORKER_PULSAR_CLIENT_LIBRARY, the local cache, then the system loader. */
export function pulsarLibraryCandidates(env: NodeJS.ProcessEnv = process.env): string[] {
  const explicit = env['WORKER_PULSAR_CLIENT_LIBRARY'];
  if (explicit) return [explicit];
  const cache = env['CDC_CACHE_DIR'] ?? join(homedir(), '.cache', 'milvus-cdc-ts');
  return [join(cache, 'libpulsar', 'libpulsar.so'), 'libpulsar.so'];
}

type Native = ((...args: unknown[]) => unknown) & {
  async: (...args: unknown[]) => void;
};

export function serializeMessageId(lib: PulsarLib, id: Pointer): Uint8Array {
  const len = [0];
  const buf = lib.c.pulsar_message_id_serialize(id, len);
  try {
    return new Uint8Array(lib.koffi.view(buf, len[0] ?? 0).slice(0));
  } finally {
    lib.free(buf);
  }
}

function bind(koffi: KoffiModule, path: string): PulsarLib {
  const handle = koffi.load(path);
  const c: Record<string, unknown> = {};
  const cAsync: Record<string, unknown> = {};
  koffi.proto(
    'void pulsar_logger(int level, const char *file, int line, const char *message, void *ctx)',
  );
  koffi.proto('void pulsar_send_callback(int result, void *msgId, intptr_t ctx)');
  for (const [name, signature] of Object.entries(SIGNATURES)) {
    const fn = handle.func(signature) as unknown as Native;
    c[name] = fn;
    cAsync[name] = (...args: unknown[]) =>
      new Promise((resolve, reject) => {
        fn.async(...args, (err: unknown, result: unknown) => {
          if (err) reject(err instanceof Error ? err : new Error(errorMessage(err)));
          else resolve(result);
        });
      });
  }
  const libc = koffi.load('libc.so.6');
  const lib: PulsarLib = {
    koffi,
    c: c as unknown as PulsarCApi,
    cAsync: cAsync as PulsarCApiAsync,
    logger: koffi.register((level: number, _file: string, _line: number, message: string) => {
      logSink?.(LEVELS[level] ?? 'error', message);
    }, 'pulsar_logger *'),
    sendDone: koffi.register((result: number, msgId: Pointer, ctx: number | bigint) => {
      const key = Number(ctx);
      const done = lib.pendingSends.get(key);
      lib.pendingSends.delete(key);
      if (result !== 0) done?.(result);
      else done?.(result, serializeMessageId(lib, msgId));
    }, 'pulsar_send_callback *'),
    pendingSends: new Map(),
    free: libc.func('void free(void *p)'),
  };
  return lib;
}

const loaded = new Map<string, Promise<PulsarLib>>();

/** Loads koffi and libpulsar once; a missing piece is FAILED_PRECONDITION naming what to install. */
export function loadPulsarLib(env: NodeJS.ProcessEnv = process.env): Promise<PulsarLib> {
  const candidates = pulsarLibraryCandidates(env);
  const key = candidates.join('\n');
  const cached = loaded.get(key);
  if (cached !== undefined) return cached;
  const loading = (async () => {
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
    const failures: string[] = [];
    for (const path of candidates) {
      if (path.includes('/') && !existsSync(path)) {
        failures.push(`${path}: not found`);
        continue;
      }
      try {
        return bind(koffi, path);
      } catch (err) {
        failures.push(`${path}: ${errorMessage(err).split('\n')[0] ?? ''}`);
      }
    }
    throw new CdcError(
      'FAILED_PRECONDITION',
      `pulsar client library (libpulsar) is not installed: ${failures.join('; ')}; run deploy/local/pulsar-client.sh or set WORKER_PULSAR_CLIENT_LIBRARY`,
      { retryable: false },
    );
  })();
  loaded.set(key, loading);
  loading.catch(() => loaded.delete(key));
  return loading;
}
