import type { ChannelPosition, pb } from '@cdc/shared';
import type { TaskSpecWire } from '../task-spec.js';
import type { PausePoint } from './lease-progress.js';

/** Where a lease starts, as the control service says (proto `LeaseStart`). */
export type LeaseStartWire = pb.LeaseStart__Output;

export interface LeaseGrant {
  /** Decimal uint64. */
  readonly epoch: string;
  readonly spec: TaskSpecWire;
  readonly start: LeaseStartWire;
  readonly reportIntervalMs: number;
  /** How long after sending a confirmed request the lease may write (0: the control service did not say). */
  readonly writeValidityMs: number;
  /** Report interval while the lease is idle (0: always `reportIntervalMs`); its validity may lapse in between. */
  readonly idleReportIntervalMs: number;
  /** The task is pausing: where to stop. */
  readonly pause?: PausePoint;
  /** Source TSO up to which the lease may apply until an answer raises it (0n: no bound given). */
  readonly applyUntil: bigint;
  /** Fan-out: each target's own checkpoint on the channel, by target URI (empty without fan-out). */
  readonly targetPositions: ReadonlyMap<string, ChannelPosition>;
}

/** A checkpoint: the vocabulary of packages/shared/src/wire/channel-position.ts. */
export type CheckpointPosition = ChannelPosition;

/** One skipped message as the control service stores it (ReportQuarantineBatch). */
export interface QuarantineReportEntry {
  readonly msgId: Uint8Array;
  readonly timestamp: bigint;
  readonly reason: string;
  /** The message, or its first bytes. */
  readonly payload: Uint8Array;
  /** Size of the whole message. */
  readonly payloadSize: number;
  /** Fan-out: the target that refused it; '' for the main target. */
  readonly target: string;
}

export interface LeaseRef {
  readonly taskId: string;
  readonly channel: string;
  readonly epoch: string;
}

export interface ReportCheckpointInput extends LeaseRef {
  readonly workerId: string;
  readonly position?: CheckpointPosition;
  /** Fan-out targets' checkpoints that moved since the last report, by target URI. */
  readonly fanOutPositions?: ReadonlyMap<string, CheckpointPosition>;
  readonly sourceHeadTimestamp: bigint;
  readonly appliedRows: number;
  readonly appliedBytes: number;
  /** Everything the channel held is read and applied. */
  readonly caughtUp: boolean;
  /** How late the changes applied last since the previous report reached the target (ms; 0: none applied). */
  readonly applyDelayMs?: number;
  /** Not caught up with nothing more to read: the stamp of the oldest change read and not applied yet (0n: none). */
  readonly waitingTimestamp?: bigint;
  /** The pause timestamp this lease stopped at (0n while it runs). */
  readonly pauseReached: bigint;
}

/** Copy progress of one collection (initial sync); a retried copy resumes after (`partition`, `lastKey`). */
export interface SnapshotProgress {
  readonly rowsCopied: number;
  readonly rowsTotal: number;
  /** Partition being copied; '' for a whole partition-key collection. */
  readonly partition: string;
  /** Last primary key copied in `partition` (decimal for Int64); '' before the first page. */
  readonly lastKey: string;
}

export interface SnapshotRef {
  readonly taskId: string;
  /** Decimal source collection id. */
  readonly collectionId: string;
  readonly epoch: string;
}

export interface SnapshotGrant {
  readonly epoch: string;
  readonly spec: TaskSpecWire;
  readonly progress: SnapshotProgress;
}

export interface ReportSnapshotInput extends SnapshotRef, SnapshotProgress {
  readonly workerId: string;
  readonly done: boolean;
  /** A failure that ends the copy; `needsPerson` pauses the task with it. */
  readonly error?: string;
  readonly needsPerson?: boolean;
}

export interface CheckpointAnswer {
  readonly keepLease: boolean;
  readonly reason: string;
  /** Replicate mode: see `LeaseProgress.replicateWatermark`; 0n otherwise. */
  readonly replicateWatermark: bigint;
  /** The task is pausing: where to stop (undefined while it runs). */
  readonly pause?: PausePoint;
  /** The new apply bound (0n when the lease ends). */
  readonly applyUntil: bigint;
  /** The replicate channel's lease: each DML channel's checkpoint timestamp (see StandbyOrder). */
  readonly channelCheckpoints?: ReadonlyMap<string, bigint>;
}

/** The standby follower's open items (proto StandbyStatus). */
export interface StandbyReport {
  readonly usersNeedingPerson: readonly string[];
  readonly skipped: readonly string[];
}

/**
 * The control plane as a worker sees it (WorkerService). Errors are the control service's CdcErrors, rebuilt from the
 * status trailers: LEASE_LOST means another worker owns the lease or copy now (stop at once, write nothing more);
 * LEASE_HELD (AcquireLease) that the previous holder may still be writing (keep the job and ask again shortly);
 * FAILED_PRECONDITION that the task is not runnable (paused, copying, ...); NOT_FOUND an unknown task or channel;
 * UNAVAILABLE (control unreachable, deadline) is retryable.
 */
export interface ReportOptions {
  readonly deadlineMs?: number;
  readonly urgent?: boolean;
  /** Longest this report may wait for other leases' reports (a lease that reports often waits less). */
  readonly lingerMs?: number;
}

export interface WorkerControl {
  acquireLease(taskId: string, channel: string, workerId: string): Promise<LeaseGrant>;
  /** `urgent`: sent at once (a first catch-up, a first head), not held to go with other leases' reports. */
  reportCheckpoint(input: ReportCheckpointInput, opts?: ReportOptions): Promise<CheckpointAnswer>;
  /** Stores skipped messages of the lease, in order; a replayed message is stored once (by position and target). */
  reportQuarantineBatch(
    lease: LeaseRef,
    workerId: string,
    entries: readonly QuarantineReportEntry[],
  ): Promise<void>;
  reportFailure(lease: LeaseRef, reason: string, needsPerson: boolean): Promise<void>;
  releaseLease(lease: LeaseRef, workerId: string): Promise<void>;
  /** Liveness; answers with the tasks whose idle leases should report now. */
  heartbeat(workerId: string): Promise<readonly string[]>;
  acquireSnapshot(taskId: string, collectionId: string, workerId: string): Promise<SnapshotGrant>;
  /** LEASE_LOST when another worker took the copy over (stale epoch). */
  reportSnapshot(input: ReportSnapshotInput): Promise<{ keepGoing: boolean; reason: string }>;
  /** The replicate channel's lease only; LEASE_LOST for a stale epoch. */
  reportStandby(lease: LeaseRef, report: StandbyReport): Promise<void>;
  close(): Promise<void>;
}
