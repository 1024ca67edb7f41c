import { describe, expect, it } from 'vitest';
import { emptyChannelRecord, type ChannelRecord } from '../domain/model.js';
import { IDLE_CHANNEL_MS, replicateWatermark } from './replicate-watermark.js';

const NOW = 1_000_000;

function channel(position: bigint | undefined, over: Partial<ChannelRecord> = {}): ChannelRecord {
  return {
    ...emptyChannelRecord(),
    ...(position === undefined
      ? {}
      : { position: { msg_id: '', timestamp: position.toString(), batch_index: 0 } }),
    sourceHeadTimestamp: (position ?? 0n).toString(),
    headAdvancedMs: NOW - 100,
    updateTimeMs: NOW - 100,
    caughtUp: true,
    ...over,
  };
}

describe('replicateWatermark', () => {
  it('is the lowest checkpoint of the channels', () => {
    expect(replicateWatermark([channel(500n), channel(300n), channel(900n)], NOW)).toBe(300n);
  });

  it('leaves out channels with no checkpoint and unknown channels; 0n when none is left', () => {
    expect(replicateWatermark([channel(undefined), undefined, channel(700n)], NOW)).toBe(700n);
    expect(replicateWatermark([channel(undefined), undefined], NOW)).toBe(0n);
  });

  it('holds every tick back while a channel has read but not checkpointed its first pack', () => {
    const applyingFirstPack = channel(undefined, { sourceHeadTimestamp: '450' });
    expect(replicateWatermark([applyingFirstPack, channel(700n)], NOW)).toBe(0n);
    const released = channel(undefined, { sourceHeadTimestamp: '450', released: true });
    expect(replicateWatermark([released, channel(700n)], NOW)).toBe(700n);
  });

  it('leaves out a live channel the source stopped ticking', () => {
    const idle = channel(100n, { headAdvancedMs: NOW - 100 - IDLE_CHANNEL_MS - 1 });
    expect(replicateWatermark([idle, channel(800n)], NOW)).toBe(800n);
  });

  it('keeps a still channel until its holder reported it caught up and saw the head still', () => {
    const stillButBehind = channel(100n, {
      headAdvancedMs: NOW - 100 - IDLE_CHANNEL_MS - 1,
      caughtUp: false,
    });
    expect(replicateWatermark([stillButBehind, channel(800n)], NOW)).toBe(100n);
    // Still only since its last report: the holder died (or was just granted) and nobody reads the channel.
    const unread = channel(100n, { headAdvancedMs: NOW - 3_500, updateTimeMs: NOW - 3_500 });
    expect(replicateWatermark([unread, channel(800n)], NOW)).toBe(100n);
  });

  it('keeps a quiet channel that is behind its head, or whose worker stopped reporting', () => {
    const behind = channel(100n, {
      sourceHeadTimestamp: '150',
      headAdvancedMs: NOW - IDLE_CHANNEL_MS - 1,
    });
    const silent = channel(200n, {
      headAdvancedMs: NOW - 60_000 - IDLE_CHANNEL_MS - 1,
      updateTimeMs: NOW - 60_000,
    });
    expect(replicateWatermark([behind, channel(800n)], NOW)).toBe(100n);
    expect(replicateWatermark([silent, channel(800n)], NOW)).toBe(200n);
  });
});
