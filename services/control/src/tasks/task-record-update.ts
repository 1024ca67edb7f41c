import { CdcError } from '@cdc/shared';
import type { TaskRecord } from '../domain/model.js';
import { validateTaskId } from '../domain/id-validation.js';
import { compareAndSet } from './compare-and-set.js';
import type { TaskStore } from './ports.js';

export function notFound(taskId: string): CdcError {
  return new CdcError('NOT_FOUND', `task ${taskId} not found`, {
    retryable: false,
    details: { taskId },
  });
}

/** Read-modify-write of a task record with compare-and-set. `fn` returns undefined for "no change". */
export function updateTaskRecord(
  tasks: TaskStore,
  taskId: string,
  fn: (t: TaskRecord) => TaskRecord | undefined,
): Promise<TaskRecord> {
  validateTaskId(taskId);
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
