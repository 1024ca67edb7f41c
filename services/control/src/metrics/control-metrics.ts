import { createServer, type Server } from 'node:http';
import type { Logger } from '@cdc/shared';
import { DEFAULT_METRICS_OPTIONS } from '@cdc/shared';
import { collectDefaultMetrics, Counter, Gauge, Registry } from 'prom-client';
import type { TaskRecord } from '../domain/model.js';
import type { WorkerRpcObserver } from '../handlers/worker-handlers.js';
import type { ChannelStatus } from '../tasks/channel-status.js';

/** What the metrics read at scrape time. Implemented in main.ts over the stores, TaskService and BullMQ. */
export interface ControlStateSource {
  /** Every task (any state). */
  tasks(): Promise<TaskRecord[]>;
  /** Channel statuses with lag, as GetTaskPositions computes them. */
  channels(taskId: string): Promise<ChannelStatus[]>;
  /** Stored quarantine records of a task. */
  quarantineCount(taskId: string): Promise<number>;
  /** BullMQ lease queue job counts by state. */
  leaseJobCounts(): Promise<Record<string, number>>;
}

export const TASK_STATES = [
  'CREATING',
  'RUNNING',
  'PAUSING',
  'PAUSED',
  'FAILED',
  'DELETING',
] as const;
export const LEASE_JOB_STATES = ['waiting', 'active', 'delayed', 'prioritized', 'paused'] as const;

/** Scrapes closer together than this reuse the last snapshot (several Prometheus replicas, dashboards). */
const MIN_REFRESH_MS = 1000;

/**
 * Prometheus metrics of a control replica. Gauges of the shared state (tasks, lag, queue depth, quarantine) are read
 * from etcd and Redis at scrape time, so every replica reports the same values: aggregate them with max(), not
 * sum(). Counters (reports, stale epochs, quarantine reports) count the RPCs this replica served: sum() them.
 * Labels stay low-cardinality: task and channel (and a fixed state set), never data or worker ids.
 */
export class ControlMetrics implements WorkerRpcObserver {
  readonly registry = new Registry();
  private readonly tasksByState = this.gauge('cdc_control_tasks', 'Tasks by state', ['state']);
  private readonly taskChannels = this.gauge(
    'cdc_control_task_channels',
    'Channels a task leases',
    ['task'],
  );
  private readonly leaseJobs = this.gauge(
    'cdc_control_lease_jobs',
    'Lease jobs in the BullMQ queue by state (waiting = channels no worker has taken)',
    ['state'],
  );
  private readonly channelLag = this.gauge(
    'cdc_control_channel_lag_seconds',
    'Replication lag of a channel from its stored checkpoint (rises while the lease is silent)',
    ['task', 'channel'],
  );
  private readonly taskLag = this.gauge(
    'cdc_control_task_lag_seconds',
    'Largest channel lag of a task',
    ['task'],
  );
  private readonly quarantineRecords = this.gauge(
    'cdc_control_quarantine_records',
    'Quarantined (dead-letter) messages stored for a task',
    ['task'],
  );
  private readonly leader = this.gauge(
    'cdc_control_leader',
    '1 when this replica is the scheduler leader',
    [],
  );
  private readonly reports = new Counter({
    name: 'cdc_control_checkpoint_reports_total',
    help: 'Checkpoint reports accepted from workers',
    labelNames: ['task'],
    registers: [this.registry],
  });
  private readonly staleEpochs = new Counter({
    name: 'cdc_control_stale_epoch_rejections_total',
    help: 'Worker calls rejected because their lease epoch was stale (fencing)',
    labelNames: ['task'],
    registers: [this.registry],
  });
  private readonly quarantined = new Counter({
    name: 'cdc_control_quarantine_reports_total',
    help: 'Quarantine reports accepted from workers',
    labelNames: ['task'],
    registers: [this.registry],
  });
  private readonly refreshFailures = new Counter({
    name: 'cdc_control_metrics_refresh_failures_total',
    help: 'Scrapes whose state read (etcd, Redis) failed; the gauges keep their previous values',
    registers: [this.registry],
  });
  private refreshing: Promise<void> | undefined;
  private refreshedAt = 0;

  constructor(
    private readonly source: ControlStateSource,
    private readonly log: Logger,
  ) {
    collectDefaultMetrics({ register: this.registry, ...DEFAULT_METRICS_OPTIONS });
    this.leader.set(0);
  }

  private gauge<L extends string>(name: string, help: string, labelNames: L[]): Gauge<L> {
    return new Gauge({ name, help, labelNames, registers: [this.registry] });
  }

  setLeader(leader: boolean): void {
    this.leader.set(leader ? 1 : 0);
  }

  checkpointReported(taskId: string): void {
    this.reports.inc({ task: taskId });
  }

  staleEpochRejected(taskId: string): void {
    this.staleEpochs.inc({ task: taskId });
  }

  quarantineReported(taskId: string): void {
    this.quarantined.inc({ task: taskId });
  }

  /** Re-reads the shared state into the gauges; concurrent and very frequent calls share one read. */
  refresh(): Promise<void> {
    if (Date.now() - this.refreshedAt < MIN_REFRESH_MS) return Promise.resolve();
    this.refreshing ??= this.read()
      .catch((err: unknown) => {
        this.refreshFailures.inc();
        this.log.warn({ err }, 'reading state for metrics failed');
      })
      .finally(() => {
        this.refreshedAt = Date.now();
        this.refreshing = undefined;
      });
    return this.refreshing;
  }

  private async read(): Promise<void> {
    const [tasks, jobs] = await Promise.all([this.source.tasks(), this.source.leaseJobCounts()]);
    const live = tasks.filter((t) => t.state !== 'TASK_STATE_DELETING');
    const details = await Promise.all(
      live.map(async (t) => ({
        task: t,
        channels: await this.source.channels(t.taskId),
        quarantined: await this.source.quarantineCount(t.taskId),
      })),
    );
    // Reset then set, so deleted tasks and removed channels disappear from the output.
    for (const g of [this.tasksByState, this.taskChannels, this.channelLag, this.taskLag])
      g.reset();
    this.quarantineRecords.reset();
    this.leaseJobs.reset();
    for (const state of TASK_STATES)
      this.tasksByState.set(
        { state },
        tasks.filter((t) => t.state === `TASK_STATE_${state}`).length,
      );
    for (const state of LEASE_JOB_STATES) this.leaseJobs.set({ state }, jobs[state] ?? 0);
    for (const { task, channels, quarantined } of details) {
      this.taskChannels.set({ task: task.taskId }, task.channels.length);
      this.quarantineRecords.set({ task: task.taskId }, quarantined);
      let max = 0;
      for (const c of channels) {
        this.channelLag.set({ task: task.taskId, channel: c.channel }, c.lagMs / 1000);
        max = Math.max(max, c.lagMs);
      }
      this.taskLag.set({ task: task.taskId }, max / 1000);
    }
  }

  /** Serves /metrics and /healthz. Resolves once listening. */
  async serve(host: string, port: number, healthy: () => boolean): Promise<Server> {
    const server = createServer((req, res) => {
      const path = (req.url ?? '').split('?')[0];
      if (path === '/metrics') {
        void this.refresh()
          .then(() => this.registry.metrics())
          .then(
            (body) => {
              res.writeHead(200, { 'content-type': this.registry.contentType });
              res.end(body);
            },
            (err: unknown) => {
              this.log.warn({ err }, 'rendering metrics failed');
              res.writeHead(500);
              res.end();
            },
          );
        return;
      }
      if (path === '/healthz') {
        const ok = healthy();
        res.writeHead(ok ? 200 : 503, { 'content-type': 'text/plain' });
        res.end(ok ? 'ok\n' : 'stopping\n');
        return;
      }
      res.writeHead(404);
      res.end();
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    return server;
  }
}
