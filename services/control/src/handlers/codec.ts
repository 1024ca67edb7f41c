import {
  invalidArgument,
  protoMap,
  storedPositionFromProto,
  storedPositionToProto,
  type CdcError,
  type pb,
} from '@cdc/shared';
import type {
  ChannelRecord,
  NameMappingSpec,
  PausePoint,
  Position,
  QuarantineRecord,
  SnapshotRecord,
  StartPoint,
  TargetSpec,
  TaskRecord,
  TaskSpec,
  TlsSpec,
} from '../domain/model.js';
import type { ChannelStatus } from '../tasks/channel-status.js';
import type { LeaseStart } from '../tasks/lease-start.js';
import type { InitialSyncStatus } from '../tasks/snapshot-service.js';

/**
 * Conversion between the decoded proto messages (the generated `pb` types: every field present, unset messages
 * null, 64-bit integers and enums as strings, bytes as Buffer) and the domain model. Decoding never throws:
 * validation happens in the domain. Outgoing messages are `Required<…>`, so a field added to the proto fails to
 * compile here until it is filled. Map fields become records without a prototype (`protoMap`): a `__proto__` or
 * `constructor` key is data.
 */

const UNDECODABLE = Symbol('undecodable request');

/** Stands in for a request whose bytes did not decode as the method's message (see server.ts). */
export function undecodable(err: unknown): object {
  return { [UNDECODABLE]: err instanceof Error ? err.message : String(err) };
}

/** The INVALID_ARGUMENT for an undecodable request, or undefined for a decoded one. */
export function decodeError(req: unknown): CdcError | undefined {
  if (req === null || typeof req !== 'object' || !(UNDECODABLE in req)) return undefined;
  const reason = String(req[UNDECODABLE]).slice(0, 200);
  return invalidArgument('request', `is not a valid protobuf message for this method (${reason})`);
}

/**
 * An enum field as text. protobufjs hands an enum number the proto does not name (99) over as a number despite
 * `enums: String`, so the generated name type does not hold for it; as text ("99") validation quotes it by name.
 */
function enumText<T extends string>(value: T | number): T {
  return (typeof value === 'number' ? String(value) : value) as T;
}

/** A decimal uint64 as the loader gives it; '' never reaches the domain. */
export const decimal = (v: string): string => (v === '' ? '0' : v);

const NO_TLS: TlsSpec = {
  enabled: false,
  ca_pem: '',
  cert_pem: '',
  key_pem: '',
  server_name: '',
  insecure_skip_verify: false,
};

function tls(t: pb.TlsConfig__Output | null): TlsSpec {
  return t ?? NO_TLS;
}

export function positionFromProto(p: pb.Position__Output | null): Position | undefined {
  return p === null ? undefined : storedPositionFromProto(p);
}

export function positionsFromProto(
  positions: Readonly<Record<string, pb.Position__Output>>,
): Record<string, Position> {
  return protoMap(positions, storedPositionFromProto);
}

export function startFromProto(s: pb.StartPoint__Output | null): StartPoint {
  return {
    kind: enumText(s?.kind ?? 'START_KIND_UNSPECIFIED'),
    timestamp: decimal(s?.timestamp ?? ''),
    positions: positionsFromProto(s?.positions ?? {}),
  };
}

function targetFromProto(t: pb.TargetSpec__Output | null): TargetSpec {
  return {
    uri: t?.uri ?? '',
    token: t?.token ?? '',
    username: t?.username ?? '',
    password: t?.password ?? '',
    tls: tls(t?.tls ?? null),
    mode: enumText(t?.mode ?? 'TARGET_MODE_UNSPECIFIED'),
  };
}

function nameMappingFromProto(m: pb.NameMapping__Output): NameMappingSpec {
  return { ...m, collections: protoMap(m.collections, (name) => name) };
}

export function specFromProto(s: pb.TaskSpec__Output | null): TaskSpec | undefined {
  if (s === null) return undefined;
  const source = s.source;
  const etcd = source?.etcd;
  const mq = source?.mq;
  const milvus = source?.milvus;
  return {
    source: {
      etcd: {
        endpoints: etcd?.endpoints ?? [],
        root_path: etcd?.root_path ?? '',
        username: etcd?.username ?? '',
        password: etcd?.password ?? '',
        tls: tls(etcd?.tls ?? null),
      },
      mq: {
        type: enumText(mq?.type ?? 'MQ_TYPE_UNSPECIFIED'),
        address: mq?.address ?? '',
        tls: tls(mq?.tls ?? null),
        sasl: mq?.sasl ?? { mechanism: '', username: '', password: '' },
        token: mq?.token ?? '',
      },
      channel_prefix: source?.channel_prefix ?? '',
      milvus: {
        uri: milvus?.uri ?? '',
        token: milvus?.token ?? '',
        username: milvus?.username ?? '',
        password: milvus?.password ?? '',
        tls: tls(milvus?.tls ?? null),
      },
    },
    target: targetFromProto(s.target),
    scope: { include: s.scope?.include ?? [], exclude: s.scope?.exclude ?? [] },
    name_mapping: s.name_mapping.map(nameMappingFromProto),
    start: startFromProto(s.start),
    ...(s.initial_sync?.enabled === true
      ? { initial_sync: { enabled: true, batch_rows: s.initial_sync.batch_rows } }
      : {}),
    ...(s.fan_out.length > 0 ? { fan_out: s.fan_out.map(targetFromProto) } : {}),
    ...(s.replicate_rbac?.enabled === true
      ? {
          replicate_rbac: {
            enabled: true,
            initial_passwords: s.replicate_rbac.initial_passwords.map((p) => ({ ...p })),
          },
        }
      : {}),
  };
}

export function positionToProto(p: Position | undefined): pb.Position | null {
  return p === undefined ? null : storedPositionToProto(p);
}

export function positionsToProto(positions: Readonly<Record<string, Position>>): {
  [key: string]: pb.Position;
} {
  return protoMap(positions, storedPositionToProto);
}

function startToProto(s: StartPoint): Required<pb.StartPoint> {
  return { kind: s.kind, timestamp: s.timestamp, positions: positionsToProto(s.positions) };
}

export function specToProto(spec: TaskSpec): Required<pb.TaskSpec> {
  return {
    ...spec,
    initial_sync: spec.initial_sync ?? null,
    fan_out: spec.fan_out ?? [],
    replicate_rbac: spec.replicate_rbac ?? null,
    start: startToProto(spec.start),
  };
}

export function snapshotToProto(r: SnapshotRecord): Required<pb.CollectionSnapshot> {
  return {
    database: r.database,
    collection: r.collection,
    collection_id: r.collectionId,
    state: r.state,
    rows_copied: r.rowsCopied,
    rows_total: r.rowsTotal,
    partition: r.partition,
    last_key: r.lastKey,
    last_error: r.lastError,
    worker_id: r.workerId,
    epoch: r.epoch,
    update_time_ms: String(r.updateTimeMs),
  };
}

/** The task; with `initialSync` (the task's copy progress) when it has initial sync. */
export function taskToProto(t: TaskRecord, initialSync?: InitialSyncStatus): Required<pb.Task> {
  return {
    initial_sync:
      initialSync === undefined
        ? null
        : {
            copying: initialSync.copying,
            snapshot_timestamp: initialSync.snapshotTimestamp,
            collections: initialSync.collections.map(snapshotToProto),
          },
    task_id: t.taskId,
    spec: specToProto(t.spec),
    state: t.state,
    reason: t.reason,
    create_time_ms: String(t.createTimeMs),
    update_time_ms: String(t.updateTimeMs),
    channels: t.channels,
    secret_fields_set: t.secretFieldsSet,
    pause_timestamp: t.pause?.timestamp ?? '0',
    pause_immediate: t.pause?.immediate ?? false,
    standby:
      t.standby === undefined
        ? null
        : {
            users_needing_person: t.standby.usersNeedingPerson,
            skipped: t.standby.skipped,
            update_time_ms: String(t.standby.updateTimeMs),
          },
  };
}

export function channelToProto(c: ChannelStatus): Required<pb.ChannelStatus> {
  const r: ChannelRecord = c.record;
  return {
    channel: c.channel,
    position: positionToProto(r.position),
    epoch: r.epoch,
    worker_id: r.workerId,
    source_head_timestamp: r.sourceHeadTimestamp,
    lag_ms: String(c.lagMs),
    applied_rows: r.appliedRows,
    applied_bytes: r.appliedBytes,
    update_time_ms: String(r.updateTimeMs),
    pending_start: r.pendingStart === undefined ? null : startToProto(r.pendingStart),
    last_error: r.lastError,
    fan_out_positions: positionsToProto(r.fanOutPositions ?? {}),
    caught_up: c.caughtUp,
    paused: c.paused,
  };
}

export function quarantineToProto(q: QuarantineRecord): Required<pb.QuarantineRecord> {
  return {
    quarantine_id: q.quarantineId,
    channel: q.channel,
    epoch: q.epoch,
    position: positionToProto(q.position),
    reason: q.reason,
    payload: Buffer.from(q.payload, 'base64'),
    truncated: q.truncated,
    create_time_ms: String(q.createTimeMs),
  };
}

export function pauseToProto(p: PausePoint): Required<pb.LeasePause> {
  return { timestamp: p.timestamp, immediate: p.immediate };
}

export function leaseStartToProto(s: LeaseStart): Required<pb.LeaseStart> {
  return {
    kind: s.kind,
    position: positionToProto(s.position),
    timestamp: s.timestamp,
    from_checkpoint: s.fromCheckpoint,
  };
}
