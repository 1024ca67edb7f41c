/**
 * The many-tasks scenario: K idle tasks on one source (each scoped to its own collection name that receives no
 * writes, so every task has every channel of the source and nothing to apply) and W workers. Measures how long until
 * every (task, channel) is served (its lease reports and is caught up), how many are served once settled, the lease
 * jobs BullMQ holds active and waiting, and the CPU the CDC processes (control + workers) use per second of wall time
 * while no data flows.
 */
import { composeTs } from '@cdc/shared';
import type { StackEnv } from '../helpers/stack.js';
import { CdcDeployment } from './cdc-run.js';
import { DB_PREFIX } from './data.js';
import type { DeploymentOptions } from './cdc-run.js';
import { workersReady } from './catch-up.js';

export interface ManyTasksResult {
  readonly tasks: number;
  readonly workers: number;
  readonly channelsPerTask: number;
  /** (task, channel) pairs served once settled (lease live and caught up), of tasks × channels. */
  readonly served: number;
  /** Seconds from the first CreateTask until every pair was served; undefined if that never happened. */
  readonly allServedS: number | undefined;
  readonly jobs: Record<string, number>;
  /** CPU cores the CDC processes used while idle (CPU seconds ÷ wall seconds over the window). */
  readonly idleCores: number;
  /** Of which the control service. */
  readonly idleControlCores: number;
  readonly idleWindowS: number;
  readonly peakRssPerWorker: number[];
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function runManyTasks(o: {
  readonly env: StackEnv;
  readonly sourceDb: string;
  readonly tasks: number;
  readonly workers: number;
  readonly settleTimeoutMs: number;
  readonly idleWindowMs: number;
  readonly say: (line: string) => void;
  readonly options?: DeploymentOptions;
  readonly onDeployment?: (dep: CdcDeployment | undefined) => void;
}): Promise<ManyTasksResult> {
  const dep = new CdcDeployment(o.env, 'many', o.options);
  o.onDeployment?.(dep);
  try {
    await dep.start(o.workers);
    await workersReady(dep);
    const ids: string[] = [];
    const created = Date.now();
    for (let i = 0; i < o.tasks; i++) {
      ids.push(
        await dep.createTask(
          o.sourceDb,
          `idle_${i}`,
          `${DB_PREFIX}_many_${i}`,
          composeTs(Date.now()),
          undefined,
          undefined,
          `${dep.taskId}-${i}`,
        ),
      );
    }
    const servedNow = async (): Promise<{ served: number; total: number }> => {
      let served = 0;
      let total = 0;
      for (const id of ids) {
        const channels = await dep.positions(id).catch(() => []);
        total += channels.length;
        served += channels.filter((c) => c.caught_up === true).length;
      }
      return { served, total };
    };
    let allServedS: number | undefined;
    let last = { served: 0, total: 0 };
    const deadline = Date.now() + o.settleTimeoutMs;
    while (Date.now() < deadline) {
      dep.checkWorkers();
      last = await servedNow();
      if (last.total > 0 && last.served === last.total) {
        allServedS = (Date.now() - created) / 1000;
        break;
      }
      await sleep(1_000);
    }
    o.say(
      `many tasks: ${last.served}/${last.total} channels served${allServedS === undefined ? ` after ${o.settleTimeoutMs / 1000} s` : ` after ${allServedS.toFixed(1)} s`}; idle window ${o.idleWindowMs / 1000} s`,
    );
    await sleep(2_000);
    const cpu0 = dep.cpuSecondsTotal();
    const control0 = dep.cpuSecondsControl();
    const t0 = performance.now();
    await sleep(o.idleWindowMs);
    const wallS = (performance.now() - t0) / 1000;
    const idleCores = (dep.cpuSecondsTotal() - cpu0) / wallS;
    const idleControlCores = (dep.cpuSecondsControl() - control0) / wallS;
    const settled = await servedNow();
    const jobs = await dep.leaseJobCounts().catch(() => ({}));
    o.say(
      `many tasks: ${idleCores.toFixed(2)} cores idle (control ${idleControlCores.toFixed(2)}); ${settled.served}/${settled.total} served; lease jobs ${JSON.stringify(jobs)}`,
    );
    return {
      tasks: o.tasks,
      workers: o.workers,
      channelsPerTask: o.tasks > 0 ? settled.total / o.tasks : 0,
      served: settled.served,
      allServedS,
      jobs,
      idleCores,
      idleControlCores,
      idleWindowS: o.idleWindowMs / 1000,
      peakRssPerWorker: dep.peakRssPerWorker(),
    };
  } finally {
    await dep.stop();
    o.onDeployment?.(undefined);
  }
}
