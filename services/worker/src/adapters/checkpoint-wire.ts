import { CdcError, isErrorCode, positionToProto, type pb } from '@cdc/shared';
import type { PausePoint } from '../ports/lease-progress.js';
import type {
  CheckpointAnswer,
  CheckpointPosition,
  ReportCheckpointInput,
} from '../ports/worker-control.js';

export function pauseFromProto(p: pb.LeasePause__Output): PausePoint {
  return { timestamp: BigInt(p.timestamp), immediate: p.immediate };
}

/** Fan-out positions as a proto map (a record without a prototype: a URI key is data). */
export function positionsToProto(
  positions: ReadonlyMap<string, CheckpointPosition> | undefined,
): Record<string, pb.Position> {
  const out = Object.create(null) as Record<string, pb.Position>;
  for (const [uri, p] of positions ?? []) out[uri] = positionToProto(p);
  return out;
}

export function reportToProto(input: ReportCheckpointInput): Required<pb.ReportCheckpointRequest> {
  return {
    task_id: input.taskId,
    channel: input.channel,
    epoch: input.epoch,
    worker_id: input.workerId,
    position: input.position ? positionToProto(input.position) : null,
    fan_out_positions: positionsToProto(input.fanOutPositions),
    source_head_timestamp: input.sourceHeadTimestamp.toString(),
    applied_rows: String(input.appliedRows),
    applied_bytes: String(input.appliedBytes),
    caught_up: input.caughtUp,
    apply_delay_ms: Math.min(0xffff_ffff, Math.max(0, Math.round(input.applyDelayMs ?? 0))),
    waiting_timestamp: (input.waitingTimestamp ?? 0n).toString(),
    pause_reached: input.pauseReached.toString(),
  };
}

export function answerFromProto(res: pb.ReportCheckpointResponse__Output): CheckpointAnswer {
  return {
    keepLease: res.keep_lease,
    reason: res.reason,
    replicateWatermark: BigInt(res.replicate_watermark || '0'),
    applyUntil: BigInt(res.apply_until || '0'),
    ...(res.pause === null ? {} : { pause: pauseFromProto(res.pause) }),
    channelCheckpoints: new Map(
      Object.entries(res.channel_checkpoints).map(([ch, ts]) => [ch, BigInt(ts || '0')]),
    ),
  };
}

/**
 * One result of ReportCheckpoints: the answer, or the refusal as the CdcError a ReportCheckpoint call would have
 * failed with (a code this worker does not know is retryable UNAVAILABLE).
 */
export function resultFromProto(r: pb.ReportCheckpointResult__Output): CheckpointAnswer | CdcError {
  if (r.error !== null) {
    // Named as the single call's errors are: the refusal is of this lease's report.
    const message = `ReportCheckpoint: ${r.error.message}`;
    if (!isErrorCode(r.error.code))
      return new CdcError('UNAVAILABLE', message, { retryable: true });
    return new CdcError(r.error.code, message, {
      retryable: r.error.retryable,
      ...(r.error.field === '' ? {} : { details: { field: r.error.field } }),
    });
  }
  if (r.answer === null)
    return new CdcError('INTERNAL', 'ReportCheckpoints: a result without an answer', {
      retryable: true,
    });
  return answerFromProto(r.answer);
}
