#!/usr/bin/env node
import { randomBytes } from 'node:crypto';
import {
  configOrExit,
  createLogger,
  DEFAULT_QUEUE_PREFIX,
  etcdGrpcOptions,
  etcdPageKeys,
  handleShutdown,
  LEASE_QUEUE_NAME,
  serverStep,
  SNAPSHOT_QUEUE_NAME,
  type LeaseJobData,
  type SnapshotJobData,
} from '@cdc/shared';
import { Queue } from 'bullmq';
import { Etcd3 } from 'etcd3';
import { AesSecretBox } from './adapters/aes-secret-box.js';
import { EtcdQuarantineStore } from './adapters/etcd-quarantine-store.js';
import { EtcdReportBatchStore } from './adapters/etcd-report-batch.js';
import {
  EtcdChannelStore,
  EtcdKeys,
  EtcdSnapshotStore,
  EtcdTaskStore,
} from './adapters/etcd-stores.js';
import {
  EtcdChannelDiscovery,
  EtcdSnapshotPlanner,
  NetworkReachability,
} from './adapters/source-probes.js';
import { loadControlConfig, redactedConfig, secretKeysOf, type ControlConfig } from './config.js';
import { cdcHandlers } from './handlers/cdc-handlers.js';
import { WatchLimiter } from './handlers/watch-stream.js';
import { workerHandlers } from './handlers/worker-handlers.js';
import { ControlMetrics, LEASE_JOB_STATES } from './metrics/control-metrics.js';
import { LeaderElection } from './scheduling/leader-election.js';
import { LeaseScheduler } from './scheduling/lease-scheduler.js';
import { loadServerSecurity, type ServerSecurity } from './security/server-security.js';
import { ControlServer } from './server.js';
import { LeaseService } from './tasks/lease-service.js';
import { reportSilenceMs } from './tasks/lease-timing.js';
import { ReportDemand } from './tasks/report-demand.js';
import { QuarantineService } from './tasks/quarantine-service.js';
import { systemClock } from './tasks/ports.js';
import { SnapshotService } from './tasks/snapshot-service.js';
import { SharedChannelDiscovery } from './tasks/shared-discovery.js';
import { TaskService } from './tasks/task-service.js';
import { SdkRowSide } from './adapters/milvus-row-side.js';
import { appliedCheckpoints } from './verify/applied-checkpoints.js';
import { VerifyService } from './verify/verify-service.js';

const log = createLogger({ service: 'cdc-control' });

/** The secret key ring, current key first. */
function secretKeys(config: ControlConfig): Buffer[] {
  const keys = secretKeysOf(config).map((k) => Buffer.from(k, 'base64'));
  if (keys.length > 0) return keys;
  log.warn(
    'CONTROL_SECRET_KEY not set: using an ephemeral key (dev only); stored task secrets become unreadable after restart',
  );
  return [randomBytes(32)];
}

/** One line on how the API is protected; a warning when it is open or sends tokens in plaintext. */
function logSecurity(security: ServerSecurity, config: ControlConfig): void {
  const tokens = security.api === undefined ? 'off' : 'required';
  log.info({ tls: security.tls, tokens }, 'grpc api security');
  if (security.api === undefined && security.tls !== 'mutual' && config.CONTROL_INSECURE)
    log.warn(
      { address: config.CONTROL_GRPC_ADDRESS },
      'CONTROL_INSECURE=true: the gRPC API (CdcService and WorkerService, which hands out task secrets) accepts unauthenticated calls from other hosts; never run this in production',
    );
  else if (security.api === undefined)
    log.warn(
      'no CONTROL_API_TOKENS / CONTROL_WORKER_TOKENS configured: the gRPC API (CdcService and WorkerService) accepts unauthenticated calls',
    );
  else if (security.tls === 'off')
    log.warn('tokens are required but TLS is off: bearer tokens cross the network in plaintext');
}

async function main(): Promise<void> {
  // Exits 78 on an invalid variable or an unreadable certificate, before any connection is made.
  const { config, deprecations, security } = configOrExit(() => {
    const loaded = loadControlConfig();
    return { ...loaded, security: loadServerSecurity(loaded.config) };
  }, log);
  for (const deprecation of deprecations) log.warn(deprecation);
  log.info({ config: redactedConfig(config) }, 'starting');
  logSecurity(security, config);

  const etcd = new Etcd3({
    hosts: config.CONTROL_ETCD_ENDPOINTS,
    grpcOptions: etcdGrpcOptions(config.CONTROL_ETCD_MAX_REQUEST_BYTES),
    ...(config.CONTROL_ETCD_USERNAME === ''
      ? {}
      : {
          auth: { username: config.CONTROL_ETCD_USERNAME, password: config.CONTROL_ETCD_PASSWORD },
        }),
  });
  const keys = new EtcdKeys(
    config.CONTROL_ETCD_ROOT,
    etcdPageKeys(config.CONTROL_ETCD_MAX_REQUEST_BYTES),
  );
  const taskStore = new EtcdTaskStore(etcd, keys);
  const channelStore = new EtcdChannelStore(etcd, keys);
  const reportBatchStore = new EtcdReportBatchStore(
    etcd,
    keys,
    config.CONTROL_ETCD_MAX_REQUEST_BYTES,
  );
  const discovery = new SharedChannelDiscovery(
    new EtcdChannelDiscovery(config.CONTROL_PROBE_TIMEOUT_MS, config.CONTROL_ASSUMED_DML_CHANNELS),
  );
  const probes = new NetworkReachability(config.CONTROL_PROBE_TIMEOUT_MS);
  const reportDemand = new ReportDemand(systemClock);
  const tasks = new TaskService({
    tasks: taskStore,
    channels: channelStore,
    secrets: new AesSecretBox(secretKeys(config)),
    reachability: config.CONTROL_CHECK_REACHABILITY ? probes : { check: () => Promise.resolve() },
    discovery,
    clock: systemClock,
    staleReportMs: reportSilenceMs(5_000, { idleReportMs: config.CONTROL_IDLE_REPORT_INTERVAL_MS }),
    pauseLeadMs: config.CONTROL_PAUSE_LEAD_MS,
    // Called only after start-up (scheduler exists by then); does nothing on a replica that is not the leader.
    onRunnable: () => {
      scheduler.nudge();
    },
    onLeasesToTell: (taskId) => {
      reportDemand.want(taskId);
    },
  });
  const leases = new LeaseService({
    tasks,
    channels: channelStore,
    clock: systemClock,
    liveWindowMs: config.CONTROL_LIVE_WINDOW_MS,
    reportIntervalMs: config.CONTROL_REPORT_INTERVAL_MS,
    replicateReportIntervalMs: config.CONTROL_REPLICATE_REPORT_INTERVAL_MS,
    replicateTickerReportIntervalMs: config.CONTROL_REPLICATE_TICKER_REPORT_INTERVAL_MS,
    batch: reportBatchStore,
    demand: reportDemand,
    // As onRunnable above: the scheduler exists by the first call.
    onRebalanceMove: () => {
      scheduler.nudgeSoon();
    },
    timing: {
      writeValidityMs: config.CONTROL_LEASE_WRITE_VALIDITY_MS,
      handoverMs: config.CONTROL_LEASE_HANDOVER_MS,
      pauseLeadMs: config.CONTROL_PAUSE_LEAD_MS,
      idleReportMs: config.CONTROL_IDLE_REPORT_INTERVAL_MS,
    },
  });
  const quarantine = new QuarantineService({
    tasks,
    channels: channelStore,
    store: new EtcdQuarantineStore(etcd, keys, config.CONTROL_ETCD_MAX_REQUEST_BYTES),
    clock: systemClock,
    payloadCap: config.CONTROL_QUARANTINE_PAYLOAD_CAP,
    maxEntries: config.CONTROL_QUARANTINE_MAX_ENTRIES,
  });
  const verify = new VerifyService({
    task: async (taskId) => {
      const record = await tasks.get(taskId);
      return { record, spec: tasks.fullSpec(record) };
    },
    openSide: (side, endpoint) =>
      SdkRowSide.open(side, endpoint, {
        connectTimeoutMs: config.CONTROL_PROBE_TIMEOUT_MS,
        callTimeoutMs: config.CONTROL_VERIFY_CALL_TIMEOUT_MS,
      }),
    applied: appliedCheckpoints(tasks, reportDemand),
  });
  const snapshots = new SnapshotService({
    tasks,
    store: new EtcdSnapshotStore(etcd, keys),
    planner: new EtcdSnapshotPlanner(config.CONTROL_PROBE_TIMEOUT_MS),
    clock: systemClock,
  });
  const redisUrl = new URL(config.CDC_REDIS_URL);
  const queueOptions = {
    prefix: config.CDC_QUEUE_PREFIX || DEFAULT_QUEUE_PREFIX,
    connection: {
      host: redisUrl.hostname,
      port: Number(redisUrl.port || 6379),
      ...(redisUrl.password === '' ? {} : { password: decodeURIComponent(redisUrl.password) }),
      ...(redisUrl.username === '' ? {} : { username: decodeURIComponent(redisUrl.username) }),
    },
  };
  const queue = new Queue<LeaseJobData>(LEASE_QUEUE_NAME, queueOptions);
  const snapshotQueue = new Queue<SnapshotJobData>(SNAPSHOT_QUEUE_NAME, queueOptions);
  for (const q of [queue, snapshotQueue])
    q.on('error', (err) => {
      log.warn({ err }, 'redis error');
    });
  const scheduler = new LeaseScheduler(
    queue,
    taskStore,
    tasks,
    discovery,
    leases,
    log.child({ component: 'lease-scheduler' }),
    {
      reconcileIntervalMs: config.CONTROL_RECONCILE_INTERVAL_MS,
      discoveryIntervalMs: config.CONTROL_DISCOVERY_INTERVAL_MS,
      creatingTimeoutMs: 30_000,
      deletingGraceMs: 30_000,
    },
    { queue: snapshotQueue, service: snapshots },
  );
  const metrics = new ControlMetrics(
    {
      tasks: () => taskStore.list(),
      channels: async (taskId) => (await tasks.positions(taskId)).channels,
      quarantineCount: (taskId) => quarantine.count(taskId),
      leaseJobCounts: () => queue.getJobCounts(...LEASE_JOB_STATES),
    },
    log.child({ component: 'metrics' }),
  );
  const election = new LeaderElection(
    etcd,
    keys.election(),
    config.CONTROL_INSTANCE_ID,
    config.CONTROL_ELECTION_TTL_S,
    (leader) => {
      metrics.setLeader(leader);
      if (leader) scheduler.start();
      else void scheduler.stop();
    },
    log.child({ component: 'leader-election' }),
  );
  const server = new ControlServer(
    {
      cdc: cdcHandlers(
        tasks,
        verify,
        quarantine,
        log.child({ component: 'cdc-service' }),
        snapshots,
        new WatchLimiter(config.CONTROL_WATCH_STREAMS_PER_CALLER),
      ),
      worker: workerHandlers(
        leases,
        quarantine,
        log.child({ component: 'worker-service' }),
        metrics,
        snapshots,
      ),
    },
    log,
    security,
  );
  const port = await server.listen(config.CONTROL_GRPC_ADDRESS);
  let stopping = false;
  // /metrics is auxiliary: a port clash (several replicas on one host) is logged, not fatal.
  const metricsServer =
    config.CONTROL_METRICS_PORT === 0
      ? undefined
      : await metrics
          .serve(config.CONTROL_METRICS_HOST, config.CONTROL_METRICS_PORT, () => !stopping)
          .then(
            (s) => {
              log.info({ port: config.CONTROL_METRICS_PORT }, 'metrics listening');
              return s;
            },
            (err: unknown) => {
              log.error({ err, port: config.CONTROL_METRICS_PORT }, 'metrics server not started');
              return undefined;
            },
          );
  election.start();
  // One machine-readable line for scripts and tests that bind port 0.
  process.stdout.write(
    `${JSON.stringify({ msg: 'control ready', port, instanceId: config.CONTROL_INSTANCE_ID })}\n`,
  );

  handleShutdown({
    log,
    forceAfterMs: config.CONTROL_SHUTDOWN_GRACE_MS + 5_000,
    beforeSteps: () => {
      stopping = true;
    },
    plan: () => [
      [
        { name: 'grpc server', run: () => server.stop(config.CONTROL_SHUTDOWN_GRACE_MS) },
        { name: 'leader election', run: () => election.stop() },
        { name: 'lease scheduler', run: () => scheduler.stop() },
      ],
      [
        { name: 'lease queue', run: () => queue.close() },
        { name: 'snapshot queue', run: () => snapshotQueue.close() },
        serverStep('metrics server', metricsServer),
      ],
      {
        name: 'etcd',
        run: () => {
          etcd.close();
        },
      },
    ],
  });
}

main().catch((err: unknown) => {
  log.fatal({ err }, 'failed to start');
  process.exit(1);
});
