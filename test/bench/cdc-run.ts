/**
 * One CDC deployment for the bench: a control service (fresh etcd root and queue prefix) and W workers as child
 * processes from the builds (of this checkout, or of `root` to compare another build in the same conditions), and
 * tasks mapping the bench source database to fresh target databases.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { CdcTestClient, waitForControl } from '../helpers/cdc-client.js';
import { REPO_ROOT, WORKER_LAUNCHER, freePort, startNodeProcess } from '../helpers/processes.js';
import type { RunningProcess } from '../helpers/processes.js';
import type { StackEnv } from '../helpers/stack.js';
import { kafkaSourceSpec } from '../helpers/stack.js';
import { cpuSeconds, peakRss } from './proc-stats.js';

export interface ChannelStatus {
  channel: string;
  lag_ms?: string;
  caught_up?: boolean;
  applied_rows?: string;
  applied_bytes?: string;
  worker_id?: string;
  last_error?: string;
}

export interface TargetRef {
  readonly uri: string;
  readonly mode: string;
}

/**
 * How the worker image starts the worker: its launcher, with the worker's runtime memory profile
 * (services/worker/bin/cdc-worker); a build from before the launcher, directly.
 */
function workerEntry(root: string): string {
  return existsSync(join(root, WORKER_LAUNCHER)) ? WORKER_LAUNCHER : 'services/worker/dist/main.js';
}

/** A process from `root`'s build (startNodeProcess), node flags on its command line. */
function startBuilt(
  root: string,
  name: string,
  script: string,
  nodeArgs: readonly string[],
  env: Record<string, string>,
): RunningProcess {
  // `--cpu-prof` is refused in NODE_OPTIONS, so flags go on the command line; BENCH_NODE_ARGS adds some to every
  // CDC process (e.g. `--trace-gc`, `--max-old-space-size=256`).
  const extra = (process.env['BENCH_NODE_ARGS'] ?? '').split(' ').filter(Boolean);
  return startNodeProcess(name, join(root, script), { NODE_OPTIONS: '', ...env }, [
    ...extra,
    ...nodeArgs,
  ]);
}

/** Environment overrides from a `K=V,K2=V2` argument (`--control-env`, `--worker-env`). */
export function envListArg(arg: string): Record<string, string> {
  return Object.fromEntries(
    arg
      .split(',')
      .filter(Boolean)
      .map((kv) => kv.split('=') as [string, string]),
  );
}

export interface DeploymentOptions {
  /** Checkout whose builds run (default this one). */
  readonly root?: string;
  readonly controlEnv?: Record<string, string>;
  readonly workerEnv?: Record<string, string>;
  readonly nodeArgs?: readonly string[];
  /** Node flags of the control service (e.g. `--cpu-prof`). */
  readonly controlNodeArgs?: readonly string[];
}

export class CdcDeployment {
  readonly id = randomUUID().slice(0, 8);
  readonly taskId = `bench-${this.id}`;
  private control: RunningProcess | undefined;
  readonly workers: RunningProcess[] = [];
  private readonly workerMetricsPorts: number[] = [];
  /** Every task this deployment created (DeleteTask on stop). */
  readonly taskIds: string[] = [];
  client: CdcTestClient | undefined;
  private address = '';
  private readonly root: string;
  private readonly killed = new Set<RunningProcess>();
  private metricsPort = 0;

  constructor(
    private readonly env: StackEnv,
    private readonly label: string,
    private readonly opts: DeploymentOptions = {},
  ) {
    this.root = opts.root ?? REPO_ROOT;
  }

  async start(workers: number): Promise<void> {
    const port = await freePort();
    this.address = `127.0.0.1:${port}`;
    this.metricsPort = await freePort();
    this.control = startBuilt(
      this.root,
      `bench-control-${this.label}`,
      'services/control/dist/main.js',
      this.opts.controlNodeArgs ?? [],
      {
        CONTROL_GRPC_ADDRESS: this.address,
        CONTROL_ETCD_ENDPOINTS: this.env.etcdEndpoints.join(','),
        CONTROL_ETCD_ROOT: `cdc-bench-${this.id}/`,
        CDC_REDIS_URL: this.env.redisUrl,
        CDC_QUEUE_PREFIX: `cdc-bench-${this.id}`,
        CONTROL_SECRET_KEY: randomBytes(32).toString('base64'),
        CONTROL_METRICS_PORT: String(this.metricsPort),
        LOG_LEVEL: 'info',
        ...this.opts.controlEnv,
      },
    );
    this.client = new CdcTestClient(this.address);
    await waitForControl(this.client);
    await this.addWorkers(workers);
  }

  async addWorkers(n: number): Promise<void> {
    for (let i = 0; i < n; i++) {
      const index = this.workers.length;
      this.workers.push(
        startBuilt(
          this.root,
          `bench-worker-${this.label}-${index}`,
          workerEntry(this.root),
          this.opts.nodeArgs ?? [],
          {
            WORKER_ID: `bench-${this.label}-${index}-${this.id}`,
            WORKER_CONTROL_ADDRESS: this.address,
            CDC_REDIS_URL: this.env.redisUrl,
            CDC_QUEUE_PREFIX: `cdc-bench-${this.id}`,
            WORKER_METRICS_PORT: String(await this.nextWorkerMetricsPort()),
            LOG_LEVEL: process.env['BENCH_LOG_LEVEL'] ?? 'info',
            ...this.opts.workerEnv,
          },
        ),
      );
    }
  }

  private async nextWorkerMetricsPort(): Promise<number> {
    const port = await freePort();
    this.workerMetricsPorts.push(port);
    return port;
  }

  /** Every worker's Prometheus text (workers that do not answer are left out). */
  async workerMetrics(): Promise<string[]> {
    const texts = await Promise.all(
      this.workerMetricsPorts.map((port) =>
        fetch(`http://127.0.0.1:${port}/metrics`, { signal: AbortSignal.timeout(5_000) })
          .then((r) => r.text())
          .catch(() => ''),
      ),
    );
    return texts.filter((t) => t !== '');
  }

  workerId(index: number): string {
    return `bench-${this.label}-${index}-${this.id}`;
  }

  /**
   * A task for `sourceDb.collection` → `targetDb.collection`, starting at source hybrid timestamp `startTs`, from
   * the Kafka-backed source unless `source` (a proto-loader `SourceSpec`) says otherwise. Returns its id.
   */
  async createTask(
    sourceDb: string,
    collection: string,
    targetDb: string,
    startTs: bigint,
    target: TargetRef = { uri: this.env.targetMilvusAddress, mode: 'TARGET_MODE_API' },
    source: Record<string, unknown> = kafkaSourceSpec(this.env),
    taskId = this.taskId,
  ): Promise<string> {
    await this.client!.call('CreateTask', {
      task_id: taskId,
      spec: {
        source,
        target,
        scope: { include: [{ database: sourceDb, collection }], exclude: [] },
        name_mapping: [{ source_database: sourceDb, target_database: targetDb }],
        start: { kind: 'START_KIND_TIMESTAMP', timestamp: startTs.toString() },
      },
    });
    this.taskIds.push(taskId);
    return taskId;
  }

  async positions(taskId = this.taskId): Promise<ChannelStatus[]> {
    const res = await this.client!.call<{ channels?: ChannelStatus[] }>('GetTaskPositions', {
      task_id: taskId,
    });
    return res.channels ?? [];
  }

  /** The task's lag as GetTaskPositions reports it: the largest channel lag, ms. */
  async taskLagMs(): Promise<number> {
    const channels = await this.positions();
    return Math.max(0, ...channels.map((c) => Number(c.lag_ms ?? 0)));
  }

  /** BullMQ lease jobs by state (waiting, active, ...) from the control service's metrics. */
  async leaseJobCounts(): Promise<Record<string, number>> {
    const res = await fetch(`http://127.0.0.1:${this.metricsPort}/metrics`);
    const text = await res.text();
    const out: Record<string, number> = {};
    for (const m of text.matchAll(/^cdc_control_lease_jobs\{state="(\w+)"\} (\d+)/gm))
      if (m[1] !== undefined) out[m[1]] = Number(m[2]);
    return out;
  }

  /** SIGKILLs worker `index` (a crash); resolves when it is gone. */
  async killWorker(index: number): Promise<void> {
    const w = this.workers[index];
    if (w === undefined) return;
    this.killed.add(w);
    await w.kill();
  }

  /** Throws when a worker died unasked (a bench run would otherwise wait for its timeout). */
  checkWorkers(): void {
    for (const w of this.workers) {
      if (this.killed.has(w)) continue;
      if (w.child.exitCode !== null || w.child.signalCode !== null) {
        throw new Error(
          `${w.name} exited (${String(w.child.exitCode ?? w.child.signalCode)}); log ${w.logFile}`,
        );
      }
    }
  }

  cpuSecondsPerWorker(): number[] {
    return this.workers.map((w) => cpuSeconds(w.child.pid));
  }

  /** CPU seconds of the control service so far. */
  cpuSecondsControl(): number {
    return cpuSeconds(this.control?.child.pid);
  }

  /** CPU seconds of the control service and every worker so far (the CDC processes). */
  cpuSecondsTotal(): number {
    return (
      cpuSeconds(this.control?.child.pid) + this.cpuSecondsPerWorker().reduce((a, b) => a + b, 0)
    );
  }

  peakRssPerWorker(): number[] {
    return this.workers.map((w) => peakRss(w.child.pid));
  }

  peakRssControl(): number {
    return peakRss(this.control?.child.pid);
  }

  get workerLogFiles(): string[] {
    return this.workers.map((w) => w.logFile);
  }

  get logFiles(): string[] {
    return [this.control?.logFile ?? '', ...this.workerLogFiles];
  }

  /** Deletes the tasks, stops the workers (SIGTERM, so a --cpu-prof worker writes its profile), then the control. */
  async stop(): Promise<void> {
    for (const id of this.taskIds)
      await this.client?.call('DeleteTask', { task_id: id }).catch(() => undefined);
    await Promise.all(this.workers.map((w) => w.stop(20_000)));
    await this.control?.stop(10_000);
    this.client?.close();
    this.client = undefined;
  }
}
