/**
 * Idle leases report on a slow rhythm (CONTROL_IDLE_REPORT_INTERVAL_MS), so their write validity runs out between
 * reports. What must hold on the real stack:
 * - an idle task costs far fewer reports, and its next write still reaches the target (after a confirmation);
 * - a worker cut off from the control service while its leases idle writes nothing it cannot have confirmed: its
 *   leases end once they have something to write (or their next report fails), and another worker applies the writes.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { E2eHarness, env } from './harness.js';
import { compareCollection, countRows, isConverged } from '../helpers/milvus-compare.js';
import { freePort, waitUntil } from '../helpers/processes.js';
import { kafkaSourceSpec } from '../helpers/stack.js';
import { TcpProxy } from '../helpers/tcp-proxy.js';
import { createTaggedCollection, milvusOk, taggedRows } from './tagged-collection.js';

const IDLE_REPORT_MS = 4_000;
const DIM = 8;

describe('idle leases', () => {
  const h = new E2eHarness();
  const ref = { db: `${h.prefix}_db`, collection: 'idle' };
  const base = { db_name: ref.db, collection_name: ref.collection };
  const taskId = `idle-${h.id}`;
  let controlProxy: TcpProxy | undefined;
  let metricsPort = 0;

  beforeAll(async () => {
    metricsPort = await freePort();
    await h.startControl({
      CONTROL_IDLE_REPORT_INTERVAL_MS: String(IDLE_REPORT_MS),
      CONTROL_METRICS_PORT: String(metricsPort),
    });
    controlProxy = await TcpProxy.forAddress(h.controlAddress).start();
    await h.startWorker('worker-a', { WORKER_CONTROL_ADDRESS: controlProxy.address });
    await h.client!.call('CreateTask', {
      task_id: taskId,
      spec: {
        source: kafkaSourceSpec(env),
        target: { uri: h.targetAddress, mode: 'TARGET_MODE_API' },
        scope: { include: [{ database: ref.db, collection: '*' }], exclude: [] },
        start: { kind: 'START_KIND_LATEST' },
      },
    });
    await createTaggedCollection(h.source, ref, DIM);
    await milvusOk('insert', h.source.insert({ ...base, data: taggedRows(0, 100, 'v1', DIM) }));
    await converge('the first rows', 120_000);
  }, 300_000);

  afterAll(async () => {
    await controlProxy?.stop();
    await h.cleanup();
  });

  async function converge(what: string, timeoutMs: number): Promise<void> {
    let last = '';
    await waitUntil(
      `${what} on the target (${last})`,
      async () => {
        const d = await compareCollection(h.source, h.target, ref);
        last = `missing ${String(d.missingOnTarget.length)} extra ${String(d.extraOnTarget.length)} changed ${String(d.changed.length)}`;
        return (
          isConverged(d) && (await countRows(h.target, ref)) === (await countRows(h.source, ref))
        );
      },
      timeoutMs,
      1_000,
    );
  }

  /** Reports the control service accepted for the task so far (its metrics). */
  async function reportsAccepted(): Promise<number> {
    const text = await (await fetch(`http://127.0.0.1:${String(metricsPort)}/metrics`)).text();
    const line = text
      .split('\n')
      .find((l) => l.startsWith(`cdc_control_checkpoint_reports_total{task="${taskId}"}`));
    return line === undefined ? 0 : Number(line.split(' ').at(-1));
  }

  it('report on the idle rhythm, and the next write still reaches the target', async () => {
    const positions = await h.client!.call<{ channels: unknown[] }>('GetTaskPositions', {
      task_id: taskId,
    });
    const leases = positions.channels.length;
    // Long enough for every lease to go quiet and for its validity (3 s) to run out between two reports.
    const before = await reportsAccepted();
    const windowMs = 3 * IDLE_REPORT_MS;
    await new Promise((r) => setTimeout(r, windowMs));
    const reports = (await reportsAccepted()) - before;
    console.log(
      `idle leases: ${String(reports)} reports from ${String(leases)} leases in ${String(windowMs)} ms`,
    );
    // Every second per lease without idle reports; one per idle interval with them (plus the odd catch-up report).
    expect(reports).toBeLessThan((leases * windowMs) / 1_000 / 2);

    const wroteAt = Date.now();
    await milvusOk('insert', h.source.insert({ ...base, data: taggedRows(1_000, 50, 'v1', DIM) }));
    await milvusOk('delete', h.source.deleteEntities({ ...base, filter: 'id < 20' }));
    await converge('the writes after the idle time', 60_000);
    console.log(
      `idle leases: writes after the idle time converged in ${String(Date.now() - wroteAt)} ms`,
    );
  }, 120_000);

  it('a worker cut off from the control service while idle gives its channels up once it has writes', async () => {
    controlProxy!.partition();
    const cutAt = Date.now();
    await h.startWorker('worker-b');
    // Whatever validity A held at the cut has run out (3 s after its last confirmed report): A reads these writes from
    // Kafka but cannot have them confirmed, so B must take their channels over and apply them.
    await new Promise((r) => setTimeout(r, 3_500));
    await milvusOk('upsert', h.source.upsert({ ...base, data: taggedRows(20, 40, 'v2', DIM) }));
    await milvusOk('insert', h.source.insert({ ...base, data: taggedRows(2_000, 30, 'v1', DIM) }));
    await converge('the writes after the cut', 120_000);
    const res = await h.client!.call<{ channels: { channel: string; worker_id: string }[] }>(
      'GetTaskPositions',
      { task_id: taskId },
    );
    const described = await h.source.describeCollection(base);
    const written = new Set(described.physical_channel_names);
    console.log(
      `idle leases: B applied the writes after the cut ${String(Date.now() - cutAt)} ms after it`,
    );
    expect(res.channels.filter((c) => written.has(c.channel)).map((c) => c.worker_id)).toEqual(
      [...written].map(() => `worker-b-${h.id}`),
    );

    // Healed, A learns that its channels moved; the target stays equal to the source.
    controlProxy!.heal();
    await new Promise((r) => setTimeout(r, 2 * IDLE_REPORT_MS));
    const diff = await compareCollection(h.source, h.target, ref);
    expect(isConverged(diff)).toBe(true);
    expect(await countRows(h.target, ref)).toBe(await countRows(h.source, ref));
  }, 240_000);
});
