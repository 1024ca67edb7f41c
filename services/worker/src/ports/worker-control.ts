import type { TaskSpecWire } from '../task-spec.js';

/** Where a lease starts, as the control service says (proto `LeaseStart`, proto-loader shape). */
export interface LeaseStartWire {
  readonly kind?: string;
  readonly position?: {
    readonly msg_id?: Buffer;
    readonly timestamp?: string;
    readonly batch_index?: number;
  } | null;
  readonly timestamp?: string;
  readonly from_checkpoint?: boolean;
}

export interface LeaseGrant {
  /** Decimal uint64. */
  readonly epoch: string;
  readonly spec: TaskSpecWire;
  readonly start: LeaseStartWire;
  readonly reportIntervalMs: number;
}

export interface LeaseRef {
  readonly taskId: string;
  readonly channel: string;
  readonly epoch: string;
}

export interface ReportCheckpointInput extends LeaseRef {
  readonly workerId: string;
  readonly position?: { readonly msgId: Uint8Array; readonly timestamp: bigint };
  readonly sourceHeadTimestamp: bigint;
  readonly appliedRows: number;
  readonly appliedBytes: number;
}

/**
 * The control plane as a worker sees it (WorkerService). Errors are CdcErrors: FAILED_PRECONDITION means the lease is
 * not (or no longer) ours — stop at once; UNAVAILABLE is retryable.
 */
export interface WorkerControl {
  acquireLease(taskId: string, channel: string, workerId: string): Promise<LeaseGrant>;
  reportCheckpoint(input: ReportCheckpointInput): Promise<{ keepLease: boolean; reason: string }>;
  reportQuarantine(
    lease: LeaseRef,
    entry: { msgId: Uint8Array; timestamp: bigint; reason: string; payload: Uint8Array },
  ): Promise<void>;
  reportFailure(lease: LeaseRef, reason: string, needsPerson: boolean): Promise<void>;
  releaseLease(lease: LeaseRef, workerId: string): Promise<void>;
  heartbeat(workerId: string): Promise<void>;
  close(): Promise<void>;
}
