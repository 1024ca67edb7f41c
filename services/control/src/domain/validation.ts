import { invalidArgument } from '@cdc/shared';
import type {
  CollectionPattern,
  NameMappingSpec,
  Position,
  StartPoint,
  TaskSpec,
  TlsSpec,
} from './model.js';

/** Rules for a create request. Every failure is INVALID_ARGUMENT with the dotted field path first. */
const TASK_ID = /^[A-Za-z0-9_.-]{1,64}$/;
const CHANNEL_PREFIX = /^[A-Za-z0-9_.-]{1,128}$/;
const NAME_PATTERN = /^[A-Za-z0-9_*-]{1,255}$/;
const NAME = /^[A-Za-z0-9_-]{1,255}$/;
const SASL_MECHANISMS = new Set(['plain', 'scram-sha-256', 'scram-sha-512']);
export const DEFAULT_ROOT_PATH = 'by-dev';
export const DEFAULT_CHANNEL_PREFIX = 'by-dev';

export function validateTaskId(taskId: string, field = 'task_id'): string {
  if (taskId === '') throw invalidArgument(field, 'is required');
  if (!TASK_ID.test(taskId))
    throw invalidArgument(field, 'must be 1-64 characters of [A-Za-z0-9_.-]');
  return taskId;
}

function checkHostPort(field: string, value: string): void {
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(value) ? value : `tcp://${value}`;
  let url: URL;
  try {
    url = new URL(withScheme);
  } catch {
    throw invalidArgument(field, `"${value}" is not a valid address`);
  }
  if (url.hostname === '') throw invalidArgument(field, `"${value}" has no host`);
}

function checkTls(field: string, tls: TlsSpec): void {
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
  const kind = start.kind === 'START_KIND_UNSPECIFIED' ? 'START_KIND_LATEST' : start.kind;
  const hasTs = start.timestamp !== '0' && start.timestamp !== '';
  if (kind === 'START_KIND_TIMESTAMP' && !hasTs)
    throw invalidArgument(`${field}.timestamp`, 'is required for START_KIND_TIMESTAMP');
  if (kind !== 'START_KIND_TIMESTAMP' && hasTs)
    throw invalidArgument(`${field}.timestamp`, 'is only allowed with START_KIND_TIMESTAMP');
  const channels = Object.keys(start.positions);
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
        `${field}.positions["${channel}"]`,
        `is not a channel of prefix "${channelPrefix}"`,
      );
    const p = start.positions[channel];
    if (p !== undefined) checkPosition(`${field}.positions["${channel}"]`, p);
  }
  return { ...start, kind, timestamp: hasTs ? start.timestamp : '0' };
}

function checkPatterns(field: string, patterns: CollectionPattern[]): CollectionPattern[] {
  return patterns.map((p, i) => {
    const database = p.database === '' ? 'default' : p.database;
    const collection = p.collection === '' ? '*' : p.collection;
    if (!NAME_PATTERN.test(database))
      throw invalidArgument(
        `${field}[${i}].database`,
        `"${database}" is not a valid name or pattern`,
      );
    if (!NAME_PATTERN.test(collection))
      throw invalidArgument(
        `${field}[${i}].collection`,
        `"${collection}" is not a valid name or pattern`,
      );
    return { database, collection };
  });
}

function checkNameMapping(mappings: NameMappingSpec[]): NameMappingSpec[] {
  const seen = new Set<string>();
  return mappings.map((m, i) => {
    const field = `spec.name_mapping[${i}]`;
    if (!NAME.test(m.source_database))
      throw invalidArgument(
        `${field}.source_database`,
        'must be a database name without wildcards',
      );
    if (seen.has(m.source_database))
      throw invalidArgument(`${field}.source_database`, `"${m.source_database}" is mapped twice`);
    seen.add(m.source_database);
    const target = m.target_database === '' ? m.source_database : m.target_database;
    if (!NAME.test(target))
      throw invalidArgument(`${field}.target_database`, `"${target}" is not a valid database name`);
    for (const [from, to] of Object.entries(m.collections)) {
      if (!NAME.test(from))
        throw invalidArgument(
          `${field}.collections`,
          `key "${from}" is not a valid collection name`,
        );
      if (!NAME.test(to))
        throw invalidArgument(
          `${field}.collections["${from}"]`,
          `"${to}" is not a valid collection name`,
        );
    }
    return { ...m, target_database: target };
  });
}

/** Validates and normalizes (defaults filled in) a spec from a create request. */
export function validateTaskSpec(spec: TaskSpec | undefined): TaskSpec {
  if (spec === undefined) throw invalidArgument('spec', 'is required');
  const { source, target } = spec;
  const etcd = {
    ...source.etcd,
    root_path: source.etcd.root_path.replace(/^\/+|\/+$/g, '') || DEFAULT_ROOT_PATH,
  };
  if (etcd.endpoints.length === 0)
    throw invalidArgument('spec.source.etcd.endpoints', 'needs at least one endpoint');
  etcd.endpoints.forEach((e, i) => {
    checkHostPort(`spec.source.etcd.endpoints[${i}]`, e);
  });
  if (etcd.username !== '' && etcd.password === '')
    throw invalidArgument('spec.source.etcd.password', 'is required with username');
  if (etcd.username === '' && etcd.password !== '')
    throw invalidArgument('spec.source.etcd.username', 'is required with password');
  checkTls('spec.source.etcd.tls', etcd.tls);

  const mq = source.mq;
  if (mq.type === 'MQ_TYPE_UNSPECIFIED')
    throw invalidArgument('spec.source.mq.type', 'is required (MQ_TYPE_KAFKA or MQ_TYPE_PULSAR)');
  if (mq.address === '') throw invalidArgument('spec.source.mq.address', 'is required');
  mq.address.split(',').forEach((a, i) => {
    checkHostPort(`spec.source.mq.address[${i}]`, a.trim());
  });
  checkTls('spec.source.mq.tls', mq.tls);
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
  checkHostPort('spec.target.uri', target.uri);
  if (target.token !== '' && (target.username !== '' || target.password !== ''))
    throw invalidArgument('spec.target.token', 'cannot be combined with username/password');
  if ((target.username === '') !== (target.password === ''))
    throw invalidArgument('spec.target.password', 'username and password must be set together');
  checkTls('spec.target.tls', target.tls);
  const mode = target.mode === 'TARGET_MODE_UNSPECIFIED' ? 'TARGET_MODE_API' : target.mode;

  if (spec.scope.include.length === 0)
    throw invalidArgument(
      'spec.scope.include',
      'needs at least one pattern ({database:"*", collection:"*"} for everything)',
    );
  const include = checkPatterns('spec.scope.include', spec.scope.include);
  const exclude = checkPatterns('spec.scope.exclude', spec.scope.exclude);

  return {
    source: {
      etcd,
      mq: { ...mq, sasl: { ...mq.sasl, mechanism: mq.sasl.mechanism.toLowerCase() } },
      channel_prefix: prefix,
    },
    target: { ...target, mode },
    scope: { include, exclude },
    name_mapping: checkNameMapping(spec.name_mapping),
    start: validateStartPoint('spec.start', spec.start, prefix),
  };
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
