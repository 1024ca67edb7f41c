import {
  DEFAULT_QUEUE_PREFIX,
  errorMessage,
  LEASE_JOB_NAME,
  leaseJobId,
  taskKeyPrefix,
  SNAPSHOT_JOB_NAME,
  snapshotJobId,
  type LeaseJobData,
  type Logger,
  type SnapshotJobData,
} from '@cdc/shared';
import type { JobType, Queue } from 'bullmq';
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

/**
 * Delay of `nudgeSoon`: the worker completes the job it held or was refused a few milliseconds after the call that
 * prompted the nudge; a pass that still sees it active would leave the channel to the next interval.
 */
const NUDGE_SOON_MS = 200;

const LIVE_STATES = [
  'waiting',
  'active',
  'delayed',
  'prioritized',
  'paused',
  'waiting-children',
] as const;

/**
 * Every job id in the given states. BullMQ's `getRanges` returns the first two of each state unless told the range:
 * the scheduler then re-added every other job each pass, never removed the unwanted ones past the first two, and
 * took a deleting task whose leases were past them for one without active leases.
 */
function allIds(queue: Queue, states: readonly JobType[]): Promise<string[]> {
  return queue.getRanges([...states], 0, -1);
}

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
  private passing = false;
  private again = false;
  private soon: NodeJS.Timeout | undefined;
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
    clearTimeout(this.soon);
    this.soon = undefined;
    await this.running;
  }

  /**
   * A task became runnable (created, resumed): pass now rather than at the next interval, so its channels are
   * leased without waiting for the timer. A pass under way is followed by another at once.
   */
  nudge(): void {
    if (this.state !== 'running') return;
    if (this.passing) {
      this.again = true;
      return;
    }
    clearTimeout(this.timer);
    this.tick();
  }

  /**
   * A channel's job is ending so another worker can take it (rebalancing): pass shortly, not at the next interval
   * (1.5 s by default, paid again each time the job comes back to the worker it was moved from). Calls within the
   * delay share one pass, so refusals repeating while the moved-from worker keeps picking the job cost at most five
   * passes a second.
   */
  nudgeSoon(): void {
    if (this.state !== 'running' || this.soon !== undefined) return;
    this.soon = setTimeout(() => {
      this.soon = undefined;
      this.nudge();
    }, NUDGE_SOON_MS);
  }

  private tick(): void {
    if (this.state !== 'running') return;
    this.passing = true;
    this.running = this.reconcile()
      .catch((err: unknown) => {
        this.log.warn({ err }, 'lease reconcile failed; retrying');
      })
      .finally(() => {
        this.passing = false;
        if (this.state !== 'running') return;
        const delay = this.again ? 0 : this.opts.reconcileIntervalMs;
        this.again = false;
        this.timer = setTimeout(() => {
          this.tick();
        }, delay);
      });
  }

  /** One pass. Public for tests. */
  async reconcile(): Promise<void> {
    const tasks = await this.store.list();
    // Job ids only (one call per queue): a pass runs every CONTROL_RECONCILE_INTERVAL_MS, and reading every job's
    // hash made the scheduler a main cost of an idle control service with hundreds of leases. Ids say task and channel.
    const leaseIds = new Set(await allIds(this.queue, LIVE_STATES));
    const snapshotQueue = this.snapshots?.queue;
    const snapshotIds = new Set(
      snapshotQueue === undefined ? [] : await allIds(snapshotQueue, LIVE_STATES),
    );
    const active = new Set([
      ...(await allIds(this.queue, ['active'])),
      ...(snapshotQueue === undefined ? [] : await allIds(snapshotQueue, ['active'])),
    ]);
    const byId = new Set([...leaseIds, ...snapshotIds]);
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
              for (const id of snapshotIds)
                if (id.startsWith(snapshotJobId(task.taskId, ''))) wanted.add(id);
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
          const stillActive = await this.hasActiveJob(task.taskId, active);
          if (!stillActive || now - task.updateTimeMs > this.opts.deletingGraceMs) {
            await this.store.remove(task.taskId);
            await this.forgetWorkerKeys(task.taskId);
            this.log.info({ taskId: task.taskId }, 'task deleted');
          }
          break;
        }
        case 'TASK_STATE_PAUSED':
        case 'TASK_STATE_FAILED':
          break;
      }
    }
    await this.removeUnwanted(this.queue, leaseIds, wanted, active);
    if (snapshotQueue !== undefined)
      await this.removeUnwanted(snapshotQueue, snapshotIds, wanted, active);
  }

  /**
   * The keys the workers keep in Redis for the task (its drop barriers, under `taskKeyPrefix`), removed with it: a task
   * created again under the same id must not find the old one's drops done. Best effort: they expire in 7 days.
   */
  private async forgetWorkerKeys(taskId: string): Promise<void> {
    try {
      const redis = await this.queue.client;
      const prefix = taskKeyPrefix(this.queue.opts.prefix ?? DEFAULT_QUEUE_PREFIX, taskId);
      const match = `${globEscaped(prefix)}:*`;
      let cursor = '0';
      do {
        const [next, keys] = await redis.scan(cursor, { MATCH: match, COUNT: 500 });
        if (keys.length > 0) await redis.del(...keys);
        cursor = next;
      } while (cursor !== '0');
    } catch (err) {
      this.log.warn(
        { taskId, err: errorMessage(err) },
        'drop barriers of the deleted task not removed (they expire in 7 days)',
      );
    }
  }

  /** Removes the queue's jobs no task wants; active ones end through their worker's next report. */
  private async removeUnwanted(
    queue: Queue,
    ids: ReadonlySet<string>,
    wanted: ReadonlySet<string>,
    active: ReadonlySet<string>,
  ): Promise<void> {
    for (const id of ids) {
      if (wanted.has(id) || active.has(id)) continue;
      await queue.remove(id).catch((err: unknown) => {
        this.log.debug(
          { jobId: id, err: errorMessage(err) },
          'lease job not removed (taken meanwhile)',
        );
      });
    }
  }

  /** Whether a worker still holds a job of the task (ids may share a prefix with another task's: data decides). */
  private async hasActiveJob(taskId: string, active: ReadonlySet<string>): Promise<boolean> {
    for (const id of active) {
      if (!id.startsWith(`${taskId}--`)) continue;
      const job =
        (await this.queue.getJob(id)) ?? (await this.snapshots?.queue.getJob(id)) ?? undefined;
      if (job?.data.taskId === taskId) return true;
    }
    return false;
  }

  private async maybeRediscover(task: TaskRecord, now: number): Promise<TaskRecord> {
    // A task's channels were discovered when it started (its last update): not again within the interval.
    const last = this.lastDiscovery.get(task.taskId) ?? task.updateTimeMs;
    if (now - last < this.opts.discoveryIntervalMs) return task;
    this.lastDiscovery.set(task.taskId, now);
    try {
      // Half an interval old will do: tasks on one source re-discover at different times, and share a read.
      const channels = await this.discovery.discover(this.tasks.fullSpec(task), {
        maxAgeMs: this.opts.discoveryIntervalMs / 2,
      });
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

/** `s` matched literally in a Redis glob pattern. */
function globEscaped(s: string): string {
  return s.replace(/[*?[\]\\]/g, '\\$&');
}
