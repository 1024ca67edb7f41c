import { hostname } from 'node:os';
import {
  ConfigError,
  ETCD_DEFAULT_MAX_REQUEST_BYTES,
  withRenamedVariables,
  type RenamedVariable,
} from '@cdc/shared';
import { z } from 'zod';
import { maxQuarantinePayloadCap, quarantineTxnBytes } from './domain/record-limits.js';

export { ConfigError };

/**
 * The values the control service and the workers must share have one name on both sides (CDC_*); the former
 * control-only names are read for one release, with a warning.
 */
export const CONTROL_RENAMED_VARIABLES: readonly RenamedVariable[] = [
  { name: 'CDC_REDIS_URL', formerly: 'CONTROL_REDIS_URL' },
  { name: 'CDC_QUEUE_PREFIX', formerly: 'CONTROL_QUEUE_PREFIX' },
];

const csv = z
  .string()
  .transform((s) =>
    s
      .split(',')
      .map((x) => x.trim())
      .filter((x) => x !== ''),
  )
  .pipe(z.array(z.string()).min(1));
const intMs = (def: number, min: number, max: number) =>
  z.coerce.number().int().min(min).max(max).default(def);
const flag = z
  .enum(['true', 'false', '1', '0', ''])
  .default('false')
  .transform((v) => v === 'true' || v === '1');

/** Environment of the control service. Parsed once in main.ts; everything else gets the typed result. */
export const ControlConfigSchema = z
  .object({
    CONTROL_GRPC_ADDRESS: z
      .string()
      .default('127.0.0.1:50051')
      .describe(
        'host:port of the gRPC server (port 0: any free port); another host than loopback needs tokens or mutual TLS',
      ),
    CONTROL_INSECURE: flag.describe(
      'run the gRPC API on a non-loopback address with neither tokens nor mutual TLS (never in production)',
    ),
    CONTROL_ETCD_ENDPOINTS: csv
      .default('http://127.0.0.1:2379')
      .describe('etcd endpoints of the task store, comma separated'),
    CONTROL_ETCD_USERNAME: z.string().default('').describe('etcd user of the task store'),
    CONTROL_ETCD_PASSWORD: z
      .string()
      .default('')
      .describe('etcd password of the task store (secret)'),
    CONTROL_ETCD_ROOT: z
      .string()
      .default('cdc/')
      .transform((s) => (s.endsWith('/') ? s : `${s}/`))
      .describe('key prefix of tasks, checkpoints and the leader election'),
    CDC_REDIS_URL: z
      .string()
      .url()
      .default('redis://127.0.0.1:6379')
      .describe('Redis for the BullMQ lease queue (the same for the workers)'),
    CDC_QUEUE_PREFIX: z
      .string()
      .min(1)
      .default('bull')
      .describe('BullMQ key prefix of queue "cdc-leases" (the same for the workers)'),
    CONTROL_SECRET_KEY: z
      .string()
      .default('')
      .describe(
        'base64 of 32 bytes: AES-256-GCM key for task secrets (secret); or CONTROL_SECRET_KEYS',
      ),
    CONTROL_SECRET_KEYS: z
      .string()
      .default('')
      .describe(
        'comma separated base64 32-byte keys, the current one first and older ones after (key rotation; secret)',
      ),
    CONTROL_DEV_EPHEMERAL_KEY: flag.describe(
      'dev only: generate a throwaway secret key when CONTROL_SECRET_KEY is empty',
    ),
    CONTROL_INSTANCE_ID: z
      .string()
      .min(1)
      .default(`${hostname()}-${process.pid}`)
      .describe('id of this replica (election value)'),
    CONTROL_RECONCILE_INTERVAL_MS: intMs(1500, 100, 60_000).describe(
      'leader: period of the lease reconcile loop',
    ),
    CONTROL_DISCOVERY_INTERVAL_MS: intMs(30_000, 1000, 3_600_000).describe(
      'leader: period of channel re-discovery',
    ),
    CONTROL_ELECTION_TTL_S: z.coerce
      .number()
      .int()
      .min(2)
      .max(60)
      .default(5)
      .describe('etcd lease TTL of the leader, seconds'),
    CONTROL_LIVE_WINDOW_MS: intMs(5_000, 1000, 600_000).describe(
      'a worker is live if it reported within this window',
    ),
    CONTROL_REPORT_INTERVAL_MS: intMs(1000, 100, 60_000).describe(
      'checkpoint report interval recommended to workers',
    ),
    CONTROL_IDLE_REPORT_INTERVAL_MS: intMs(10_000, 0, 60_000).describe(
      'report interval of an idle lease (caught up, nothing to apply) of a task without a replicate-mode target: its write validity may run out between two such reports and is renewed before it writes again; a pause reaches it up to this late (0: idle leases report every CONTROL_REPORT_INTERVAL_MS)',
    ),
    CONTROL_REPLICATE_REPORT_INTERVAL_MS: intMs(250, 100, 60_000).describe(
      'report interval for the leases of tasks with a replicate-mode target (at most CONTROL_REPORT_INTERVAL_MS): the target time moves only as far as their reported checkpoints',
    ),
    CONTROL_REPLICATE_TICKER_REPORT_INTERVAL_MS: intMs(100, 50, 60_000).describe(
      "report interval of the replicate channel's lease of such a task (at most the above): its report answers bring the watermark it moves the target's time to",
    ),
    CONTROL_LEASE_WRITE_VALIDITY_MS: intMs(3_000, 1_000, 300_000).describe(
      'a worker writes to the target only within this time after the control service last confirmed its lease',
    ),
    CONTROL_LEASE_CLOCK_MARGIN_MS: intMs(500, 0, 60_000).describe(
      'margin for clock rate drift (worker vs control) and clock skew between control replicas',
    ),
    CONTROL_PAUSE_LEAD_MS: intMs(2_500, 500, 60_000).describe(
      'a pause point lies this far after the PauseTask call (which returns once it passed); workers apply no change beyond the control clock plus this',
    ),
    CONTROL_LEASE_HANDOVER_MS: intMs(4_000, 1_000, 600_000).describe(
      'a channel whose holder was not confirmed for this long goes to another worker (> validity + margin)',
    ),
    CONTROL_ASSUMED_DML_CHANNELS: z.coerce
      .number()
      .int()
      .min(0)
      .max(1024)
      .default(16)
      .describe("DML pchannels always scheduled (the source's rootCoord.dmlChannelNum)"),
    CONTROL_PROBE_TIMEOUT_MS: intMs(3000, 100, 60_000).describe(
      'timeout of reachability checks and source etcd reads',
    ),
    CONTROL_VERIFY_CALL_TIMEOUT_MS: intMs(60_000, 1000, 600_000).describe(
      'deadline of each Milvus call of VerifyTask (connecting uses CONTROL_PROBE_TIMEOUT_MS)',
    ),
    CONTROL_CHECK_REACHABILITY: z
      .enum(['true', 'false'])
      .default('true')
      .transform((v) => v === 'true')
      .describe('probe source and target on create'),
    CONTROL_WATCH_STREAMS_PER_CALLER: z.coerce
      .number()
      .int()
      .min(1)
      .max(10_000)
      .default(16)
      .describe(
        'open WatchTask streams per caller (bearer token, else client certificate, else IP); more get RESOURCE_EXHAUSTED',
      ),
    CONTROL_QUARANTINE_PAYLOAD_CAP: z.coerce
      .number()
      .int()
      .min(0)
      .default(65_536)
      .describe(
        'bytes kept of a quarantined message; its etcd record must fit CONTROL_ETCD_MAX_REQUEST_BYTES',
      ),
    CONTROL_QUARANTINE_MAX_ENTRIES: z.coerce
      .number()
      .int()
      .min(1)
      .max(1_000_000)
      .default(1_000)
      .describe(
        'quarantined messages kept per task; a task that reaches it pauses with "quarantine full"',
      ),
    CONTROL_ETCD_MAX_REQUEST_BYTES: z.coerce
      .number()
      .int()
      .min(65_536)
      .max(1_073_741_824)
      .default(ETCD_DEFAULT_MAX_REQUEST_BYTES)
      .describe(
        "the task store etcd's --max-request-bytes: bounds every write and the client's limits",
      ),
    CONTROL_METRICS_PORT: z.coerce
      .number()
      .int()
      .min(0)
      .max(65_535)
      .default(9401)
      .describe('HTTP port of /metrics (Prometheus) and /healthz; 0 turns it off'),
    CONTROL_METRICS_HOST: z
      .string()
      .min(1)
      .default('127.0.0.1')
      .describe('interface the metrics HTTP server binds'),
    CONTROL_SHUTDOWN_GRACE_MS: intMs(10_000, 0, 600_000).describe(
      'SIGTERM: time for in-flight calls before force shutdown',
    ),
    CONTROL_TLS_CERT_FILE: z
      .string()
      .default('')
      .describe(
        'PEM certificate (chain) of the gRPC server; with CONTROL_TLS_KEY_FILE turns TLS on',
      ),
    CONTROL_TLS_KEY_FILE: z
      .string()
      .default('')
      .describe('PEM private key of CONTROL_TLS_CERT_FILE (secret)'),
    CONTROL_TLS_CLIENT_CA_FILE: z
      .string()
      .default('')
      .describe('PEM CA bundle: mutual TLS, every client must present a certificate it signed'),
    CONTROL_API_TOKENS: z
      .string()
      .default('')
      .describe('bearer tokens of CdcService callers, comma separated (secret)'),
    CONTROL_API_TOKENS_FILE: z
      .string()
      .default('')
      .describe('file with the CdcService tokens instead (one per line or comma separated)'),
    CONTROL_WORKER_TOKENS: z
      .string()
      .default('')
      .describe('bearer tokens of workers (WorkerService), comma separated (secret)'),
    CONTROL_WORKER_TOKENS_FILE: z
      .string()
      .default('')
      .describe('file with the WorkerService tokens instead (one per line or comma separated)'),
  })
  .superRefine((c, ctx) => {
    if (c.CONTROL_SECRET_KEY !== '' && c.CONTROL_SECRET_KEYS !== '')
      ctx.addIssue({
        code: 'custom',
        path: ['CONTROL_SECRET_KEYS'],
        message: 'set CONTROL_SECRET_KEY or CONTROL_SECRET_KEYS, not both',
      });
    const keys = secretKeysOf(c);
    if (keys.length === 0 && !c.CONTROL_DEV_EPHEMERAL_KEY)
      ctx.addIssue({
        code: 'custom',
        path: ['CONTROL_SECRET_KEY'],
        message:
          'is required (base64 of 32 bytes), or set CONTROL_DEV_EPHEMERAL_KEY=true for development',
      });
    keys.forEach((k, i) => {
      if (Buffer.from(k, 'base64').length !== 32)
        ctx.addIssue({
          code: 'custom',
          path: [c.CONTROL_SECRET_KEYS === '' ? 'CONTROL_SECRET_KEY' : 'CONTROL_SECRET_KEYS'],
          message: `key #${String(i + 1)} must be base64 of exactly 32 bytes`,
        });
    });
    if ((c.CONTROL_TLS_CERT_FILE === '') !== (c.CONTROL_TLS_KEY_FILE === ''))
      ctx.addIssue({
        code: 'custom',
        path: ['CONTROL_TLS_KEY_FILE'],
        message:
          'CONTROL_TLS_CERT_FILE and CONTROL_TLS_KEY_FILE are set together (both or neither)',
      });
    if (c.CONTROL_TLS_CLIENT_CA_FILE !== '' && c.CONTROL_TLS_CERT_FILE === '')
      ctx.addIssue({
        code: 'custom',
        path: ['CONTROL_TLS_CLIENT_CA_FILE'],
        message: 'mutual TLS needs server TLS: set CONTROL_TLS_CERT_FILE and CONTROL_TLS_KEY_FILE',
      });
    if (
      c.CONTROL_LEASE_HANDOVER_MS <=
      c.CONTROL_LEASE_WRITE_VALIDITY_MS + c.CONTROL_LEASE_CLOCK_MARGIN_MS
    )
      ctx.addIssue({
        code: 'custom',
        path: ['CONTROL_LEASE_HANDOVER_MS'],
        message: `must exceed CONTROL_LEASE_WRITE_VALIDITY_MS + CONTROL_LEASE_CLOCK_MARGIN_MS (${String(c.CONTROL_LEASE_WRITE_VALIDITY_MS)} + ${String(c.CONTROL_LEASE_CLOCK_MARGIN_MS)} ms): a cut-off worker could still be writing when its channel moves`,
      });
    if (c.CONTROL_LEASE_CLOCK_MARGIN_MS * 100 < c.CONTROL_LEASE_WRITE_VALIDITY_MS)
      ctx.addIssue({
        code: 'custom',
        path: ['CONTROL_LEASE_CLOCK_MARGIN_MS'],
        message: 'must be at least 1% of CONTROL_LEASE_WRITE_VALIDITY_MS (clock rate drift)',
      });
    if (c.CONTROL_PAUSE_LEAD_MS < c.CONTROL_REPORT_INTERVAL_MS * 2)
      ctx.addIssue({
        code: 'custom',
        path: ['CONTROL_PAUSE_LEAD_MS'],
        message:
          'must be at least twice CONTROL_REPORT_INTERVAL_MS: workers hold back changes newer than their last answer plus this lead',
      });
    if (c.CONTROL_REPORT_INTERVAL_MS * 3 > c.CONTROL_LEASE_WRITE_VALIDITY_MS)
      ctx.addIssue({
        code: 'custom',
        path: ['CONTROL_REPORT_INTERVAL_MS'],
        message:
          'must be at most a third of CONTROL_LEASE_WRITE_VALIDITY_MS: a lease is confirmed by its reports, and one late report must not stop its writes',
      });
    if (
      c.CONTROL_IDLE_REPORT_INTERVAL_MS !== 0 &&
      c.CONTROL_IDLE_REPORT_INTERVAL_MS < c.CONTROL_REPORT_INTERVAL_MS
    )
      ctx.addIssue({
        code: 'custom',
        path: ['CONTROL_IDLE_REPORT_INTERVAL_MS'],
        message: 'must be 0 (off) or at least CONTROL_REPORT_INTERVAL_MS',
      });
    const txn = quarantineTxnBytes(c.CONTROL_ETCD_ROOT, c.CONTROL_QUARANTINE_PAYLOAD_CAP);
    if (txn > c.CONTROL_ETCD_MAX_REQUEST_BYTES)
      ctx.addIssue({
        code: 'custom',
        path: ['CONTROL_QUARANTINE_PAYLOAD_CAP'],
        message: `a quarantine record with ${c.CONTROL_QUARANTINE_PAYLOAD_CAP} bytes of payload takes up to ${txn} bytes in etcd (base64, key, reason and index included), above CONTROL_ETCD_MAX_REQUEST_BYTES (${c.CONTROL_ETCD_MAX_REQUEST_BYTES}); at most ${maxQuarantinePayloadCap(c.CONTROL_ETCD_ROOT, c.CONTROL_ETCD_MAX_REQUEST_BYTES)}`,
      });
    for (const kind of ['API', 'WORKER'] as const)
      if (c[`CONTROL_${kind}_TOKENS`] !== '' && c[`CONTROL_${kind}_TOKENS_FILE`] !== '')
        ctx.addIssue({
          code: 'custom',
          path: [`CONTROL_${kind}_TOKENS_FILE`],
          message: `set CONTROL_${kind}_TOKENS or CONTROL_${kind}_TOKENS_FILE, not both`,
        });
  });

export type ControlConfig = z.infer<typeof ControlConfigSchema>;

/** The secret keys in order (current first), from CONTROL_SECRET_KEYS or the single CONTROL_SECRET_KEY. */
export function secretKeysOf(c: {
  readonly CONTROL_SECRET_KEY: string;
  readonly CONTROL_SECRET_KEYS: string;
}): string[] {
  const list = c.CONTROL_SECRET_KEYS === '' ? c.CONTROL_SECRET_KEY : c.CONTROL_SECRET_KEYS;
  return list
    .split(',')
    .map((k) => k.trim())
    .filter((k) => k !== '');
}

/** The control service's configuration and the deprecation warnings of former variable names. */
export function loadControlConfig(env: NodeJS.ProcessEnv = process.env): {
  config: ControlConfig;
  deprecations: string[];
} {
  const renamed = withRenamedVariables(env, CONTROL_RENAMED_VARIABLES);
  const relevant = Object.fromEntries(
    Object.entries(renamed.env).filter(
      ([k, v]) => (k.startsWith('CONTROL_') || k.startsWith('CDC_')) && v !== undefined,
    ),
  );
  const parsed = ControlConfigSchema.safeParse(relevant);
  if (!parsed.success)
    throw new ConfigError(parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`));
  return { config: parsed.data, deprecations: renamed.deprecations };
}

/** Config for the startup log line, secrets removed. */
export function redactedConfig(c: ControlConfig): Record<string, unknown> {
  return {
    ...c,
    CONTROL_SECRET_KEY: c.CONTROL_SECRET_KEY === '' ? '' : '[redacted]',
    CONTROL_SECRET_KEYS: c.CONTROL_SECRET_KEYS === '' ? '' : '[redacted]',
    CONTROL_ETCD_PASSWORD: c.CONTROL_ETCD_PASSWORD === '' ? '' : '[redacted]',
    CONTROL_API_TOKENS: c.CONTROL_API_TOKENS === '' ? '' : '[redacted]',
    CONTROL_WORKER_TOKENS: c.CONTROL_WORKER_TOKENS === '' ? '' : '[redacted]',
  };
}
