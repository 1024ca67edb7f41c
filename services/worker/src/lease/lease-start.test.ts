import { describe, expect, it } from 'vitest';
import { composeTs } from '@cdc/shared';
import { leaseStartWire as start, positionWire } from '../testing/wire.js';
import { readerStartOf } from './lease-start.js';

describe('readerStartOf', () => {
  it('resumes after the checkpoint message id whenever there is one', () => {
    const msgId = Buffer.from([1, 0, 0, 0, 0, 0, 0, 0]);
    const reader = readerStartOf(
      start({
        kind: 'START_KIND_EARLIEST',
        position: positionWire({ msg_id: msgId, timestamp: '5' }),
        from_checkpoint: true,
      }),
    );
    expect(reader).toEqual({ kind: 'after', msgId: new Uint8Array([1, 0, 0, 0, 0, 0, 0, 0]) });
    expect(reader.kind === 'after' && Buffer.isBuffer(reader.msgId)).toBe(false);
  });

  it('ignores an empty position and uses the kind', () => {
    expect(readerStartOf(start({ kind: 'START_KIND_EARLIEST', position: positionWire() }))).toEqual(
      {
        kind: 'earliest',
      },
    );
    expect(readerStartOf(start({ kind: 'START_KIND_EARLIEST', position: null }))).toEqual({
      kind: 'earliest',
    });
  });

  it('turns a hybrid timestamp into physical milliseconds', () => {
    const ts = composeTs(1_700_000_000_123n, 42);
    expect(
      readerStartOf(start({ kind: 'START_KIND_TIMESTAMP', timestamp: ts.toString() })),
    ).toEqual({
      kind: 'timestamp',
      unixMs: 1_700_000_000_123,
    });
    expect(readerStartOf(start({ kind: 'START_KIND_TIMESTAMP' }))).toEqual({
      kind: 'timestamp',
      unixMs: 0,
    });
  });

  it('starts at the latest record for LATEST, an unknown kind or none', () => {
    expect(readerStartOf(start({ kind: 'START_KIND_LATEST' }))).toEqual({ kind: 'latest' });
    expect(readerStartOf(start({ kind: 'START_KIND_UNSPECIFIED' }))).toEqual({ kind: 'latest' });
    expect(readerStartOf(start())).toEqual({ kind: 'latest' });
  });
});
