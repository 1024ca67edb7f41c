import { describe, expect, it } from 'vitest';
import { encodeMessage } from '@cdc/shared';
import type { KnownMessage } from '@cdc/shared';
import {
  createCollectionMsg,
  collectionInfo,
  deleteMsg,
  dropCollectionMsg,
  insertMsg,
  offsetId,
  timeTickMsg,
} from '../testing/fakes.js';
import { PackBuffer, messageTimestamp } from './pack-buffer.js';
import type { ChannelMessage, OrderedMessage } from './pack-buffer.js';

let offset = 0n;
function item(message: KnownMessage): ChannelMessage {
  return { message, msgId: offsetId(offset++), payload: encodeMessage(message) };
}

/** A short label per message: type and its ordering timestamp, plus the first primary key of rows. */
function label({ item }: OrderedMessage): string {
  const msg = item.message;
  const key =
    msg.type === 'Insert' && msg.fields[0]?.values.kind === 'long'
      ? `:${msg.fields[0].values.data[0]}`
      : msg.type === 'Delete'
        ? `:${msg.primaryKeys.values[0]}`
        : '';
  return `${msg.type}@${messageTimestamp(msg)}${key}`;
}

describe('messageTimestamp', () => {
  it('uses the largest per-row timestamp of Insert and Delete', () => {
    expect(
      messageTimestamp(insertMsg({ collectionId: 1n, ids: [1n, 2n], ts: 5n, rowTs: [7n, 6n] })),
    ).toBe(7n);
    expect(messageTimestamp(deleteMsg({ collectionId: 1n, ids: [1n], ts: 9n }))).toBe(9n);
  });

  it('takes per-row timestamps when MsgBase carries 0 (2.3.5 upsert Inserts)', () => {
    expect(messageTimestamp(insertMsg({ collectionId: 1n, ids: [1n], ts: 42n, baseTs: 0n }))).toBe(
      42n,
    );
  });

  it('falls back to MsgBase for messages without rows, and for rowless Inserts', () => {
    expect(messageTimestamp(dropCollectionMsg(1n, 11n))).toBe(11n);
    expect(messageTimestamp(insertMsg({ collectionId: 1n, ids: [], ts: 3n }))).toBe(3n);
  });
});

describe('PackBuffer', () => {
  it('sorts a pack by timestamp, whatever the arrival order', () => {
    const buf = new PackBuffer();
    buf.add(item(insertMsg({ collectionId: 1n, ids: [3n], ts: 30n })));
    buf.add(item(insertMsg({ collectionId: 1n, ids: [1n], ts: 10n })));
    buf.add(item(deleteMsg({ collectionId: 1n, ids: [2n], ts: 20n })));
    const pack = buf.close(offsetId(99n), 100n);
    expect(pack.changes.map(label)).toEqual(['Insert@10:1', 'Delete@20:2', 'Insert@30:3']);
  });

  it('puts the Delete of an upsert before its Insert at the same timestamp', () => {
    const buf = new PackBuffer();
    // Milvus writes an upsert as Insert, then Delete, with one timestamp (2.3.5: base ts 0 on the Insert).
    buf.add(item(insertMsg({ collectionId: 1n, ids: [7n], ts: 50n, baseTs: 0n })));
    buf.add(item(deleteMsg({ collectionId: 1n, ids: [7n], ts: 50n })));
    const pack = buf.close(offsetId(99n), 50n);
    expect(pack.changes.map(label)).toEqual(['Delete@50:7', 'Insert@50:7']);
  });

  it('keeps arrival order among messages of equal timestamp and rank', () => {
    const buf = new PackBuffer();
    buf.add(item(insertMsg({ collectionId: 1n, ids: [1n], ts: 5n })));
    buf.add(item(deleteMsg({ collectionId: 1n, ids: [8n], ts: 5n })));
    buf.add(item(insertMsg({ collectionId: 1n, ids: [2n], ts: 5n })));
    buf.add(item(deleteMsg({ collectionId: 1n, ids: [9n], ts: 5n })));
    buf.add(item(createCollectionMsg(collectionInfo({ id: 2n, name: 'b' }), 5n)));
    buf.add(item(insertMsg({ collectionId: 1n, ids: [3n], ts: 5n })));
    const pack = buf.close(offsetId(99n), 5n);
    expect(pack.changes.map(label)).toEqual([
      'Delete@5:8',
      'Delete@5:9',
      'Insert@5:1',
      'Insert@5:2',
      'CreateCollection@5',
      'Insert@5:3',
    ]);
  });

  it('closes at the tick with its message id and timestamp, checkpointable when nothing stays', () => {
    const buf = new PackBuffer();
    buf.add(item(insertMsg({ collectionId: 1n, ids: [1n], ts: 10n })));
    const tickId = offsetId(7n);
    const pack = buf.close(tickId, 10n);
    expect(pack.endMsgId).toBe(tickId);
    expect(pack.endTimestamp).toBe(10n);
    expect(pack.checkpointable).toBe(true);
    expect(buf.size).toBe(0);
  });

  it('keeps messages newer than the tick pending, and the pack is then not checkpointable', () => {
    const buf = new PackBuffer();
    buf.add(item(insertMsg({ collectionId: 1n, ids: [2n], ts: 20n })));
    buf.add(item(insertMsg({ collectionId: 1n, ids: [1n], ts: 10n })));
    buf.add(item(insertMsg({ collectionId: 1n, ids: [3n], ts: 15n, baseTs: 0n, rowTs: [12n] })));
    const first = buf.close(offsetId(3n), 15n);
    expect(first.changes.map(label)).toEqual(['Insert@10:1', 'Insert@12:3']);
    expect(first.checkpointable).toBe(false);
    expect(buf.size).toBe(1);

    const second = buf.close(offsetId(4n), 20n);
    expect(second.changes.map(label)).toEqual(['Insert@20:2']);
    expect(second.checkpointable).toBe(true);
    expect(buf.size).toBe(0);
  });

  it('decides by the newest row: an Insert with one row after the tick stays whole', () => {
    const buf = new PackBuffer();
    buf.add(item(insertMsg({ collectionId: 1n, ids: [1n, 2n], ts: 0n, rowTs: [5n, 25n] })));
    const pack = buf.close(offsetId(1n), 20n);
    expect(pack.changes).toEqual([]);
    expect(pack.checkpointable).toBe(false);
  });

  it('checkpoints just before the first message that stays, at the tick timestamp', () => {
    const buf = new PackBuffer();
    const newer = {
      ...item(insertMsg({ collectionId: 1n, ids: [2n], ts: 20n })),
      after: offsetId(40n),
    };
    buf.add(newer);
    buf.add({ ...item(insertMsg({ collectionId: 1n, ids: [1n], ts: 10n })), after: offsetId(41n) });
    const pack = buf.close(offsetId(43n), 15n);
    expect(pack.changes.map(label)).toEqual(['Insert@10:1']);
    // Resuming after offset 40 reads the pending message again; the floor (15) skips the applied one.
    expect(pack).toMatchObject({
      endMsgId: offsetId(40n),
      endTimestamp: 15n,
      checkpointable: true,
    });
  });

  it('closes up to a limit below the tick (pause point, apply bound); the rest waits', () => {
    const buf = new PackBuffer();
    buf.add({ ...item(insertMsg({ collectionId: 1n, ids: [1n], ts: 10n })), after: offsetId(50n) });
    buf.add({ ...item(insertMsg({ collectionId: 1n, ids: [2n], ts: 12n })), after: offsetId(51n) });
    const pack = buf.close(offsetId(53n), 15n, 11n);
    expect(pack.changes.map(label)).toEqual(['Insert@10:1']);
    expect(pack).toMatchObject({
      endMsgId: offsetId(51n),
      endTimestamp: 11n,
      checkpointable: true,
    });
    expect(buf.close(offsetId(54n), 16n).changes.map(label)).toEqual(['Insert@12:2']);
  });

  it('closes an empty pack at every tick', () => {
    const buf = new PackBuffer();
    const pack = buf.close(offsetId(0n), timeTickMsg(9n).base.timestamp);
    expect(pack).toMatchObject({ changes: [], endTimestamp: 9n, checkpointable: true });
  });
});
