import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { CdcError } from '../errors.js';
import { MsgType } from './messages.js';
import { decodeMsgBase, readMsgType } from './msg-type.js';
import { P, encodeProto } from './proto-root.js';

const fixtures = fileURLToPath(new URL('../../../../test/fixtures/', import.meta.url));
/** What Milvus 2.3 (captured) and 2.5.5 (msgstream25) wrote to Kafka. */
const recorded = ['captured/kafka-records.json', 'msgstream25/records.json'].flatMap((f) =>
  (JSON.parse(readFileSync(`${fixtures}${f}`, 'utf8')) as { value: string }[]).map((r) =>
    Buffer.from(r.value, 'base64'),
  ),
);

describe('readMsgType: MsgBase.msg_type off the wire', () => {
  it('agrees with a full decode of the header on every record Milvus wrote', () => {
    expect(recorded.length).toBeGreaterThan(400);
    const types = new Set<number>();
    for (const value of recorded) {
      const expected = decodeMsgBase(value).msgType;
      expect(readMsgType(value)).toBe(expected);
      types.add(expected);
    }
    // Inserts, deletes, time ticks and DDL all in there.
    expect(types.has(MsgType.Insert) && types.has(MsgType.TimeTick)).toBe(true);
    expect(types.size).toBeGreaterThan(5);
  });

  it('reads a header whose base comes after other fields; a later base replaces an earlier one', () => {
    const tick = encodeProto(P.TimeTickMsg, {
      base: { msgType: MsgType.TimeTick, timestamp: '5' },
    });
    expect(readMsgType(tick)).toBe(MsgType.TimeTick);
    // Field 2 (a string) first, then base twice: protobuf merges, the last msg_type wins.
    const parts = [
      [0x12, 0x01, 0x41],
      [0x0a, 0x02, 0x08, 0x01],
      [0x0a, 0x03, 0x08, 0x90, 0x03],
    ].flat();
    expect(readMsgType(Uint8Array.from(parts))).toBe(400);
    expect(decodeMsgBase(Uint8Array.from(parts)).msgType).toBe(400);
    // A later base without msg_type replaces the earlier one, as in the decoder (protobufjs does not merge).
    const replaced = [
      [0x0a, 0x03, 0x08, 0x90, 0x03],
      [0x0a, 0x02, 0x10, 0x07],
    ].flat();
    expect(readMsgType(Uint8Array.from(replaced))).toBe(0);
    expect(decodeMsgBase(Uint8Array.from(replaced)).msgType).toBe(0);
  });

  it('is 0 without a base, like a decode', () => {
    expect(readMsgType(new Uint8Array(0))).toBe(0);
    expect(readMsgType(Uint8Array.from([0x12, 0x01, 0x41]))).toBe(0);
  });

  it('refuses bytes that are not protobuf with DECODE_FAILED', () => {
    for (const bad of [
      [0x0a, 0x05, 0x08],
      [0x0a, 0x01, 0x12],
      [0x08, 0x01],
      [0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
    ]) {
      let caught: unknown;
      try {
        readMsgType(Uint8Array.from(bad));
      } catch (err) {
        caught = err;
      }
      expect(caught).toBeInstanceOf(CdcError);
      expect((caught as CdcError).code).toBe('DECODE_FAILED');
    }
  });
});
