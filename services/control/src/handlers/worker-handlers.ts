import { CdcError, invalidArgument, type Logger, type pb } from '@cdc/shared';
import {
  MAX_CHANNEL_CHARS,
  MAX_QUARANTINE_BATCH,
  MAX_SNAPSHOT_KEY_CHARS,
  MAX_WORKER_REASON_CHARS,
} from '../domain/record-limits.js';
import { checkLength } from '../domain/field-checks.js';
import { isStaleEpoch } from '../tasks/lease-errors.js';
import type { LeaseService } from '../tasks/lease-service.js';
import type { QuarantineReport, QuarantineService } from '../tasks/quarantine-service.js';
import type { SnapshotService } from '../tasks/snapshot-service.js';
import {
  decimal,
  leaseStartToProto,
  pauseToProto,
  positionFromProto,
  positionsToProto,
  snapshotToProto,
  specToProto,
} from './codec.js';
import {
  answerToProto,
  epochOf,
  leaseIds as ids,
  reportCheckpointsHandler,
  reportFromProto,
} from './report-handlers.js';
import { unary } from './unary.js';

function quarantineEntry(e: {
  position: pb.Position__Output | null;
  reason: string;
  payload: Buffer;
  payload_size?: string;
  target_uri?: string;
}): QuarantineReport {
  const position = positionFromProto(e.position);
  return {
    ...(position === undefined ? {} : { position }),
    reason: e.reason,
    payload: e.payload,
    payloadSize: Number(decimal(e.payload_size ?? '0')),
    target: e.target_uri ?? '',
  };
}

const MAX_STANDBY_ITEMS = 100;
const MAX_STANDBY_ITEM_CHARS = 512;

/** A worker-supplied list as stored: at most 100 entries of at most 512 characters, sorted. */
function boundedList(items: readonly string[]): string[] {
  return items
    .slice(0, MAX_STANDBY_ITEMS)
    .map((s) => (s.length > MAX_STANDBY_ITEM_CHARS ? `${s.slice(0, MAX_STANDBY_ITEM_CHARS)}…` : s))
    .sort();
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
  quarantine: QuarantineService,
  log: Logger,
  observer: WorkerRpcObserver = noObserver,
  snapshots?: SnapshotService,
): pb.WorkerServiceHandlers {
  const snapshotService = (): SnapshotService => {
    if (snapshots === undefined)
      throw new CdcError('FAILED_PRECONDITION', 'initial sync is not served here', {
        retryable: false,
      });
    return snapshots;
  };
  const snapshotIds = (req: {
    task_id: string;
    collection_id: string;
  }): { taskId: string; collectionId: string } => {
    const collectionId = decimal(req.collection_id);
    if (req.task_id === '') throw invalidArgument('task_id', 'is required');
    if (collectionId === '0') throw invalidArgument('collection_id', 'is required');
    return { taskId: req.task_id, collectionId };
  };
  /** Runs a fenced call, counting stale-epoch rejections. */
  const fenced = async <T>(
    req: { task_id: string; channel: string },
    fn: () => Promise<T>,
  ): Promise<T> => {
    try {
      return await fn();
    } catch (err) {
      if (isStaleEpoch(err)) observer.staleEpochRejected(req.task_id, req.channel);
      throw err;
    }
  };
  return {
    AcquireLease: unary(
      log,
      'AcquireLease',
      async (req: pb.AcquireLeaseRequest__Output): Promise<Required<pb.AcquireLeaseResponse>> => {
        const { taskId, channel } = ids(req);
        const workerId = req.worker_id;
        const lease = await leases.acquire(taskId, channel, workerId);
        log.info({ taskId, channel, workerId, epoch: lease.epoch }, 'lease acquired');
        return {
          epoch: lease.epoch,
          task: { task_id: taskId, spec: specToProto(lease.spec) },
          start: leaseStartToProto(lease.start),
          report_interval_ms: lease.reportIntervalMs,
          target_positions: positionsToProto(lease.targetPositions),
          write_validity_ms: lease.writeValidityMs,
          idle_report_interval_ms: lease.idleReportIntervalMs,
          apply_until: lease.applyUntil,
          pause: lease.pause === undefined ? null : pauseToProto(lease.pause),
        };
      },
    ),
    ReportCheckpoint: unary(
      log,
      'ReportCheckpoint',
      async (
        req: pb.ReportCheckpointRequest__Output,
      ): Promise<Required<pb.ReportCheckpointResponse>> => {
        const report = reportFromProto(req);
        const result = await fenced(req, () => leases.report(report));
        observer.checkpointReported(report.taskId, report.channel);
        if (!result.keepLease) log.info({ ...ids(req), reason: result.reason }, 'lease ending');
        return answerToProto(result);
      },
    ),
    ReportCheckpoints: reportCheckpointsHandler(leases, log, observer),
    ReportStandby: unary(
      log,
      'ReportStandby',
      async (req: pb.ReportStandbyRequest__Output): Promise<pb.ReportStandbyResponse> => {
        await fenced(req, () =>
          leases.reportStandby({
            ...ids(req),
            epoch: epochOf(req),
            usersNeedingPerson: boundedList(req.users_needing_person),
            skipped: boundedList(req.skipped),
          }),
        );
        return {};
      },
    ),
    ReportQuarantine: unary(
      log,
      'ReportQuarantine',
      async (
        req: pb.ReportQuarantineRequest__Output,
      ): Promise<Required<pb.ReportQuarantineResponse>> => {
        const lease = { ...ids(req), epoch: epochOf(req) };
        const [quarantineId = ''] = await fenced(req, () =>
          quarantine.report(lease, [quarantineEntry(req)], () => ''),
        );
        observer.quarantineReported(req.task_id, req.channel);
        log.warn({ ...ids(req), quarantineId }, 'message quarantined');
        return { quarantine_id: quarantineId };
      },
    ),
    ReportQuarantineBatch: unary(
      log,
      'ReportQuarantineBatch',
      async (
        req: pb.ReportQuarantineBatchRequest__Output,
      ): Promise<Required<pb.ReportQuarantineBatchResponse>> => {
        const lease = { ...ids(req), epoch: epochOf(req) };
        if (req.entries.length > MAX_QUARANTINE_BATCH)
          throw invalidArgument(
            'entries',
            `has ${req.entries.length} entries; at most ${MAX_QUARANTINE_BATCH} allowed`,
          );
        const quarantineIds = await fenced(req, () =>
          quarantine.report(lease, req.entries.map(quarantineEntry)),
        );
        for (let i = 0; i < quarantineIds.length; i++)
          observer.quarantineReported(req.task_id, req.channel);
        log.warn({ ...ids(req), entries: quarantineIds.length }, 'messages quarantined');
        return { quarantine_ids: quarantineIds };
      },
    ),
    ReportFailure: unary(
      log,
      'ReportFailure',
      async (req: pb.ReportFailureRequest__Output): Promise<pb.ReportFailureResponse> => {
        // Stored as the channel's last error and, with needs_person, as the task's pause reason.
        checkLength('reason', req.reason, MAX_WORKER_REASON_CHARS);
        await fenced(req, () =>
          leases.failure({
            ...ids(req),
            epoch: epochOf(req),
            reason: req.reason,
            needsPerson: req.needs_person,
          }),
        );
        log.warn({ ...ids(req), needsPerson: req.needs_person }, 'worker reported failure');
        return {};
      },
    ),
    ReleaseLease: unary(
      log,
      'ReleaseLease',
      async (req: pb.ReleaseLeaseRequest__Output): Promise<pb.ReleaseLeaseResponse> => {
        const { taskId, channel } = ids(req);
        await fenced(req, () => leases.release(taskId, channel, epochOf(req)));
        return {};
      },
    ),
    Heartbeat: unary(
      log,
      'Heartbeat',
      async (req: pb.HeartbeatRequest__Output): Promise<Required<pb.HeartbeatResponse>> => ({
        report_now_task_ids: await leases.heartbeat(req.worker_id),
      }),
    ),
    AcquireSnapshot: unary(
      log,
      'AcquireSnapshot',
      async (
        req: pb.AcquireSnapshotRequest__Output,
      ): Promise<Required<pb.AcquireSnapshotResponse>> => {
        const { taskId, collectionId } = snapshotIds(req);
        const workerId = req.worker_id;
        const grant = await snapshotService().acquire(taskId, collectionId, workerId);
        log.info({ taskId, collectionId, workerId, epoch: grant.epoch }, 'snapshot acquired');
        return {
          epoch: grant.epoch,
          task: { task_id: taskId, spec: specToProto(grant.spec) },
          progress: snapshotToProto(grant.progress),
        };
      },
    ),
    ReportSnapshot: unary(
      log,
      'ReportSnapshot',
      async (
        req: pb.ReportSnapshotRequest__Output,
      ): Promise<Required<pb.ReportSnapshotResponse>> => {
        const state = req.state;
        if (state !== 'SNAPSHOT_STATE_COPYING' && state !== 'SNAPSHOT_STATE_DONE')
          throw invalidArgument('state', 'must be SNAPSHOT_STATE_COPYING or SNAPSHOT_STATE_DONE');
        // Stored in the snapshot record: a partition name, a primary key (VarChar: up to 65,535 bytes), an error.
        checkLength('partition', req.partition, MAX_CHANNEL_CHARS);
        checkLength('last_key', req.last_key, MAX_SNAPSHOT_KEY_CHARS);
        checkLength('error', req.error, MAX_WORKER_REASON_CHARS);
        const result = await snapshotService().report({
          ...snapshotIds(req),
          epoch: epochOf(req),
          workerId: req.worker_id,
          state,
          rowsCopied: decimal(req.rows_copied),
          rowsTotal: decimal(req.rows_total),
          partition: req.partition,
          lastKey: req.last_key,
          error: req.error,
          needsPerson: req.needs_person,
        });
        if (state === 'SNAPSHOT_STATE_DONE') log.info(snapshotIds(req), 'collection copied');
        return { keep_going: result.keepGoing, reason: result.reason };
      },
    ),
  };
}
