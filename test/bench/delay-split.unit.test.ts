import { describe, expect, it } from 'vitest';
import { bucketDelta, parseDelayBuckets, quantileMs } from './delay-split.js';

const scrape = (stage: string, counts: Record<string, number>) =>
  Object.entries(counts)
    .map(([le, n]) => `cdc_worker_source_delay_seconds_bucket{le="${le}",stage="${stage}"} ${n}`)
    .join('\n');

describe('lag split from worker histograms', () => {
  it('sums workers, subtracts the earlier scrape and interpolates quantiles inside a bucket', () => {
    const before = parseDelayBuckets([scrape('applied', { '0.1': 10, '0.5': 10, '+Inf': 10 })]);
    const after = parseDelayBuckets([
      scrape('applied', { '0.1': 10, '0.5': 60, '+Inf': 110 }),
      scrape('applied', { '0.1': 0, '0.5': 50, '+Inf': 50 }),
    ]);
    const delta = bucketDelta(after, before).get('applied');
    // 0 below 100 ms, 100 in (100, 500] ms, 50 above.
    expect(quantileMs(delta, 0.5)).toBeCloseTo(100 + 400 * 0.75, 5);
    expect(quantileMs(delta, 0.99)).toBe(500);
    expect(quantileMs(undefined, 0.5)).toBeUndefined();
  });
});
