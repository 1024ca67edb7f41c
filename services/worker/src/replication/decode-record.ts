import { decodeForPassThrough, decodeMessage } from '@cdc/shared';
import type { DecodedMessage, DmlView } from '@cdc/shared';
import type { ChannelRecord } from '../ports/source-reader.js';

/**
 * The message of a record: what a decoding reader (2.6 WAL) already made of it, else the msgstream decode of its
 * value (which throws `CdcError('DECODE_FAILED')`; callers quarantine the record).
 */
export function decodeRecord(record: ChannelRecord): DecodedMessage {
  return record.decoded ?? decodeMessage(record.value, record.headers);
}

/**
 * Replicate mode's `decodeRecord`: a msgstream Insert or Delete is read only as far as its header, its columns stay
 * bytes for the forwarder's rewrite. A decoding reader's message is used as it is.
 */
export function decodeRecordForPassThrough(record: ChannelRecord): DecodedMessage | DmlView {
  return record.decoded ?? decodeForPassThrough(record.value, record.headers);
}
