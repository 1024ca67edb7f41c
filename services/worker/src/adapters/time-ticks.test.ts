import { describe, expect, it } from 'vitest';
import { books } from '../testing/dml-replicator.js';
import { insertMsg, RecordLog, timeTickMsg } from '../testing/fakes.js';
import { coalesceTicks, isTimeTick } from './time-ticks.js';

describe('time ticks of a msgstream channel', () => {
  it('tells a time tick from a change by its header, and counts anything else as a change', () => {
    const log = new RecordLog('dml_0')
      .add(timeTickMsg(10n), insertMsg({ collectionId: books.id, ids: [1n], ts: 11n }))
      .raw(new Uint8Array([0x0a, 0xff, 0xff]))
      .raw(log26TickBytes(), { _v: '2' });
    const [tick, insert, garbage, wal26] = log.records;
    expect([tick, insert, garbage, wal26].map((r) => isTimeTick(r!))).toEqual([
      true,
      false,
      false,
      false,
    ]);
    expect(isTimeTick({ ...tick!, rejected: 'over the cap' })).toBe(false);
  });

  it('keeps the last tick of each run of ticks, and every change, in order', () => {
    const log = new RecordLog('dml_0').add(
      timeTickMsg(10n),
      timeTickMsg(20n),
      timeTickMsg(30n),
      insertMsg({ collectionId: books.id, ids: [1n], ts: 31n }),
      timeTickMsg(40n),
      insertMsg({ collectionId: books.id, ids: [2n], ts: 41n }),
      timeTickMsg(50n),
      timeTickMsg(60n),
    );
    const offsets = coalesceTicks(log.records).map((r) => r.msgId[0]);
    expect(offsets).toEqual([2, 3, 4, 5, 7]);
    expect(coalesceTicks([])).toEqual([]);
  });
});

/** A 2.6 WAL record body that, read as msgstream, would look like a time tick: the `_v` header must win. */
function log26TickBytes(): Uint8Array {
  return new RecordLog('dml_0').add(timeTickMsg(5n)).records[0]!.value;
}
