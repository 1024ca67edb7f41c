import { CdcError, invalidArgument, MAX_BATCHED_REPORTS, type Logger, type pb } from '@cdc/shared';
import { MAX_CHANNEL_CHARS } from '../domain/record-limits.js';
import { checkLength } from '../domain/field-checks.js';
import type { CheckpointReport, ReportAnswer } from '../tasks/checkpoint-report.js';
import type { LeaseService } from '../tasks/lease-service.js';
import { decimal, pauseToProto, positionFromProto, positionsFromProto } from './codec.js';
import { unary } from './unary.js';

/** Told about accepted and fenced reports (metrics). Must not throw. */
export interface ReportObserver {
  checkpointReported(taskId: string, channel: string): void;
  staleEpochRejected(taskId: string, channel: string): void;
}

export function leaseIds(req: { task_id: string; channel: string }): {
  taskId: string;
  channel: string;
} {
  if (req.task_id === '') throw invalidArgument('task_id', 'is required');
  if (req.channel === '') throw invalidArgument('channel', 'is required');
  checkLength('channel', req.channel, MAX_CHANNEL_CHARS);
  return { taskId: req.task_id, channel: req.channel };
}

export function epochOf(req: { epoch: string }): string {
  const epoch = decimal(req.epoch);
  if (epoch === '0')
    throw invalidArgument('epoch', 'is required (the epoch returned by AcquireLease)');
  return epoch;
}

/** A ReportCheckpointRequest as the lease service takes it; INVALID_ARGUMENT for a bad field. */
export function reportFromProto(req: pb.ReportCheckpointRequest__Output): CheckpointReport {
  const position = positionFromProto(req.position);
  return {
    ...leaseIds(req),
    epoch: epochOf(req),
    workerId: req.worker_id,
    ...(position === undefined ? {} : { position }),
    fanOutPositions: positionsFromProto(req.fan_out_positions),
    sourceHeadTimestamp: decimal(req.source_head_timestamp),
    appliedRows: decimal(req.applied_rows),
    appliedBytes: decimal(req.applied_bytes),
    caughtUp: req.caught_up,
    applyDelayMs: req.apply_delay_ms,
    waitingTimestamp: decimal(req.waiting_timestamp),
    pauseReached: decimal(req.pause_reached),
  };
}

export function answerToProto(a: ReportAnswer): Required<pb.ReportCheckpointResponse> {
  return {
    keep_lease: a.keepLease,
    reason: a.reason,
    replicate_watermark: a.replicateWatermark,
    apply_until: a.applyUntil,
    pause: a.pause === undefined ? null : pauseToProto(a.pause),
    channel_checkpoints: a.channelCheckpoints ?? {},
  };
}

function errorToProto(err: CdcError): Required<pb.ReportError> {
  const field = err.details['field'];
  return {
    code: err.code,
    // An unexpected failure says nothing about internals (as toServiceError).
    message: err.code === 'INTERNAL' ? 'internal error' : err.message,
    retryable: err.retryable,
    field: typeof field === 'string' ? field : '',
  };
}

/** ReportCheckpoints: each report judged as ReportCheckpoint would, a bad or refused one without failing the rest. */
export function reportCheckpointsHandler(
  leases: LeaseService,
  log: Logger,
  observer: ReportObserver,
): pb.WorkerServiceHandlers['ReportCheckpoints'] {
  return unary(
    log,
    'ReportCheckpoints',
    async (
      req: pb.ReportCheckpointsRequest__Output,
    ): Promise<Required<pb.ReportCheckpointsResponse>> => {
      if (req.reports.length > MAX_BATCHED_REPORTS)
        throw invalidArgument(
          'reports',
          `has ${req.reports.length} reports; at most ${MAX_BATCHED_REPORTS} allowed`,
        );
      const parsed = req.reports.map((r): CheckpointReport | CdcError => {
        try {
          return reportFromProto(r);
        } catch (err) {
          if (err instanceof CdcError) return err;
          throw err;
        }
      });
      const valid = parsed.filter((p): p is CheckpointReport => !(p instanceof CdcError));
      const outcomes = await leases.reportMany(valid);
      let next = 0;
      const results = parsed.map((p): Required<pb.ReportCheckpointResult> => {
        if (p instanceof CdcError) return { answer: null, error: errorToProto(p) };
        const outcome = outcomes[next++];
        if (outcome === undefined)
          return {
            answer: null,
            error: errorToProto(new CdcError('INTERNAL', 'no answer', { retryable: true })),
          };
        if (outcome.error !== undefined) {
          if (outcome.error.code === 'LEASE_LOST') observer.staleEpochRejected(p.taskId, p.channel);
          else if (outcome.error.code === 'INTERNAL')
            log.error(
              { err: outcome.error, taskId: p.taskId, channel: p.channel },
              'report failed',
            );
          return { answer: null, error: errorToProto(outcome.error) };
        }
        observer.checkpointReported(p.taskId, p.channel);
        if (!outcome.answer.keepLease)
          log.info(
            { taskId: p.taskId, channel: p.channel, reason: outcome.answer.reason },
            'lease ending',
          );
        return { answer: answerToProto(outcome.answer), error: null };
      });
      return { results };
    },
  );
}
