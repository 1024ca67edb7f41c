/**
 * Fault suite on the real stack (bounded, loopback only): replicates a continuous write load while, one at a time,
 * a worker is SIGKILLed, the control leader is SIGKILLed, Redis, etcd and the Kafka broker are restarted, the broker
 * is down for 30 s and the target Milvus for 60 s. After each, the target must converge to exactly the source (no
 * missing, no extra, no changed row, no duplicate, nothing quarantined) and the time to recover is printed. Then
 * 10,000 malformed records injected into a channel are quarantined, counted and listed while the good records around
 * them are replicated.
 *
 * Run: bash deploy/local/fault-suite.sh   (restarts shared components: do not run beside other suites)
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { MilvusClient } from '@zilliz/milvus2-sdk-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CdcTestClient, waitForControl } from '../helpers/cdc-client.js';
import {
  compareCollection,
  countRows,
  isConverged,
  milvusClient,
} from '../helpers/milvus-compare.js';
import type { CollectionDiff } from '../helpers/milvus-compare.js';
import { freePort, startNodeProcess, waitUntil } from '../helpers/processes.js';
import type { RunningProcess } from '../helpers/processes.js';
import { kafkaSourceSpec, stackEnv } from '../helpers/stack.js';
import { ContinuousLoad } from './continuous-load.js';
import { injectMalformed } from './inject.js';
import { startComponent, stopComponent } from './stack-control.js';
import type { Component } from './stack-control.js';

const env = stackEnv();
const id = randomUUID().slice(0, 8);
const db = `fault_${id}`;
const recovery: { fault: string; recoverMs: number; rows: number; failedBatches: number }[] = [];

describe('fault suite', () => {
  const source = milvusClient(env.sourceMilvusAddress);
  let target = milvusClient(env.targetMilvusAddress);
  // No client-side retries for the load: a retried insert that had landed would duplicate rows on the source itself.
  const writer = new MilvusClient({
    address: env.sourceMilvusAddress,
    logLevel: 'error',
    maxRetries: 0,
  });
  const load = new ContinuousLoad(writer, db, 'events');
  const secret = randomBytes(32).toString('base64');
  const controls: RunningProcess[] = [];
  const controlPorts: number[] = [];
  const workers: RunningProcess[] = [];
  let client: CdcTestClient;

  const startControl = (port: number): RunningProcess => {
    const p = startNodeProcess(`fault-control-${port}`, 'services/control/dist/main.js', {
      CONTROL_GRPC_ADDRESS: `127.0.0.1:${port}`,
      CONTROL_ETCD_ENDPOINTS: env.etcdEndpoints.join(','),
      CONTROL_ETCD_ROOT: `cdc-fault-${id}/`,
      CDC_QUEUE_PREFIX: `cdc-fault-${id}`,
      CDC_REDIS_URL: env.redisUrl,
      CONTROL_SECRET_KEY: secret,
      CONTROL_RECONCILE_INTERVAL_MS: '500',
      CONTROL_ELECTION_TTL_S: '3',
      // The poison case quarantines 10,000 records (the default cap per task is 1,000).
      CONTROL_QUARANTINE_MAX_ENTRIES: '20000',
    });
    controls.push(p);
    return p;
  };
  const startWorker = (): RunningProcess => {
    const w = startNodeProcess(`fault-worker-${workers.length}`, 'services/worker/dist/main.js', {
      // Both control replicas: the client fails over when the one it talks to dies.
      WORKER_CONTROL_ADDRESS: `ipv4:${controlPorts.map((p) => `127.0.0.1:${p}`).join(',')}`,
      CDC_REDIS_URL: env.redisUrl,
      CDC_QUEUE_PREFIX: `cdc-fault-${id}`,
      WORKER_METRICS_PORT: '0',
      WORKER_LOCK_MS: '8000',
      WORKER_STALLED_CHECK_MS: '2000',
    });
    workers.push(w);
    return w;
  };

  /** Reasons of the task's quarantined records: a fault must never quarantine a legitimate change. */
  async function quarantineReasons(): Promise<string[]> {
    const page = await client.call<{ records?: { reason?: string }[] }>('ListQuarantine', {
      task_id: `fault-${id}`,
      page_size: 5,
    });
    return (page.records ?? []).map((r) => r.reason ?? '');
  }

  async function converge(fault: string, since: number): Promise<CollectionDiff> {
    let diff: CollectionDiff | undefined;
    let quarantined: string[] = [];
    await waitUntil(
      `target to converge after: ${fault}`,
      async () => {
        quarantined = await quarantineReasons();
        if (quarantined.length > 0) return true; // reported below: waiting longer cannot bring the change back
        diff = await compareCollection(source, target, { db, collection: 'events' });
        return isConverged(diff);
      },
      240_000,
      1_000,
    ).catch((err: unknown) => {
      console.error(`${fault}: ${err instanceof Error ? err.message : String(err)}`);
    });
    expect(quarantined, `${fault}: quarantined changes`).toEqual([]);
    expect(diff, fault).toBeDefined();
    expect({
      missing: diff!.missingOnTarget.length,
      extra: diff!.extraOnTarget.length,
      changed: diff!.changed.length,
    }).toEqual({ missing: 0, extra: 0, changed: 0 });
    expect(await countRows(target, { db, collection: 'events' })).toBe(
      await countRows(source, { db, collection: 'events' }),
    );
    recovery.push({
      fault,
      recoverMs: Date.now() - since,
      rows: diff!.sourceRows,
      failedBatches: load.stats.failed,
    });
    return diff!;
  }

  /** Runs the load, applies the fault after a few seconds, stops the load, and waits for convergence. */
  async function underLoad(fault: string, inject: () => Promise<void>): Promise<void> {
    load.start();
    await new Promise((r) => setTimeout(r, 3_000));
    await inject();
    const recovered = Date.now();
    await new Promise((r) => setTimeout(r, 3_000));
    await load.stop();
    await converge(fault, recovered);
  }

  async function restart(c: Component, downMs = 2_000): Promise<void> {
    await stopComponent(c);
    await new Promise((r) => setTimeout(r, downMs));
    await startComponent(c);
  }

  beforeAll(async () => {
    controlPorts.push(await freePort(), await freePort());
    startControl(controlPorts[0]!);
    await new Promise((r) => setTimeout(r, 1_000)); // the first replica becomes the leader
    startControl(controlPorts[1]!);
    client = new CdcTestClient(`127.0.0.1:${controlPorts[0]!}`);
    await waitForControl(client);
    startWorker();
    startWorker();
    await client.call('CreateTask', {
      task_id: `fault-${id}`,
      spec: {
        source: kafkaSourceSpec(env),
        target: { uri: env.targetMilvusAddress },
        scope: { include: [{ database: db, collection: '*' }] },
        start: { kind: 'START_KIND_LATEST' },
      },
    });
    await load.createCollection();
  }, 120_000);

  afterAll(async () => {
    await load.stop();
    for (const p of [...workers, ...controls]) await p.stop(5_000);
    client.close();
    await writer.closeConnection();
    for (const c of [source, target]) {
      await c.dropCollection({ db_name: db, collection_name: 'events' }).catch(() => undefined);
      await c.dropDatabase({ db_name: db }).catch(() => undefined);
      await c.closeConnection();
    }
    console.log(
      '\nfault                         recovery   rows on target   failed source batches',
    );
    for (const r of recovery) {
      console.log(
        `${r.fault.padEnd(30)}${`${(r.recoverMs / 1000).toFixed(1)} s`.padStart(8)}${String(r.rows).padStart(17)}${String(r.failedBatches).padStart(24)}`,
      );
    }
  }, 120_000);

  it('SIGKILL of a worker', async () => {
    await underLoad('SIGKILL worker', async () => {
      await workers[0]!.kill();
      startWorker();
    });
  }, 400_000);

  it('SIGKILL of the control leader', async () => {
    await underLoad('SIGKILL control leader', async () => {
      await controls[0]!.kill();
      client.close();
      client = new CdcTestClient(`127.0.0.1:${controlPorts[1]!}`);
    });
  }, 400_000);

  it('restart of Redis', async () => {
    await underLoad('restart Redis', () => restart('redis'));
  }, 400_000);

  it('restart of etcd', async () => {
    await underLoad('restart etcd', () => restart('etcd'));
  }, 400_000);

  it('restart of the Kafka broker', async () => {
    await underLoad('restart Kafka', () => restart('kafka'));
  }, 400_000);

  // Longer than the 10 s of tick time the worker once allowed a message to stay ahead of the ticks: after an outage
  // the source publishes the outage's ticks after changes stamped later, and one such change was quarantined.
  it('Kafka broker down 30 s', async () => {
    await underLoad('Kafka down 30 s', () => restart('kafka', 30_000));
  }, 600_000);

  it('target Milvus stopped for 60 s', async () => {
    await underLoad('target down 60 s', async () => {
      await stopComponent('milvus-target');
      await new Promise((r) => setTimeout(r, 60_000));
      await startComponent('milvus-target');
      await target.closeConnection().catch(() => undefined);
      target = milvusClient(env.targetMilvusAddress);
    });
  }, 600_000);

  it('quarantines 10,000 malformed records and keeps replicating the good ones', async () => {
    const injected = await injectMalformed({
      client,
      source,
      env,
      db,
      count: 10_000,
      taskSuffix: id,
      secret,
    });
    expect(injected.quarantined).toBe(10_000);
    expect(injected.listedFirstPage).toBeGreaterThan(0);
    expect(injected.goodRowsOnTarget).toBe(injected.goodRowsWritten);
    recovery.push({
      fault: '10,000 malformed records',
      recoverMs: injected.elapsedMs,
      rows: injected.goodRowsOnTarget,
      failedBatches: 0,
    });
  }, 600_000);
});
