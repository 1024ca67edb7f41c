import { describe, expect, it } from 'vitest';
import { CdcError, decodeKafkaMessageId, encodeKafkaMessageId } from '@cdc/shared';
import { resolveStartOffset } from './kafka-position.js';

const marks = { low: 10n, high: 20n };

describe('kafka positions', () => {
  it('encodes offsets as 8-byte little-endian int64 (reference §3.4)', () => {
    expect(Buffer.from(encodeKafkaMessageId(42n)).toString('hex')).toBe('2a00000000000000');
    expect(decodeKafkaMessageId(encodeKafkaMessageId(2n ** 40n + 7n))).toBe(2n ** 40n + 7n);
    expect(decodeKafkaMessageId(encodeKafkaMessageId(-1n))).toBe(-1n);
  });

  it('rejects ids that are not 8 bytes', () => {
    expect(() => decodeKafkaMessageId(new Uint8Array(7))).toThrow(CdcError);
    // A position a person must reset (the task pauses), not a decode failure to retry.
    expect(() =>
      resolveStartOffset('ch', { kind: 'after', msgId: new Uint8Array(7) }, marks),
    ).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
  });

  it('resolves earliest, latest and timestamp starts from the watermarks', () => {
    expect(resolveStartOffset('ch', { kind: 'earliest' }, marks)).toBe(10n);
    expect(resolveStartOffset('ch', { kind: 'latest' }, marks)).toBe(20n);
    expect(resolveStartOffset('ch', { kind: 'timestamp', unixMs: 1 }, marks, 15n)).toBe(15n);
    expect(resolveStartOffset('ch', { kind: 'timestamp', unixMs: 1 }, marks)).toBe(20n);
  });

  it('resumes after a message id at offset + 1, up to the high watermark', () => {
    expect(
      resolveStartOffset('ch', { kind: 'after', msgId: encodeKafkaMessageId(9n) }, marks),
    ).toBe(10n);
    expect(
      resolveStartOffset('ch', { kind: 'after', msgId: encodeKafkaMessageId(19n) }, marks),
    ).toBe(20n);
  });

  it('fails, never skips, when the next offset was deleted or lies beyond the topic end', () => {
    for (const offset of [8n, 20n]) {
      const start = { kind: 'after', msgId: encodeKafkaMessageId(offset) } as const;
      expect(() => resolveStartOffset('ch', start, marks)).toThrow(
        expect.objectContaining({ code: 'FAILED_PRECONDITION', retryable: false }),
      );
    }
  });
});
