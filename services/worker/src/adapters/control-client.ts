import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import {
  callUnary,
  CDC_PROTO_FILES,
  CdcError,
  cutText,
  errorFromTrailers,
  MAX_BATCHED_REPORTS,
  positionFromProto,
  positionToProto,
  PROTO_LOADER_OPTIONS,
  serviceDefinition,
  warmServiceCodecs,
  wholeMessagePosition,
  WORKER_SERVICE_NAME,
  type pb,
  type RequestOf,
  type ResponseOf,
} from '@cdc/shared';
import { ReportCoalescer } from '../lease/report-coalescer.js';
import {
  answerFromProto,
  pauseFromProto,
  reportToProto,
  resultFromProto,
} from './checkpoint-wire.js';
import type {
  CheckpointAnswer,
  LeaseGrant,
  LeaseRef,
  QuarantineReportEntry,
  ReportCheckpointInput,
  ReportOptions,
  ReportSnapshotInput,
  SnapshotGrant,
  StandbyReport,
  WorkerControl,
} from '../ports/worker-control.js';

/**
 * Deadlines of AcquireLease, ReleaseLease and Heartbeat: short, since a lease job waits for each and no other worker
 * can take it meanwhile (the control service answers them in milliseconds; a grant whose answer was lost is taken
 * again after the handover time).
 */
const ACQUIRE_DEADLINE_MS = 5_000;
const RELEASE_DEADLINE_MS = 2_000;
const HEARTBEAT_DEADLINE_MS = 3_000;

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
  /** How long a checkpoint report waits for the other leases' reports, to go in one call. */
  readonly reportLingerMs?: number;
}

/**
 * A fifth of the default report interval: leases' reports merge into at most about five calls per interval, and a
 * lease's write validity (counted from before the wait) loses at most this.
 */
const REPORT_LINGER_MS = 200;

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

/** The worker's client of the control service's WorkerService, typed by the generated proto types. */
export class GrpcWorkerControl implements WorkerControl {
  private readonly client: grpc.Client;
  private readonly methods: Methods;
  private readonly metadata = new grpc.Metadata();
  private readonly reports: ReportCoalescer;

  constructor(private readonly opts: ControlClientOptions) {
    const definition = protoLoader.loadSync([...CDC_PROTO_FILES], PROTO_LOADER_OPTIONS);
    this.methods = serviceDefinition(definition, WORKER_SERVICE_NAME);
    const { credentials, options } = channel(opts.tls);
    this.client = new grpc.Client(opts.address, credentials, options);
    if (opts.token) this.metadata.set('authorization', `Bearer ${opts.token}`);
    this.reports = new ReportCoalescer(
      {
        sendBatch: (inputs, deadlineMs) => this.sendReports(inputs, deadlineMs),
        sendOne: (input, o) => this.sendReport(input, o),
      },
      {
        lingerMs: opts.reportLingerMs ?? REPORT_LINGER_MS,
        maxReports: MAX_BATCHED_REPORTS,
        defaultDeadlineMs: opts.deadlineMs ?? 10_000,
      },
    );
  }

  /** Generates the WorkerService codecs now, before the first lease needs them. */
  warmCodecs(): void {
    warmServiceCodecs(this.methods);
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
    const res = await this.call(
      'AcquireLease',
      { task_id: taskId, channel, worker_id: workerId },
      ACQUIRE_DEADLINE_MS,
    );
    const spec = res.task?.spec;
    if (!spec || !res.start)
      throw new CdcError('INTERNAL', 'AcquireLease returned no task spec', { retryable: true });
    return {
      epoch: res.epoch,
      spec,
      start: res.start,
      reportIntervalMs: res.report_interval_ms || 1000,
      writeValidityMs: res.write_validity_ms,
      idleReportIntervalMs: res.idle_report_interval_ms,
      applyUntil: BigInt(res.apply_until || '0'),
      ...(res.pause === null ? {} : { pause: pauseFromProto(res.pause) }),
      targetPositions: new Map(
        Object.entries(res.target_positions).map(([uri, p]) => [uri, positionFromProto(p)]),
      ),
    };
  }

  reportCheckpoint(
    input: ReportCheckpointInput,
    opts: ReportOptions = {},
  ): Promise<CheckpointAnswer> {
    return this.reports.report(input, opts);
  }

  private async sendReport(
    input: ReportCheckpointInput,
    opts: { readonly deadlineMs?: number },
  ): Promise<CheckpointAnswer> {
    return answerFromProto(
      await this.call('ReportCheckpoint', reportToProto(input), opts.deadlineMs),
    );
  }

  /** undefined: the control service predates ReportCheckpoints. */
  private async sendReports(
    inputs: readonly ReportCheckpointInput[],
    deadlineMs: number,
  ): Promise<(CheckpointAnswer | CdcError)[] | undefined> {
    try {
      const res = await this.call(
        'ReportCheckpoints',
        { reports: inputs.map(reportToProto) },
        deadlineMs,
      );
      if (res.results.length !== inputs.length)
        throw new CdcError('INTERNAL', 'ReportCheckpoints: results do not match the reports', {
          retryable: true,
        });
      return res.results.map(resultFromProto);
    } catch (err) {
      if (
        err instanceof CdcError &&
        isServiceError(err.cause) &&
        err.cause.code === grpc.status.UNIMPLEMENTED
      )
        return undefined;
      throw err;
    }
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

  /** Releasing only lets the channel move at once; without it, it moves after the handover time. */
  async releaseLease(lease: LeaseRef, workerId: string): Promise<void> {
    await this.call(
      'ReleaseLease',
      {
        task_id: lease.taskId,
        channel: lease.channel,
        epoch: lease.epoch,
        worker_id: workerId,
      } satisfies Required<pb.ReleaseLeaseRequest>,
      RELEASE_DEADLINE_MS,
    );
  }

  /** A control service out of reach makes the worker give lease jobs back (ControlHeartbeat.onReachable). */
  async heartbeat(workerId: string): Promise<readonly string[]> {
    const res = await this.call('Heartbeat', { worker_id: workerId }, HEARTBEAT_DEADLINE_MS);
    return res.report_now_task_ids;
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
    this.reports.flush();
    this.client.close();
    return Promise.resolve();
  }
}
