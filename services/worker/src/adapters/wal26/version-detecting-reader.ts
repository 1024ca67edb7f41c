import { CdcError, createEtcdSourceMetadata, errorMessage } from '@cdc/shared';
import type { Logger } from '@cdc/shared';
import type {
  ChannelRecord,
  ReadOptions,
  ReaderStart,
  SourceReader,
} from '../../ports/source-reader.js';
import { isReplicateMode, targetsOf } from '../../task-spec.js';
import type { TaskSpecWire } from '../../task-spec.js';
import { createKafkaSourceReaderFactory } from '../kafka-source-reader.js';
import { DumpMessagesSourceReader } from './dump-messages-reader.js';
import { detectTaskSourceLog, sourceEtcd } from './source-version.js';
import type { SourceLog } from './source-version.js';
import { Wal26Names } from './wal26-names.js';
import { Wal26SourceReader } from './wal26-reader.js';

/**
 * Picks the reader at open(), from what the source etcd says: the 2.3–2.5 msgstream reader (`legacy`), or for a 2.6
 * source the WAL reader — through the proxy's DumpMessages when the task names the source server (works whatever
 * the WAL), else straight from the Kafka topics.
 */
export class VersionDetectingReader implements SourceReader {
  private inner: SourceReader | undefined;
  private fallback: SourceReader | undefined;

  constructor(
    private readonly spec: TaskSpecWire,
    private readonly channel: string,
    private readonly log: Logger,
    private readonly legacy: () => SourceReader,
    private readonly kafkaOptions: () => Parameters<typeof createKafkaSourceReaderFactory>[0],
  ) {}

  async open(start: ReaderStart): Promise<void> {
    const root = this.spec.source?.etcd?.root_path || 'by-dev';
    let found: SourceLog;
    try {
      found = await detectTaskSourceLog(this.spec);
    } catch (err) {
      throw new CdcError('SOURCE_UNAVAILABLE', `reading the source etcd: ${errorMessage(err)}`, {
        retryable: true,
        cause: err,
      });
    }
    if (
      found.streaming &&
      targetsOf(this.spec).some((t) => isReplicateMode({ ...this.spec, target: t }))
    ) {
      throw new CdcError(
        'FAILED_PRECONDITION',
        'replicate mode forwards msgstream messages, which a Milvus 2.6 source does not write: use TARGET_MODE_API',
        { retryable: false },
      );
    }
    if (found.streaming) {
      const etcd = sourceEtcd(this.spec);
      try {
        this.inner = this.wal26(found.controlPChannel, etcd, root);
      } catch (err) {
        etcd.close();
        throw err;
      }
    } else {
      this.inner = this.legacy();
    }
    await this.inner.open(start);
  }

  private wal26(
    controlPChannel: string,
    etcd: ReturnType<typeof sourceEtcd>,
    root: string,
  ): SourceReader {
    const control = this.channel.endsWith('-replicate-msg');
    const pchannel = control ? controlPChannel : this.channel;
    const server = this.spec.source?.milvus;
    const mq = this.spec.source?.mq;
    let raw: SourceReader;
    if (server?.uri) {
      raw = new DumpMessagesSourceReader({
        address: server.uri,
        pchannel,
        walName: mq?.type === 'MQ_TYPE_PULSAR' ? 'Pulsar' : 'Kafka',
        ...(server.token ? { token: server.token } : {}),
        ...(server.username ? { username: server.username, password: server.password ?? '' } : {}),
        ...(server.tls?.enabled ? { ssl: true } : {}),
        logger: this.log,
      });
    } else if (mq?.type === 'MQ_TYPE_KAFKA') {
      raw = createKafkaSourceReaderFactory(this.kafkaOptions()).create(pchannel);
    } else {
      throw new CdcError(
        'FAILED_PRECONDITION',
        'a Milvus 2.6 source is read through its proxy (spec.source.milvus) or its Kafka WAL (spec.source.mq)',
        {
          retryable: false,
        },
      );
    }
    const metadata = createEtcdSourceMetadata({ client: etcd, rootPath: root });
    this.log.info(
      { channel: this.channel, pchannel, via: server?.uri ? 'DumpMessages' : 'kafka' },
      'reading a Milvus 2.6 WAL',
    );
    return new Wal26SourceReader({
      inner: raw,
      channel: this.channel,
      role: control ? 'control' : 'dml',
      names: new Wal26Names(metadata, etcd, root),
      log: this.log,
      onClose: async () => {
        await metadata.close();
        etcd.close();
      },
    });
  }

  read(
    maxRecords: number,
    maxWaitMs: number,
    signal?: AbortSignal,
    options?: ReadOptions,
  ): Promise<ChannelRecord[]> {
    return this.inner === undefined
      ? Promise.resolve([])
      : this.inner.read(maxRecords, maxWaitMs, signal, options);
  }

  hasMore(): boolean {
    return this.inner?.hasMore?.() ?? false;
  }

  compareIds(a: Uint8Array, b: Uint8Array): number {
    this.fallback ??= this.legacy();
    return (this.inner ?? this.fallback).compareIds(a, b);
  }

  async close(): Promise<void> {
    await this.inner?.close();
  }
}
