/**
 * Kafka positions as Milvus stores them (reference §3.4): a message id is the record offset as an 8-byte
 * little-endian int64 (`SerializeKafkaID`). `@cdc/shared` has the same codec in its wire module but does not
 * export it yet; these two functions stay byte-identical to it.
 */
import { CdcError } from '@cdc/shared';
import type { ReaderStart } from '../ports/source-reader.js';

export function kafkaMessageId(offset: bigint): Uint8Array {
  const b = Buffer.alloc(8);
  b.writeBigInt64LE(offset, 0);
  return new Uint8Array(b.buffer, b.byteOffset, 8);
}

export function kafkaOffsetOf(msgId: Uint8Array): bigint {
  if (msgId.length !== 8) {
    throw new CdcError('INVALID_ARGUMENT', 'decoding kafka message id: expected 8 bytes', {
      retryable: false,
      details: { length: msgId.length },
    });
  }
  return Buffer.from(msgId.buffer, msgId.byteOffset, 8).readBigInt64LE(0);
}

/** Partition 0 offsets at open time: `low` is the first retained record, `high` the next offset to be written. */
export interface Watermarks {
  readonly low: bigint;
  readonly high: bigint;
}

/**
 * The first offset to read for `start`. Positions outside [low, high] fail instead of letting the consumer's
 * offset reset jump silently: below `low` the records were deleted by retention, above `high` the id belongs
 * to another topic (e.g. one that was deleted and recreated).
 * `byTimestamp` is the first offset whose timestamp is >= the start time (or `high` when none is).
 */
export function resolveStartOffset(
  channel: string,
  start: ReaderStart,
  marks: Watermarks,
  byTimestamp?: bigint,
): bigint {
  switch (start.kind) {
    case 'earliest':
      return marks.low;
    case 'latest':
      return marks.high;
    case 'timestamp':
      return byTimestamp ?? marks.high;
    case 'after': {
      const next = kafkaOffsetOf(start.msgId) + 1n;
      const details = {
        channel,
        offset: next.toString(),
        low: marks.low.toString(),
        high: marks.high.toString(),
      };
      if (next < marks.low) {
        throw new CdcError(
          'FAILED_PRECONDITION',
          `resuming ${channel}: offset ${next} was deleted by retention (first retained offset is ${marks.low}); reset the position`,
          { retryable: false, details },
        );
      }
      if (next > marks.high) {
        throw new CdcError(
          'FAILED_PRECONDITION',
          `resuming ${channel}: offset ${next} is beyond the end of the topic (${marks.high}); was it recreated?`,
          { retryable: false, details },
        );
      }
      return next;
    }
  }
}
