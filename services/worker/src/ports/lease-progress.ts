/** A message that could not be applied and was skipped (dead-letter list). */
export interface QuarantinedMessage {
  readonly msgId: Uint8Array;
  readonly timestamp: bigint;
  readonly reason: string;
  readonly payload: Uint8Array;
}

/**
 * What a replicator tells the control plane while it holds a lease. Implementations batch checkpoints and send them
 * with the periodic heartbeat; `checkpoint` must be called only once the target acknowledged everything up to it.
 */
export interface LeaseProgress {
  /** Everything at or before (msgId, timestamp) is applied on the target. */
  checkpoint(msgId: Uint8Array, timestamp: bigint): void;
  /** Latest source time tick seen on the channel (for lag). */
  observeHead(timestamp: bigint): void;
  addApplied(rows: number, bytes: number): void;
  quarantine(entry: QuarantinedMessage): Promise<void>;
  /**
   * Replicate mode: the task's lowest checkpoint over its DML channels, as last reported by the control plane to the
   * replicate channel's lease (0n before the first answer, and on other leases). Time ticks sent to the target must
   * never pass it.
   */
  readonly replicateWatermark: bigint;
}
