import { describe, expect, it } from 'vitest';
import { CdcError } from '../errors.js';
import {
  decodeKafkaMessageId,
  decodeMsgPosition,
  decodePulsarMessageId,
  encodeKafkaMessageId,
  encodeMsgPosition,
  encodePulsarMessageId,
  msgPositionFromBase64,
  msgPositionToBase64,
} from './positions.js';
import { composeTs, dateToTs, decodeTsoValue, encodeTsoValue, parseTs, tsToDate } from './tso.js';

describe('kafka message ids', () => {
  it('are 8-byte little-endian offsets', () => {
    expect(Buffer.from(encodeKafkaMessageId(42n)).toString('hex')).toBe('2a00000000000000');
    expect(decodeKafkaMessageId(Buffer.from('2a00000000000000', 'hex'))).toBe(42n);
    expect(decodeKafkaMessageId(encodeKafkaMessageId(-1n))).toBe(-1n);
    expect(() => decodeKafkaMessageId(new Uint8Array(7))).toThrow(CdcError);
  });
});

describe('pulsar message ids', () => {
  it('match the Go client bytes for ledger 10 entry 5', () => {
    const id = {
      ledgerId: 10n,
      entryId: 5n,
      partition: 0,
      batchIndex: 0,
      ackSet: [],
      batchSize: 1,
    };
    const b = encodePulsarMessageId(id);
    expect(Buffer.from(b).toString('hex')).toBe('080a1005180020003001');
    expect(decodePulsarMessageId(b)).toEqual(id);
  });
  it('defaults absent partition/batch to -1 and keeps uint64 ledgers exact', () => {
    const b = Buffer.from('08ffffffffffffffffff011005', 'hex');
    expect(decodePulsarMessageId(b)).toEqual({
      ledgerId: 18446744073709551615n,
      entryId: 5n,
      partition: -1,
      batchIndex: -1,
      ackSet: [],
    });
    const earliest = {
      ledgerId: 18446744073709551615n,
      entryId: 18446744073709551615n,
      partition: -1,
      batchIndex: -1,
      ackSet: [],
    };
    expect(decodePulsarMessageId(encodePulsarMessageId(earliest))).toEqual(earliest);
  });
  it('rejects missing required fields', () => {
    expect(() => decodePulsarMessageId(Buffer.from('1005', 'hex'))).toThrow(CdcError);
  });
});

describe('MsgPosition', () => {
  const pos = {
    channelName: 'by-dev-rootcoord-dml_0_449000000000000200v0',
    msgId: encodeKafkaMessageId(7n),
    msgGroup: 'sub',
    timestamp: 449123456789012345n,
    walName: 0,
  };
  it('round-trips through bytes and base64', () => {
    expect(decodeMsgPosition(encodeMsgPosition(pos))).toEqual(pos);
    const s = msgPositionToBase64(pos);
    expect(s).toMatch(/^[A-Za-z0-9+/]+=*$/);
    expect(msgPositionFromBase64(s)).toEqual(pos);
  });
  it('decodes a position string built by hand like Go does', () => {
    // channel "c", msgID LE64(1), timestamp 1
    const hex = '0a0163' + '12080100000000000000' + '2001';
    const s = Buffer.from(hex, 'hex').toString('base64');
    expect(msgPositionFromBase64(s)).toEqual({
      channelName: 'c',
      msgId: new Uint8Array(Buffer.from('0100000000000000', 'hex')),
      msgGroup: '',
      timestamp: 1n,
      walName: 0,
    });
    expect(() => msgPositionFromBase64('not base64!')).toThrow(CdcError);
  });
});

describe('tso', () => {
  it('composes and splits hybrid timestamps', () => {
    const ts = composeTs(1_700_000_000_123n, 5);
    expect(parseTs(ts)).toEqual({ physicalMs: 1_700_000_000_123n, logical: 5 });
    expect(tsToDate(ts).toISOString()).toBe('2023-11-14T22:13:20.123Z');
    expect(dateToTs(new Date(1_700_000_000_123))).toBe(1_700_000_000_123n << 18n);
    expect(() => composeTs(1, 1 << 18)).toThrow(CdcError);
  });
  it('reads the big-endian UnixNano etcd value', () => {
    const v = encodeTsoValue(1_700_000_000_123_456_789n);
    expect(v.length).toBe(8);
    expect(decodeTsoValue(v)).toEqual({
      unixNanos: 1_700_000_000_123_456_789n,
      hybridTs: 1_700_000_000_123n << 18n,
    });
    expect(() => decodeTsoValue(new Uint8Array(3))).toThrow(CdcError);
  });
});
