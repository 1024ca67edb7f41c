/**
 * Addresses of the real local stack (deploy/local), overridable by env. Integration tests read them from here.
 */
import { homedir } from 'node:os';
import { join } from 'node:path';

export interface StackEnv {
  readonly redisUrl: string;
  readonly etcdEndpoints: string[];
  readonly kafkaBrokers: string[];
  readonly sourceMilvusAddress: string;
  readonly targetMilvusAddress: string;
  /** The target started with common.ttMsgEnabled=false, for replicate mode. */
  readonly replicaMilvusAddress: string;
  readonly sourceEtcdRoot: string;
  readonly sourceChannelPrefix: string;
  readonly targetEtcdRoot: string;
  readonly python: string;
  /** The Pulsar broker (binary protocol) and its admin REST API. */
  readonly pulsarUrl: string;
  readonly pulsarAdminUrl: string;
  /** The second source Milvus, on Pulsar. */
  readonly pulsarMilvusAddress: string;
  readonly pulsarSourceEtcdRoot: string;
  readonly pulsarSourceChannelPrefix: string;
}

export function stackEnv(env: NodeJS.ProcessEnv = process.env): StackEnv {
  const cacheDir = env['CDC_CACHE_DIR'] ?? join(homedir(), '.cache', 'milvus-cdc-ts');
  return {
    redisUrl: env['REDIS_URL'] ?? 'redis://127.0.0.1:6379',
    etcdEndpoints: (env['ETCD_ENDPOINTS'] ?? '127.0.0.1:2379').split(','),
    kafkaBrokers: (env['KAFKA_BROKERS'] ?? '127.0.0.1:9092').split(','),
    sourceMilvusAddress: env['SOURCE_MILVUS_ADDRESS'] ?? '127.0.0.1:19530',
    targetMilvusAddress: env['TARGET_MILVUS_ADDRESS'] ?? '127.0.0.1:19540',
    replicaMilvusAddress: env['REPLICA_MILVUS_ADDRESS'] ?? '127.0.0.1:19550',
    sourceEtcdRoot: env['SOURCE_ETCD_ROOT'] ?? 'source',
    sourceChannelPrefix: env['SOURCE_CHANNEL_PREFIX'] ?? 'source',
    targetEtcdRoot: env['TARGET_ETCD_ROOT'] ?? 'target',
    python: env['CDC_PYTHON'] ?? join(cacheDir, 'venv', 'bin', 'python'),
    pulsarUrl: env['PULSAR_URL'] ?? 'pulsar://127.0.0.1:6650',
    pulsarAdminUrl: env['PULSAR_ADMIN_URL'] ?? 'http://127.0.0.1:8080',
    pulsarMilvusAddress: env['PULSAR_MILVUS_ADDRESS'] ?? '127.0.0.1:19560',
    pulsarSourceEtcdRoot: env['PULSAR_SOURCE_ETCD_ROOT'] ?? 'source-pulsar',
    pulsarSourceChannelPrefix: env['PULSAR_SOURCE_CHANNEL_PREFIX'] ?? 'source-pulsar',
  };
}

/**
 * The `spec.source` of a task reading the local stack's source Milvus (etcd + Kafka, plus the server itself for the
 * features that read rows), in proto-loader form.
 */
export function kafkaSourceSpec(
  env: StackEnv,
  channelPrefix = env.sourceChannelPrefix,
): Record<string, unknown> {
  return {
    etcd: { endpoints: env.etcdEndpoints, root_path: env.sourceEtcdRoot },
    mq: { type: 'MQ_TYPE_KAFKA', address: env.kafkaBrokers.join(',') },
    channel_prefix: channelPrefix,
    milvus: { uri: `http://${env.sourceMilvusAddress}` },
  };
}

/** The `spec.source` of a task reading the local stack's Pulsar-backed source Milvus (etcd + Pulsar + the server). */
export function pulsarSourceSpec(env: StackEnv): Record<string, unknown> {
  return {
    etcd: { endpoints: env.etcdEndpoints, root_path: env.pulsarSourceEtcdRoot },
    mq: { type: 'MQ_TYPE_PULSAR', address: env.pulsarUrl },
    channel_prefix: env.pulsarSourceChannelPrefix,
    milvus: { uri: `http://${env.pulsarMilvusAddress}` },
  };
}
