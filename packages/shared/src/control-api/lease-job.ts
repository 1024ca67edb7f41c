/**
 * The BullMQ lease contract between the control service (producer) and the workers (consumers).
 * One job per (task, channel) in queue LEASE_QUEUE_NAME; the worker's processor runs for the life of the lease.
 */
export const LEASE_QUEUE_NAME = 'cdc-leases';
export const LEASE_JOB_NAME = 'lease';
/** Default BullMQ key prefix; configurable per deployment (and per test). */
export const DEFAULT_QUEUE_PREFIX = 'bull';

/** Data of a lease job. */
export interface LeaseJobData {
  readonly taskId: string;
  readonly channel: string;
}

/** jobId of the lease job of (task, channel). Task ids and channel names never contain ':'. */
export function leaseJobId(taskId: string, channel: string): string {
  return `${taskId}--${channel}`;
}

/**
 * Where the workers keep a task's own Redis keys (its drop barriers), beside the queue's: the control service removes
 * every key under it with the task. Task ids never contain ':', so no task's keys lie under another's.
 */
export function taskKeyPrefix(queuePrefix: string, taskId: string): string {
  return `${queuePrefix}:cdc:${taskId}`;
}

/** Channel names of a source Milvus (`msgChannel.chanNamePrefix.cluster` = prefix). */
export function dmlChannelName(prefix: string, index: number): string {
  return `${prefix}-rootcoord-dml_${index}`;
}

export function replicateChannelName(prefix: string): string {
  return `${prefix}-replicate-msg`;
}

/**
 * Initial sync: one job per (task, source collection) in its own queue, so snapshot copies and channel leases never
 * compete for the same worker slots or get confused by the scheduler.
 */
export const SNAPSHOT_QUEUE_NAME = 'cdc-snapshots';
export const SNAPSHOT_JOB_NAME = 'snapshot';

/** Data of a snapshot job; `collectionId` is the decimal source collection id. */
export interface SnapshotJobData {
  readonly taskId: string;
  readonly collectionId: string;
}

export function snapshotJobId(taskId: string, collectionId: string): string {
  return `${taskId}--snapshot-${collectionId}`;
}
