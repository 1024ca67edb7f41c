import { invalidArgument } from '@cdc/shared';

const TASK_ID = /^[A-Za-z0-9_.-]{1,64}$/;

export function validateTaskId(taskId: string, field = 'task_id'): string {
  if (taskId === '') throw invalidArgument(field, 'is required');
  if (!TASK_ID.test(taskId))
    throw invalidArgument(field, 'must be 1-64 characters of [A-Za-z0-9_.-]');
  // "." and ".." are path segments: harmless as etcd keys, but a trap wherever an id becomes a path or URL.
  if (/^\.+$/.test(taskId)) throw invalidArgument(field, 'cannot consist of dots only');
  return taskId;
}

/** Worker ids name etcd keys and metric-free log fields: a hostname-like id, bounded. */
const WORKER_ID = /^[A-Za-z0-9._:@/-]{1,128}$/;

export function validateWorkerId(workerId: string, field = 'worker_id'): string {
  if (workerId === '') throw invalidArgument(field, 'is required');
  if (!WORKER_ID.test(workerId))
    throw invalidArgument(field, 'must be 1-128 characters of [A-Za-z0-9._:@/-]');
  return workerId;
}
