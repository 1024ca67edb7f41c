/**
 * End to end on the real stack: a task created through gRPC replicates a pymilvus workload (every field type,
 * inserts, upserts, deletes by int and string key, partitions, indexes, load/release, flush, a dropped partition, a
 * dropped-and-recreated collection, a second database) from the source Milvus to the target Milvus. The target must
 * end with exactly the source's rows (by primary key and full content) and the same DDL; then a worker is SIGKILLed
 * under load and another takes over with zero missing and zero duplicate rows.
 *
 * It runs three times: in API mode against the ordinary target, in replicate mode (raw messages through
 * ReplicateMessage, source ids and timestamps kept, time ticks from the CDC) against the target started with
 * common.ttMsgEnabled=false, and in API mode from the source Milvus that runs on Pulsar instead of Kafka.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isConverged } from '../helpers/milvus-compare.js';
import { E2eHarness, type SourceMq, type TargetMode } from './harness.js';

const CONVERGE_MS = 180_000;

const RUNS: [TargetMode, SourceMq][] = [
  ['TARGET_MODE_API', 'kafka'],
  ['TARGET_MODE_REPLICATE', 'kafka'],
  ['TARGET_MODE_API', 'pulsar'],
];

describe.each(RUNS)('replication end to end (%s, source on %s)', (mode, mq) => {
  const h = new E2eHarness(mode, mq);

  beforeAll(async () => {
    await h.startControl();
    await h.startWorker('worker-a');
    await h.createTask();
  });

  afterAll(async () => {
    await h.cleanup();
  });

  it('converges the target to exactly the source after DDL and DML of every kind', async () => {
    await h.runWorkload('base');
    const diffs = await h.waitForConvergence(CONVERGE_MS);
    for (const d of diffs) {
      expect({
        ref: d.ref,
        schema: d.schemaDiff,
        missing: d.missingOnTarget.slice(0, 5),
        extra: d.extraOnTarget.slice(0, 5),
        changed: d.changed.slice(0, 5),
      }).toEqual({ ref: d.ref, schema: [], missing: [], extra: [], changed: [] });
    }
    expect(diffs).toHaveLength(h.expectedCollections().length);
    expect(diffs.every(isConverged)).toBe(true);
    expect(diffs.reduce((n, d) => n + d.sourceRows, 0)).toBeGreaterThan(300);
    // The dropped partition and the first incarnation of the recreated collection must be gone on the target.
    const parts = await h.target.showPartitions({
      db_name: 'default',
      collection_name: `${h.prefix}_droppart`,
    });
    expect([...parts.partition_names].sort()).toEqual(['_default', 'kept']);
    const recreated = await h.target.describeCollection({
      db_name: 'default',
      collection_name: `${h.prefix}_recreate`,
    });
    expect(recreated.schema.fields.map((f) => f.name)).toContain('label');
  }, 400_000);

  it('loses and duplicates nothing when a worker is SIGKILLed mid-stream and another takes over', async () => {
    const [first] = h.workers;
    const second = await h.startWorker('worker-b');
    expect(second).toBeDefined();
    const load = h.runWorkload('more');
    await new Promise((r) => setTimeout(r, 3_000));
    await first!.kill();
    await load;
    const diffs = await h.waitForConvergence(CONVERGE_MS);
    for (const d of diffs) {
      expect({
        ref: d.ref,
        missing: d.missingOnTarget.length,
        extra: d.extraOnTarget.length,
        changed: d.changed.length,
        schema: d.schemaDiff,
      }).toEqual({ ref: d.ref, missing: 0, extra: 0, changed: 0, schema: [] });
    }
    for (const c of await h.duplicateCounts())
      expect(c.target, `${c.ref.db}.${c.ref.collection}`).toBe(c.source);
  }, 400_000);

  it('drains on SIGTERM: the worker exits in its grace period and another resumes without loss', async () => {
    const draining = h.workers.at(-1)!;
    await h.startWorker('worker-c');
    const load = h.runWorkload('more2');
    await new Promise((r) => setTimeout(r, 3_000));
    const stoppedAt = Date.now();
    await draining.stop(30_000);
    expect(draining.child.exitCode, `see ${draining.logFile}`).toBe(0);
    expect(Date.now() - stoppedAt).toBeLessThan(25_000);
    await load;
    const diffs = await h.waitForConvergence(CONVERGE_MS);
    for (const d of diffs) {
      expect({
        ref: d.ref,
        missing: d.missingOnTarget.length,
        extra: d.extraOnTarget.length,
        changed: d.changed.length,
      }).toEqual({ ref: d.ref, missing: 0, extra: 0, changed: 0 });
    }
    for (const c of await h.duplicateCounts())
      expect(c.target, `${c.ref.db}.${c.ref.collection}`).toBe(c.source);
  }, 400_000);
});
