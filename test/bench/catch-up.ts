/**
 * The catch-up scenario: W workers replicate a backlog of N rows from a start timestamp into a fresh target database.
 * Measures the time until the last row is counted on the target, the first row (counted, and the workers' own
 * milestones), CPU seconds of the CDC processes (control + workers, /proc) from CreateTask to the last row, and the
 * workers' peak RSS.
 */
import { readFileSync } from 'node:fs';
import type { MilvusClient } from '@zilliz/milvus2-sdk-node';
import type { StackEnv } from '../helpers/stack.js';
import { CdcDeployment } from './cdc-run.js';
import type { DeploymentOptions, TargetRef } from './cdc-run.js';
import { count, DB_PREFIX, dropDatabase } from './data.js';
import { eventLoopStallMs } from './delay-split.js';
import { leaseTimeline, timelineText } from './milestones.js';
import type { LeaseTimeline } from './milestones.js';

export interface CatchUpResult {
  readonly workers: number;
  readonly mode: 'api' | 'replicate';
  readonly rows: number;
  readonly ms: number;
  /** CreateTask → `count(*)` on the target first above 0. */
  readonly firstRowMs: number;
  readonly timeline: LeaseTimeline;
  /** CreateTask, epoch ms (origin of the timeline). */
  readonly createdAt: number;
  /** Control + workers, CreateTask → last row counted. */
  readonly cpuS: number;
  readonly peakRssPerWorker: number[];
  /** Longest event-loop stall of any worker over the run, ms (leases lose write validity past a few seconds). */
  readonly loopStallMs: number;
  readonly appliedOnChannels: number;
}

export interface CatchUpSetup {
  readonly env: StackEnv;
  readonly target: MilvusClient;
  readonly targetRef: TargetRef;
  readonly sourceDb: string;
  readonly collection: string;
  readonly startTs: bigint;
  readonly rows: number;
  readonly timeoutMs: number;
  readonly say: (line: string) => void;
  /** Called with the live deployment (cleanup on SIGINT). */
  readonly onDeployment?: (dep: CdcDeployment | undefined) => void;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Resolves once every worker's log says the control service accepted it (it takes leases from then on). */
export async function workersReady(dep: CdcDeployment, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    dep.checkWorkers();
    const ready = dep.workerLogFiles.every((f) => {
      try {
        return readFileSync(f, 'utf8').includes('taking leases');
      } catch {
        return false;
      }
    });
    if (ready) return;
    if (Date.now() > deadline) throw new Error('workers did not start in time');
    await sleep(100);
  }
}

export async function runCatchUp(
  setup: CatchUpSetup,
  workers: number,
  label: string,
  opts: DeploymentOptions = {},
): Promise<CatchUpResult> {
  const { target, say } = setup;
  const db = `${DB_PREFIX}_${label}`;
  await dropDatabase(target, db);
  const dep = new CdcDeployment(setup.env, label, opts);
  setup.onDeployment?.(dep);
  try {
    await dep.start(workers);
    await workersReady(dep);
    const cpuBefore = dep.cpuSecondsTotal();
    const createdAt = Date.now();
    const started = performance.now();
    await dep.createTask(setup.sourceDb, setup.collection, db, setup.startTs, setup.targetRef);
    let firstRowMs = 0;
    const deadline = Date.now() + setup.timeoutMs;
    let lastLog = Date.now();
    let seen = -1;
    for (;;) {
      dep.checkWorkers();
      seen = await count(target, db, setup.collection).catch(() => -1);
      if (seen > 0 && firstRowMs === 0) firstRowMs = performance.now() - started;
      if (seen >= setup.rows) break;
      if (Date.now() > deadline)
        throw new Error(`${db}: ${seen} of ${setup.rows} rows in ${setup.timeoutMs} ms`);
      if (Date.now() - lastLog > 15_000) {
        lastLog = Date.now();
        say(`  ${db}.${setup.collection}: ${seen}/${setup.rows}`);
      }
      // Fine-grained until the first row (the start-up figure), then every 500 ms.
      await sleep(seen > 0 ? 500 : 100);
    }
    const ms = performance.now() - started;
    const cpuS = dep.cpuSecondsTotal() - cpuBefore;
    const peakRssPerWorker = dep.peakRssPerWorker();
    const loopStallMs = eventLoopStallMs(await dep.workerMetrics());
    const channels = await dep.positions();
    const appliedOnChannels = channels.filter((c) => Number(c.applied_rows ?? 0) > 0).length;
    const timeline = leaseTimeline(dep.workerLogFiles, dep.taskId);
    say(
      `CDC ${label}: ${setup.rows} rows in ${(ms / 1000).toFixed(1)} s; first row ${(firstRowMs / 1000).toFixed(1)} s (${timelineText(timeline, createdAt)}); CPU ${cpuS.toFixed(1)} s; ${timeline.grants} lease grants, ${timeline.validityExpired} expired; longest event-loop stall ${loopStallMs.toFixed(0)} ms; peak RSS ${peakRssPerWorker.map((b) => (b / 2 ** 20).toFixed(0)).join(', ')} MiB`,
    );
    return {
      workers,
      mode: setup.targetRef.mode === 'TARGET_MODE_REPLICATE' ? 'replicate' : 'api',
      rows: setup.rows,
      ms,
      firstRowMs,
      timeline,
      createdAt,
      cpuS,
      peakRssPerWorker,
      loopStallMs,
      appliedOnChannels,
    };
  } finally {
    await dep.stop();
    setup.onDeployment?.(undefined);
    await dropDatabase(target, db).catch(() => undefined);
  }
}
