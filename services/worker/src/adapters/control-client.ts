import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { CDC_PROTO_FILES, CdcError, PROTO_LOADER_OPTIONS, PROTO_ROOT } from '@cdc/shared';
import { join } from 'node:path';
import type {
  CheckpointAnswer,
  CheckpointPosition,
  LeaseGrant,
  ReportCheckpointInput,
  ReportSnapshotInput,
  SnapshotGrant,
  WorkerControl,
} from '../ports/worker-control.js';
import type { TaskSpecWire } from '../task-spec.js';

type Callback = (err: grpc.ServiceError | null, res?: Record<string, unknown>) => void;
type UnaryMethod = (
  req: unknown,
  metadata: grpc.Metadata,
  options: grpc.CallOptions,
  cb: Callback,
) => void;

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

/** gRPC status → CdcError, so callers classify by code, not by text. */
function toCdcError(method: string, err: grpc.ServiceError): CdcError {
  const msg = `${method}: ${err.details || err.message}`;
  if (err.metadata?.get('cdc-error-code')[0] === 'LEASE_HELD')
    return new CdcError('LEASE_HELD', msg, { retryable: true, cause: err });
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

/** The worker's client of the control service's WorkerService. */
export class GrpcWorkerControl implements WorkerControl {
  private readonly client: grpc.Client & Record<string, UnaryMethod>;
  private readonly metadata = new grpc.Metadata();

  constructor(private readonly opts: ControlClientOptions) {
    const definition = protoLoader.loadSync(
      CDC_PROTO_FILES.map((f) => join(PROTO_ROOT, f)),
      PROTO_LOADER_OPTIONS,
    );
    const pkg = grpc.loadPackageDefinition(definition) as unknown as {
      cdc: { v1: { WorkerService: grpc.ServiceClientConstructor } };
    };
    const { credentials, options } = channel(opts.tls);
    this.client = new pkg.cdc.v1.WorkerService(
      opts.address,
      credentials,
      options,
    ) as unknown as grpc.Client & Record<string, UnaryMethod>;
    if (opts.token) this.metadata.set('authorization', `Bearer ${opts.token}`);
  }

  private call(
    method: string,
    req: unknown,
    deadlineMs = this.opts.deadlineMs ?? 10_000,
  ): Promise<Record<string, unknown>> {
    const fn = this.client[method];
    if (typeof fn !== 'function')
      return Promise.reject(new CdcError('INTERNAL', `no RPC ${method}`));
    const deadline = new Date(Date.now() + deadlineMs);
    return new Promise((resolve, reject) => {
      fn.call(this.client, req, this.metadata, { deadline }, (err, res) => {
        if (err) reject(toCdcError(method, err));
        else resolve(res ?? {});
      });
    });
  }

  async acquireLease(taskId: string, channel: string, workerId: string): Promise<LeaseGrant> {
    const res = await this.call('AcquireLease', { task_id: taskId, channel, worker_id: workerId });
    const task = res['task'] as { spec?: TaskSpecWire } | undefined;
    const start = (res['start'] ?? {}) as LeaseGrant['start'];
    if (!task?.spec)
      throw new CdcError('INTERNAL', 'AcquireLease returned no task spec', { retryable: true });
    return {
      epoch: String(res['epoch']),
      spec: task.spec,
      start,
      reportIntervalMs: Number(res['report_interval_ms'] ?? 1000) || 1000,
      writeValidityMs: Number(res['write_validity_ms'] ?? 0),
      targetPositions: positionsFromWire(res['target_positions']),
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
        ...(input.position ? { position: positionToWire(input.position) } : {}),
        ...(input.fanOutPositions && input.fanOutPositions.size > 0
          ? { fan_out_positions: positionsToWire(input.fanOutPositions) }
          : {}),
        source_head_timestamp: input.sourceHeadTimestamp.toString(),
        applied_rows: String(input.appliedRows),
        applied_bytes: String(input.appliedBytes),
      },
      opts.deadlineMs,
    );
    return {
      keepLease: Boolean(res['keep_lease']),
      reason: typeof res['reason'] === 'string' ? res['reason'] : '',
      replicateWatermark: BigInt(
        typeof res['replicate_watermark'] === 'string' ? res['replicate_watermark'] || '0' : '0',
      ),
    };
  }

  async reportQuarantine(
    lease: { taskId: string; channel: string; epoch: string },
    entry: { msgId: Uint8Array; timestamp: bigint; reason: string; payload: Uint8Array },
  ): Promise<void> {
    await this.call('ReportQuarantine', {
      task_id: lease.taskId,
      channel: lease.channel,
      epoch: lease.epoch,
      position: positionToWire(entry),
      reason: entry.reason,
      payload: Buffer.from(entry.payload),
    });
  }

  async reportFailure(
    lease: { taskId: string; channel: string; epoch: string },
    reason: string,
    needsPerson: boolean,
  ): Promise<void> {
    await this.call('ReportFailure', {
      task_id: lease.taskId,
      channel: lease.channel,
      epoch: lease.epoch,
      reason,
      needs_person: needsPerson,
    });
  }

  async releaseLease(
    lease: { taskId: string; channel: string; epoch: string },
    workerId: string,
  ): Promise<void> {
    await this.call('ReleaseLease', {
      task_id: lease.taskId,
      channel: lease.channel,
      epoch: lease.epoch,
      worker_id: workerId,
    });
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
    });
    const task = res['task'] as { spec?: TaskSpecWire } | undefined;
    const p = (res['progress'] ?? {}) as Record<string, unknown>;
    if (!task?.spec)
      throw new CdcError('INTERNAL', 'AcquireSnapshot returned no task spec', { retryable: true });
    return {
      epoch: String(res['epoch']),
      spec: task.spec,
      progress: {
        rowsCopied: Number(p['rows_copied'] ?? 0),
        rowsTotal: Number(p['rows_total'] ?? 0),
        partition: typeof p['partition'] === 'string' ? p['partition'] : '',
        lastKey: typeof p['last_key'] === 'string' ? p['last_key'] : '',
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
      error: input.error ?? '',
      needs_person: input.needsPerson ?? false,
    });
    return {
      keepGoing: Boolean(res['keep_going']),
      reason: typeof res['reason'] === 'string' ? res['reason'] : '',
    };
  }

  close(): Promise<void> {
    this.client.close();
    return Promise.resolve();
  }
}

function positionsFromWire(v: unknown): Map<string, CheckpointPosition> {
  const out = new Map<string, CheckpointPosition>();
  if (v === null || typeof v !== 'object') return out;
  for (const [uri, raw] of Object.entries(v as Record<string, unknown>)) {
    const p = (raw ?? {}) as { msg_id?: unknown; timestamp?: unknown };
    if (!Buffer.isBuffer(p.msg_id)) continue;
    out.set(uri, {
      msgId: new Uint8Array(p.msg_id),
      timestamp: BigInt(typeof p.timestamp === 'string' ? p.timestamp || '0' : '0'),
    });
  }
  return out;
}

interface PositionWire {
  msg_id: Buffer;
  timestamp: string;
  batch_index: number;
}

function positionToWire(p: CheckpointPosition): PositionWire {
  return { msg_id: Buffer.from(p.msgId), timestamp: p.timestamp.toString(), batch_index: 0 };
}

function positionsToWire(
  positions: ReadonlyMap<string, CheckpointPosition>,
): Record<string, PositionWire> {
  const out: Record<string, PositionWire> = {};
  for (const [uri, p] of positions) out[uri] = positionToWire(p);
  return out;
}
