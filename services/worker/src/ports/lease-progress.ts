/** A message that could not be applied and was skipped (dead-letter list). */
export interface QuarantinedMessage {
  readonly msgId: Uint8Array;
  readonly timestamp: bigint;
  readonly reason: string;
  readonly payload: Uint8Array;
}

/** Where a pausing task stops (proto `LeasePause`). */
export interface PausePoint {
  /** Source hybrid timestamp: apply every change at or before it, nothing after. */
  readonly timestamp: bigint;
  /** Stop after the current batch instead. */
  readonly immediate: boolean;
}

/**
 * What a replicator tells the control plane while it holds a lease. Implementations batch checkpoints and send them
 * with the periodic heartbeat; `checkpoint` must be called only once the target acknowledged everything up to it.
 */
export interface LeaseProgress {
  /** Everything at or before (msgId, timestamp) is applied on the target. */
  checkpoint(msgId: Uint8Array, timestamp: bigint): void;
  /** Latest source time tick seen on the channel. */
  observeHead(timestamp: bigint): void;
  /**
   * Whether the reader has delivered everything the channel held and every change read is applied (its lag is then
   * `appliedAfter`'s). Set after each read; false while a change read waits (for its tick, or for an apply bound too
   * old for it): a lease idle until then reports at once, renewing its apply bound and write validity.
   * `waitingSince`: not caught up with nothing more to read, the stamp of the oldest change read and not applied (the
   * lag counts from it).
   */
  setCaughtUp(caughtUp: boolean, waitingSince?: bigint): void;
  /** Where the task pauses, as the control service last said; undefined while it runs. */
  readonly pause: PausePoint | undefined;
  /**
   * Source TSO up to which changes may be applied for now (the control service raises it with every answer; a pause
   * point always lies beyond the bound a lease held before it heard of the pause). `undefined`: no bound.
   */
  readonly applyUntil: bigint | undefined;
  /**
   * The replicator applied everything up to `pause` (its last checkpoint says where) and stops: the lease reports it
   * and ends.
   */
  pauseReached(): void;
  /** Calls `listener` once a pause is in force (at once if it is); returns the unsubscribe. */
  onPause?(listener: () => void): () => void;
  /**
   * Calls `listener` when someone waits for this idle lease's checkpoint (VerifyTask, a pause): the replicator cuts its
   * tick wait short, takes what is queued, then calls `checkpointFresh`. Returns the unsubscribe.
   */
  onCheckpointWanted?(listener: () => void): () => void;
  /** The checkpoint now holds what was queued when it was wanted: report it at once. */
  checkpointFresh?(): void;
  addApplied(rows: number, bytes: number): void;
  /**
   * Changes reached the target `delayMs` after the source stamped the oldest of them: the lag a caught-up channel
   * reports (its checkpoint trails what is applied until the next time tick).
   */
  appliedAfter?(delayMs: number): void;
  quarantine(entry: QuarantinedMessage): Promise<void>;
  /**
   * Replicate mode: the task's lowest checkpoint over its DML channels, as last reported by the control plane to the
   * replicate channel's lease (0n before the first answer, and on other leases). Time ticks sent to the target must
   * never pass it.
   */
  readonly replicateWatermark: bigint;
}
