import { tsToUnixMs } from '@cdc/shared';
import type { ReportDemand } from '../tasks/report-demand.js';
import type { TaskService } from '../tasks/task-service.js';
import type { AppliedCheckpoints } from './ports.js';

/**
 * The task's applied point on `channels`: the oldest checkpoint time among them (0 when one has none). Asks the task's
 * idle leases to report now (`demand`), since their checkpoints are otherwise as old as an idle interval.
 */
export function appliedCheckpoints(
  tasks: Pick<TaskService, 'positions'>,
  demand?: Pick<ReportDemand, 'want'>,
): AppliedCheckpoints {
  return async (taskId, channels) => {
    demand?.want(taskId);
    const { channels: all } = await tasks.positions(taskId);
    const byName = new Map(all.map((c) => [c.channel, c.record.position?.timestamp]));
    let oldest = Number.POSITIVE_INFINITY;
    for (const channel of channels) {
      const ts = byName.get(channel);
      oldest = Math.min(oldest, ts === undefined ? 0 : tsToUnixMs(BigInt(ts)));
    }
    return channels.length === 0 ? 0 : oldest;
  };
}
