import type { Override, pb, StoredPosition } from '@cdc/shared';

/**
 * The task model. The spec is the proto's `cdc.v1.TaskSpec` (the generated `pb` types, snake_case field names): it is a
 * wire document that is stored as JSON and handed to workers unchanged, so one shape avoids a lossy mapping, and a
 * proto change shows up here. It differs from the decoded proto only where a stored document must: every sub-message
 * is present (the codec fills unset ones), positions are StoredPositions (base64 ids), and `initial_sync`/`fan_out`
 * are absent when unused, so older specs keep their digest. Records owned by the control service (TaskRecord,
 * ChannelRecord) are camelCase. 64-bit integers are decimal strings, bytes are base64.
 */
export type MqType = pb.MqType__Output;
export type TargetMode = pb.TargetMode__Output;
export type StartKind = pb.StartKind__Output;
export type TaskState = Exclude<pb.TaskState__Output, 'TASK_STATE_UNSPECIFIED'>;

export type TlsSpec = pb.TlsConfig__Output;
export type EtcdSourceSpec = Override<pb.EtcdSource__Output, { tls: TlsSpec }>;
export type SaslSpec = pb.SaslConfig__Output;
export type MqSourceSpec = Override<pb.MqSource__Output, { tls: TlsSpec; sasl: SaslSpec }>;
/** The source server's SDK endpoint; `uri` empty when the task never reads rows from it. */
export type SourceMilvusSpec = Override<pb.SourceMilvus__Output, { tls: TlsSpec }>;
export type SourceSpec = Override<
  pb.SourceSpec__Output,
  { etcd: EtcdSourceSpec; mq: MqSourceSpec; milvus: SourceMilvusSpec }
>;
export type TargetSpec = Override<pb.TargetSpec__Output, { tls: TlsSpec }>;
export type CollectionPattern = pb.CollectionPattern__Output;
export type ScopeSpec = pb.Scope__Output;
export type NameMappingSpec = pb.NameMapping__Output;
/** A channel position. `msg_id` is base64; `timestamp` a decimal hybrid TSO. */
export type Position = StoredPosition;
export type StartPoint = Override<pb.StartPoint__Output, { positions: Record<string, Position> }>;
/** Copy of the pre-existing rows before streaming. Absent unless enabled, so older specs keep their digest. */
export type InitialSyncSpec = pb.InitialSync__Output;
/** RBAC replication. Absent unless enabled, so older specs keep their digest. */
export type RbacReplicationSpec = pb.RbacReplication__Output;

export type TaskSpec = Override<
  pb.TaskSpec__Output,
  {
    source: SourceSpec;
    target: TargetSpec;
    scope: ScopeSpec;
    start: StartPoint;
    initial_sync?: InitialSyncSpec;
    /** Fan-out targets (absent or empty: none). */
    fan_out?: TargetSpec[];
    replicate_rbac?: RbacReplicationSpec;
  }
>;

/** Every target of a task: the main one, then the fan-out targets. */
export function targetsOf(spec: TaskSpec): TargetSpec[] {
  return [spec.target, ...(spec.fan_out ?? [])];
}

/** Whether any target of the task is written in replicate mode (raw messages, ticked by the CDC). */
export function hasReplicateTarget(spec: TaskSpec): boolean {
  return targetsOf(spec).some((t) => t.mode === 'TARGET_MODE_REPLICATE');
}

/** Who paused a task: a person through the API, a worker error that needs a person, or create with start_paused. */
export type PauseOrigin = '' | 'user' | 'worker';

/** A task as stored. `spec` has every secret blanked; the secrets live only in `sealedSecrets` (encrypted). */
export interface TaskRecord {
  taskId: string;
  spec: TaskSpec;
  /**
   * Every non-empty secret field, sealed on its own (bound to this task and the field's dotted path), by path.
   * Absent in records written before per-field sealing: they hold `sealedSecrets` instead until resealed.
   */
  sealedFields?: Record<string, string>;
  /** Legacy: encrypted JSON of {dotted path: value}; '' once resealed per field. */
  sealedSecrets: string;
  /** Dotted paths of the secret fields that are set. */
  secretFieldsSet: string[];
  /** Legacy: keyed digest of the full spec; create compares specs without their secrets now. */
  specDigest?: string;
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
  /** PAUSING and PAUSED: where the channels stop. Absent otherwise. */
  pause?: PausePoint;
  /** The standby follower's open items, as the replicate channel's lease last reported them. */
  standby?: StandbyRecord;
}

/** What the standby follower left for a person (proto StandbyStatus). */
export interface StandbyRecord {
  usersNeedingPerson: string[];
  skipped: string[];
  updateTimeMs: number;
}

/** A task's pause: every channel applies the source up to `timestamp` (immediate: its current batch) and stops. */
export interface PausePoint {
  /** Decimal source hybrid timestamp; also identifies the pause. */
  timestamp: string;
  immediate: boolean;
}

export interface InitialSyncPhase {
  copying: boolean;
  planned: boolean;
}

export type SnapshotState = Exclude<pb.SnapshotState__Output, 'SNAPSHOT_STATE_UNSPECIFIED'>;

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
  /** The holder read everything the channel held and applied it, as of its last report (`updateTimeMs`). */
  caughtUp?: boolean;
  /** How late the changes its holder applied last before its last report reached the target (ms; 0: none). */
  applyDelayMs?: number;
  /** Not caught up with nothing more to read: the stamp of the oldest change waiting at the last report ('0': none). */
  waitingTimestamp?: string;
  /** The `PausePoint.timestamp` this channel stopped at (its checkpoint is final for that pause). */
  pausedAt?: string;
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
