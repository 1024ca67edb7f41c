/**
 * The lag scenario: a steady load at a fixed rate into a fresh source collection while a task replicates it, with
 * end-to-end lag measured per batch (lag.ts) beside the task lag GetTaskPositions reports, sampled every 500 ms.
 */
import type { MilvusClient } from '@zilliz/milvus2-sdk-node';
import { composeTs } from '@cdc/shared';
import type { StackEnv } from '../helpers/stack.js';
import { CdcDeployment } from './cdc-run.js';
import type { DeploymentOptions, TargetRef } from './cdc-run.js';
import { workersReady } from './catch-up.js';
import { count, createIndexedCollection, DB_PREFIX, dropDatabase } from './data.js';
import { bucketDelta, parseDelayBuckets, splitText } from './delay-split.js';
import { runLagLoad } from './lag.js';
import type { LagResult } from './lag.js';
import { percentile } from './report.js';

export interface LagRunResult {
  readonly mode: 'api' | 'replicate';
  readonly res: LagResult;
  readonly reported: number[];
  /** Channels whose reported lag was highest (p50), for the notes. */
  readonly busiest: string;
  readonly rss: number[];
  /** Control + workers CPU seconds over the load. */
  readonly cpuS: number;
  /** Where the lag goes (delay-split.ts). */
  readonly split: string;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function runLag(o: {
  readonly env: StackEnv;
  readonly source: MilvusClient;
  readonly target: MilvusClient;
  readonly targetRef: TargetRef;
  readonly sourceDb: string;
  readonly collection: string;
  readonly shape: { dim: number; shards: number };
  readonly workers: number;
  readonly rowsPerSec: number;
  readonly seconds: number;
  readonly label: string;
  readonly say: (line: string) => void;
  readonly options?: DeploymentOptions;
  readonly onDeployment?: (dep: CdcDeployment | undefined) => void;
}): Promise<LagRunResult> {
  const { source, target } = o;
  const db = `${DB_PREFIX}_${o.label}`;
  await dropDatabase(target, db);
  await source
    .dropCollection({ db_name: o.sourceDb, collection_name: o.collection })
    .catch(() => undefined);
  await createIndexedCollection(source, o.sourceDb, o.collection, o.shape);
  const d = await source.describeCollection({ db_name: o.sourceDb, collection_name: o.collection });
  const createdTs = BigInt(d.created_timestamp);
  const dep = new CdcDeployment(o.env, o.label, o.options);
  o.onDeployment?.(dep);
  const reported: number[] = [];
  /** Channel → its lag samples, to tell which channels the task lag comes from. */
  const perChannel = new Map<string, number[]>();
  let sampling = true;
  try {
    await dep.start(o.workers);
    await workersReady(dep);
    await dep.createTask(o.sourceDb, o.collection, db, createdTs - composeTs(1_000), o.targetRef);
    // The collection exists and answers on the target, and every channel is caught up.
    const deadline = Date.now() + 180_000;
    for (;;) {
      dep.checkWorkers();
      const ready = (await count(target, db, o.collection).catch(() => -1)) >= 0;
      const channels = await dep.positions().catch(() => []);
      if (ready && channels.length > 0 && channels.every((c) => c.caught_up === true)) break;
      if (Date.now() > deadline) throw new Error(`${o.label}: the task never caught up`);
      await sleep(500);
    }
    const sampler = (async () => {
      while (sampling) {
        const channels = await dep.positions().catch(() => undefined);
        if (channels !== undefined) {
          reported.push(Math.max(0, ...channels.map((c) => Number(c.lag_ms ?? 0))));
          for (const c of channels)
            perChannel.set(c.channel, [
              ...(perChannel.get(c.channel) ?? []),
              Number(c.lag_ms ?? 0),
            ]);
        }
        await sleep(500);
      }
    })();
    o.say(
      `${o.label}: writing ${o.rowsPerSec.toFixed(0)} rows/s for ${o.seconds} s, ${o.workers} workers`,
    );
    const cpu0 = dep.cpuSecondsTotal();
    const delays0 = parseDelayBuckets(await dep.workerMetrics());
    const res = await runLagLoad({
      source,
      target,
      sourceDb: o.sourceDb,
      targetDb: db,
      collection: o.collection,
      rowsPerSec: o.rowsPerSec,
      seconds: o.seconds,
      dim: o.shape.dim,
      firstId: 0,
    });
    const cpuS = dep.cpuSecondsTotal() - cpu0;
    const split = splitText(bucketDelta(parseDelayBuckets(await dep.workerMetrics()), delays0));
    sampling = false;
    await sampler;
    const busiest = [...perChannel.entries()]
      .map(([channel, lags]) => ({ channel, p50: percentile(lags, 50) }))
      .filter((c) => c.p50 > 0)
      .sort((a, b) => b.p50 - a.p50)
      .slice(0, 6)
      .map((c) => `${c.channel.replace(/^.*-/, '')} p50 ${c.p50.toFixed(0)}`)
      .join(', ');
    return {
      mode: o.targetRef.mode === 'TARGET_MODE_REPLICATE' ? 'replicate' : 'api',
      res,
      reported,
      busiest,
      rss: dep.peakRssPerWorker(),
      cpuS,
      split,
    };
  } finally {
    sampling = false;
    await dep.stop();
    o.onDeployment?.(undefined);
    await dropDatabase(target, db).catch(() => undefined);
    await source
      .dropCollection({ db_name: o.sourceDb, collection_name: o.collection })
      .catch(() => undefined);
  }
}
