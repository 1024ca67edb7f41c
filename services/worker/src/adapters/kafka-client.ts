/**
 * One KafkaJS client for the worker's source readers: the zstd codec registered and KafkaJS's own logs routed
 * into pino. The client itself holds no sockets; each reader's consumer and admin own theirs.
 */
import kafkajs from 'kafkajs';
import type { Kafka, LogEntry, SASLOptions, logCreator } from 'kafkajs';
import type { Logger } from '@cdc/shared';
import { registerKafkaZstdCodec } from './kafka-zstd-codec.js';
import { fixKafkaIdleLoop } from './kafkajs-idle-loop-fix.js';

const { Kafka: KafkaClass, logLevel: KafkaLogLevel } = kafkajs;

export interface KafkaClientOptions {
  readonly brokers: readonly string[];
  readonly clientId?: string;
  readonly logger?: Logger;
  /** Per-connection timeout; KafkaJS retries with backoff on top of it. */
  readonly connectionTimeoutMs?: number;
  /** KafkaJS retries before an operation fails (and a reader reports SOURCE_UNAVAILABLE). */
  readonly retries?: number;
  /** TLS to the brokers; PEM strings. `true` = TLS with the system CAs. */
  readonly tls?:
    | true
    | {
        readonly ca?: string;
        readonly cert?: string;
        readonly key?: string;
        readonly servername?: string;
        readonly rejectUnauthorized?: boolean;
      };
  /** SASL authentication (PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512). */
  readonly sasl?: {
    readonly mechanism: 'plain' | 'scram-sha-256' | 'scram-sha-512';
    readonly username: string;
    readonly password: string;
  };
}

/**
 * KafkaJS logs a request for a topic that does not exist at error level: the normal state of a source pchannel no
 * collection used yet (the reader waits for its topic), asked about every few hundred ms.
 */
const UNKNOWN_TOPIC = 'This server does not host this topic-partition';

/** KafkaJS logs connection churn at error level even when it recovers, so everything below ERROR is debug. */
export function pinoLogCreator(logger: Logger): logCreator {
  return () => (entry: LogEntry) => {
    const { message, ...fields } = entry.log;
    const obj = { kafkajs: entry.namespace, ...fields };
    if (entry.level === KafkaLogLevel.ERROR && fields['error'] !== UNKNOWN_TOPIC)
      logger.warn(obj, message);
    else logger.debug(obj, message);
  };
}

export function createKafkaClient(opts: KafkaClientOptions): Kafka {
  registerKafkaZstdCodec();
  fixKafkaIdleLoop();
  return new KafkaClass({
    brokers: [...opts.brokers],
    clientId: opts.clientId ?? 'cdc-worker',
    connectionTimeout: opts.connectionTimeoutMs ?? 3_000,
    retry: { retries: opts.retries ?? 5 },
    ...(opts.tls === undefined ? {} : { ssl: opts.tls === true ? true : { ...opts.tls } }),
    ...(opts.sasl === undefined ? {} : { sasl: opts.sasl as SASLOptions }),
    ...(opts.logger === undefined
      ? { logLevel: KafkaLogLevel.NOTHING }
      : {
          logLevel: KafkaLogLevel.INFO,
          logCreator: pinoLogCreator(opts.logger.child({ component: 'kafkajs' })),
        }),
  });
}
