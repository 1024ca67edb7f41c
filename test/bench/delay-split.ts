/**
 * The lag split from the workers' `cdc_worker_source_delay_seconds` histograms: how late time ticks were read and how
 * long after its source write a change was acknowledged by the target, over a window (the difference of two scrapes).
 * What end-to-end lag has beyond `applied` is the target making the rows visible to a Strong query (its own time tick)
 * and the benchmark's polling.
 */
export type Buckets = Map<string, Map<number, number>>;

const LINE = /^cdc_worker_source_delay_seconds_bucket\{([^}]*)\}\s+([0-9.eE+-]+)/;

/** stage → (upper bound in s → cumulative count), summed over every scrape text given (one per worker). */
export function parseDelayBuckets(texts: readonly string[]): Buckets {
  const out: Buckets = new Map();
  for (const text of texts) {
    for (const line of text.split('\n')) {
      const m = LINE.exec(line);
      if (m === null) continue;
      const labels = m[1] ?? '';
      const stage = /stage="([^"]+)"/.exec(labels)?.[1];
      const le = /le="([^"]+)"/.exec(labels)?.[1];
      if (stage === undefined || le === undefined) continue;
      const bound = le === '+Inf' ? Infinity : Number(le);
      const byBound = out.get(stage) ?? new Map<number, number>();
      byBound.set(bound, (byBound.get(bound) ?? 0) + Number(m[2]));
      out.set(stage, byBound);
    }
  }
  return out;
}

/** Counts observed between two scrapes. */
export function bucketDelta(after: Buckets, before: Buckets): Buckets {
  const out: Buckets = new Map();
  for (const [stage, byBound] of after) {
    const prev = before.get(stage);
    out.set(stage, new Map([...byBound].map(([b, n]) => [b, n - (prev?.get(b) ?? 0)])));
  }
  return out;
}

/** The q-quantile (0..1) in ms, interpolated inside its bucket; undefined without observations. */
export function quantileMs(
  byBound: ReadonlyMap<number, number> | undefined,
  q: number,
): number | undefined {
  if (byBound === undefined) return undefined;
  const bounds = [...byBound.keys()].sort((a, b) => a - b);
  const total = byBound.get(Infinity) ?? 0;
  if (total <= 0) return undefined;
  const rank = q * total;
  let lower = 0;
  let below = 0;
  for (const b of bounds) {
    const n = byBound.get(b) ?? 0;
    if (n >= rank) {
      if (b === Infinity) return lower * 1000;
      const share = n === below ? 0 : (rank - below) / (n - below);
      return (lower + (b - lower) * share) * 1000;
    }
    lower = b;
    below = n;
  }
  return lower * 1000;
}

/** "tick read p50 a / p99 b ms; applied p50 c / p99 d ms (n packs)". */
export function splitText(delta: Buckets): string {
  const f = (stage: string, q: number) => quantileMs(delta.get(stage), q)?.toFixed(0) ?? '?';
  const packs = delta.get('applied')?.get(Infinity) ?? 0;
  return `lag split (worker histograms): time ticks read p50 ${f('tick_read', 0.5)} / p99 ${f('tick_read', 0.99)} ms after the source stamped them (p50 ${f('tick_read_since_broker', 0.5)} / p99 ${f('tick_read_since_broker', 0.99)} ms after the broker took them); changes acknowledged by the target p50 ${f('applied', 0.5)} / p99 ${f('applied', 0.99)} ms after the source wrote them (${packs} packs); the rest of the end-to-end lag is the target making rows visible to a Strong query, and the polling`;
}

/** The largest `nodejs_eventloop_lag_max_seconds` of the scrapes (prom-client's default metrics), in ms. */
export function eventLoopStallMs(texts: readonly string[]): number {
  let max = 0;
  for (const text of texts) {
    const m = /^nodejs_eventloop_lag_max_seconds\s+([0-9.eE+-]+)/m.exec(text);
    if (m?.[1] !== undefined) max = Math.max(max, Number(m[1]) * 1000);
  }
  return max;
}
