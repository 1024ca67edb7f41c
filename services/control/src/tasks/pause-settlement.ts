import type { ChannelRecord } from '../domain/model.js';
import { goneIn, type LeaseTiming } from './lease-timing.js';
import type { ChannelStore, Clock } from './ports.js';
import type { TaskService } from './task-service.js';

export interface PauseSettlementDeps {
  readonly tasks: TaskService;
  readonly channels: ChannelStore;
  readonly clock: Clock;
  readonly timing: LeaseTiming;
}

/**
 * PAUSING → PAUSED once every channel of the task has stopped: it released its lease (or its holder went silent
 * for good: `goneIn`) after reaching the pause point; for an immediate pause, stopping anywhere will do. Returns
 * the channels still running.
 */
export async function settlePause(
  deps: PauseSettlementDeps,
  taskId: string,
): Promise<{ readonly running: readonly string[] }> {
  const task = await deps.tasks.get(taskId);
  const pause = task.pause;
  if (task.state !== 'TASK_STATE_PAUSING' || pause === undefined)
    return { running: task.state === 'TASK_STATE_RUNNING' ? task.channels : [] };
  const records = await deps.channels.list(taskId);
  const now = deps.clock.now();
  const stopped = (rec: ChannelRecord | undefined): boolean => {
    const idle = rec === undefined || rec.epoch === '0' || goneIn(rec, now, deps.timing) === 0;
    if (pause.immediate) return idle;
    return rec !== undefined && rec.pausedAt === pause.timestamp && idle;
  };
  const running = task.channels.filter((c) => !stopped(records.get(c)));
  if (running.length === 0) await deps.tasks.completePause(taskId, pause.timestamp);
  return { running };
}
