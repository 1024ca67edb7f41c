import { randomUUID } from 'node:crypto';
import { CdcError, errorMessage, invalidArgument } from '@cdc/shared';
import type {
  InitialSyncPhase,
  PauseOrigin,
  StandbyRecord,
  TaskRecord,
  TaskSpec,
  TaskState,
} from '../domain/model.js';
import { assertTransition } from '../domain/state-machine.js';
import { validateTaskId } from '../domain/id-validation.js';
import { validateTaskSpec } from '../domain/task-spec-validation.js';
import { channelStatuses, type ChannelStatus } from './channel-status.js';
import { updateChannelRecord } from './compare-and-set.js';
import { decodePageToken, encodePageToken } from './page-token.js';
import { checkResets, withPendingStart, type ChannelResetInput } from './position-reset.js';
import type {
  ChannelDiscovery,
  ChannelStore,
  Clock,
  Reachability,
  SecretBox,
  TaskStore,
} from './ports.js';
import { assertNoOverlap, existingWithSameSpec } from './task-create-checks.js';
import { notFound, updateTaskRecord } from './task-record-update.js';
import { TaskSecrets } from './task-secrets.js';
import { pausedRecord, withState } from './task-transitions.js';

export interface TaskServiceDeps {
  readonly tasks: TaskStore;
  readonly channels: ChannelStore;
  readonly secrets: SecretBox;
  readonly reachability: Reachability;
  readonly discovery: ChannelDiscovery;
  readonly clock: Clock;
  /** A lease silent for longer than this adds its silence to the lag. */
  readonly staleReportMs: number;
  /** A pause point lies this far ahead of the PauseTask call (LeaseTiming.pauseLeadMs). */
  readonly pauseLeadMs: number;
  /** A task became RUNNING (started, resumed): its channels want leases now (the scheduler's nudge). */
  readonly onRunnable?: () => void;
  /** A task began pausing or deleting: its idle leases should hear it now (ReportDemand). */
  readonly onLeasesToTell?: (taskId: string) => void;
}

/** Bytes of stored task records in one ListTasks answer: under gRPC's 4 MiB default receive limit of clients. */
const LIST_RESPONSE_BYTES = 3 * 1024 * 1024;

/** Task rules: create, state changes, positions. No transport or storage technology here (ports only). */
export class TaskService {
  private readonly secrets: TaskSecrets;

  constructor(private readonly deps: TaskServiceDeps) {
    this.secrets = new TaskSecrets(deps.secrets);
  }

  async create(input: {
    taskId: string;
    spec: TaskSpec | undefined;
    startPaused: boolean;
  }): Promise<{ task: TaskRecord; created: boolean }> {
    const taskId =
      input.taskId === '' ? randomUUID().replaceAll('-', '') : validateTaskId(input.taskId);
    const spec = validateTaskSpec(input.spec);
    const sealed = this.secrets.seal(taskId, spec);
    const existing = await existingWithSameSpec(this.deps.tasks, taskId, sealed);
    if (existing !== undefined) return { task: existing, created: false };
    await assertNoOverlap(this.deps.tasks, taskId, spec);
    await this.deps.reachability.check(spec);

    const now = this.deps.clock.now();
    const record: TaskRecord = {
      taskId,
      spec: sealed.redacted,
      sealedFields: sealed.sealedFields,
      sealedSecrets: '',
      secretFieldsSet: sealed.secretFieldsSet,
      state: 'TASK_STATE_CREATING',
      reason: '',
      pausedBy: '',
      createTimeMs: now,
      updateTimeMs: now,
      channels: [],
      ...(spec.initial_sync?.enabled === true
        ? { initialSync: { copying: true, planned: false } }
        : {}),
    };
    if (!(await this.deps.tasks.create(record))) {
      const raced = await existingWithSameSpec(this.deps.tasks, taskId, sealed);
      if (raced !== undefined) return { task: raced, created: false };
      throw new CdcError('ALREADY_EXISTS', `task_id: task ${taskId} already exists`, {
        retryable: false,
      });
    }
    const task = await this.start(taskId, input.startPaused ? 'user' : undefined);
    return { task, created: true };
  }

  /** Discovers channels and moves a CREATING task to RUNNING (or PAUSED when `pauseAs` is set), or FAILED. */
  async start(taskId: string, pauseAs?: PauseOrigin): Promise<TaskRecord> {
    const current = await this.get(taskId);
    let channels: string[] = [];
    let failure: string | undefined;
    try {
      channels = await this.deps.discovery.discover(this.fullSpec(current));
    } catch (err) {
      failure = `discovering channels: ${errorMessage(err)}`;
    }
    const started = await this.mutate(taskId, (t) => {
      if (t.state !== 'TASK_STATE_CREATING') return undefined;
      if (failure !== undefined) return this.withState(t, 'TASK_STATE_FAILED', failure, '');
      const next =
        pauseAs === undefined
          ? this.withState(t, 'TASK_STATE_RUNNING', '', '')
          : this.withState(t, 'TASK_STATE_PAUSED', 'created paused', pauseAs);
      return { ...next, channels };
    });
    if (started.state === 'TASK_STATE_RUNNING') this.deps.onRunnable?.();
    return started;
  }

  async get(taskId: string): Promise<TaskRecord> {
    validateTaskId(taskId);
    const found = await this.deps.tasks.get(taskId);
    if (found === undefined) throw notFound(taskId);
    return found.value;
  }

  async list(
    pageSize: number,
    pageToken: string,
  ): Promise<{ tasks: TaskRecord[]; nextPageToken: string }> {
    if (pageSize > 500) throw invalidArgument('page_size', 'must be at most 500');
    const size = pageSize === 0 ? 50 : pageSize;
    const after = decodePageToken(pageToken, 'page_token');
    // One page from the store; fewer tasks than asked when their records are large (LIST_RESPONSE_BYTES).
    const page = await this.deps.tasks.page(after, size, LIST_RESPONSE_BYTES);
    const last = page.records[page.records.length - 1];
    return {
      tasks: page.records,
      nextPageToken: page.more && last !== undefined ? encodePageToken(last.taskId) : '',
    };
  }

  /**
   * Pauses a task at a point in time. A streaming task goes PAUSING with a pause point that every channel applies the
   * source up to before it stops (`immediate`: each channel stops after its current batch); LeaseService.settlePause
   * makes it PAUSED once every channel has stopped. The point lies `pauseLeadMs` ahead: the caller answers once it
   * passed (see the PauseTask handler), so whatever the client writes after the answer is after the pause. A task with no channel running (created, failed, copying initial
   * data, whose copies stop at their next page) is PAUSED at once. Calling it again on a PAUSING task can only make
   * the pause immediate.
   */
  async pause(
    taskId: string,
    reason: string,
    origin: PauseOrigin = 'user',
    immediate = false,
  ): Promise<TaskRecord> {
    const request = {
      reason: reason === '' ? 'paused by user' : reason,
      origin,
      immediate,
      pauseLeadMs: this.deps.pauseLeadMs,
    };
    const task = await this.mutate(taskId, (t) => pausedRecord(t, request, this.deps.clock));
    if (task.state === 'TASK_STATE_PAUSING') this.deps.onLeasesToTell?.(taskId);
    return task;
  }

  /** PAUSING → PAUSED, if the task still waits for the same pause (LeaseService checks that every channel stopped). */
  async completePause(taskId: string, pauseTimestamp: string): Promise<TaskRecord> {
    return this.mutate(taskId, (t) =>
      t.state === 'TASK_STATE_PAUSING' && t.pause?.timestamp === pauseTimestamp
        ? this.withState(t, 'TASK_STATE_PAUSED', t.reason, t.pausedBy)
        : undefined,
    );
  }

  async resume(taskId: string): Promise<TaskRecord> {
    let resumed = false;
    const task = await this.mutate(taskId, (t) => {
      if (t.state === 'TASK_STATE_RUNNING') return undefined;
      assertTransition(taskId, t.state, 'TASK_STATE_RUNNING');
      resumed = true;
      return this.withState(t, 'TASK_STATE_RUNNING', '', '');
    });
    if (resumed) this.deps.onRunnable?.();
    return task;
  }

  async delete(taskId: string, ignoreNotFound: boolean): Promise<TaskRecord | undefined> {
    try {
      const task = await this.mutate(taskId, (t) => {
        if (t.state === 'TASK_STATE_DELETING') return undefined;
        return this.withState(t, 'TASK_STATE_DELETING', 'deleted by user', '');
      });
      this.deps.onLeasesToTell?.(taskId);
      return task;
    } catch (err) {
      if (ignoreNotFound && err instanceof CdcError && err.code === 'NOT_FOUND') return undefined;
      throw err;
    }
  }

  /** Marks a task FAILED with a reason (control-side problems such as discovery failures). */
  async fail(taskId: string, reason: string): Promise<TaskRecord> {
    return this.mutate(taskId, (t) =>
      t.state === 'TASK_STATE_RUNNING' || t.state === 'TASK_STATE_CREATING'
        ? this.withState(t, 'TASK_STATE_FAILED', reason, '')
        : undefined,
    );
  }

  /** Replaces a task's channel list (periodic re-discovery). */
  async setChannels(taskId: string, channels: string[]): Promise<TaskRecord> {
    return this.mutate(taskId, (t) =>
      t.channels.join(',') === channels.join(',')
        ? undefined
        : { ...t, channels, updateTimeMs: this.deps.clock.now() },
    );
  }

  /** Moves the initial-sync phase on (SnapshotService: planned, then done copying). */
  async setInitialSync(taskId: string, phase: InitialSyncPhase): Promise<TaskRecord> {
    return this.mutate(taskId, (t) =>
      t.initialSync === undefined ||
      (t.initialSync.copying === phase.copying && t.initialSync.planned === phase.planned)
        ? undefined
        : { ...t, initialSync: phase, updateTimeMs: this.deps.clock.now() },
    );
  }

  /** Records the standby follower's open items (not a state change: `updateTimeMs` stays). */
  async setStandby(taskId: string, standby: StandbyRecord): Promise<TaskRecord> {
    const same = (a: readonly string[], b: readonly string[] = []): boolean =>
      a.length === b.length && a.every((v, i) => v === b[i]);
    return this.mutate(taskId, (t) =>
      t.standby !== undefined &&
      same(standby.usersNeedingPerson, t.standby.usersNeedingPerson) &&
      same(standby.skipped, t.standby.skipped)
        ? undefined
        : { ...t, standby },
    );
  }

  async positions(taskId: string): Promise<{ task: TaskRecord; channels: ChannelStatus[] }> {
    const task = await this.get(taskId);
    const records = await this.deps.channels.list(taskId);
    const now = this.deps.clock.now();
    return { task, channels: channelStatuses(task, records, now, this.deps.staleReportMs) };
  }

  async resetPositions(taskId: string, resets: ChannelResetInput[]): Promise<void> {
    const task = await this.get(taskId);
    for (const { channel, start } of checkResets(task, resets))
      await updateChannelRecord(this.deps.channels, taskId, channel, (rec) =>
        withPendingStart(rec, start),
      );
  }

  /** The spec with secrets decrypted. Only for workers and for reachability checks. */
  fullSpec(task: TaskRecord): TaskSpec {
    return this.secrets.open(task);
  }

  /**
   * Seals every task's secrets under the current key (after a key rotation: CONTROL_SECRET_KEYS with the new key
   * first). Tasks keep running: a worker's next lease reads the same secrets. Returns how many tasks there are and how
   * many were rewritten.
   */
  async resealAll(): Promise<{ tasks: number; resealed: number }> {
    let tasks = 0;
    let resealed = 0;
    for (const t of await this.deps.tasks.list()) {
      tasks++;
      let changed = false;
      await this.mutate(t.taskId, (current) => {
        const next = this.secrets.reseal(current);
        changed = next !== undefined;
        return next;
      }).catch((err: unknown) => {
        if (!(err instanceof CdcError && err.code === 'NOT_FOUND')) throw err;
      });
      if (changed) resealed++;
    }
    return { tasks, resealed };
  }

  /** A state change at the clock's time (see task-transitions.ts). */
  private withState(
    t: TaskRecord,
    state: TaskState,
    reason: string,
    pausedBy: PauseOrigin,
  ): TaskRecord {
    return withState(t, state, reason, pausedBy, this.deps.clock.now());
  }

  /** Read-modify-write with compare-and-set. `fn` returns undefined for "no change". */
  private mutate(
    taskId: string,
    fn: (t: TaskRecord) => TaskRecord | undefined,
  ): Promise<TaskRecord> {
    return updateTaskRecord(this.deps.tasks, taskId, fn);
  }
}
