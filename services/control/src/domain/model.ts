/**
 * The task model. The spec keeps the snake_case field names of `proto/cdc/v1/task.proto`: it is a wire document
 * that is stored as JSON and handed to workers unchanged, so one shape avoids a lossy mapping. Records owned by the
 * control service (TaskRecord, ChannelRecord) are camelCase. 64-bit integers are decimal strings, bytes are base64.
 */
export type MqType = 'MQ_TYPE_UNSPECIFIED' | 'MQ_TYPE_KAFKA' | 'MQ_TYPE_PULSAR';
export type TargetMode = 'TARGET_MODE_UNSPECIFIED' | 'TARGET_MODE_API' | 'TARGET_MODE_REPLICATE';
export type StartKind =
  | 'START_KIND_UNSPECIFIED'
  | 'START_KIND_LATEST'
  | 'START_KIND_EARLIEST'
  | 'START_KIND_TIMESTAMP'
  | 'START_KIND_POSITIONS';
export type TaskState =
  | 'TASK_STATE_CREATING'
  | 'TASK_STATE_RUNNING'
  | 'TASK_STATE_PAUSED'
  | 'TASK_STATE_FAILED'
  | 'TASK_STATE_DELETING';

export interface TlsSpec {
  enabled: boolean;
  ca_pem: string;
  cert_pem: string;
  key_pem: string;
  server_name: string;
  insecure_skip_verify: boolean;
}

export interface EtcdSourceSpec {
  endpoints: string[];
  root_path: string;
  username: string;
  password: string;
  tls: TlsSpec;
}

export interface SaslSpec {
  mechanism: string;
  username: string;
  password: string;
}

export interface MqSourceSpec {
  type: MqType;
  address: string;
  tls: TlsSpec;
  sasl: SaslSpec;
  token: string;
}

/** The source server's SDK endpoint; `uri` empty when the task never reads rows from it. */
export interface SourceMilvusSpec {
  uri: string;
  token: string;
  username: string;
  password: string;
  tls: TlsSpec;
}

export interface SourceSpec {
  etcd: EtcdSourceSpec;
  mq: MqSourceSpec;
  channel_prefix: string;
  milvus: SourceMilvusSpec;
}

export interface TargetSpec {
  uri: string;
  token: string;
  username: string;
  password: string;
  tls: TlsSpec;
  mode: TargetMode;
}

export interface CollectionPattern {
  database: string;
  collection: string;
}

export interface ScopeSpec {
  include: CollectionPattern[];
  exclude: CollectionPattern[];
}

export interface NameMappingSpec {
  source_database: string;
  target_database: string;
  collections: Record<string, string>;
}

/** A channel position. `msg_id` is base64; `timestamp` a decimal hybrid TSO. */
export interface Position {
  msg_id: string;
  timestamp: string;
  batch_index: number;
}

export interface StartPoint {
  kind: StartKind;
  timestamp: string;
  positions: Record<string, Position>;
}

/** Copy of the pre-existing rows before streaming. Absent unless enabled, so older specs keep their digest. */
export interface InitialSyncSpec {
  enabled: boolean;
  /** Rows per page; 0 means the default. */
  batch_rows: number;
}

export interface TaskSpec {
  source: SourceSpec;
  target: TargetSpec;
  scope: ScopeSpec;
  name_mapping: NameMappingSpec[];
  start: StartPoint;
  initial_sync?: InitialSyncSpec;
  /** Fan-out targets (absent or empty: none). */
  fan_out?: TargetSpec[];
}

/** Every target of a task: the main one, then the fan-out targets. */
export function targetsOf(spec: TaskSpec): TargetSpec[] {
  return [spec.target, ...(spec.fan_out ?? [])];
}

/** Who paused a task: a person through the API, a worker error that needs a person, or create with start_paused. */
export type PauseOrigin = '' | 'user' | 'worker';

/** A task as stored. `spec` has every secret blanked; the secrets live only in `sealedSecrets` (encrypted). */
export interface TaskRecord {
  taskId: string;
  spec: TaskSpec;
  /** Encrypted JSON of {dotted path: value} for every non-empty secret field. */
  sealedSecrets: string;
  /** Dotted paths of the secret fields that are set. */
  secretFieldsSet: string[];
  /** Keyed digest of the full spec (secrets included), to make create idempotent. */
  specDigest: string;
  state: TaskState;
  reason: string;
  pausedBy: PauseOrigin;
  createTimeMs: number;
  updateTimeMs: number;
  channels: string[];
  /**
   * Initial sync phase, set at create when the spec asks for it: `copying` until every collection's snapshot is DONE
   * (no channel is leased meanwhile), then false for good. `planned` once the collections to copy are recorded.
   */
  initialSync?: InitialSyncPhase;
}

export interface InitialSyncPhase {
  copying: boolean;
  planned: boolean;
}

export type SnapshotState =
  'SNAPSHOT_STATE_PENDING' | 'SNAPSHOT_STATE_COPYING' | 'SNAPSHOT_STATE_DONE';

/** Copy progress of one source collection of a task with initial sync (epoch-fenced like a channel lease). */
export interface SnapshotRecord {
  /** Decimal source collection id. */
  collectionId: string;
  database: string;
  collection: string;
  state: SnapshotState;
  rowsCopied: string;
  rowsTotal: string;
  partition: string;
  lastKey: string;
  lastError: string;
  workerId: string;
  /** Decimal; "0": never taken. */
  epoch: string;
  updateTimeMs: number;
}

/** Progress and lease of one (task, channel). */
export interface ChannelRecord {
  /** Current lease epoch, decimal. "0": never leased. */
  epoch: string;
  workerId: string;
  position?: Position;
  sourceHeadTimestamp: string;
  /** When `sourceHeadTimestamp` last grew (ms): a channel the source stopped ticking is idle, not behind. */
  headAdvancedMs?: number;
  appliedRows: string;
  appliedBytes: string;
  updateTimeMs: number;
  /** Fan-out: each `spec.fan_out` target's checkpoint on this channel, by target URI. */
  fanOutPositions?: Record<string, Position>;
  /** Set by ResetTaskPositions; used by the next lease until a checkpoint replaces it. */
  pendingStart?: StartPoint;
  lastError: string;
  /**
   * True once the epoch holder said it stopped (ReleaseLease, ReportFailure) or the epoch was bumped without a holder
   * (ResetTaskPositions): the channel may go to another worker at once.
   */
  released?: boolean;
  /**
   * When (control clock, ms) the holder of `epoch` was last confirmed (AcquireLease, or a report answered
   * keep_lease=true). The holder may write until that moment plus the write validity; the channel goes to another
   * worker only after the handover time (see LeaseTiming).
   */
  confirmedMs?: number;
  /** Why the control service told the holder to stop (pause, delete, rebalancing); no later report confirms it. */
  endRequested?: string;
}

export interface QuarantineRecord {
  quarantineId: string;
  channel: string;
  epoch: string;
  position?: Position;
  reason: string;
  payload: string;
  truncated: boolean;
  createTimeMs: number;
}

/** A value with the store's version (etcd mod revision), for compare-and-set writes. */
export interface Versioned<T> {
  readonly value: T;
  readonly version: string;
}

export function emptyChannelRecord(): ChannelRecord {
  return {
    epoch: '0',
    workerId: '',
    sourceHeadTimestamp: '0',
    appliedRows: '0',
    appliedBytes: '0',
    updateTimeMs: 0,
    lastError: '',
  };
}
