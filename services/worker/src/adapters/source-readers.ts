import { CdcError, nodeTlsOptions } from '@cdc/shared';
import type { Logger } from '@cdc/shared';
import type { SourceReader, SourceReaderFactory } from '../ports/source-reader.js';
import type { TaskSpecWire } from '../task-spec.js';
import type { KafkaClientOptions } from './kafka-client.js';
import { createKafkaSourceReaderFactory } from './kafka-source-reader.js';
import type { KafkaSourceReaderFactoryOptions } from './kafka-source-reader.js';
import { VersionDetectingReader } from './wal26/version-detecting-reader.js';
import { createPulsarSourceReaderFactory } from './pulsar-source-reader.js';

type MqWire = NonNullable<NonNullable<TaskSpecWire['source']>['mq']>;

/** Kafka TLS and SASL from the task spec (secrets arrive decrypted from AcquireLease; never logged). */
function kafkaSecurity(mq: MqWire): Pick<KafkaClientOptions, 'tls' | 'sasl'> {
  const out: { -readonly [K in 'tls' | 'sasl']?: NonNullable<KafkaClientOptions[K]> } = {};
  const tls = nodeTlsOptions(mq.tls);
  if (tls !== undefined) out.tls = tls;
  const sasl = mq.sasl;
  if (sasl?.username) {
    const mechanism = (sasl.mechanism ?? 'PLAIN').toLowerCase();
    if (mechanism !== 'plain' && mechanism !== 'scram-sha-256' && mechanism !== 'scram-sha-512') {
      throw new CdcError('INVALID_ARGUMENT', `unsupported SASL mechanism: ${mechanism}`, {
        retryable: false,
      });
    }
    out.sasl = { mechanism, username: sasl.username, password: sasl.password ?? '' };
  }
  return out;
}

/**
 * The worker's bounds for Kafka reads (see config.ts: WORKER_KAFKA_FETCH_BYTES, WORKER_MAX_RECORD_BYTES,
 * WORKER_IDLE_FETCH_WAIT_MS).
 */
export interface SourceReaderLimits {
  readonly fetchMaxBytes?: number;
  readonly maxRecordBytes?: number;
  /** Broker wait of a fetch round while every channel read is idle (WORKER_IDLE_FETCH_WAIT_MS). */
  readonly idleFetchWaitMs?: number;
}

/**
 * Kafka reader factories by source (brokers, security, limits): one KafkaJS client per source for the whole worker,
 * so every channel of that source, whatever the task, is read through one fetch loop and one connection per broker.
 */
const kafkaFactories = new Map<string, SourceReaderFactory>();

function kafkaFactory(opts: KafkaSourceReaderFactoryOptions): SourceReaderFactory {
  // Credentials are part of the identity (two tasks with different users must not share a client); never logged.
  const key = JSON.stringify({ ...opts, logger: undefined });
  let factory = kafkaFactories.get(key);
  if (factory === undefined) {
    factory = createKafkaSourceReaderFactory(opts);
    kafkaFactories.set(key, factory);
  }
  return factory;
}

/**
 * The reader of a task's channel. Which log the source writes (2.3–2.5 msgstream or the 2.6 WAL) is looked up in the
 * source etcd when the reader opens.
 */
export function createSourceReader(
  spec: TaskSpecWire,
  channel: string,
  log: Logger,
  limits: SourceReaderLimits = {},
): SourceReader {
  return new VersionDetectingReader(
    spec,
    channel,
    log,
    () => createMsgstreamReader(spec, channel, log, limits),
    () => kafkaOptions(spec, log, limits),
  );
}

function kafkaOptions(
  spec: TaskSpecWire,
  log: Logger,
  limits: SourceReaderLimits,
): KafkaSourceReaderFactoryOptions {
  const mq = spec.source?.mq;
  return {
    brokers: (mq?.address ?? '')
      .split(',')
      .map((b) => b.trim())
      .filter(Boolean),
    clientId: 'milvus-cdc-worker',
    logger: log,
    ...limits,
    ...(mq ? kafkaSecurity(mq) : {}),
  };
}

/** The reader of a 2.3–2.5 source's message queue. */
function createMsgstreamReader(
  spec: TaskSpecWire,
  channel: string,
  log: Logger,
  limits: SourceReaderLimits,
): SourceReader {
  const mq = spec.source?.mq;
  switch (mq?.type) {
    case 'MQ_TYPE_KAFKA':
      return kafkaFactory(kafkaOptions(spec, log, limits)).create(channel);
    case 'MQ_TYPE_PULSAR':
      // Refused rather than ignored: a reader that dropped the credentials would fail later, less clearly.
      if (mq.tls?.enabled || mq.token) {
        throw new CdcError(
          'FAILED_PRECONDITION',
          'spec.source.mq: TLS and token authentication are not supported with Pulsar yet (plaintext pulsar:// only)',
          { retryable: false },
        );
      }
      return createPulsarSourceReaderFactory({
        serviceUrl: mq.address ?? '',
        logger: log,
      }).create(channel);
    default:
      throw new CdcError(
        'FAILED_PRECONDITION',
        `unsupported source message queue: ${mq?.type ?? 'none'}`,
        {
          retryable: false,
        },
      );
  }
}
