import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import {
  callUnary,
  CDC_PROTO_FILES,
  CdcError,
  cutText,
  errorFromTrailers,
  positionFromProto,
  positionToProto,
  PROTO_LOADER_OPTIONS,
  serviceDefinition,
  wholeMessagePosition,
  WORKER_SERVICE_NAME,
  type pb,
  type RequestOf,
  type ResponseOf,
} from '@cdc/shared';
import type { PausePoint } from '../ports/lease-progress.js';
import type {
  CheckpointAnswer,
  CheckpointPosition,
  LeaseGrant,
  LeaseRef,
  QuarantineReportEntry,
  ReportCheckpointInput,
  ReportSnapshotInput,
  SnapshotGrant,
  StandbyReport,
  WorkerControl,
} from '../ports/worker-control.js';

/** TLS to the control service: PEM contents, not paths. No `ca`: the system roots. `cert` + `key`: mutual TLS. */
export interface ControlTls {
  readonly ca?: Buffer;
  readonly cert?: Buffer;
  readonly key?: Buffer;
  /** Name to verify the server certificate against, when it differs from the address' host. */
  readonly serverName?: string;
}

export interface ControlClientOptions {
  readonly address: string;
  /** Credential of the workers (sent as `authorization: Bearer …`); empty = none. */
  readonly token?: string;
  /** Absent: plaintext. */
  readonly tls?: ControlTls;
  readonly deadlineMs?: number;
}

function channel(tls: ControlTls | undefined): {
  credentials: grpc.ChannelCredentials;
  options: grpc.ChannelOptions;
} {
  if (tls === undefined) return { credentials: grpc.credentials.createInsecure(), options: {} };
  return {
    credentials: grpc.credentials.createSsl(tls.ca ?? null, tls.key ?? null, tls.cert ?? null),
    options:
      tls.serverName === undefined
        ? {}
        : {
            'grpc.ssl_target_name_override': tls.serverName,
            'grpc.default_authority': tls.serverName,
          },
  };
}

/**
 * A failed call as the CdcError the control service sent (its `cdc-error-code`/`cdc-retryable` trailers), so callers
 * branch on the same codes as the server (LEASE_LOST, FAILED_PRECONDITION, ...). A status without them did not come
 * from the control service's handlers (unreachable, deadline, a proxy): classified by status, retryable unless the
 * request itself was refused.
 */
export function toCdcError(method: string, err: grpc.ServiceError): CdcError {
  const msg = `${method}: ${err.details || err.message}`;
  const rebuilt = errorFromTrailers(msg, err.metadata, err);
  if (rebuilt !== undefined) return rebuilt;
  switch (err.code) {
    case grpc.status.FAILED_PRECONDITION:
      return new CdcError('FAILED_PRECONDITION', msg, { retryable: false, cause: err });
    case grpc.status.NOT_FOUND:
      return new CdcError('NOT_FOUND', msg, { retryable: false, cause: err });
    case grpc.status.INVALID_ARGUMENT:
      return new CdcError('INVALID_ARGUMENT', msg, { retryable: false, cause: err });
    case grpc.status.UNAUTHENTICATED:
    case grpc.status.PERMISSION_DENIED:
      return new CdcError('UNAUTHENTICATED', msg, { retryable: false, cause: err });
    default:
      return new CdcError('UNAVAILABLE', msg, { retryable: true, cause: err });
  }
}

function isServiceError(err: unknown): err is grpc.ServiceError {
  return err instanceof Error && typeof (err as Partial<grpc.ServiceError>).code === 'number';
}

type Methods = pb.WorkerServiceDefinition;

function pauseFromProto(p: pb.LeasePause__Output): PausePoint {
  return { timestamp: BigInt(p.timestamp), immediate: p.immediate };
}

/** The worker's client of the control service's WorkerService, typed by the generated proto types. */
export class GrpcWorkerControl implements WorkerControl {
  private readonly client: grpc.Client;
  private readonly methods: Methods;
  private readonly metadata = new grpc.Metadata();

  constructor(private readonly opts: ControlClientOptions) {
    const definition = protoLoader.loadSync([...CDC_PROTO_FILES], PROTO_LOADER_OPTIONS);
    this.methods = serviceDefinition(definition, WORKER_SERVICE_NAME);
    const { credentials, options } = channel(opts.tls);
    this.client = new grpc.Client(opts.address, credentials, options);
    if (opts.token) this.metadata.set('authorization', `Bearer ${opts.token}`);
  }

  private async call<K extends keyof Methods & string>(
    method: K,
    req: RequestOf<Methods[K]>,
    deadlineMs = this.opts.deadlineMs ?? 10_000,
  ): Promise<ResponseOf<Methods[K]>> {
    const deadline = new Date(Date.now() + deadlineMs);
    try {
      return await callUnary(this.client, this.methods[method], req, this.metadata, { deadline });
    } catch (err) {
      throw isServiceError(err) ? toCdcError(method, err) : err;
    }
  }

  async acquireLease(taskId: string, channel: string, workerId: string): Promise<LeaseGrant> {
    const res = await this.call('AcquireLease', { task_id: taskId, channel, worker_id: workerId });
    const spec = res.task?.spec;
    if (!spec || !res.start)
      throw new CdcError('INTERNAL', 'AcquireLease returned no task spec', { retryable: true });
    return {
      epoch: res.epoch,
      spec,
      start: res.start,
      reportIntervalMs: res.report_interval_ms || 1000,
      writeValidityMs: res.write_validity_ms,
      applyUntil: BigInt(res.apply_until || '0'),
      ...(res.pause === null ? {} : { pause: pauseFromProto(res.pause) }),
      targetPositions: new Map(
        Object.entries(res.target_positions).map(([uri, p]) => [uri, positionFromProto(p)]),
      ),
    };
  }

  async reportCheckpoint(
    input: ReportCheckpointInput,
    opts: { readonly deadlineMs?: number } = {},
  ): Promise<CheckpointAnswer> {
    const res = await this.call(
      'ReportCheckpoint',
      {
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
        pause_reached: input.pauseReached.toString(),
      } satisfies Required<pb.ReportCheckpointRequest>,
      opts.deadlineMs,
    );
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

  async reportStandby(lease: LeaseRef, report: StandbyReport): Promise<void> {
    await this.call('ReportStandby', {
      task_id: lease.taskId,
      channel: lease.channel,
      epoch: lease.epoch,
      users_needing_person: [...report.usersNeedingPerson],
      skipped: [...report.skipped],
    } satisfies Required<pb.ReportStandbyRequest>);
  }

  async reportQuarantineBatch(
    lease: LeaseRef,
    workerId: string,
    entries: readonly QuarantineReportEntry[],
  ): Promise<void> {
    await this.call('ReportQuarantineBatch', {
      task_id: lease.taskId,
      channel: lease.channel,
      epoch: lease.epoch,
      worker_id: workerId,
      entries: entries.map(
        (e) =>
          ({
            position: positionToProto(wholeMessagePosition(e.msgId, e.timestamp)),
            reason: e.reason,
            payload: Buffer.from(e.payload),
            payload_size: e.payloadSize > e.payload.length ? String(e.payloadSize) : '0',
            target_uri: e.target,
          }) satisfies Required<pb.QuarantineEntry>,
      ),
    } satisfies Required<pb.ReportQuarantineBatchRequest>);
  }

  async reportFailure(lease: LeaseRef, reason: string, needsPerson: boolean): Promise<void> {
    await this.call('ReportFailure', {
      task_id: lease.taskId,
      channel: lease.channel,
      epoch: lease.epoch,
      reason: cutText(reason),
      needs_person: needsPerson,
    } satisfies Required<pb.ReportFailureRequest>);
  }

  async releaseLease(lease: LeaseRef, workerId: string): Promise<void> {
    await this.call('ReleaseLease', {
      task_id: lease.taskId,
      channel: lease.channel,
      epoch: lease.epoch,
      worker_id: workerId,
    } satisfies Required<pb.ReleaseLeaseRequest>);
  }

  async heartbeat(workerId: string): Promise<void> {
    await this.call('Heartbeat', { worker_id: workerId });
  }

  async acquireSnapshot(
    taskId: string,
    collectionId: string,
    workerId: string,
  ): Promise<SnapshotGrant> {
    const res = await this.call('AcquireSnapshot', {
      task_id: taskId,
      collection_id: collectionId,
      worker_id: workerId,
    } satisfies Required<pb.AcquireSnapshotRequest>);
    const spec = res.task?.spec;
    if (!spec)
      throw new CdcError('INTERNAL', 'AcquireSnapshot returned no task spec', { retryable: true });
    const p = res.progress;
    return {
      epoch: res.epoch,
      spec,
      progress: {
        rowsCopied: Number(p?.rows_copied ?? 0),
        rowsTotal: Number(p?.rows_total ?? 0),
        partition: p?.partition ?? '',
        lastKey: p?.last_key ?? '',
      },
    };
  }

  async reportSnapshot(
    input: ReportSnapshotInput,
  ): Promise<{ keepGoing: boolean; reason: string }> {
    const res = await this.call('ReportSnapshot', {
      task_id: input.taskId,
      collection_id: input.collectionId,
      epoch: input.epoch,
      worker_id: input.workerId,
      state: input.done ? 'SNAPSHOT_STATE_DONE' : 'SNAPSHOT_STATE_COPYING',
      rows_copied: String(input.rowsCopied),
      rows_total: String(input.rowsTotal),
      partition: input.partition,
      last_key: input.lastKey,
      error: cutText(input.error ?? ''),
      needs_person: input.needsPerson ?? false,
    } satisfies Required<pb.ReportSnapshotRequest>);
    return { keepGoing: res.keep_going, reason: res.reason };
  }

  close(): Promise<void> {
    this.client.close();
    return Promise.resolve();
  }
}

/** Fan-out positions as a proto map (a record without a prototype: a URI key is data). */
function positionsToProto(
  positions: ReadonlyMap<string, CheckpointPosition> | undefined,
): Record<string, pb.Position> {
  const out = Object.create(null) as Record<string, pb.Position>;
  for (const [uri, p] of positions ?? []) out[uri] = positionToProto(p);
  return out;
}
