import { randomUUID } from 'node:crypto';
import { CdcError, errorMessage, invalidArgument, composeTs, tsToUnixMs } from '@cdc/shared';
import type {
  ChannelRecord,
  InitialSyncPhase,
  PauseOrigin,
  StandbyRecord,
  StartPoint,
  TaskRecord,
  TaskSpec,
  TaskState,
} from '../domain/model.js';
import { emptyChannelRecord, targetsOf } from '../domain/model.js';
import { scopeOverlap, patternText } from '../domain/scope.js';
import { canonicalJson } from '../domain/secrets.js';
import { assertTransition, stateLabel } from '../domain/state-machine.js';
import { compareAndSet, updateChannelRecord } from './compare-and-set.js';
import {
  targetKey,
  validateStartPoint,
  validateTaskId,
  validateTaskSpec,
} from '../domain/validation.js';
import { decodePageToken, encodePageToken } from './page-token.js';
import { TaskSecrets, type SealedSpec } from './task-secrets.js';
import type {
  ChannelDiscovery,
  ChannelStore,
  Clock,
  Reachability,
  SecretBox,
  TaskStore,
} from './ports.js';

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
}

export interface ChannelStatus {
  channel: string;
  record: ChannelRecord;
  lagMs: number;
  /** A live lease said it read everything the channel held and applied it. */
  caughtUp: boolean;
  /** The channel stopped at the task's pause point. */
  paused: boolean;
}

export interface ChannelResetInput {
  channel: string;
  start: StartPoint;
}

/** Bytes of stored task records in one ListTasks answer: under gRPC's 4 MiB default receive limit of clients. */
const LIST_RESPONSE_BYTES = 3 * 1024 * 1024;

export function notFound(taskId: string): CdcError {
  return new CdcError('NOT_FOUND', `task ${taskId} not found`, {
    retryable: false,
    details: { taskId },
  });
}

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
    const existing = await this.existingWithSameSpec(taskId, sealed);
    if (existing !== undefined) return { task: existing, created: false };
    await this.assertNoOverlap(taskId, spec);
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
      const raced = await this.existingWithSameSpec(taskId, sealed);
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
    return this.mutate(taskId, (t) => {
      if (t.state !== 'TASK_STATE_CREATING') return undefined;
      if (failure !== undefined) return this.withState(t, 'TASK_STATE_FAILED', failure, '');
      const next =
        pauseAs === undefined
          ? this.withState(t, 'TASK_STATE_RUNNING', '', '')
          : this.withState(t, 'TASK_STATE_PAUSED', 'created paused', pauseAs);
      return { ...next, channels };
    });
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
    const why = reason === '' ? 'paused by user' : reason;
    return this.mutate(taskId, (t) => {
      if (t.state === 'TASK_STATE_PAUSED') return undefined;
      if (t.state === 'TASK_STATE_PAUSING') {
        if (!immediate || t.pause === undefined || t.pause.immediate) return undefined;
        return {
          ...t,
          pause: { ...t.pause, immediate: true },
          updateTimeMs: this.deps.clock.now(),
        };
      }
      const streaming = t.state === 'TASK_STATE_RUNNING' && t.initialSync?.copying !== true;
      if (!streaming) {
        assertTransition(taskId, t.state, 'TASK_STATE_PAUSED');
        return this.withState(t, 'TASK_STATE_PAUSED', why, origin);
      }
      assertTransition(taskId, t.state, 'TASK_STATE_PAUSING');
      // Ahead of every bound already granted to the leases (apply_until), so none can be past it yet.
      const at = this.deps.clock.now() + (immediate ? 0 : this.deps.pauseLeadMs);
      return {
        ...this.withState(t, 'TASK_STATE_PAUSING', why, origin),
        pause: { timestamp: composeTs(at).toString(), immediate },
      };
    });
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
    return this.mutate(taskId, (t) => {
      if (t.state === 'TASK_STATE_RUNNING') return undefined;
      assertTransition(taskId, t.state, 'TASK_STATE_RUNNING');
      return this.withState(t, 'TASK_STATE_RUNNING', '', '');
    });
  }

  async delete(taskId: string, ignoreNotFound: boolean): Promise<TaskRecord | undefined> {
    try {
      return await this.mutate(taskId, (t) => {
        if (t.state === 'TASK_STATE_DELETING') return undefined;
        return this.withState(t, 'TASK_STATE_DELETING', 'deleted by user', '');
      });
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
    const names = [...new Set([...task.channels, ...records.keys()])].sort();
    const now = this.deps.clock.now();
    const channels = names.map((channel) => {
      const record = records.get(channel) ?? emptyChannelRecord();
      const caughtUp = this.liveCaughtUp(record, now);
      return {
        channel,
        record,
        caughtUp,
        lagMs: caughtUp ? 0 : this.lagMs(task, record, now),
        paused: task.pause !== undefined && record.pausedAt === task.pause.timestamp,
      };
    });
    return { task, channels };
  }

  async resetPositions(taskId: string, resets: ChannelResetInput[]): Promise<void> {
    const task = await this.get(taskId);
    if (task.state !== 'TASK_STATE_PAUSED')
      throw new CdcError(
        'FAILED_PRECONDITION',
        `task ${taskId} is ${stateLabel(task.state)}; ResetTaskPositions needs a paused task`,
        {
          retryable: false,
        },
      );
    if (resets.length === 0) throw invalidArgument('resets', 'needs at least one channel');
    const checked = resets.map((r, i) => {
      if (!task.channels.includes(r.channel))
        throw invalidArgument(
          `resets[${i}].channel`,
          `"${r.channel}" is not a channel of task ${taskId}`,
        );
      const start = validateStartPoint(
        `resets[${i}].start`,
        r.start,
        task.spec.source.channel_prefix,
      );
      const position = start.positions[r.channel];
      if (start.kind === 'START_KIND_POSITIONS' && position === undefined)
        throw invalidArgument(`resets[${i}].start.positions`, `needs an entry for "${r.channel}"`);
      return {
        channel: r.channel,
        start: { ...start, positions: position === undefined ? {} : { [r.channel]: position } },
      };
    });
    for (const { channel, start } of checked) {
      await updateChannelRecord(this.deps.channels, taskId, channel, (rec) => {
        const next: ChannelRecord = {
          ...rec,
          epoch: (BigInt(rec.epoch) + 1n).toString(),
          pendingStart: start,
          released: true,
        };
        delete next.position;
        delete next.fanOutPositions;
        return next;
      });
    }
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

  /** A report counts while its lease still reports: a silent lease may have fallen behind since. */
  private liveReport(r: ChannelRecord, now: number): boolean {
    return (
      r.released !== true &&
      r.endRequested === undefined &&
      r.updateTimeMs > 0 &&
      now - r.updateTimeMs <= this.deps.staleReportMs
    );
  }

  private liveCaughtUp(r: ChannelRecord, now: number): boolean {
    return r.caughtUp === true && this.liveReport(r, now);
  }

  /**
   * Lag of a channel that is not caught up: how old the newest time tick whose changes are all applied (the
   * checkpoint) was when the lease last reported; once the lease went silent, how old it is now, so the figure keeps
   * rising while the channel is stalled and is right after a restart. A channel with no checkpoint yet counts from
   * when the task (or its position reset) started. A stopped channel of a PAUSING or PAUSED task has no lag: it
   * stands where it was asked to.
   */
  private lagMs(task: TaskRecord, r: ChannelRecord, now: number): number {
    if (task.pause !== undefined && r.pausedAt === task.pause.timestamp) return 0;
    if (task.state !== 'TASK_STATE_RUNNING' && task.state !== 'TASK_STATE_PAUSING') return 0;
    const applied = r.position === undefined ? 0n : BigInt(r.position.timestamp);
    const since =
      applied > 0n
        ? tsToUnixMs(applied)
        : Math.max(task.createTimeMs, r.pendingStart === undefined ? 0 : r.updateTimeMs);
    const asOf = this.liveReport(r, now) ? r.updateTimeMs : now;
    return Math.max(0, asOf - since);
  }

  /**
   * The existing task of this id when it has the same spec, for an idempotent create. Specs are compared without
   * their secret values (only which secret fields are set counts), so CreateTask never tells whether a guessed
   * secret matches the stored one.
   */
  private async existingWithSameSpec(
    taskId: string,
    sealed: SealedSpec,
  ): Promise<TaskRecord | undefined> {
    const found = await this.deps.tasks.get(taskId);
    if (found === undefined) return undefined;
    const same =
      canonicalJson(found.value.spec) === canonicalJson(sealed.redacted) &&
      canonicalJson([...found.value.secretFieldsSet].sort()) ===
        canonicalJson([...sealed.secretFieldsSet].sort());
    if (same && found.value.state !== 'TASK_STATE_DELETING') return found.value;
    throw new CdcError(
      'ALREADY_EXISTS',
      `task_id: task ${taskId} already exists with a different spec`,
      { retryable: false, details: { taskId } },
    );
  }

  private async assertNoOverlap(taskId: string, spec: TaskSpec): Promise<void> {
    const mine = new Set(targetsOf(spec).map((t) => targetKey(t.uri)));
    for (const other of await this.deps.tasks.list()) {
      if (other.taskId === taskId || other.state === 'TASK_STATE_DELETING') continue;
      const target = targetsOf(other.spec)
        .map((t) => targetKey(t.uri))
        .find((k) => mine.has(k));
      if (target === undefined) continue;
      const hit = scopeOverlap(spec.scope, other.spec.scope);
      if (hit !== undefined)
        throw new CdcError(
          'ALREADY_EXISTS',
          `spec.scope: ${patternText(hit.a)} overlaps ${patternText(hit.b)} of task ${other.taskId} on the same target ${target}`,
          { retryable: false, details: { conflictingTaskId: other.taskId } },
        );
    }
  }

  /** A state change; leaving PAUSING/PAUSED for anything else drops the pause point. */
  private withState(
    t: TaskRecord,
    state: TaskState,
    reason: string,
    pausedBy: PauseOrigin,
  ): TaskRecord {
    const next = { ...t, state, reason, pausedBy, updateTimeMs: this.deps.clock.now() };
    if (state !== 'TASK_STATE_PAUSING' && state !== 'TASK_STATE_PAUSED') delete next.pause;
    return next;
  }

  /** Read-modify-write with compare-and-set. `fn` returns undefined for "no change". */
  private mutate(
    taskId: string,
    fn: (t: TaskRecord) => TaskRecord | undefined,
  ): Promise<TaskRecord> {
    validateTaskId(taskId);
    const tasks = this.deps.tasks;
    return compareAndSet(
      `updating task ${taskId}`,
      {
        read: () => tasks.get(taskId),
        write: (next, version) =>
          version === undefined ? Promise.resolve(false) : tasks.update(next, version),
      },
      (current) => {
        if (current === undefined) throw notFound(taskId);
        return fn(current) ?? current;
      },
    );
  }
}
