import {
  CdcError,
  decodeKafkaMessageId,
  encodeKafkaMessageId,
  formatBase36,
  parseBase36,
} from '@cdc/shared';

/**
 * WAL message ids as positions. A 2.6 WAL names its messages `commonpb.MessageID{id, WAL_name}`; for Kafka `id` is
 * the base36 offset. Positions keep the bytes Milvus itself stores for that id (the adaptor's legacy MQ id, an
 * 8-byte little-endian offset for Kafka), so a checkpoint is the same whether the records came from DumpMessages or
 * straight from the Kafka topic.
 */
export type WalName = 'Kafka' | 'Pulsar' | 'WoodPecker';

export function walIdToPosition(walName: string, id: string): Uint8Array {
  if (walName === 'Kafka') return encodeKafkaMessageId(parseBase36(id, 'kafka message id'));
  return new Uint8Array(Buffer.from(`${walName}:${id}`, 'utf8'));
}

export function positionToWalId(walName: WalName, position: Uint8Array): string {
  if (walName === 'Kafka') return formatBase36(decodeKafkaMessageId(position));
  const text = Buffer.from(position).toString('utf8');
  if (!text.startsWith(`${walName}:`)) {
    throw new CdcError(
      'FAILED_PRECONDITION',
      `position ${text.slice(0, 64)} is not a ${walName} WAL id`,
      {
        retryable: false,
      },
    );
  }
  return text.slice(walName.length + 1);
}

export function compareWalPositions(walName: WalName, a: Uint8Array, b: Uint8Array): number {
  if (walName === 'Kafka') {
    const x = decodeKafkaMessageId(a);
    const y = decodeKafkaMessageId(b);
    return x < y ? -1 : x > y ? 1 : 0;
  }
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}
