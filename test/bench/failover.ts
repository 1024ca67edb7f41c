/**
 * The failover scenario: two workers share a task's channels; the one holding most of the collection's channels is
 * killed with SIGKILL, and a batch of rows is written to the source right after. Measures the time from the kill
 * until (a) every channel the killed worker held is caught up again under the other worker, and (b) the batch is
 * visible on the target (Strong query), i.e. until replication of the killed worker's channels runs again.
 */
import { ConsistencyLevelEnum } from '@zilliz/milvus2-sdk-node';
import type { MilvusClient } from '@zilliz/milvus2-sdk-node';
import type { StackEnv } from '../helpers/stack.js';
import { CdcDeployment } from './cdc-run.js';
import type { DeploymentOptions, TargetRef } from './cdc-run.js';
import { workersReady } from './catch-up.js';
import { DB_PREFIX, makeRows } from './data.js';

export const FAILOVER_DB = `${DB_PREFIX}_failover`;

export interface FailoverResult {
  /** SIGKILL → every channel the killed worker held caught up under the survivor. */
  readonly channelsBackS: number;
  /** SIGKILL → the rows written right after it visible on the target. */
  readonly rowsVisibleS: number;
  /** Channels the killed worker held (all of the task's), and of the collection's. */
  readonly killedChannels: number;
  readonly killedCollectionChannels: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function runFailover(o: {
  readonly env: StackEnv;
  readonly source: MilvusClient;
  readonly target: MilvusClient;
  readonly targetRef: TargetRef;
  readonly sourceDb: string;
  readonly collection: string;
  readonly collectionChannels: readonly string[];
  readonly startTs: bigint;
  readonly dim: number;
  readonly firstId: number;
  readonly timeoutMs: number;
  readonly say: (line: string) => void;
  readonly options?: DeploymentOptions;
  readonly onDeployment?: (dep: CdcDeployment | undefined) => void;
}): Promise<FailoverResult> {
  const db = FAILOVER_DB;
  const dep = new CdcDeployment(o.env, 'failover', o.options);
  o.onDeployment?.(dep);
  try {
    await dep.start(2);
    await workersReady(dep);
    await dep.createTask(o.sourceDb, o.collection, db, o.startTs, o.targetRef);
    // Both workers hold channels (fair share) and every channel is caught up.
    const deadline = Date.now() + o.timeoutMs;
    let holders = new Map<string, string[]>();
    for (;;) {
      dep.checkWorkers();
      const channels = await dep.positions().catch(() => []);
      holders = new Map();
      for (const c of channels)
        if (c.worker_id) holders.set(c.worker_id, [...(holders.get(c.worker_id) ?? []), c.channel]);
      const caughtUp = channels.length > 0 && channels.every((c) => c.caught_up === true);
      if (caughtUp && holders.size === 2) break;
      if (Date.now() > deadline)
        throw new Error('failover: the two workers never shared the channels');
      await sleep(500);
    }
    const onCollection = (w: string) =>
      (holders.get(w) ?? []).filter((c) => o.collectionChannels.includes(c)).length;
    const [victim] = [0, 1].sort(
      (a, b) => onCollection(dep.workerId(b)) - onCollection(dep.workerId(a)),
    );
    const victimId = dep.workerId(victim ?? 0);
    const killedChannels = holders.get(victimId) ?? [];
    const killedCollectionChannels = onCollection(victimId);
    await dep.killWorker(victim ?? 0);
    const killedAt = performance.now();
    o.say(
      `failover: killed ${victimId} holding ${killedChannels.length} channels (${killedCollectionChannels} of the collection's)`,
    );
    const rows = 200;
    const res = await o.source.insert({
      db_name: o.sourceDb,
      collection_name: o.collection,
      data: makeRows(o.firstId, rows, o.dim, Date.now()),
    });
    if (res.status.error_code !== 'Success')
      throw new Error(`failover insert: ${res.status.reason}`);
    let channelsBackS = 0;
    let rowsVisibleS = 0;
    while ((channelsBackS === 0 || rowsVisibleS === 0) && Date.now() < deadline + o.timeoutMs) {
      if (channelsBackS === 0) {
        const channels = await dep.positions().catch(() => []);
        const back = killedChannels.every((name) => {
          const c = channels.find((x) => x.channel === name);
          return c !== undefined && c.worker_id !== victimId && c.caught_up === true;
        });
        if (back) channelsBackS = (performance.now() - killedAt) / 1000;
      }
      if (rowsVisibleS === 0) {
        const issued = performance.now();
        const q = await o.target
          .query({
            db_name: db,
            collection_name: o.collection,
            filter: `id >= ${o.firstId} and id < ${o.firstId + rows}`,
            output_fields: ['count(*)'],
            consistency_level: ConsistencyLevelEnum.Strong,
          })
          .catch(() => undefined);
        if (Number(q?.data[0]?.['count(*)'] ?? 0) >= rows)
          rowsVisibleS = (issued - killedAt) / 1000;
      }
      await sleep(100);
    }
    o.say(
      `failover: channels back after ${channelsBackS.toFixed(1)} s, rows written at the kill visible after ${rowsVisibleS.toFixed(1)} s`,
    );
    return {
      channelsBackS,
      rowsVisibleS,
      killedChannels: killedChannels.length,
      killedCollectionChannels,
    };
  } finally {
    await dep.stop();
    o.onDeployment?.(undefined);
  }
}
