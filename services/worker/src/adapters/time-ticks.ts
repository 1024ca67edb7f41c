import { MsgType, resolveMsgType, streamingVersion } from '@cdc/shared';
import type { ChannelRecord } from '../ports/source-reader.js';

/**
 * Whether a msgstream record (Milvus 2.3–2.5) is a time tick, from its header alone. Records of the 2.6 WAL format,
 * refused records and anything unreadable count as changes: the consumer decodes them and decides.
 */
export function isTimeTick(record: ChannelRecord): boolean {
  let tick = kinds.get(record);
  if (tick === undefined) {
    tick = readIsTimeTick(record);
    kinds.set(record, tick);
  }
  return tick;
}

/** Records are shared by the readers of a topic, each of which asks. */
const kinds = new WeakMap<ChannelRecord, boolean>();

function readIsTimeTick(record: ChannelRecord): boolean {
  if (record.rejected !== undefined || record.decoded !== undefined) return false;
  if (streamingVersion(record.headers) !== undefined) return false;
  try {
    return resolveMsgType(record.value, record.headers) === MsgType.TimeTick;
  } catch {
    return false;
  }
}

export const isNotTimeTick = (record: ChannelRecord): boolean => !isTimeTick(record);

/** The records without each time tick that another time tick directly follows (ReadOptions.coalesceTicks). */
export function coalesceTicks(records: ChannelRecord[]): ChannelRecord[] {
  if (records.length < 2) return records;
  const ticks = records.map(isTimeTick);
  return records.filter((_, i) => !(ticks[i] === true && ticks[i + 1] === true));
}
