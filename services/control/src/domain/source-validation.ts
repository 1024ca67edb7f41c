import { invalidArgument } from '@cdc/shared';
import { checkHostPort, checkTls } from './endpoint-validation.js';
import {
  checkCount,
  checkLength,
  MAX_ADDRESS_CHARS,
  MAX_LIST_ITEMS,
  MAX_SECRET_CHARS,
  MAX_SHORT_CHARS,
  quote,
} from './field-checks.js';
import type { EtcdSourceSpec, MqSourceSpec } from './model.js';

const CHANNEL_PREFIX = /^[A-Za-z0-9_.-]{1,128}$/;
const SASL_MECHANISMS = new Set(['plain', 'scram-sha-256', 'scram-sha-512']);
// Enum values arrive as names, or as the bare number when the client sent a value this proto does not define
// (proto3 keeps unknown enum numbers); anything outside these sets must be rejected, not stored.
const MQ_TYPES = new Set(['MQ_TYPE_UNSPECIFIED', 'MQ_TYPE_KAFKA', 'MQ_TYPE_PULSAR']);
/** URI schemes each source address field accepts (an address without a scheme is always accepted). */
const ETCD_SCHEMES = ['http', 'https'];
const KAFKA_SCHEMES = ['tcp', 'kafka'];
const PULSAR_SCHEMES = ['pulsar', 'pulsar+ssl'];
export const DEFAULT_ROOT_PATH = 'by-dev';
export const DEFAULT_CHANNEL_PREFIX = 'by-dev';

/** `spec.source.etcd`, with the root path trimmed of slashes (DEFAULT_ROOT_PATH when empty). */
export function checkSourceEtcd(given: EtcdSourceSpec): EtcdSourceSpec {
  checkLength('spec.source.etcd.root_path', given.root_path, MAX_SHORT_CHARS);
  const etcd = {
    ...given,
    root_path: given.root_path.replace(/^\/+|\/+$/g, '') || DEFAULT_ROOT_PATH,
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
  return etcd;
}

/** `spec.source.mq`, with the SASL mechanism in lower case. */
export function checkSourceMq(mq: MqSourceSpec): MqSourceSpec {
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
  return { ...mq, sasl: { ...mq.sasl, mechanism: mq.sasl.mechanism.toLowerCase() } };
}

/** `spec.source.channel_prefix`, DEFAULT_CHANNEL_PREFIX when empty. */
export function checkChannelPrefix(channelPrefix: string): string {
  const prefix = channelPrefix === '' ? DEFAULT_CHANNEL_PREFIX : channelPrefix;
  if (!CHANNEL_PREFIX.test(prefix))
    throw invalidArgument(
      'spec.source.channel_prefix',
      'must be 1-128 characters of [A-Za-z0-9_.-]',
    );
  return prefix;
}
