import { CdcError, composeTs } from '@cdc/shared';
import type { SnapshotRecord, SnapshotState, TaskRecord, TaskSpec } from '../domain/model.js';
import { stateLabel } from '../domain/state-machine.js';
import { validateWorkerId } from '../domain/id-validation.js';
import { compareAndSet, staleEpochError } from './compare-and-set.js';
import type { Clock, SnapshotPlanner, SnapshotStore } from './ports.js';
import type { TaskService } from './task-service.js';

/**
 * Initial sync, control side.
 *
 * Why copy-then-stream is exact: a task with initial sync starts LATEST, i.e. at T0 = its creation time (the lease
 * service turns LATEST into a timestamp start at T0). Every in-scope collection that exists is copied FIRST, with
 * Strong-consistency queries that see everything written up to T0 (and maybe some later writes); only THEN does any
 * channel stream, from T0. Every change after T0 is re-applied in source order over the copy; inserts are upserts by
 * key and deletes are by key, so the target converges to the source: rows written up to T0 come from the copy, later
 * changes from the stream (no gap), and a row seen by both is written twice by key (no duplicate). Streaming must not
 * start while any copy is still writing: a stale copied row could otherwise resurrect a row the stream already
 * deleted. A collection created after T0 is created and filled by the stream itself; one dropped before the plan is
 * read is history the stream skips.
 */
export interface SnapshotServiceDeps {
  readonly tasks: TaskService;
  readonly store: SnapshotStore;
  readonly planner: SnapshotPlanner;
  readonly clock: Clock;
}

export interface SnapshotReport {
  taskId: string;
  collectionId: string;
  epoch: string;
  workerId: string;
  state: SnapshotState;
  rowsCopied: string;
  rowsTotal: string;
  partition: string;
  lastKey: string;
  error: string;
  needsPerson: boolean;
}

export interface InitialSyncStatus {
  copying: boolean;
  snapshotTimestamp: string;
  collections: SnapshotRecord[];
}

export function staleSnapshotEpoch(
  taskId: string,
  collectionId: string,
  epoch: string,
  current: string,
): CdcError {
  return staleEpochError('snapshot', { taskId, collectionId, epoch, currentEpoch: current });
}

function precondition(message: string): CdcError {
  return new CdcError('FAILED_PRECONDITION', message, { retryable: false });
}

export class SnapshotService {
  constructor(private readonly deps: SnapshotServiceDeps) {}

  /**
   * For the scheduler, on a RUNNING task that is copying: the collection ids still to copy. Plans the copy on the
   * first call (one PENDING record per in-scope source collection); ends the copy phase when every record is DONE,
   * and then returns [] (the scheduler leases the channels from then on).
   */
  async pending(task: TaskRecord): Promise<string[]> {
    if (task.initialSync?.copying !== true) return [];
    let records = await this.deps.store.list(task.taskId);
    if (!task.initialSync.planned) {
      records = await this.plan(task);
      await this.deps.tasks.setInitialSync(task.taskId, { copying: true, planned: true });
    }
    const left = records.filter((r) => r.state !== 'SNAPSHOT_STATE_DONE');
    if (left.length === 0)
      await this.deps.tasks.setInitialSync(task.taskId, { copying: false, planned: true });
    return left.map((r) => r.collectionId);
  }

  async acquire(
    taskId: string,
    collectionId: string,
    workerId: string,
  ): Promise<{ epoch: string; spec: TaskSpec; progress: SnapshotRecord }> {
    validateWorkerId(workerId);
    const task = await this.deps.tasks.get(taskId);
    if (task.state !== 'TASK_STATE_RUNNING')
      throw precondition(`task ${taskId} is ${stateLabel(task.state)}`);
    if (task.initialSync?.copying !== true)
      throw precondition(`task ${taskId} is not copying initial data`);
    const progress = await this.cas(taskId, collectionId, (rec) => {
      if (rec.state === 'SNAPSHOT_STATE_DONE')
        throw precondition(`collection ${collectionId} of task ${taskId} is already copied`);
      return {
        ...rec,
        state: 'SNAPSHOT_STATE_COPYING',
        epoch: (BigInt(rec.epoch) + 1n).toString(),
        workerId,
        updateTimeMs: this.deps.clock.now(),
      };
    });
    return { epoch: progress.epoch, spec: this.deps.tasks.fullSpec(task), progress };
  }

  /**
   * Stores a worker's progress (fenced by epoch) and says whether to go on. Progress is kept even when the task was
   * paused meanwhile: those rows are on the target, and a resumed copy continues after them.
   */
  async report(r: SnapshotReport): Promise<{ keepGoing: boolean; reason: string }> {
    validateWorkerId(r.workerId);
    const found = await this.deps.tasks.get(r.taskId).catch((err: unknown) => {
      if (err instanceof CdcError && err.code === 'NOT_FOUND') return undefined;
      throw err;
    });
    if (found === undefined) return { keepGoing: false, reason: 'task deleted' };
    const record = await this.cas(r.taskId, r.collectionId, (rec) => {
      if (rec.epoch !== r.epoch)
        throw staleSnapshotEpoch(r.taskId, r.collectionId, r.epoch, rec.epoch);
      return {
        ...rec,
        state: r.error === '' ? r.state : rec.state,
        rowsCopied: r.rowsCopied,
        rowsTotal: r.rowsTotal,
        partition: r.partition,
        lastKey: r.lastKey,
        lastError: r.error,
        workerId: r.workerId,
        updateTimeMs: this.deps.clock.now(),
      };
    });
    if (r.error !== '') {
      if (r.needsPerson && found.state === 'TASK_STATE_RUNNING')
        await this.deps.tasks.pause(
          r.taskId,
          `initial sync of ${record.database}.${record.collection}: ${r.error}`,
          'worker',
        );
      return { keepGoing: false, reason: r.error };
    }
    if (found.state !== 'TASK_STATE_RUNNING')
      return { keepGoing: false, reason: `task ${stateLabel(found.state)}` };
    return { keepGoing: true, reason: '' };
  }

  /** Progress for the public API; undefined for a task without initial sync. */
  async status(task: TaskRecord): Promise<InitialSyncStatus | undefined> {
    if (task.initialSync === undefined) return undefined;
    return {
      copying: task.initialSync.copying,
      snapshotTimestamp: composeTs(task.createTimeMs).toString(),
      collections: await this.deps.store.list(task.taskId),
    };
  }

  private async plan(task: TaskRecord): Promise<SnapshotRecord[]> {
    const found = await this.deps.planner.collections(this.deps.tasks.fullSpec(task));
    for (const c of found) {
      const record: SnapshotRecord = {
        ...c,
        state: 'SNAPSHOT_STATE_PENDING',
        rowsCopied: '0',
        rowsTotal: '0',
        partition: '',
        lastKey: '',
        lastError: '',
        workerId: '',
        epoch: '0',
        updateTimeMs: this.deps.clock.now(),
      };
      // Create-if-absent: a plan interrupted by a leader change is completed, never reset.
      await this.deps.store.put(task.taskId, record, undefined);
    }
    return this.deps.store.list(task.taskId);
  }

  private cas(
    taskId: string,
    collectionId: string,
    fn: (r: SnapshotRecord) => SnapshotRecord,
  ): Promise<SnapshotRecord> {
    const store = this.deps.store;
    return compareAndSet(
      `updating snapshot ${collectionId} of task ${taskId}`,
      {
        read: () => store.get(taskId, collectionId),
        write: (next, version) => store.put(taskId, next, version),
      },
      (current) => {
        if (current === undefined)
          throw new CdcError(
            'NOT_FOUND',
            `collection ${collectionId} is not copied by task ${taskId}`,
            { retryable: false, details: { taskId, collectionId } },
          );
        return fn(current);
      },
    );
  }
}
