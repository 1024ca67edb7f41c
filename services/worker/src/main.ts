#!/usr/bin/env node
/**
 * Worker composition root: config → logger → connections → lease worker. SIGTERM/SIGINT drain the held leases
 * (finish or abandon the batch, report the checkpoint, release), then exit; a second signal or the grace period
 * expiring exits at once.
 */
import { Redis } from 'ioredis';
import { createLogger, errorMessage, SNAPSHOT_QUEUE_NAME, type SnapshotJobData } from '@cdc/shared';
import { GrpcWorkerControl } from './adapters/control-client.js';
import { registerKafkaZstdCodec } from './adapters/kafka-zstd-codec.js';
import { controlTls, loadWorkerConfig } from './config.js';
import { ControlHeartbeat } from './lease/control-heartbeat.js';
import { LeaseRunner } from './lease/lease-runner.js';
import { LeaseWorker } from './lease/lease-worker.js';
import { TaskResources } from './lease/task-resources.js';
import { WorkerMetrics } from './metrics.js';
import { SnapshotRunner } from './snapshot/snapshot-runner.js';

const config = loadWorkerConfig();
const tls = controlTls(config); // exits 78 on an unreadable file, before any connection is made
const log = createLogger({ service: 'cdc-worker', level: config.LOG_LEVEL });
const redis = new Redis(config.REDIS_URL, { maxRetriesPerRequest: null });
const control = new GrpcWorkerControl({
  address: config.CONTROL_ADDRESS,
  ...(config.CONTROL_WORKER_TOKEN ? { token: config.CONTROL_WORKER_TOKEN } : {}),
  ...(tls === undefined ? {} : { tls }),
});
const metrics = new WorkerMetrics();
registerKafkaZstdCodec({ maxBatchBytes: config.WORKER_MAX_BATCH_BYTES });
const resources = new TaskResources(redis, config.QUEUE_PREFIX, log, {
  fetchMaxBytes: config.WORKER_KAFKA_FETCH_BYTES,
  maxRecordBytes: config.WORKER_MAX_RECORD_BYTES,
});
const runner = new LeaseRunner({
  control,
  factories: resources,
  workerId: config.WORKER_ID,
  log,
  settings: {
    maxBatchRows: config.WORKER_MAX_BATCH_ROWS,
    readBatchSize: config.WORKER_READ_BATCH,
    objectWaitMs: config.WORKER_OBJECT_WAIT_MS,
    maxTickCarryMs: config.WORKER_MAX_TICK_CARRY_MS,
  },
  hooks: metrics.hooks(),
});
const leaseWorker = new LeaseWorker(runner, {
  connection: redis,
  prefix: config.QUEUE_PREFIX,
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
    prefix: config.QUEUE_PREFIX,
    concurrency: config.WORKER_SNAPSHOT_CONCURRENCY,
    lockDurationMs: config.WORKER_LOCK_MS,
    stalledIntervalMs: config.WORKER_STALLED_CHECK_MS,
    log,
  },
);

let stopping = false;
const metricsServer =
  config.METRICS_PORT > 0
    ? metrics.serve(
        config.METRICS_PORT,
        () => !stopping,
        (err) => {
          log.error({ err: errorMessage(err), port: config.METRICS_PORT }, 'metrics server failed');
        },
      )
    : undefined;
const heartbeat = new ControlHeartbeat({
  control,
  workerId: config.WORKER_ID,
  log,
  intervalMs: 1_000,
  maxBackoffMs: 30_000,
});

async function shutdown(signal: string): Promise<void> {
  if (stopping) {
    log.warn({ signal }, 'second signal; exiting now');
    process.exit(1);
  }
  stopping = true;
  log.info({ signal }, 'shutting down: draining leases');
  const force = setTimeout(() => {
    log.error('shutdown grace period expired; exiting');
    process.exit(1);
  }, config.WORKER_SHUTDOWN_GRACE_MS);
  heartbeat.stop();
  const steps = [
    () => Promise.all([leaseWorker.close(), snapshotWorker.close()]).then(() => undefined),
    () => control.close(),
    () => redis.quit().then(() => undefined),
    () =>
      new Promise<void>((resolve) => {
        if (metricsServer)
          metricsServer.close(() => {
            resolve();
          });
        else resolve();
      }),
  ];
  for (const step of steps) {
    await step().catch((err: unknown) => {
      log.warn({ err: errorMessage(err) }, 'cleanup step failed');
    });
  }
  clearTimeout(force);
  log.info('stopped');
  process.exit(0);
}

process.on('SIGTERM', () => void shutdown('SIGTERM'));
process.on('SIGINT', () => void shutdown('SIGINT'));
process.on('unhandledRejection', (err) => {
  log.error({ err: errorMessage(err) }, 'unhandled rejection');
  void shutdown('unhandledRejection');
});

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
