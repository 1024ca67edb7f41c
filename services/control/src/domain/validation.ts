import { invalidArgument } from '@cdc/shared';
import { checkSpecSize } from './record-limits.js';
import { globMatch } from './scope.js';
import { checkRbacReplication } from './rbac-validation.js';
import type {
  CollectionPattern,
  InitialSyncSpec,
  NameMappingSpec,
  Position,
  ScopeSpec,
  SourceMilvusSpec,
  StartPoint,
  TargetSpec,
  TaskSpec,
  TlsSpec,
} from './model.js';

/** Rules for a create request. Every failure is INVALID_ARGUMENT with the dotted field path first. */
const TASK_ID = /^[A-Za-z0-9_.-]{1,64}$/;
const CHANNEL_PREFIX = /^[A-Za-z0-9_.-]{1,128}$/;
const NAME_PATTERN = /^[A-Za-z0-9_*-]{1,255}$/;
const NAME = /^[A-Za-z0-9_-]{1,255}$/;
const SASL_MECHANISMS = new Set(['plain', 'scram-sha-256', 'scram-sha-512']);
// Enum values arrive as names, or as the bare number when the client sent a value this proto does not define
// (proto3 keeps unknown enum numbers); anything outside these sets must be rejected, not stored.
const MQ_TYPES = new Set(['MQ_TYPE_UNSPECIFIED', 'MQ_TYPE_KAFKA', 'MQ_TYPE_PULSAR']);
const TARGET_MODES = new Set([
  'TARGET_MODE_UNSPECIFIED',
  'TARGET_MODE_API',
  'TARGET_MODE_REPLICATE',
]);
const START_KINDS = new Set([
  'START_KIND_UNSPECIFIED',
  'START_KIND_LATEST',
  'START_KIND_EARLIEST',
  'START_KIND_TIMESTAMP',
  'START_KIND_POSITIONS',
]);
/**
 * Size limits. Without them a single request (up to the 4 MiB gRPC limit) is stored whole in etcd (whose
 * default request limit is 1.5 MiB, so the write fails as INTERNAL) and echoed back in error messages.
 */
export const MAX_ADDRESS_CHARS = 1024;
const MAX_SECRET_CHARS = 4096;
const MAX_SHORT_CHARS = 256;
const MAX_PEM_CHARS = 65_536;
const MAX_LIST_ITEMS = 256;
const MAX_MAP_ENTRIES = 1024;
/** URI schemes each address field accepts (an address without a scheme is always accepted). */
const ETCD_SCHEMES = ['http', 'https'];
const KAFKA_SCHEMES = ['tcp', 'kafka'];
const PULSAR_SCHEMES = ['pulsar', 'pulsar+ssl'];
const TARGET_SCHEMES = ['http', 'https', 'tcp', 'grpc', 'grpcs'];
export const DEFAULT_ROOT_PATH = 'by-dev';
export const DEFAULT_CHANNEL_PREFIX = 'by-dev';

export function validateTaskId(taskId: string, field = 'task_id'): string {
  if (taskId === '') throw invalidArgument(field, 'is required');
  if (!TASK_ID.test(taskId))
    throw invalidArgument(field, 'must be 1-64 characters of [A-Za-z0-9_.-]');
  // "." and ".." are path segments: harmless as etcd keys, but a trap wherever an id becomes a path or URL.
  if (/^\.+$/.test(taskId)) throw invalidArgument(field, 'cannot consist of dots only');
  return taskId;
}

/** Worker ids name etcd keys and metric-free log fields: a hostname-like id, bounded. */
const WORKER_ID = /^[A-Za-z0-9._:@/-]{1,128}$/;

export function validateWorkerId(workerId: string, field = 'worker_id'): string {
  if (workerId === '') throw invalidArgument(field, 'is required');
  if (!WORKER_ID.test(workerId))
    throw invalidArgument(field, 'must be 1-128 characters of [A-Za-z0-9._:@/-]');
  return workerId;
}

/** A user value quoted for an error message, cut short so that huge input is never echoed back whole. */
export function quote(value: string, max = 64): string {
  const shown = value.length > max ? `${value.slice(0, max)}…` : value;
  return JSON.stringify(shown);
}

export function checkLength(field: string, value: string, max: number): void {
  if (value.length > max)
    throw invalidArgument(field, `is ${value.length} characters long; at most ${max} allowed`);
}

function checkCount(field: string, count: number, max: number): void {
  if (count > max) throw invalidArgument(field, `has ${count} entries; at most ${max} allowed`);
}

/**
 * An address with credentials in it (`https://user:pass@host`) would store them in clear in the task record and
 * show them in every response: refuse it, naming the fields that take them (`credentialsIn`). The value is not
 * echoed, since it holds a secret.
 */
function checkNoCredentials(field: string, value: string, credentialsIn: string): void {
  const authority = value.replace(/^[a-z][a-z0-9+.-]*:\/\//i, '').split('/')[0] ?? '';
  if (authority.includes('@'))
    throw invalidArgument(
      field,
      `must not embed credentials (user:password@host); put them in ${credentialsIn}`,
    );
}

function checkHostPort(
  field: string,
  value: string,
  schemes: readonly string[],
  credentialsIn: string,
): void {
  checkNoCredentials(field, value, credentialsIn);
  checkLength(field, value, MAX_ADDRESS_CHARS);
  // URL() strips or percent-encodes some of these; an address never contains them.
  // eslint-disable-next-line no-control-regex -- control characters are exactly what this rejects
  if (/[\s\u0000-\u001f\u007f]/.test(value))
    throw invalidArgument(field, `${quote(value)} contains whitespace or control characters`);
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(value)?.[1]?.toLowerCase();
  if (scheme !== undefined && !schemes.includes(scheme))
    throw invalidArgument(
      field,
      `${quote(value)}: scheme "${scheme}" is not supported (${schemes.join(', ')} or none)`,
    );
  let url: URL;
  try {
    url = new URL(scheme === undefined ? `tcp://${value}` : value);
  } catch {
    throw invalidArgument(field, `${quote(value)} is not a valid address`);
  }
  if (url.hostname === '') throw invalidArgument(field, `${quote(value)} has no host`);
  // URL() rejects ports above 65535 but takes 0, which no server listens on.
  if (url.port === '0') throw invalidArgument(field, `${quote(value)}: port must be 1-65535`);
}

/** A Milvus server address with its credentials: the target, or the source server. */
function checkMilvusEndpoint(field: string, m: SourceMilvusSpec | TargetSpec): void {
  checkHostPort(
    `${field}.uri`,
    m.uri,
    TARGET_SCHEMES,
    `${field}.username and ${field}.password, or ${field}.token`,
  );
  checkLength(`${field}.token`, m.token, MAX_SECRET_CHARS);
  checkLength(`${field}.username`, m.username, MAX_SHORT_CHARS);
  checkLength(`${field}.password`, m.password, MAX_SECRET_CHARS);
  if (m.token !== '' && (m.username !== '' || m.password !== ''))
    throw invalidArgument(`${field}.token`, 'cannot be combined with username/password');
  if ((m.username === '') !== (m.password === ''))
    throw invalidArgument(`${field}.password`, 'username and password must be set together');
  checkTls(`${field}.tls`, m.tls);
}

function checkTls(field: string, tls: TlsSpec): void {
  checkLength(`${field}.ca_pem`, tls.ca_pem, MAX_PEM_CHARS);
  checkLength(`${field}.cert_pem`, tls.cert_pem, MAX_PEM_CHARS);
  checkLength(`${field}.key_pem`, tls.key_pem, MAX_PEM_CHARS);
  checkLength(`${field}.server_name`, tls.server_name, MAX_SHORT_CHARS);
  if (!tls.enabled) return;
  for (const [name, pem] of [
    ['ca_pem', tls.ca_pem],
    ['cert_pem', tls.cert_pem],
    ['key_pem', tls.key_pem],
  ] as const) {
    if (pem !== '' && !pem.includes('-----BEGIN '))
      throw invalidArgument(`${field}.${name}`, 'must be PEM text');
  }
  if ((tls.cert_pem === '') !== (tls.key_pem === ''))
    throw invalidArgument(`${field}.key_pem`, 'cert_pem and key_pem must be set together');
}

function checkPosition(field: string, p: Position): void {
  if (p.msg_id === '') throw invalidArgument(`${field}.msg_id`, 'is required');
  checkLength(`${field}.msg_id`, p.msg_id, MAX_SHORT_CHARS);
  if (!/^\d+$/.test(p.timestamp))
    throw invalidArgument(`${field}.timestamp`, 'must be an unsigned integer');
}

/** Channel names a source with this prefix can have. */
export function isSourceChannel(prefix: string, channel: string): boolean {
  return (
    channel === `${prefix}-replicate-msg` ||
    new RegExp(`^${escapeRegExp(prefix)}-rootcoord-dml_\\d+$`).test(channel)
  );
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

export function validateStartPoint(
  field: string,
  start: StartPoint,
  channelPrefix: string,
): StartPoint {
  if (!START_KINDS.has(start.kind))
    throw invalidArgument(`${field}.kind`, `${quote(start.kind)} is not a StartKind`);
  const kind = start.kind === 'START_KIND_UNSPECIFIED' ? 'START_KIND_LATEST' : start.kind;
  const hasTs = start.timestamp !== '0' && start.timestamp !== '';
  if (kind === 'START_KIND_TIMESTAMP' && !hasTs)
    throw invalidArgument(`${field}.timestamp`, 'is required for START_KIND_TIMESTAMP');
  if (kind !== 'START_KIND_TIMESTAMP' && hasTs)
    throw invalidArgument(`${field}.timestamp`, 'is only allowed with START_KIND_TIMESTAMP');
  const channels = Object.keys(start.positions);
  checkCount(`${field}.positions`, channels.length, MAX_MAP_ENTRIES);
  if (kind === 'START_KIND_POSITIONS' && channels.length === 0)
    throw invalidArgument(
      `${field}.positions`,
      'needs at least one channel for START_KIND_POSITIONS',
    );
  if (kind !== 'START_KIND_POSITIONS' && channels.length > 0)
    throw invalidArgument(`${field}.positions`, 'is only allowed with START_KIND_POSITIONS');
  for (const channel of channels) {
    if (!isSourceChannel(channelPrefix, channel))
      throw invalidArgument(
        `${field}.positions[${quote(channel)}]`,
        `is not a channel of prefix "${channelPrefix}"`,
      );
    const p = start.positions[channel];
    if (p !== undefined) checkPosition(`${field}.positions[${quote(channel)}]`, p);
  }
  return { ...start, kind, timestamp: hasTs ? start.timestamp : '0' };
}

function checkPatterns(field: string, patterns: CollectionPattern[]): CollectionPattern[] {
  checkCount(field, patterns.length, MAX_LIST_ITEMS);
  return patterns.map((p, i) => {
    const database = p.database === '' ? 'default' : p.database;
    const collection = p.collection === '' ? '*' : p.collection;
    if (!NAME_PATTERN.test(database))
      throw invalidArgument(
        `${field}[${i}].database`,
        `${quote(database)} is not a valid name or pattern (1-255 characters of [A-Za-z0-9_*-])`,
      );
    if (!NAME_PATTERN.test(collection))
      throw invalidArgument(
        `${field}[${i}].collection`,
        `${quote(collection)} is not a valid name or pattern (1-255 characters of [A-Za-z0-9_*-])`,
      );
    return { database, collection };
  });
}

function checkNameMapping(mappings: NameMappingSpec[]): NameMappingSpec[] {
  checkCount('spec.name_mapping', mappings.length, MAX_LIST_ITEMS);
  const seen = new Set<string>();
  // Two source databases (or two collections of one) renamed to the same target would be merged into one.
  const targets = new Map<string, number>();
  return mappings.map((m, i) => {
    const field = `spec.name_mapping[${i}]`;
    if (!NAME.test(m.source_database))
      throw invalidArgument(
        `${field}.source_database`,
        'must be a database name without wildcards',
      );
    if (seen.has(m.source_database))
      throw invalidArgument(
        `${field}.source_database`,
        `${quote(m.source_database)} is mapped twice`,
      );
    seen.add(m.source_database);
    const target = m.target_database === '' ? m.source_database : m.target_database;
    if (!NAME.test(target))
      throw invalidArgument(
        `${field}.target_database`,
        `${quote(target)} is not a valid database name`,
      );
    const other = targets.get(target);
    if (other !== undefined)
      throw invalidArgument(
        `${field}.target_database`,
        `${quote(target)} is also the target of spec.name_mapping[${other}]`,
      );
    targets.set(target, i);
    checkCount(`${field}.collections`, Object.keys(m.collections).length, MAX_MAP_ENTRIES);
    const collectionTargets = new Map<string, string>();
    for (const [from, to] of Object.entries(m.collections)) {
      if (!NAME.test(from))
        throw invalidArgument(
          `${field}.collections`,
          `key ${quote(from)} is not a valid collection name`,
        );
      if (!NAME.test(to))
        throw invalidArgument(
          `${field}.collections[${quote(from)}]`,
          `${quote(to)} is not a valid collection name`,
        );
      const twin = collectionTargets.get(to);
      if (twin !== undefined)
        throw invalidArgument(
          `${field}.collections[${quote(from)}]`,
          `${quote(to)} is also the target of ${quote(twin)}`,
        );
      collectionTargets.set(to, from);
    }
    return { ...m, target_database: target };
  });
}

/** Validates and normalizes (defaults filled in) a spec from a create request. */
export function validateTaskSpec(spec: TaskSpec | undefined): TaskSpec {
  if (spec === undefined) throw invalidArgument('spec', 'is required');
  const { source, target } = spec;
  checkLength('spec.source.etcd.root_path', source.etcd.root_path, MAX_SHORT_CHARS);
  const etcd = {
    ...source.etcd,
    root_path: source.etcd.root_path.replace(/^\/+|\/+$/g, '') || DEFAULT_ROOT_PATH,
  };
  if (etcd.endpoints.length === 0)
    throw invalidArgument('spec.source.etcd.endpoints', 'needs at least one endpoint');
  checkCount('spec.source.etcd.endpoints', etcd.endpoints.length, MAX_LIST_ITEMS);
  etcd.endpoints.forEach((e, i) => {
    checkHostPort(
      `spec.source.etcd.endpoints[${i}]`,
      e,
      ETCD_SCHEMES,
      'spec.source.etcd.username and spec.source.etcd.password',
    );
  });
  checkLength('spec.source.etcd.username', etcd.username, MAX_SHORT_CHARS);
  checkLength('spec.source.etcd.password', etcd.password, MAX_SECRET_CHARS);
  if (etcd.username !== '' && etcd.password === '')
    throw invalidArgument('spec.source.etcd.password', 'is required with username');
  if (etcd.username === '' && etcd.password !== '')
    throw invalidArgument('spec.source.etcd.username', 'is required with password');
  checkTls('spec.source.etcd.tls', etcd.tls);
  if (etcd.tls.enabled && etcd.tls.insecure_skip_verify)
    throw invalidArgument(
      'spec.source.etcd.tls.insecure_skip_verify',
      'is not supported for etcd (its client always verifies the server): set ca_pem to the CA of the etcd certificate',
    );

  const mq = source.mq;
  if (!MQ_TYPES.has(mq.type))
    throw invalidArgument(
      'spec.source.mq.type',
      `${quote(mq.type)} is not an MqType (MQ_TYPE_KAFKA or MQ_TYPE_PULSAR)`,
    );
  if (mq.type === 'MQ_TYPE_UNSPECIFIED')
    throw invalidArgument('spec.source.mq.type', 'is required (MQ_TYPE_KAFKA or MQ_TYPE_PULSAR)');
  if (mq.address === '') throw invalidArgument('spec.source.mq.address', 'is required');
  checkLength('spec.source.mq.address', mq.address, MAX_ADDRESS_CHARS * 4);
  const brokers = mq.address.split(',');
  checkCount('spec.source.mq.address', brokers.length, MAX_LIST_ITEMS);
  brokers.forEach((a, i) => {
    checkHostPort(
      `spec.source.mq.address[${i}]`,
      a.trim(),
      mq.type === 'MQ_TYPE_KAFKA' ? KAFKA_SCHEMES : PULSAR_SCHEMES,
      mq.type === 'MQ_TYPE_KAFKA' ? 'spec.source.mq.sasl' : 'spec.source.mq.token',
    );
  });
  checkTls('spec.source.mq.tls', mq.tls);
  checkLength('spec.source.mq.sasl.mechanism', mq.sasl.mechanism, MAX_SHORT_CHARS);
  checkLength('spec.source.mq.sasl.username', mq.sasl.username, MAX_SHORT_CHARS);
  checkLength('spec.source.mq.sasl.password', mq.sasl.password, MAX_SECRET_CHARS);
  checkLength('spec.source.mq.token', mq.token, MAX_SECRET_CHARS);
  if (mq.sasl.mechanism !== '') {
    if (mq.type !== 'MQ_TYPE_KAFKA')
      throw invalidArgument('spec.source.mq.sasl', 'is only supported with MQ_TYPE_KAFKA');
    if (!SASL_MECHANISMS.has(mq.sasl.mechanism.toLowerCase()))
      throw invalidArgument(
        'spec.source.mq.sasl.mechanism',
        'must be plain, scram-sha-256 or scram-sha-512',
      );
    if (mq.sasl.username === '' || mq.sasl.password === '')
      throw invalidArgument(
        'spec.source.mq.sasl.username',
        'username and password are required with a mechanism',
      );
  }
  if (mq.token !== '' && mq.type !== 'MQ_TYPE_PULSAR')
    throw invalidArgument('spec.source.mq.token', 'is only supported with MQ_TYPE_PULSAR');

  const prefix = source.channel_prefix === '' ? DEFAULT_CHANNEL_PREFIX : source.channel_prefix;
  if (!CHANNEL_PREFIX.test(prefix))
    throw invalidArgument(
      'spec.source.channel_prefix',
      'must be 1-128 characters of [A-Za-z0-9_.-]',
    );

  if (target.uri === '') throw invalidArgument('spec.target.uri', 'is required');
  checkMilvusEndpoint('spec.target', target);
  const sourceMilvus = source.milvus;
  if (sourceMilvus.uri !== '') checkMilvusEndpoint('spec.source.milvus', sourceMilvus);
  else if (
    sourceMilvus.token !== '' ||
    sourceMilvus.username !== '' ||
    sourceMilvus.password !== ''
  )
    throw invalidArgument('spec.source.milvus.uri', 'is required when credentials are set');
  const mode = checkTargetMode('spec.target', target);
  const fanOut = checkFanOut(spec.fan_out ?? [], target);

  if (spec.scope.include.length === 0)
    throw invalidArgument(
      'spec.scope.include',
      'needs at least one pattern ({database:"*", collection:"*"} for everything)',
    );
  const include = checkPatterns('spec.scope.include', spec.scope.include);
  const exclude = checkPatterns('spec.scope.exclude', spec.scope.exclude);
  const start = validateStartPoint('spec.start', spec.start, prefix);
  if (mq.type === 'MQ_TYPE_KAFKA') checkKafkaMsgIds('spec.start', start);
  const initialSync = checkInitialSync(spec.initial_sync, sourceMilvus.uri, start);
  // The copy writes rows through ordinary SDK calls, which a target running with ttMsgEnabled=false refuses.
  if (initialSync !== undefined && mode === 'TARGET_MODE_REPLICATE')
    throw invalidArgument(
      'spec.initial_sync',
      'is not available with TARGET_MODE_REPLICATE (the target refuses ordinary writes); copy existing data in API mode first',
    );
  if (initialSync !== undefined && fanOut.length > 0)
    throw invalidArgument('spec.initial_sync', 'is not available with spec.fan_out');
  const rbac = checkRbacReplication(spec.replicate_rbac);

  const validated: TaskSpec = {
    source: {
      etcd,
      mq: { ...mq, sasl: { ...mq.sasl, mechanism: mq.sasl.mechanism.toLowerCase() } },
      channel_prefix: prefix,
      milvus: sourceMilvus,
    },
    target: { ...target, mode },
    scope: { include, exclude },
    name_mapping: checkNameMapping(spec.name_mapping),
    start,
    ...(initialSync === undefined ? {} : { initial_sync: initialSync }),
    ...(fanOut.length === 0 ? {} : { fan_out: fanOut }),
    ...(rbac === undefined ? {} : { replicate_rbac: rbac }),
  };
  checkSpecSize(validated);
  return validated;
}

function checkTargetMode(field: string, target: TargetSpec): TargetSpec['mode'] {
  if (!TARGET_MODES.has(target.mode))
    throw invalidArgument(`${field}.mode`, `${quote(target.mode)} is not a TargetMode`);
  return target.mode === 'TARGET_MODE_UNSPECIFIED' ? 'TARGET_MODE_API' : target.mode;
}

const MAX_FAN_OUT_TARGETS = 4;

/** Fan-out targets: each a valid endpoint, none the same server as the main target or another fan-out target. */
function checkFanOut(fanOut: readonly TargetSpec[], main: TargetSpec): TargetSpec[] {
  checkCount('spec.fan_out', fanOut.length, MAX_FAN_OUT_TARGETS);
  const seen = new Map<string, string>([[targetKey(main.uri), 'spec.target']]);
  return fanOut.map((t, i) => {
    const field = `spec.fan_out[${i}]`;
    if (t.uri === '') throw invalidArgument(`${field}.uri`, 'is required');
    checkMilvusEndpoint(field, t);
    const key = targetKey(t.uri);
    const twin = seen.get(key);
    if (twin !== undefined)
      throw invalidArgument(`${field}.uri`, `${quote(t.uri)} is the same server as ${twin}`);
    seen.set(key, field);
    return { ...t, mode: checkTargetMode(field, t) };
  });
}

/** Largest page Milvus 2.3 answers (its query window). */
const MAX_SNAPSHOT_BATCH_ROWS = 16_384;

/**
 * Initial sync copies what exists at the task's creation (T0) and then streams from T0, so it needs the source
 * server (to read rows) and a LATEST start (any other start would stream from a point the copy does not match).
 */
function checkInitialSync(
  sync: InitialSyncSpec | undefined,
  sourceUri: string,
  start: StartPoint,
): InitialSyncSpec | undefined {
  if (sync === undefined || !sync.enabled) return undefined;
  if (sourceUri === '')
    throw invalidArgument(
      'spec.source.milvus.uri',
      'is required with initial_sync (the copy reads rows from the source server)',
    );
  if (start.kind !== 'START_KIND_LATEST')
    throw invalidArgument(
      'spec.start.kind',
      'must be START_KIND_LATEST (or unset) with initial_sync: the copy is taken when the task is created',
    );
  if (sync.batch_rows > MAX_SNAPSHOT_BATCH_ROWS)
    throw invalidArgument(
      'spec.initial_sync.batch_rows',
      `is ${sync.batch_rows}; at most ${MAX_SNAPSHOT_BATCH_ROWS} allowed`,
    );
  return { enabled: true, batch_rows: sync.batch_rows };
}

/** Kafka message ids are the 8-byte little-endian offset; any other length cannot be a Kafka position. */
export function checkKafkaMsgIds(field: string, start: StartPoint): void {
  for (const [channel, p] of Object.entries(start.positions))
    if (Buffer.from(p.msg_id, 'base64').length !== 8)
      throw invalidArgument(
        `${field}.positions[${quote(channel)}].msg_id`,
        'must be 8 bytes (a Kafka offset) for MQ_TYPE_KAFKA',
      );
}

/** Canonical target identity for overlap checks: scheme-less lowercase host:port. */
export function targetKey(uri: string): string {
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(uri) ? uri : `tcp://${uri}`;
  try {
    const url = new URL(withScheme);
    const port = url.port === '' ? (url.protocol === 'https:' ? '443' : '19530') : url.port;
    const host =
      url.hostname.toLowerCase() === 'localhost' ? '127.0.0.1' : url.hostname.toLowerCase();
    return `${host}:${port}`;
  } catch {
    return uri.toLowerCase();
  }
}

const hasWildcard = (s: string): boolean => s.includes('*');

/**
 * The scope of a validated spec as it lands on the target, after `name_mapping` renames: the source-side overlap
 * check alone misses a task whose renamed database collides with another task's database on the same target.
 * Includes are over-approximated (a wildcard keeps its unrenamed form too) and excludes under-approximated (an
 * exclude a rename touches is dropped), so an overlap is never missed; only specs with renames need it.
 */
export function targetScope(spec: TaskSpec): ScopeSpec {
  const mappings = spec.name_mapping;
  const include: CollectionPattern[] = [];
  for (const p of spec.scope.include) {
    let renamedAway = false;
    for (const m of mappings) {
      if (!globMatch(p.database, m.source_database)) continue;
      if (!hasWildcard(p.database)) renamedAway = true;
      // Own entries only: `constructor` or `toString` are valid collection names, not renames.
      const renamed = Object.hasOwn(m.collections, p.collection)
        ? m.collections[p.collection]
        : undefined;
      include.push({ database: m.target_database, collection: renamed ?? p.collection });
      for (const [from, to] of Object.entries(m.collections))
        if (hasWildcard(p.collection) && globMatch(p.collection, from))
          include.push({ database: m.target_database, collection: to });
    }
    if (!renamedAway) include.push(p);
  }
  const touched = (db: string): boolean =>
    mappings.some((m) => globMatch(db, m.source_database) || globMatch(db, m.target_database));
  const exclude = spec.scope.exclude.flatMap((p): CollectionPattern[] => {
    if (!touched(p.database)) return [p];
    const m = mappings.find((x) => x.source_database === p.database);
    return m !== undefined && Object.keys(m.collections).length === 0
      ? [{ database: m.target_database, collection: p.collection }]
      : [];
  });
  return { include, exclude };
}
