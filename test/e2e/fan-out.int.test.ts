/**
 * Fan-out end to end: one task with two targets — the ordinary target in API mode and the replica in replicate mode —
 * replicates the pymilvus workload. Both must end with exactly the source's rows (by primary key and content, no
 * duplicates by count(*)), and the source channels must be read once: the worker's records-read count stays at the
 * number of records the source wrote, not twice that.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectKafka, topicHighWatermarks } from '../helpers/kafka.js';
import { isConverged, milvusClient } from '../helpers/milvus-compare.js';
import { E2eHarness, env } from './harness.js';

const CONVERGE_MS = 180_000;

async function sourceRecords(): Promise<Map<string, bigint>> {
  return topicHighWatermarks(connectKafka(env.kafkaBrokers), `${env.sourceChannelPrefix}-`);
}

describe('fan-out end to end', () => {
  const h = new E2eHarness('TARGET_MODE_API');
  const replica = milvusClient(env.replicaMilvusAddress);
  h.otherTargets.push(replica);
  let before = new Map<string, bigint>();

  beforeAll(async () => {
    await h.startControl();
    await h.startWorker('worker-a');
    before = await sourceRecords();
    await h.createTask(undefined, [
      { uri: env.replicaMilvusAddress, mode: 'TARGET_MODE_REPLICATE' },
    ]);
  });

  afterAll(async () => {
    await h.cleanup();
  });

  it('replicates into both targets from one read of each channel', async () => {
    await h.runWorkload('base');
    for (const [name, target] of [
      ['api target', h.target],
      ['replica (replicate mode)', replica],
    ] as const) {
      const diffs = await h.waitForConvergence(CONVERGE_MS, target);
      for (const d of diffs) {
        expect({
          target: name,
          ref: d.ref,
          schema: d.schemaDiff,
          missing: d.missingOnTarget.slice(0, 5),
          extra: d.extraOnTarget.slice(0, 5),
          changed: d.changed.slice(0, 5),
        }).toEqual({ target: name, ref: d.ref, schema: [], missing: [], extra: [], changed: [] });
      }
      expect(diffs.every(isConverged)).toBe(true);
      for (const c of await h.duplicateCounts(target))
        expect(c.target, `${name} ${c.ref.db}.${c.ref.collection}`).toBe(c.source);
    }

    const after = await sourceRecords();
    let written = 0n;
    for (const [topic, high] of after) written += high - (before.get(topic) ?? 0n);
    await new Promise((r) => setTimeout(r, 3_000)); // let the worker read up to `after`
    const read = await h.recordsRead('worker-a');
    console.log(`source records written: ${written}, read by the worker: ${read}`);
    // Reading each channel once per target would read about twice what was written.
    expect(read).toBeGreaterThan(Number(written) * 0.8);
    expect(read).toBeLessThan(Number(written) * 1.3);
  }, 420_000);
});
