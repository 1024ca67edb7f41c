/**
 * One CDC deployment for the bench: a control service (fresh etcd root and queue prefix) and W workers as child
 * processes from the builds, one task mapping the bench source database to a fresh target database.
 */
import { spawn } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { createWriteStream, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CdcTestClient, waitForControl } from '../helpers/cdc-client.js';
import { REPO_ROOT, freePort, startNodeProcess } from '../helpers/processes.js';
import type { RunningProcess } from '../helpers/processes.js';
import type { StackEnv } from '../helpers/stack.js';
import { kafkaSourceSpec } from '../helpers/stack.js';

export interface ChannelStatus {
  channel: string;
  lag_ms?: string;
  caught_up?: boolean;
  applied_rows?: string;
  applied_bytes?: string;
  worker_id?: string;
  last_error?: string;
}

/** CPU time (user + system) a live process used so far, seconds; 0 when it is gone. */
export function cpuSeconds(pid: number | undefined): number {
  if (pid === undefined) return 0;
  try {
    // Fields after the parenthesised command name: utime and stime are the 12th and 13th, in clock ticks.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
  } catch {
    return 0;
  }
}
/** USER_HZ: 100 on every Linux this runs on (sysconf(_SC_CLK_TCK)). */
const CLOCK_TICKS = 100;

/** Peak resident set (VmHWM) of a live process, bytes; 0 when it is gone. */
export function peakRss(pid: number | undefined): number {
  if (pid === undefined) return 0;
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m?.[1] === undefined ? 0 : Number(m[1]) * 1024;
  } catch {
    return 0;
  }
}

/**
 * `startNodeProcess` with node flags (`--cpu-prof` is refused in NODE_OPTIONS, so it must be an argument).
 */
function startWithNodeArgs(
  name: string,
  script: string,
  nodeArgs: readonly string[],
  env: Record<string, string>,
): RunningProcess {
  const dir = join(REPO_ROOT, '.stack', 'test-logs');
  mkdirSync(dir, { recursive: true });
  const logFile = join(dir, `${name}-${Date.now()}.log`);
  const log = createWriteStream(logFile);
  const child = spawn(process.execPath, [...nodeArgs, join(REPO_ROOT, script)], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout.pipe(log);
  child.stderr.pipe(log);
  const gone = () => child.exitCode !== null || child.signalCode !== null;
  const exited = () =>
    gone()
      ? Promise.resolve()
      : new Promise<void>((r) =>
          child.once('exit', () => {
            r();
          }),
        );
  return {
    name,
    child,
    logFile,
    async stop(graceMs = 15_000) {
      if (gone()) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await exited();
      clearTimeout(timer);
    },
    async kill() {
      if (gone()) return;
      child.kill('SIGKILL');
      await exited();
    },
  };
}

export class CdcDeployment {
  readonly id = randomUUID().slice(0, 8);
  readonly taskId = `bench-${this.id}`;
  private control: RunningProcess | undefined;
  readonly workers: RunningProcess[] = [];
  client: CdcTestClient | undefined;
  private address = '';

  constructor(
    private readonly env: StackEnv,
    private readonly label: string,
  ) {}

  async start(
    workers: number,
    workerEnv: Record<string, string> = {},
    nodeArgs: readonly string[] = [],
  ): Promise<void> {
    const port = await freePort();
    this.address = `127.0.0.1:${port}`;
    this.control = startNodeProcess(
      `bench-control-${this.label}`,
      'services/control/dist/main.js',
      {
        NODE_OPTIONS: '',
        CONTROL_GRPC_ADDRESS: this.address,
        CONTROL_ETCD_ENDPOINTS: this.env.etcdEndpoints.join(','),
        CONTROL_ETCD_ROOT: `cdc-bench-${this.id}/`,
        CDC_REDIS_URL: this.env.redisUrl,
        CDC_QUEUE_PREFIX: `cdc-bench-${this.id}`,
        CONTROL_SECRET_KEY: randomBytes(32).toString('base64'),
        CONTROL_RECONCILE_INTERVAL_MS: '500',
        CONTROL_DISCOVERY_INTERVAL_MS: '2000',
        LOG_LEVEL: 'info',
      },
    );
    this.client = new CdcTestClient(this.address);
    await waitForControl(this.client);
    for (let i = 0; i < workers; i++) {
      this.workers.push(
        startWithNodeArgs(
          `bench-worker-${this.label}-${i}`,
          'services/worker/dist/main.js',
          nodeArgs,
          {
            NODE_OPTIONS: '',
            WORKER_ID: `bench-${this.label}-${i}-${this.id}`,
            WORKER_CONTROL_ADDRESS: this.address,
            CDC_REDIS_URL: this.env.redisUrl,
            CDC_QUEUE_PREFIX: `cdc-bench-${this.id}`,
            WORKER_METRICS_PORT: String(await freePort()),
            LOG_LEVEL: 'info',
            ...workerEnv,
          },
        ),
      );
    }
  }

  /**
   * A task for `sourceDb.collection` → `targetDb.collection`, starting at source hybrid timestamp `startTs`, from
   * the Kafka-backed source unless `source` (a proto-loader `SourceSpec`) says otherwise.
   */
  async createTask(
    sourceDb: string,
    collection: string,
    targetDb: string,
    startTs: bigint,
    target: { uri: string; mode: string } = {
      uri: this.env.targetMilvusAddress,
      mode: 'TARGET_MODE_API',
    },
    source: Record<string, unknown> = kafkaSourceSpec(this.env),
  ): Promise<void> {
    await this.client!.call('CreateTask', {
      task_id: this.taskId,
      spec: {
        source,
        target,
        scope: { include: [{ database: sourceDb, collection }], exclude: [] },
        name_mapping: [{ source_database: sourceDb, target_database: targetDb }],
        start: { kind: 'START_KIND_TIMESTAMP', timestamp: startTs.toString() },
      },
    });
  }

  async positions(): Promise<ChannelStatus[]> {
    const res = await this.client!.call<{ channels?: ChannelStatus[] }>('GetTaskPositions', {
      task_id: this.taskId,
    });
    return res.channels ?? [];
  }

  /** The task's lag as GetTaskPositions reports it: the largest channel lag, ms. */
  async taskLagMs(): Promise<number> {
    const channels = await this.positions();
    return Math.max(0, ...channels.map((c) => Number(c.lag_ms ?? 0)));
  }

  /** Throws when a worker died (a bench run would otherwise wait for its timeout). */
  checkWorkers(): void {
    for (const w of this.workers) {
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

  peakRssPerWorker(): number[] {
    return this.workers.map((w) => peakRss(w.child.pid));
  }

  get logFiles(): string[] {
    return [this.control?.logFile ?? '', ...this.workers.map((w) => w.logFile)];
  }

  /** Deletes the task, stops the workers (SIGTERM, so a --cpu-prof worker writes its profile), then the control. */
  async stop(): Promise<void> {
    await this.client?.call('DeleteTask', { task_id: this.taskId }).catch(() => undefined);
    await Promise.all(this.workers.map((w) => w.stop(20_000)));
    await this.control?.stop(10_000);
    this.client?.close();
    this.client = undefined;
  }
}
