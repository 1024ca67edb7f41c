import type { UntypedServiceImplementation } from '@grpc/grpc-js';
import { CdcError, invalidArgument, type Logger } from '@cdc/shared';
import { isStaleEpoch, type LeaseService } from '../tasks/lease-service.js';
import type { SnapshotService } from '../tasks/snapshot-service.js';
import {
  bool,
  dec,
  field,
  leaseStartToProto,
  obj,
  positionFromProto,
  positionsFromProto,
  positionsToProto,
  snapshotToProto,
  specToProto,
} from './codec.js';
import { unary } from './unary.js';

function epochOf(req: unknown): string {
  const epoch = dec(obj(req)['epoch']);
  if (epoch === '0')
    throw invalidArgument('epoch', 'is required (the epoch returned by AcquireLease)');
  return epoch;
}

function ids(req: unknown): { taskId: string; channel: string } {
  const taskId = field(req, 'task_id');
  const channel = field(req, 'channel');
  if (taskId === '') throw invalidArgument('task_id', 'is required');
  if (channel === '') throw invalidArgument('channel', 'is required');
  return { taskId, channel };
}

/** Told about accepted and fenced worker calls (metrics). Must not throw. */
export interface WorkerRpcObserver {
  checkpointReported(taskId: string, channel: string): void;
  staleEpochRejected(taskId: string, channel: string): void;
  quarantineReported(taskId: string, channel: string): void;
}

const noObserver: WorkerRpcObserver = {
  checkpointReported: () => undefined,
  staleEpochRejected: () => undefined,
  quarantineReported: () => undefined,
};

/** WorkerService handlers (internal lease protocol). Never log the task spec returned by AcquireLease. */
export function workerHandlers(
  leases: LeaseService,
  log: Logger,
  reportIntervalMs: number,
  observer: WorkerRpcObserver = noObserver,
  snapshots?: SnapshotService,
): UntypedServiceImplementation {
  const snapshotService = (): SnapshotService => {
    if (snapshots === undefined)
      throw new CdcError('FAILED_PRECONDITION', 'initial sync is not served here', {
        retryable: false,
      });
    return snapshots;
  };
  const snapshotIds = (req: unknown): { taskId: string; collectionId: string } => {
    const taskId = field(req, 'task_id');
    const collectionId = dec(obj(req)['collection_id']);
    if (taskId === '') throw invalidArgument('task_id', 'is required');
    if (collectionId === '0') throw invalidArgument('collection_id', 'is required');
    return { taskId, collectionId };
  };
  /** Runs a fenced call, counting stale-epoch rejections. */
  const fenced = async <T>(req: unknown, fn: () => Promise<T>): Promise<T> => {
    try {
      return await fn();
    } catch (err) {
      if (isStaleEpoch(err))
        observer.staleEpochRejected(field(req, 'task_id'), field(req, 'channel'));
      throw err;
    }
  };
  return {
    AcquireLease: unary(log, 'AcquireLease', async (req) => {
      const { taskId, channel } = ids(req);
      const workerId = field(req, 'worker_id');
      const lease = await leases.acquire(taskId, channel, workerId);
      log.info({ taskId, channel, workerId, epoch: lease.epoch }, 'lease acquired');
      return {
        epoch: lease.epoch,
        task: { task_id: taskId, spec: specToProto(lease.spec) },
        start: leaseStartToProto(lease.start),
        report_interval_ms: reportIntervalMs,
        target_positions: positionsToProto(lease.targetPositions),
        write_validity_ms: lease.writeValidityMs,
      };
    }),
    ReportCheckpoint: unary(log, 'ReportCheckpoint', async (req) => {
      const r = obj(req);
      const position = positionFromProto(r['position']);
      const report = {
        ...ids(req),
        epoch: epochOf(req),
        workerId: field(req, 'worker_id'),
        ...(position === undefined ? {} : { position }),
        fanOutPositions: positionsFromProto(r['fan_out_positions']),
        sourceHeadTimestamp: dec(r['source_head_timestamp']),
        appliedRows: dec(r['applied_rows']),
        appliedBytes: dec(r['applied_bytes']),
      };
      const result = await fenced(req, () => leases.report(report));
      observer.checkpointReported(report.taskId, report.channel);
      if (!result.keepLease) log.info({ ...ids(req), reason: result.reason }, 'lease ending');
      return {
        keep_lease: result.keepLease,
        reason: result.reason,
        replicate_watermark: result.replicateWatermark,
      };
    }),
    ReportQuarantine: unary(log, 'ReportQuarantine', async (req) => {
      const r = obj(req);
      const position = positionFromProto(r['position']);
      const payload = r['payload'];
      const quarantineId = await fenced(req, () =>
        leases.quarantine({
          ...ids(req),
          epoch: epochOf(req),
          ...(position === undefined ? {} : { position }),
          reason: field(req, 'reason'),
          payload: Buffer.isBuffer(payload) ? payload : Buffer.alloc(0),
        }),
      );
      observer.quarantineReported(ids(req).taskId, ids(req).channel);
      log.warn({ ...ids(req), quarantineId }, 'message quarantined');
      return { quarantine_id: quarantineId };
    }),
    ReportFailure: unary(log, 'ReportFailure', async (req) => {
      const needsPerson = bool(obj(req)['needs_person']);
      await fenced(req, () =>
        leases.failure({
          ...ids(req),
          epoch: epochOf(req),
          reason: field(req, 'reason'),
          needsPerson,
        }),
      );
      log.warn({ ...ids(req), needsPerson }, 'worker reported failure');
      return {};
    }),
    ReleaseLease: unary(log, 'ReleaseLease', async (req) => {
      await fenced(req, () => leases.release(ids(req).taskId, ids(req).channel, epochOf(req)));
      return {};
    }),
    Heartbeat: unary(log, 'Heartbeat', async (req) => {
      await leases.heartbeat(field(req, 'worker_id'));
      return {};
    }),
    AcquireSnapshot: unary(log, 'AcquireSnapshot', async (req) => {
      const { taskId, collectionId } = snapshotIds(req);
      const workerId = field(req, 'worker_id');
      const grant = await snapshotService().acquire(taskId, collectionId, workerId);
      log.info({ taskId, collectionId, workerId, epoch: grant.epoch }, 'snapshot acquired');
      return {
        epoch: grant.epoch,
        task: { task_id: taskId, spec: specToProto(grant.spec) },
        progress: snapshotToProto(grant.progress),
      };
    }),
    ReportSnapshot: unary(log, 'ReportSnapshot', async (req) => {
      const r = obj(req);
      const state = field(req, 'state');
      if (state !== 'SNAPSHOT_STATE_COPYING' && state !== 'SNAPSHOT_STATE_DONE')
        throw invalidArgument('state', 'must be SNAPSHOT_STATE_COPYING or SNAPSHOT_STATE_DONE');
      const result = await snapshotService().report({
        ...snapshotIds(req),
        epoch: epochOf(req),
        workerId: field(req, 'worker_id'),
        state,
        rowsCopied: dec(r['rows_copied']),
        rowsTotal: dec(r['rows_total']),
        partition: field(req, 'partition'),
        lastKey: field(req, 'last_key'),
        error: field(req, 'error'),
        needsPerson: bool(r['needs_person']),
      });
      if (state === 'SNAPSHOT_STATE_DONE') log.info(snapshotIds(req), 'collection copied');
      return { keep_going: result.keepGoing, reason: result.reason };
    }),
  };
}
