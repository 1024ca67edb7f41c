import { describe, expect, it } from 'vitest';
import { composeTs } from '@cdc/shared';
import { readerStartOf } from './lease-start.js';

describe('readerStartOf', () => {
  it('resumes after the checkpoint message id whenever there is one', () => {
    const msgId = Buffer.from([1, 0, 0, 0, 0, 0, 0, 0]);
    const start = readerStartOf({
      kind: 'START_KIND_EARLIEST',
      position: { msg_id: msgId, timestamp: '5' },
      from_checkpoint: true,
    });
    expect(start).toEqual({ kind: 'after', msgId: new Uint8Array([1, 0, 0, 0, 0, 0, 0, 0]) });
    expect(start.kind === 'after' && Buffer.isBuffer(start.msgId)).toBe(false);
  });

  it('ignores an empty position and uses the kind', () => {
    expect(
      readerStartOf({ kind: 'START_KIND_EARLIEST', position: { msg_id: Buffer.alloc(0) } }),
    ).toEqual({
      kind: 'earliest',
    });
    expect(readerStartOf({ kind: 'START_KIND_EARLIEST', position: null })).toEqual({
      kind: 'earliest',
    });
  });

  it('turns a hybrid timestamp into physical milliseconds', () => {
    const ts = composeTs(1_700_000_000_123n, 42);
    expect(readerStartOf({ kind: 'START_KIND_TIMESTAMP', timestamp: ts.toString() })).toEqual({
      kind: 'timestamp',
      unixMs: 1_700_000_000_123,
    });
    expect(readerStartOf({ kind: 'START_KIND_TIMESTAMP' })).toEqual({
      kind: 'timestamp',
      unixMs: 0,
    });
  });

  it('starts at the latest record for LATEST, an unknown kind or none', () => {
    expect(readerStartOf({ kind: 'START_KIND_LATEST' })).toEqual({ kind: 'latest' });
    expect(readerStartOf({ kind: 'START_KIND_UNSPECIFIED' })).toEqual({ kind: 'latest' });
    expect(readerStartOf({})).toEqual({ kind: 'latest' });
  });
});
