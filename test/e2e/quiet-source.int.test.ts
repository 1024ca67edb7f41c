/**
 * A change held back by the lease's apply bound must reach the target once the bound rises, even when the source
 * writes nothing more (not even a time tick): a source shut down after its last writes, or, here, the msgstream25
 * producer, which ticks only after each command.
 *
 * The bound is the control service's clock plus CONTROL_PAUSE_LEAD_MS at its last answer; the worker reaches the
 * control service through a proxy that delays every answer by more than that lead, so each tick arrives with a bound
 * behind it and its changes wait. Before the fix they waited for a tick that never came (a CI run lost the last
 * insert of a workload that way); now they are applied at the next answer.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { E2eHarness } from './harness.js';
import { allRows } from '../helpers/milvus-compare.js';
import { MsgstreamProducer } from '../helpers/msgstream-producer.js';
import { waitUntil } from '../helpers/processes.js';
import { TcpProxy } from '../helpers/tcp-proxy.js';

const PAUSE_LEAD_MS = 500;
const ANSWER_DELAY_MS = 700;

const SCHEMA = {
  fields: [
    { name: 'id', type: 'Int64', primaryKey: true },
    { name: 'vec', type: 'FloatVector', dim: 4 },
  ],
};

const rows = (from: number, n: number) =>
  Array.from({ length: n }, (_, i) => ({ id: String(from + i), vec: [from + i, 1, 2, 3] }));

describe('a quiet source', () => {
  const h = new E2eHarness('TARGET_MODE_API');
  const producer = new MsgstreamProducer('msgstream25', 1);
  const target = { db: `${h.prefix}_quiet`, collection: 'items' };
  let controlProxy: TcpProxy | undefined;

  beforeAll(async () => {
    await producer.start();
    await producer.send({ op: 'init' });
    await h.startControl({
      CONTROL_REPORT_INTERVAL_MS: String(PAUSE_LEAD_MS / 2),
      CONTROL_PAUSE_LEAD_MS: String(PAUSE_LEAD_MS),
    });
    controlProxy = await TcpProxy.forAddress(h.controlAddress).start();
    await h.startWorker('worker-a', { WORKER_CONTROL_ADDRESS: controlProxy.address });
    await h.client!.call('CreateTask', {
      task_id: `quiet-${h.id}`,
      spec: {
        source: producer.sourceSpec(),
        target: { uri: h.targetAddress, mode: 'TARGET_MODE_API' },
        scope: { include: [{ database: 'quiet', collection: 'items' }], exclude: [] },
        name_mapping: [{ source_database: 'quiet', target_database: target.db, collections: {} }],
        start: { kind: 'START_KIND_LATEST' },
      },
    });
  }, 1_500_000); // the producer's first build on a fresh machine takes minutes

  afterAll(async () => {
    await controlProxy?.stop();
    await h.cleanup();
    await producer.dispose();
  });

  async function keysOnTarget(): Promise<string[]> {
    try {
      return [...(await allRows(h.target, target)).keys()].sort();
    } catch {
      return []; // not created or not loaded yet
    }
  }

  it('gets the last changes once the apply bound passes them, with no tick after them', async () => {
    const send = (c: Record<string, unknown>) => producer.send({ db: 'quiet', ...c });
    await send({ op: 'createDatabase' });
    await send({ op: 'createCollection', collection: 'items', shards: 1, schema: SCHEMA });
    await send({ op: 'insert', collection: 'items', rows: rows(0, 5) });
    await send({
      op: 'createIndex',
      collection: 'items',
      field: 'vec',
      params: { index_type: 'FLAT', metric_type: 'L2' },
    });
    await send({ op: 'load', collection: 'items' });
    await waitUntil(
      'the first rows on the target',
      async () => (await keysOnTarget()).length === 5,
      90_000,
      1_000,
    );

    // From now on every answer comes late: each tick finds the bound behind it.
    controlProxy!.delayResponses(ANSWER_DELAY_MS);
    await new Promise((r) => setTimeout(r, 3 * ANSWER_DELAY_MS));
    await send({ op: 'insert', collection: 'items', rows: rows(100, 5) });
    // The insert and its tick are the source's last records.
    const want = [...rows(0, 5), ...rows(100, 5)].map((r) => r.id).sort();
    let have: string[] = [];
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline) {
      have = await keysOnTarget();
      if (have.length === want.length) break;
      await new Promise((r) => setTimeout(r, 1_000));
    }
    expect(have).toEqual(want);
  }, 180_000);
});
