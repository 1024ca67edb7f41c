import { invalidArgument, type CdcError } from '@cdc/shared';
import type {
  ChannelRecord,
  CollectionPattern,
  MqType,
  NameMappingSpec,
  Position,
  QuarantineRecord,
  SnapshotRecord,
  StartKind,
  StartPoint,
  TargetMode,
  TargetSpec,
  TaskRecord,
  TaskSpec,
  TlsSpec,
} from '../domain/model.js';
import type { ChannelStatus } from '../tasks/task-service.js';
import type { LeaseStart } from '../tasks/lease-service.js';
import type { InitialSyncStatus } from '../tasks/snapshot-service.js';

/**
 * Conversion between proto-loader objects (keepCase, longs and enums as strings, bytes as Buffer, unset messages
 * null) and the domain model. Decoding never throws: validation happens in the domain.
 */
type Raw = Record<string, unknown>;

const UNDECODABLE = Symbol('undecodable request');

/** Stands in for a request whose bytes did not decode as the method's message (see server.ts). */
export function undecodable(err: unknown): Raw {
  return { [UNDECODABLE]: err instanceof Error ? err.message : String(err) };
}

/** The INVALID_ARGUMENT for an undecodable request, or undefined for a decoded one. */
export function decodeError(req: unknown): CdcError | undefined {
  if (req === null || typeof req !== 'object' || !(UNDECODABLE in req)) return undefined;
  const reason = String((req as Record<symbol, unknown>)[UNDECODABLE]).slice(0, 200);
  return invalidArgument('request', `is not a valid protobuf message for this method (${reason})`);
}

const obj = (v: unknown): Raw => (v !== null && typeof v === 'object' ? (v as Raw) : {});
const str = (v: unknown): string =>
  typeof v === 'string' ? v : typeof v === 'number' ? String(v) : '';
const bool = (v: unknown): boolean => v === true;
const num = (v: unknown): number => (typeof v === 'number' ? v : Number(str(v)) || 0);
const arr = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
const dec = (v: unknown): string => (str(v) === '' ? '0' : str(v));

export function field(req: unknown, name: string): string {
  return str(obj(req)[name]);
}

function tls(v: unknown): TlsSpec {
  const t = obj(v);
  return {
    enabled: bool(t['enabled']),
    ca_pem: str(t['ca_pem']),
    cert_pem: str(t['cert_pem']),
    key_pem: str(t['key_pem']),
    server_name: str(t['server_name']),
    insecure_skip_verify: bool(t['insecure_skip_verify']),
  };
}

function pattern(v: unknown): CollectionPattern {
  const p = obj(v);
  return { database: str(p['database']), collection: str(p['collection']) };
}

export function positionFromProto(v: unknown): Position | undefined {
  if (v === null || v === undefined) return undefined;
  const p = obj(v);
  const id = p['msg_id'];
  return {
    msg_id: Buffer.isBuffer(id) ? id.toString('base64') : str(id),
    timestamp: dec(p['timestamp']),
    batch_index: num(p['batch_index']),
  };
}

export function startFromProto(v: unknown): StartPoint {
  const s = obj(v);
  const positions: Record<string, Position> = {};
  for (const [channel, p] of Object.entries(obj(s['positions']))) {
    const pos = positionFromProto(p);
    if (pos !== undefined) positions[channel] = pos;
  }
  return {
    kind: (str(s['kind']) || 'START_KIND_UNSPECIFIED') as StartKind,
    timestamp: dec(s['timestamp']),
    positions,
  };
}

export function specFromProto(v: unknown): TaskSpec | undefined {
  if (v === null || v === undefined) return undefined;
  const s = obj(v);
  const source = obj(s['source']);
  const etcd = obj(source['etcd']);
  const mq = obj(source['mq']);
  const sasl = obj(mq['sasl']);
  const sourceMilvus = obj(source['milvus']);
  const target = obj(s['target']);
  const scope = obj(s['scope']);
  const initialSync = obj(s['initial_sync']);
  return {
    source: {
      etcd: {
        endpoints: arr(etcd['endpoints']).map(str),
        root_path: str(etcd['root_path']),
        username: str(etcd['username']),
        password: str(etcd['password']),
        tls: tls(etcd['tls']),
      },
      mq: {
        type: (str(mq['type']) || 'MQ_TYPE_UNSPECIFIED') as MqType,
        address: str(mq['address']),
        tls: tls(mq['tls']),
        sasl: {
          mechanism: str(sasl['mechanism']),
          username: str(sasl['username']),
          password: str(sasl['password']),
        },
        token: str(mq['token']),
      },
      channel_prefix: str(source['channel_prefix']),
      milvus: {
        uri: str(sourceMilvus['uri']),
        token: str(sourceMilvus['token']),
        username: str(sourceMilvus['username']),
        password: str(sourceMilvus['password']),
        tls: tls(sourceMilvus['tls']),
      },
    },
    target: targetFromProto(target),
    scope: {
      include: arr(scope['include']).map(pattern),
      exclude: arr(scope['exclude']).map(pattern),
    },
    name_mapping: arr(s['name_mapping']).map((m): NameMappingSpec => {
      const o = obj(m);
      const collections: Record<string, string> = {};
      for (const [k, val] of Object.entries(obj(o['collections']))) collections[k] = str(val);
      return {
        source_database: str(o['source_database']),
        target_database: str(o['target_database']),
        collections,
      };
    }),
    start: startFromProto(s['start']),
    ...(bool(initialSync['enabled'])
      ? { initial_sync: { enabled: true, batch_rows: num(initialSync['batch_rows']) } }
      : {}),
    ...(arr(s['fan_out']).length > 0
      ? { fan_out: arr(s['fan_out']).map((t) => targetFromProto(obj(t))) }
      : {}),
  };
}

function targetFromProto(target: Raw): TargetSpec {
  return {
    uri: str(target['uri']),
    token: str(target['token']),
    username: str(target['username']),
    password: str(target['password']),
    tls: tls(target['tls']),
    mode: (str(target['mode']) || 'TARGET_MODE_UNSPECIFIED') as TargetMode,
  };
}

function positionToProto(p: Position | undefined): Raw | null {
  if (p === undefined) return null;
  return {
    msg_id: Buffer.from(p.msg_id, 'base64'),
    timestamp: p.timestamp,
    batch_index: p.batch_index,
  };
}

function startToProto(s: StartPoint): Raw {
  const positions: Record<string, Raw | null> = {};
  for (const [channel, p] of Object.entries(s.positions)) positions[channel] = positionToProto(p);
  return { kind: s.kind, timestamp: s.timestamp, positions };
}

export function specToProto(spec: TaskSpec): Raw {
  return { ...spec, start: startToProto(spec.start) };
}

export function snapshotToProto(r: SnapshotRecord): Raw {
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
export function taskToProto(t: TaskRecord, initialSync?: InitialSyncStatus): Raw {
  return {
    ...(initialSync === undefined
      ? {}
      : {
          initial_sync: {
            copying: initialSync.copying,
            snapshot_timestamp: initialSync.snapshotTimestamp,
            collections: initialSync.collections.map(snapshotToProto),
          },
        }),
    task_id: t.taskId,
    spec: specToProto(t.spec),
    state: t.state,
    reason: t.reason,
    create_time_ms: String(t.createTimeMs),
    update_time_ms: String(t.updateTimeMs),
    channels: t.channels,
    secret_fields_set: t.secretFieldsSet,
  };
}

export function channelToProto(c: ChannelStatus): Raw {
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
  };
}

export function quarantineToProto(q: QuarantineRecord): Raw {
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

export function positionsToProto(positions: Record<string, Position>): Record<string, Raw | null> {
  const out: Record<string, Raw | null> = {};
  for (const [key, p] of Object.entries(positions)) out[key] = positionToProto(p);
  return out;
}

export function positionsFromProto(v: unknown): Record<string, Position> {
  const out: Record<string, Position> = {};
  for (const [key, p] of Object.entries(obj(v))) {
    const pos = positionFromProto(p);
    if (pos !== undefined) out[key] = pos;
  }
  return out;
}

export function leaseStartToProto(s: LeaseStart): Raw {
  return {
    kind: s.kind,
    position: positionToProto(s.position),
    timestamp: s.timestamp,
    from_checkpoint: s.fromCheckpoint,
  };
}

export { obj, str, bool, num, arr, dec };
