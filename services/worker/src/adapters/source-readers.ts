import { CdcError } from '@cdc/shared';
import type { Logger } from '@cdc/shared';
import type { SourceReader } from '../ports/source-reader.js';
import type { TaskSpecWire } from '../task-spec.js';
import { createKafkaSourceReaderFactory } from './kafka-source-reader.js';

/** The reader for a task's message queue. */
export function createSourceReader(spec: TaskSpecWire, channel: string, log: Logger): SourceReader {
  const mq = spec.source?.mq;
  switch (mq?.type) {
    case 'MQ_TYPE_KAFKA':
      return createKafkaSourceReaderFactory({
        brokers: (mq.address ?? '')
          .split(',')
          .map((b) => b.trim())
          .filter(Boolean),
        clientId: 'milvus-cdc-worker',
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
