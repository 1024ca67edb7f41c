#!/usr/bin/env node
/**
 * Worker composition root: config → logger → connections → lease worker. SIGTERM/SIGINT drain the held leases
 * (finish or abandon the batch, report the checkpoint, release), then exit (handleShutdown: 0 only when everything
 * closed cleanly); a second signal or the grace period expiring exits 1 at once.
 */
import { Redis } from 'ioredis';
import {
  configOrExit,
  createLogger,
  errorMessage,
  handleShutdown,
  serverStep,
  SNAPSHOT_QUEUE_NAME,
  warmSdkProtos,
  warmWireCodecs,
  type SnapshotJobData,
} from '@cdc/shared';
import { GrpcWorkerControl } from './adapters/control-client.js';
import { registerKafkaZstdCodec } from './adapters/kafka-zstd-codec.js';
import { workerReadBudget } from './adapters/read-budget.js';
import { controlTls, loadWorkerConfig } from './config.js';
import { ControlHeartbeat } from './lease/control-heartbeat.js';
import { LeaseRunner } from './lease/lease-runner.js';
import { LeaseWorker } from './lease/lease-worker.js';
import { TaskResources } from './lease/task-resources.js';
import { WorkerMetrics } from './metrics.js';
import { SnapshotRunner } from './snapshot/snapshot-runner.js';

const bootLog = createLogger({ service: 'cdc-worker' });
// Exits 78 on an invalid variable or an unreadable file, before any connection is made.
const { config, deprecations, tls } = configOrExit(() => {
  const loaded = loadWorkerConfig();
  return { ...loaded, tls: controlTls(loaded.config) };
}, bootLog);
const log = createLogger({ service: 'cdc-worker', level: config.LOG_LEVEL });
for (const deprecation of deprecations) log.warn(deprecation);
const redis = new Redis(config.CDC_REDIS_URL, { maxRetriesPerRequest: null });
const control = new GrpcWorkerControl({
  address: config.WORKER_CONTROL_ADDRESS,
  ...(config.WORKER_CONTROL_TOKEN ? { token: config.WORKER_CONTROL_TOKEN } : {}),
  ...(tls === undefined ? {} : { tls }),
});
const metrics = new WorkerMetrics();
registerKafkaZstdCodec({ maxBatchBytes: config.WORKER_MAX_BATCH_BYTES });
workerReadBudget.configure({
  maxQueuedBytes: config.WORKER_READ_AHEAD_BYTES,
  maxHeapBytes: config.WORKER_HEAP_BUDGET_MB * 1024 * 1024,
});
const resources = new TaskResources(redis, config.CDC_QUEUE_PREFIX, log, {
  fetchMaxBytes: config.WORKER_KAFKA_FETCH_BYTES,
  maxRecordBytes: config.WORKER_MAX_RECORD_BYTES,
  idleFetchWaitMs: config.WORKER_IDLE_FETCH_WAIT_MS,
});
// False while heartbeats fail after the control service accepted this worker (ControlHeartbeat.onReachable).
let controlReachable = true;
const runner = new LeaseRunner({
  control,
  controlReachable: () => controlReachable,
  factories: resources,
  workerId: config.WORKER_ID,
  log,
  settings: {
    maxBatchRows: config.WORKER_MAX_BATCH_ROWS,
    readBatchSize: config.WORKER_READ_BATCH,
    objectWaitMs: config.WORKER_OBJECT_WAIT_MS,
    maxClockLeadMs: config.WORKER_MAX_CLOCK_LEAD_MS,
    applyAheadOfTicks: config.WORKER_APPLY_AHEAD_OF_TICKS,
  },
  hooks: metrics.hooks(),
});
const leaseWorker = new LeaseWorker(runner, {
  connection: redis,
  prefix: config.CDC_QUEUE_PREFIX,
  concurrency: config.WORKER_CONCURRENCY,
  lockDurationMs: config.WORKER_LOCK_MS,
  stalledIntervalMs: config.WORKER_STALLED_CHECK_MS,
  log,
});

// Initial sync: collection copies come from their own queue, one job per (task, collection).
const snapshotWorker = new LeaseWorker<SnapshotJobData>(
  new SnapshotRunner({ control, factories: resources, workerId: config.WORKER_ID, log }),
  {
    queueName: SNAPSHOT_QUEUE_NAME,
    connection: redis,
    prefix: config.CDC_QUEUE_PREFIX,
    concurrency: config.WORKER_SNAPSHOT_CONCURRENCY,
    lockDurationMs: config.WORKER_LOCK_MS,
    stalledIntervalMs: config.WORKER_STALLED_CHECK_MS,
    log,
  },
);

let stopping = false;
const metricsServer =
  config.WORKER_METRICS_PORT > 0
    ? metrics.serve(
        config.WORKER_METRICS_HOST,
        config.WORKER_METRICS_PORT,
        () => !stopping,
        (err) => {
          log.error(
            { err: errorMessage(err), port: config.WORKER_METRICS_PORT },
            'metrics server failed',
          );
        },
      )
    : undefined;
const heartbeat = new ControlHeartbeat({
  control,
  workerId: config.WORKER_ID,
  log,
  intervalMs: 1_000,
  maxBackoffMs: 30_000,
  onReportNow: (taskIds) => {
    runner.reportIfIdle(taskIds);
  },
  onReachable: (reachable) => {
    controlReachable = reachable;
  },
});

handleShutdown({
  log,
  forceAfterMs: config.WORKER_SHUTDOWN_GRACE_MS,
  beforeSteps: () => {
    stopping = true;
    heartbeat.stop();
  },
  plan: () => [
    [
      { name: 'lease worker', run: () => leaseWorker.close() },
      { name: 'snapshot worker', run: () => snapshotWorker.close() },
    ],
    { name: 'connections', run: () => resources.close() },
    { name: 'control client', run: () => control.close() },
    { name: 'redis', run: () => redis.quit() },
    serverStep('metrics server', metricsServer),
  ],
});

// The SDK's protos are parsed, and the codecs of the MQ messages and of the control calls generated, once here, not
// in the first task's time to its first row.
warmSdkProtos();
warmWireCodecs();
control.warmCodecs();
heartbeat.start();
log.info(
  { workerId: config.WORKER_ID, concurrency: config.WORKER_CONCURRENCY, tls: tls !== undefined },
  'worker started',
);
// Leases only once the control service accepts this worker (its credential, its certificate).
void heartbeat.accepted.then(() => {
  if (stopping) return;
  leaseWorker.start();
  snapshotWorker.start();
});
