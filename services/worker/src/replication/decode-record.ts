import { decodeMessage } from '@cdc/shared';
import type { DecodedMessage } from '@cdc/shared';
import type { ChannelRecord } from '../ports/source-reader.js';

/**
 * The message of a record: what a decoding reader (2.6 WAL) already made of it, else the msgstream decode of its
 * value (which throws `CdcError('DECODE_FAILED')`; callers quarantine the record).
 */
export function decodeRecord(record: ChannelRecord): DecodedMessage {
  return record.decoded ?? decodeMessage(record.value, record.headers);
}
