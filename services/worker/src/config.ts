import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { z } from 'zod';
import { ConfigError, withRenamedVariables, type RenamedVariable } from '@cdc/shared';
import type { ControlTls } from './adapters/control-client.js';

const int = (def: number, min: number, desc: string) =>
  z.coerce.number().int().min(min).default(def).describe(desc);

/**
 * Variables renamed so that each says which side it configures (WORKER_CONTROL_*: the worker's connection to the
 * control service; the control's own CONTROL_TLS_CERT_FILE is its server certificate) and the values both services must
 * share have one name (CDC_REDIS_URL, CDC_QUEUE_PREFIX). The former names are read for one release, with a warning.
 */
export const WORKER_RENAMED_VARIABLES: readonly RenamedVariable[] = [
  { name: 'WORKER_CONTROL_ADDRESS', formerly: 'CONTROL_ADDRESS' },
  { name: 'WORKER_CONTROL_TOKEN', formerly: 'CONTROL_WORKER_TOKEN' },
  { name: 'WORKER_CONTROL_TLS', formerly: 'CONTROL_TLS' },
  { name: 'WORKER_CONTROL_TLS_CA_FILE', formerly: 'CONTROL_TLS_CA_FILE' },
  { name: 'WORKER_CONTROL_TLS_CERT_FILE', formerly: 'CONTROL_TLS_CERT_FILE' },
  { name: 'WORKER_CONTROL_TLS_KEY_FILE', formerly: 'CONTROL_TLS_KEY_FILE' },
  { name: 'WORKER_CONTROL_TLS_SERVER_NAME', formerly: 'CONTROL_TLS_SERVER_NAME' },
  { name: 'CDC_REDIS_URL', formerly: 'REDIS_URL' },
  { name: 'CDC_QUEUE_PREFIX', formerly: 'QUEUE_PREFIX' },
  { name: 'WORKER_METRICS_PORT', formerly: 'METRICS_PORT' },
  // Was a tick-time limit; any value set for it is a safe clock lead (see PackBuffer).
  { name: 'WORKER_MAX_CLOCK_LEAD_MS', formerly: 'WORKER_MAX_TICK_CARRY_MS' },
];

/** Worker configuration from the environment (WORKER_*, CDC_*). Parsed once in main.ts. */
export const WorkerConfigSchema = z.object({
  WORKER_ID: z
    .string()
    .min(1)
    .default(`${hostname()}-${process.pid}`)
    .describe('Stable id of this worker process'),
  WORKER_CONTROL_ADDRESS: z
    .string()
    .min(1)
    .default('127.0.0.1:50051')
    .describe('host:port of the control service'),
  WORKER_CONTROL_TOKEN: z
    .string()
    .default('')
    .describe('Credential workers present to the control service'),
  WORKER_CONTROL_TLS: z
    .enum(['true', 'false'])
    .default('false')
    .transform((v) => v === 'true')
    .describe(
      'TLS to the control service (implied by WORKER_CONTROL_TLS_CA_FILE or a client certificate)',
    ),
  WORKER_CONTROL_TLS_CA_FILE: z
    .string()
    .default('')
    .describe('PEM CA bundle that signed the control certificate (default: the system roots)'),
  WORKER_CONTROL_TLS_CERT_FILE: z
    .string()
    .default('')
    .describe('PEM client certificate for mutual TLS (with WORKER_CONTROL_TLS_KEY_FILE)'),
  WORKER_CONTROL_TLS_KEY_FILE: z
    .string()
    .default('')
    .describe('PEM key of WORKER_CONTROL_TLS_CERT_FILE (secret)'),
  WORKER_CONTROL_TLS_SERVER_NAME: z
    .string()
    .default('')
    .describe(
      'name the control certificate is checked against, if not the host of WORKER_CONTROL_ADDRESS',
    ),
  WORKER_PULSAR_CLIENT_LIBRARY: z
    .string()
    .default('')
    .describe(
      'Pulsar C client library for Pulsar sources (default: libpulsar/libpulsar.so under $CDC_CACHE_DIR or ~/.cache/milvus-cdc-ts, then the system libpulsar.so); read by adapters/pulsar-native.ts',
    ),
  CDC_REDIS_URL: z
    .string()
    .url()
    .default('redis://127.0.0.1:6379')
    .describe('Redis for BullMQ (the same as the control service)'),
  CDC_QUEUE_PREFIX: z
    .string()
    .min(1)
    .default('bull')
    .describe('BullMQ key prefix (same as the control service)'),
  WORKER_CONCURRENCY: int(
    256,
    1,
    'Leases held at once; an idle lease costs little (shared fetches, batched reports), and drop barriers need every channel held: 2 workers serve 30 tasks on a 16-channel source',
  ),
  WORKER_SNAPSHOT_CONCURRENCY: int(
    1,
    1,
    'Initial-sync collection copies run at once (each reads and writes at full speed)',
  ),
  WORKER_LOCK_MS: int(
    3_000,
    2_000,
    'BullMQ lock duration: a crashed worker loses its leases after this (renewed every quarter of it, all jobs in one Redis call)',
  ),
  WORKER_STALLED_CHECK_MS: int(1_000, 1_000, 'How often stalled (crashed) leases are looked for'),
  WORKER_MAX_BATCH_ROWS: int(5_000, 1, 'Rows per target upsert/delete call'),
  WORKER_READ_BATCH: int(2_000, 1, 'Records read from the MQ per poll'),
  WORKER_OBJECT_WAIT_MS: int(
    120_000,
    0,
    'How long an op waits for its collection/index on the target',
  ),
  WORKER_SHUTDOWN_GRACE_MS: int(
    20_000,
    0,
    'SIGTERM: time to finish the current batch and report before exiting',
  ),
  WORKER_MAX_BATCH_BYTES: int(
    64 * 1024 * 1024,
    1024 * 1024,
    'Memory budget: most bytes one Kafka record batch, and the batches of one fetch together, may decompress to; a batch over it is quarantined',
  ),
  WORKER_KAFKA_FETCH_BYTES: int(
    1024 * 1024,
    64 * 1024,
    'Memory budget: most compressed bytes one Kafka fetch asks for per channel (less when its queue has less room)',
  ),
  WORKER_APPLY_AHEAD_OF_TICKS: z
    .enum(['true', 'false'])
    .default('true')
    .transform((v) => v === 'true')
    .describe(
      'API mode: at the head of a channel, write Inserts and Deletes as soon as they are read instead of after the time tick that closes them (~0.2–0.6 s later); false = pack by pack',
    ),
  WORKER_IDLE_FETCH_WAIT_MS: int(
    500,
    0,
    'Broker wait of a Kafka fetch while every channel the worker reads is idle (only time ticks): one fetch per wait instead of one per tick; a change on an idle channel is read up to this much later (0 = a fetch per tick)',
  ),
  WORKER_READ_AHEAD_BYTES: int(
    16 * 1024 * 1024,
    1024 * 1024,
    'Memory budget: record bytes read from the MQ and not yet taken by a replicator, over all channels; past it a channel that still holds records fetches no more (each channel also holds at most 16 MiB)',
  ),
  WORKER_HEAP_BUDGET_MB: int(
    0,
    0,
    'Memory budget: JS heap in use (MiB) past which channels that still hold records fetch no more (0 = off; set below --max-old-space-size)',
  ),
  WORKER_MAX_RECORD_BYTES: int(
    16 * 1024 * 1024,
    1024 * 1024,
    'Memory budget: a source record larger than this is quarantined without being decoded (Milvus writes at most 10 MiB)',
  ),
  WORKER_MAX_CLOCK_LEAD_MS: int(
    60_000,
    1_000,
    "A message stamped more than this after both the worker's clock and the channel's latest time tick is quarantined (a forged timestamp would hold the checkpoint back until the ticks reach it); keep it above the clock skew between source and worker",
  ),
  WORKER_METRICS_PORT: int(9400, 0, 'HTTP port of /metrics and /healthz (0 = off)'),
  WORKER_METRICS_HOST: z
    .string()
    .min(1)
    .default('127.0.0.1')
    .describe(
      'interface the metrics HTTP server binds (0.0.0.0 to let Prometheus scrape it from elsewhere)',
    ),
  LOG_LEVEL: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal']).default('info'),
});

export type WorkerConfig = z.infer<typeof WorkerConfigSchema>;

/** The worker's configuration and the deprecation warnings of former variable names; ConfigError when invalid. */
export function loadWorkerConfig(env: NodeJS.ProcessEnv = process.env): {
  config: WorkerConfig;
  deprecations: string[];
} {
  const renamed = withRenamedVariables(env, WORKER_RENAMED_VARIABLES);
  const parsed = WorkerConfigSchema.safeParse(renamed.env);
  if (!parsed.success)
    throw new ConfigError(parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`));
  return { config: parsed.data, deprecations: renamed.deprecations };
}

/**
 * TLS settings for the control client, files read now so a missing one stops the start (ConfigError, exit 78) with
 * the variable and path, never the content. Undefined: plaintext.
 */
export function controlTls(
  config: WorkerConfig,
  read: (path: string) => Buffer = (path) => readFileSync(path),
): ControlTls | undefined {
  const issues: string[] = [];
  const file = (variable: string, path: string): Buffer | undefined => {
    if (path === '') return undefined;
    try {
      return read(path);
    } catch (err) {
      issues.push(
        `${variable}: cannot read ${path} (${(err as NodeJS.ErrnoException).code ?? 'unreadable'})`,
      );
      return undefined;
    }
  };
  if ((config.WORKER_CONTROL_TLS_CERT_FILE === '') !== (config.WORKER_CONTROL_TLS_KEY_FILE === ''))
    issues.push(
      'WORKER_CONTROL_TLS_CERT_FILE and WORKER_CONTROL_TLS_KEY_FILE are set together (both or neither)',
    );
  const ca = file('WORKER_CONTROL_TLS_CA_FILE', config.WORKER_CONTROL_TLS_CA_FILE);
  const cert = file('WORKER_CONTROL_TLS_CERT_FILE', config.WORKER_CONTROL_TLS_CERT_FILE);
  const key = file('WORKER_CONTROL_TLS_KEY_FILE', config.WORKER_CONTROL_TLS_KEY_FILE);
  if (issues.length > 0) throw new ConfigError(issues);
  const enabled =
    config.WORKER_CONTROL_TLS ||
    config.WORKER_CONTROL_TLS_CA_FILE !== '' ||
    config.WORKER_CONTROL_TLS_CERT_FILE !== '';
  if (!enabled) return undefined;
  return {
    ...(ca === undefined ? {} : { ca }),
    ...(cert === undefined || key === undefined ? {} : { cert, key }),
    ...(config.WORKER_CONTROL_TLS_SERVER_NAME === ''
      ? {}
      : { serverName: config.WORKER_CONTROL_TLS_SERVER_NAME }),
  };
}
