/**
 * End-to-end lag under a steady load: small batches written to the source at a fixed rate, each batch's ids looked up
 * on the target with Strong-consistency queries. A batch's lag is (issue time of the first query by which every row
 * of it had been seen) − (time the source acknowledged the insert): a Strong query issued at t sees every write the
 * target acknowledged before t, so this bounds the true lag from above by at most one poll interval. A batch's rows
 * spread over every shard, so this is the lag of the slowest channel, like the task lag GetTaskPositions reports.
 * The same lag counted from the insert's own timestamp (the source's stamp, the time guarantee 7's reported lag counts
 * from) is kept beside it: the two differ by how long the source took from stamping a batch to acknowledging it.
 */
import { ConsistencyLevelEnum } from '@zilliz/milvus2-sdk-node';
import type { MilvusClient } from '@zilliz/milvus2-sdk-node';
import { tsToUnixMs } from '@cdc/shared';
import { makeRows } from './data.js';

export interface LagResult {
  readonly batches: number;
  readonly rows: number;
  readonly achievedRowsPerSec: number;
  /** Per batch, ms; missing batches (never seen before the deadline) are not included. */
  readonly lagsMs: number[];
  /** Per batch, ms: the same, counted from the source's timestamp of the insert instead of its acknowledgement. */
  readonly lagsFromStampMs: number[];
  /** Each seen batch: when the source acknowledged it (epoch ms) and its lag. */
  readonly batchLags: { readonly ackedMs: number; readonly lagMs: number }[];
  /** Lag of the last batch written: how long after the source's last write every row was visible. */
  readonly lastBatchLagMs: number | undefined;
  readonly missing: number;
}

export interface LagLoad {
  readonly source: MilvusClient;
  readonly target: MilvusClient;
  readonly sourceDb: string;
  readonly targetDb: string;
  readonly collection: string;
  readonly rowsPerSec: number;
  readonly seconds: number;
  readonly dim: number;
  /** First id to write (ids continue from here). */
  readonly firstId: number;
  readonly batchesPerSec?: number;
  readonly drainMs?: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function runLagLoad(o: LagLoad): Promise<LagResult> {
  const perSec = o.batchesPerSec ?? 10;
  const batch = Math.max(1, Math.round(o.rowsPerSec / perSec));
  const total = Math.max(1, Math.floor((o.rowsPerSec * o.seconds) / batch));
  const pending = new Map<number, number>(); // id → its batch's first id
  // first id → ack time, the source's stamp (epoch ms), rows not yet seen
  const batches = new Map<number, { acked: number; stamped: number; left: number }>();
  const lags: number[] = [];
  const lagsFromStamp: number[] = [];
  const batchLags: { ackedMs: number; lagMs: number }[] = [];
  let lastFirstId = -1;
  let writing = true;
  let lastBatchLagMs: number | undefined;
  let inFlight = 0;

  const poll = async (): Promise<void> => {
    const ids = [...pending.keys()];
    if (ids.length === 0) return;
    const issued = Date.now();
    const res = await o.target.query({
      db_name: o.targetDb,
      collection_name: o.collection,
      filter: `id in [${ids.join(',')}]`,
      output_fields: ['id'],
      consistency_level: ConsistencyLevelEnum.Strong,
    });
    if (res.status.error_code !== 'Success') return;
    for (const row of res.data) {
      const id = Number(row['id']);
      const first = pending.get(id);
      if (first === undefined) continue;
      pending.delete(id);
      const b = batches.get(first);
      if (b === undefined || --b.left > 0) continue;
      batches.delete(first);
      const lag = Math.max(0, issued - b.acked);
      lags.push(lag);
      lagsFromStamp.push(Math.max(0, issued - b.stamped));
      batchLags.push({ ackedMs: b.acked, lagMs: lag });
      if (first === lastFirstId) lastBatchLagMs = lag;
    }
  };
  const poller = (async () => {
    const drainUntil = () => (writing ? Infinity : drainDeadline);
    let drainDeadline = Infinity;
    while (writing || (pending.size > 0 && Date.now() < drainUntil())) {
      if (!writing && drainDeadline === Infinity)
        drainDeadline = Date.now() + (o.drainMs ?? 60_000);
      if (inFlight < 4 && pending.size > 0) {
        inFlight++;
        void poll()
          .catch(() => undefined)
          .finally(() => inFlight--);
      }
      await sleep(50);
    }
    while (inFlight > 0) await sleep(20);
  })();

  const started = Date.now();
  let written = 0;
  try {
    for (let k = 0; k < total; k++) {
      const due = started + (k * batch * 1000) / o.rowsPerSec;
      const wait = due - Date.now();
      if (wait > 0) await sleep(wait);
      const from = o.firstId + k * batch;
      const res = await o.source.insert({
        db_name: o.sourceDb,
        collection_name: o.collection,
        data: makeRows(from, batch, o.dim, Date.now()),
      });
      if (res.status.error_code !== 'Success') throw new Error(`lag insert: ${res.status.reason}`);
      const acked = Date.now();
      // Same host, same clock: the stamp's physical part is the source's wall clock in ms.
      const stamped = res.timestamp ? tsToUnixMs(BigInt(res.timestamp)) : acked;
      for (let id = from; id < from + batch; id++) pending.set(id, from);
      batches.set(from, { acked, stamped, left: batch });
      lastFirstId = from;
      written += batch;
    }
  } finally {
    writing = false;
  }
  const elapsed = (Date.now() - started) / 1000;
  await poller;
  return {
    batches: total,
    rows: written,
    achievedRowsPerSec: written / elapsed,
    lagsMs: lags,
    lagsFromStampMs: lagsFromStamp,
    batchLags,
    lastBatchLagMs,
    missing: batches.size,
  };
}
