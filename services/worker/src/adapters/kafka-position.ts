/**
 * Where a Kafka channel reader starts. Message ids are the shared codec's (`encodeKafkaMessageId`: the record offset
 * as an 8-byte little-endian int64, reference §3.4).
 */
import { CdcError, decodeKafkaMessageId } from '@cdc/shared';
import type { ReaderStart } from '../ports/source-reader.js';

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
      if (start.msgId.length !== 8)
        throw new CdcError(
          'INVALID_ARGUMENT',
          `resuming ${channel}: the position is not a Kafka message id (${start.msgId.length} bytes, not 8); reset the position`,
          { retryable: false, details: { channel, length: start.msgId.length } },
        );
      const next = decodeKafkaMessageId(start.msgId) + 1n;
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
