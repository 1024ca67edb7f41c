/**
 * End-to-end harness: a real control service and real workers (child processes from the builds) against the real
 * stack, a task created through gRPC, the pymilvus workload on the source, and convergence checks on the target.
 */
import { spawn } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { CdcTestClient, waitForControl } from '../helpers/cdc-client.js';
import {
  compareCollection,
  countRows,
  isConverged,
  milvusClient,
} from '../helpers/milvus-compare.js';
import type { CollectionDiff, CollectionRef } from '../helpers/milvus-compare.js';
import type { MilvusClient } from '@zilliz/milvus2-sdk-node';
import { REPO_ROOT, WORKER_LAUNCHER, freePort, startNodeProcess } from '../helpers/processes.js';
import type { RunningProcess } from '../helpers/processes.js';
import { kafkaSourceSpec, pulsarSourceSpec, stackEnv } from '../helpers/stack.js';

export const env = stackEnv();

export type TargetMode = 'TARGET_MODE_API' | 'TARGET_MODE_REPLICATE';
/** Which source Milvus the task reads: the one on Kafka or the one on Pulsar. */
export type SourceMq = 'kafka' | 'pulsar';

export class E2eHarness {
  readonly id = randomUUID().slice(0, 8);
  /** Prefix of every database/collection the workload creates, so runs never collide. */
  readonly prefix = `e2e_${this.id}`;
  readonly etcdRoot = `cdc-test-${this.id}/`;
  readonly queuePrefix = `cdc-test-${this.id}`;
  private readonly secretKey = randomBytes(32).toString('base64');
  controlAddress = '';
  control: RunningProcess | undefined;
  readonly workers: RunningProcess[] = [];
  /** More targets the test writes to (fan-out): cleaned up like the target. */
  readonly otherTargets: MilvusClient[] = [];
  /** Worker name → its metrics port. */
  readonly metricsPorts = new Map<string, number>();
  client: CdcTestClient | undefined;
  readonly sourceAddress: string;
  readonly source;
  /** API mode replicates into the ordinary target; replicate mode into the one with ttMsgEnabled=false. */
  readonly targetAddress: string;
  readonly target;

  constructor(
    readonly targetMode: TargetMode = 'TARGET_MODE_API',
    readonly sourceMq: SourceMq = 'kafka',
  ) {
    this.sourceAddress = sourceMq === 'pulsar' ? env.pulsarMilvusAddress : env.sourceMilvusAddress;
    this.source = milvusClient(this.sourceAddress);
    this.targetAddress =
      targetMode === 'TARGET_MODE_REPLICATE' ? env.replicaMilvusAddress : env.targetMilvusAddress;
    this.target = milvusClient(this.targetAddress);
  }

  /**
   * Starts the control service; a restart (the previous one stopped) keeps its address, so running workers reconnect.
   * `overrides` replace parts of its environment.
   */
  async startControl(overrides: Record<string, string> = {}): Promise<void> {
    if (this.controlAddress === '') this.controlAddress = `127.0.0.1:${String(await freePort())}`;
    this.client?.close();
    this.control = startNodeProcess('control', 'services/control/dist/main.js', {
      CONTROL_GRPC_ADDRESS: this.controlAddress,
      CONTROL_ETCD_ENDPOINTS: env.etcdEndpoints.join(','),
      CONTROL_ETCD_ROOT: this.etcdRoot,
      CDC_REDIS_URL: env.redisUrl,
      CDC_QUEUE_PREFIX: this.queuePrefix,
      CONTROL_SECRET_KEY: this.secretKey,
      CONTROL_RECONCILE_INTERVAL_MS: '500',
      CONTROL_DISCOVERY_INTERVAL_MS: '2000',
      ...overrides,
      LOG_LEVEL: process.env['E2E_LOG_LEVEL'] ?? 'info',
    });
    this.client = new CdcTestClient(this.controlAddress);
    await waitForControl(this.client);
  }

  /** `overrides` replace parts of the worker's environment (e.g. WORKER_CONTROL_ADDRESS and CDC_REDIS_URL through a proxy). */
  async startWorker(
    name = `worker-${this.workers.length}`,
    overrides: Record<string, string> = {},
  ): Promise<RunningProcess> {
    const metricsPort = await freePort();
    this.metricsPorts.set(name, metricsPort);
    const worker = startNodeProcess(name, WORKER_LAUNCHER, {
      WORKER_ID: `${name}-${this.id}`,
      WORKER_CONTROL_ADDRESS: this.controlAddress,
      CDC_REDIS_URL: env.redisUrl,
      CDC_QUEUE_PREFIX: this.queuePrefix,
      WORKER_METRICS_PORT: String(metricsPort),
      WORKER_LOCK_MS: '8000',
      WORKER_STALLED_CHECK_MS: '2000',
      // E2E_LOG_LEVEL=debug to see retries that info hides (e.g. an op the target refuses for a while).
      LOG_LEVEL: process.env['E2E_LOG_LEVEL'] ?? 'info',
      ...overrides,
    });
    this.workers.push(worker);
    return worker;
  }

  /**
   * A task replicating the workload's databases and collections from the source to the target (and to `fanOut`
   * targets, proto-loader `TargetSpec`s).
   */
  async createTask(
    taskId = `task-${this.id}`,
    fanOut: Record<string, unknown>[] = [],
  ): Promise<string> {
    await this.client!.call('CreateTask', {
      task_id: taskId,
      spec: {
        source: this.sourceMq === 'pulsar' ? pulsarSourceSpec(env) : kafkaSourceSpec(env),
        target: { uri: this.targetAddress, mode: this.targetMode },
        scope: {
          include: [
            { database: `${this.prefix}_db*`, collection: '*' },
            { database: 'default', collection: `${this.prefix}_*` },
          ],
          exclude: [],
        },
        start: { kind: 'START_KIND_LATEST' },
        fan_out: fanOut,
      },
    });
    return taskId;
  }

  /** Runs a workload step with pymilvus (asynchronously, so workers can be killed while it runs). */
  runWorkload(step: string): Promise<void> {
    const child = spawn(
      env.python,
      [
        '-W',
        'ignore',
        join(REPO_ROOT, 'test/e2e/workload.py'),
        this.sourceAddress,
        this.prefix,
        step,
      ],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
        timeout: 600_000,
      },
    );
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-4000)));
    return new Promise((resolve, reject) => {
      child.on('exit', (code) => {
        if (code === 0) resolve();
        else reject(new Error(`workload ${step} failed (${String(code)}): ${stderr}`));
      });
    });
  }

  /** Every collection the workload leaves on the source. */
  expectedCollections(): CollectionRef[] {
    return [
      { db: `${this.prefix}_db`, collection: 'all_types' },
      { db: 'default', collection: `${this.prefix}_strpk` },
      { db: 'default', collection: `${this.prefix}_recreate` },
      { db: 'default', collection: `${this.prefix}_droppart` },
      { db: `${this.prefix}_db2`, collection: 'second' },
    ];
  }

  /** Waits until every expected collection matches on the target; returns the last diffs either way. */
  async waitForConvergence(
    timeoutMs: number,
    target: MilvusClient = this.target,
  ): Promise<CollectionDiff[]> {
    let diffs: CollectionDiff[] = [];
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      try {
        diffs = await Promise.all(
          this.expectedCollections().map((ref) => compareCollection(this.source, target, ref)),
        );
        if (diffs.every(isConverged)) return diffs;
      } catch (err) {
        diffs = [];
        if (Date.now() + 2_000 > deadline) throw err;
      }
      await new Promise((r) => setTimeout(r, 2_000));
    }
    return diffs;
  }

  async duplicateCounts(
    target: MilvusClient = this.target,
  ): Promise<{ ref: CollectionRef; source: number; target: number }[]> {
    return Promise.all(
      this.expectedCollections().map(async (ref) => ({
        ref,
        source: await countRows(this.source, ref),
        target: await countRows(target, ref),
      })),
    );
  }

  /** Sum of a worker's `cdc_worker_records_read_total` (every task and channel). */
  async recordsRead(worker: string): Promise<number> {
    const res = await fetch(`http://127.0.0.1:${String(this.metricsPorts.get(worker))}/metrics`);
    const text = await res.text();
    let total = 0;
    for (const line of text.split('\n'))
      if (line.startsWith('cdc_worker_records_read_total{'))
        total += Number(line.split(' ').at(-1));
    return total;
  }

  async cleanup(): Promise<void> {
    for (const w of this.workers) await w.stop(5_000);
    await this.control?.stop(5_000);
    this.client?.close();
    for (const client of [this.source, this.target, ...this.otherTargets]) {
      const dbs = await client.listDatabases();
      for (const db of dbs.db_names.filter((d) => d.startsWith(this.prefix) || d === 'default')) {
        const colls = await client.showCollections({ db_name: db });
        for (const c of colls.data.filter(
          (c) => db !== 'default' || c.name.startsWith(this.prefix),
        )) {
          await client.dropCollection({ db_name: db, collection_name: c.name });
        }
        if (db !== 'default') await client.dropDatabase({ db_name: db });
      }
      await client.closeConnection();
    }
  }
}
