import {
  errorMessage,
  LEASE_JOB_NAME,
  leaseJobId,
  SNAPSHOT_JOB_NAME,
  snapshotJobId,
  type LeaseJobData,
  type Logger,
  type SnapshotJobData,
} from '@cdc/shared';
import type { Job, Queue } from 'bullmq';
import type { TaskRecord } from '../domain/model.js';
import type { ChannelDiscovery, TaskStore } from '../tasks/ports.js';
import type { SnapshotService } from '../tasks/snapshot-service.js';
import type { TaskService } from '../tasks/task-service.js';

export interface LeaseSchedulerOptions {
  readonly reconcileIntervalMs: number;
  readonly discoveryIntervalMs: number;
  /** A task stuck in CREATING (a replica died mid-create) is started again after this. */
  readonly creatingTimeoutMs: number;
  /** A DELETING task whose leases are still active is removed anyway after this. */
  readonly deletingGraceMs: number;
}

const LIVE_STATES = [
  'waiting',
  'active',
  'delayed',
  'prioritized',
  'paused',
  'waiting-children',
] as const;

/** Settles pauses: PAUSING → PAUSED once every channel stopped; the channels still running keep their lease jobs. */
export interface PauseSettler {
  settlePause(taskId: string): Promise<{ readonly running: readonly string[] }>;
}

/** Initial sync: its job queue and the service that plans copies and says which collections are left. */
export interface SnapshotScheduling {
  readonly queue: Queue<SnapshotJobData>;
  readonly service: SnapshotService;
}

/**
 * Leader-only loop keeping exactly one BullMQ lease job per (running task, channel): adds the missing ones,
 * removes waiting jobs of paused/failed/deleted tasks and of channels no longer in a task, re-discovers channels,
 * restarts stuck creates and finishes deletes. Active jobs are stopped by the workers themselves
 * (ReportCheckpoint answers keep_lease=false). A task copying initial data gets one snapshot job per collection left
 * to copy instead, and no lease job until every copy is done.
 */
export class LeaseScheduler {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private lastDiscovery = new Map<string, number>();
  state: 'idle' | 'running' | 'stopped' = 'idle';

  constructor(
    private readonly queue: Queue<LeaseJobData>,
    private readonly store: TaskStore,
    private readonly tasks: TaskService,
    private readonly discovery: ChannelDiscovery,
    private readonly pauses: PauseSettler,
    private readonly log: Logger,
    private readonly opts: LeaseSchedulerOptions,
    private readonly snapshots?: SnapshotScheduling,
  ) {}

  start(): void {
    if (this.state === 'running') return;
    this.state = 'running';
    this.lastDiscovery.clear();
    this.tick();
  }

  async stop(): Promise<void> {
    this.state = 'stopped';
    clearTimeout(this.timer);
    await this.running;
  }

  private tick(): void {
    if (this.state !== 'running') return;
    this.running = this.reconcile()
      .catch((err: unknown) => {
        this.log.warn({ err }, 'lease reconcile failed; retrying');
      })
      .finally(() => {
        if (this.state === 'running')
          this.timer = setTimeout(() => {
            this.tick();
          }, this.opts.reconcileIntervalMs);
      });
  }

  /** One pass. Public for tests. */
  async reconcile(): Promise<void> {
    const tasks = await this.store.list();
    const leaseJobs = await this.queue.getJobs([...LIVE_STATES]);
    const snapshotQueue = this.snapshots?.queue;
    const snapshotJobs =
      snapshotQueue === undefined ? [] : await snapshotQueue.getJobs([...LIVE_STATES]);
    const jobs: Job<LeaseJobData | SnapshotJobData>[] = [...leaseJobs, ...snapshotJobs];
    const active = new Set(
      [
        ...(await this.queue.getJobs(['active'])),
        ...(snapshotQueue === undefined ? [] : await snapshotQueue.getJobs(['active'])),
      ].map((j) => j.id),
    );
    const byId = new Map(jobs.map((j) => [j.id ?? '', j]));
    const wanted = new Set<string>();
    const now = Date.now();

    for (const task of tasks) {
      if (this.state !== 'running') return;
      switch (task.state) {
        case 'TASK_STATE_RUNNING': {
          if (this.snapshots !== undefined && task.initialSync?.copying === true) {
            const left = await this.snapshots.service.pending(task).catch((err: unknown) => {
              // One task's unreadable source must not stop the pass for the others; its jobs stay as they are.
              this.log.warn(
                { taskId: task.taskId, err: errorMessage(err) },
                'initial sync planning failed; retrying',
              );
              for (const j of snapshotJobs)
                if (j.data.taskId === task.taskId && j.id !== undefined) wanted.add(j.id);
              return undefined;
            });
            if (left === undefined) break;
            for (const collectionId of left) {
              const jobId = snapshotJobId(task.taskId, collectionId);
              wanted.add(jobId);
              if (!byId.has(jobId)) {
                await this.snapshots.queue.add(
                  SNAPSHOT_JOB_NAME,
                  { taskId: task.taskId, collectionId },
                  { jobId, removeOnComplete: true, removeOnFail: true },
                );
                this.log.debug({ taskId: task.taskId, collectionId }, 'snapshot job added');
              }
            }
            // Channels stream only once every copy is done (pending() then ended the copy phase).
            if (left.length > 0) break;
          }
          const current = await this.maybeRediscover(task, now);
          for (const channel of current.channels) {
            const jobId = leaseJobId(task.taskId, channel);
            wanted.add(jobId);
            if (!byId.has(jobId)) {
              await this.queue.add(
                LEASE_JOB_NAME,
                { taskId: task.taskId, channel },
                { jobId, removeOnComplete: true, removeOnFail: true },
              );
              this.log.debug({ taskId: task.taskId, channel }, 'lease job added');
            }
          }
          break;
        }
        case 'TASK_STATE_PAUSING': {
          // Channels that have not stopped at the pause point yet keep (or get) a lease to reach it.
          const { running } = await this.pauses.settlePause(task.taskId);
          for (const channel of running) {
            const jobId = leaseJobId(task.taskId, channel);
            wanted.add(jobId);
            if (!byId.has(jobId))
              await this.queue.add(
                LEASE_JOB_NAME,
                { taskId: task.taskId, channel },
                { jobId, removeOnComplete: true, removeOnFail: true },
              );
          }
          break;
        }
        case 'TASK_STATE_CREATING':
          if (now - task.updateTimeMs > this.opts.creatingTimeoutMs)
            await this.tasks.start(task.taskId);
          break;
        case 'TASK_STATE_DELETING': {
          const stillActive = jobs.some((j) => j.data.taskId === task.taskId && active.has(j.id));
          if (!stillActive || now - task.updateTimeMs > this.opts.deletingGraceMs) {
            await this.store.remove(task.taskId);
            this.log.info({ taskId: task.taskId }, 'task deleted');
          }
          break;
        }
        case 'TASK_STATE_PAUSED':
        case 'TASK_STATE_FAILED':
          break;
      }
    }
    for (const job of jobs) {
      if (job.id === undefined || wanted.has(job.id) || active.has(job.id)) continue;
      await job.remove().catch((err: unknown) => {
        this.log.debug(
          { jobId: job.id, err: errorMessage(err) },
          'lease job not removed (taken meanwhile)',
        );
      });
    }
  }

  private async maybeRediscover(task: TaskRecord, now: number): Promise<TaskRecord> {
    const last = this.lastDiscovery.get(task.taskId) ?? 0;
    if (now - last < this.opts.discoveryIntervalMs) return task;
    this.lastDiscovery.set(task.taskId, now);
    try {
      const channels = await this.discovery.discover(this.tasks.fullSpec(task));
      if (channels.join(',') === task.channels.join(',')) return task;
      this.log.info({ taskId: task.taskId, channels: channels.length }, 'task channels changed');
      return await this.tasks.setChannels(task.taskId, channels);
    } catch (err) {
      this.log.warn(
        { taskId: task.taskId, err: errorMessage(err) },
        'channel re-discovery failed; keeping channels',
      );
      return task;
    }
  }
}
