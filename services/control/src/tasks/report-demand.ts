import type { Clock } from './ports.js';

/** How long a demand stays in the heartbeat answers: a few heartbeats, so every worker hears it. */
const DEMAND_HOLD_MS = 5_000;

/**
 * Tasks whose idle leases should report now (HeartbeatResponse `report_now_task_ids`): VerifyTask waits for their
 * checkpoints, or a pause or delete waits for them to hear of it. Idle leases report only every idle interval, so
 * without it those waits would take up to that long. Kept in this replica's memory: a demand made on another replica
 * reaches the workers whose heartbeats come there, and the others report on their idle rhythm anyway.
 */
export class ReportDemand {
  private readonly until = new Map<string, number>();

  constructor(
    private readonly clock: Clock,
    private readonly holdMs = DEMAND_HOLD_MS,
  ) {}

  want(taskId: string): void {
    this.until.set(taskId, this.clock.now() + this.holdMs);
  }

  /** The tasks wanted now (expired demands are dropped). */
  wanted(): string[] {
    const now = this.clock.now();
    const out: string[] = [];
    for (const [taskId, until] of this.until) {
      if (until <= now) this.until.delete(taskId);
      else out.push(taskId);
    }
    return out;
  }
}
