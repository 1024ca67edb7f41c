/**
 * Start-up milestones of a task from the workers' logs (pino JSON lines, `time` in epoch ms): when the first lease was
 * granted, the first channel opened, the first records were read and the first rows were acknowledged by the target.
 * The bench puts them beside the first row counted on the target to break the time to the first row down.
 */
import { existsSync, readFileSync } from 'node:fs';

export const MILESTONES = [
  'lease acquired',
  'channel opened',
  'first records read',
  'first rows applied',
] as const;
export type Milestone = (typeof MILESTONES)[number];

export interface LeaseTimeline {
  /** Epoch ms of the first occurrence of each milestone for the task, over every worker log. */
  readonly first: Partial<Record<Milestone, number>>;
  /** Leases granted (all channels, every epoch): more than the channels means leases were lost and taken again. */
  readonly grants: number;
  /** Leases that ended because their write validity expired (the control service answered too late). */
  readonly validityExpired: number;
}

export function leaseTimeline(logFiles: readonly string[], taskId: string): LeaseTimeline {
  const first: Partial<Record<Milestone, number>> = {};
  let grants = 0;
  let validityExpired = 0;
  for (const file of logFiles) {
    if (!existsSync(file)) continue;
    for (const line of readFileSync(file, 'utf8').split('\n')) {
      if (!line.includes(taskId)) continue;
      let j: { msg?: string; time?: number; taskId?: string; reason?: string };
      try {
        j = JSON.parse(line) as typeof j;
      } catch {
        continue;
      }
      if (j.taskId !== taskId || j.time === undefined || j.msg === undefined) continue;
      if (j.msg === 'lease acquired') grants++;
      if (j.msg === 'lease ended' && j.reason?.startsWith('write validity expired') === true)
        validityExpired++;
      const m = MILESTONES.find((x) => x === j.msg);
      if (m !== undefined && (first[m] === undefined || j.time < first[m])) first[m] = j.time;
    }
  }
  return { first, grants, validityExpired };
}

/** "lease 0.8 s → opened 1.2 s → read 1.3 s → applied 2.0 s", seconds after `t0` (epoch ms). */
export function timelineText(t: LeaseTimeline, t0: number): string {
  const parts: string[] = [];
  const names: Record<Milestone, string> = {
    'lease acquired': 'lease',
    'channel opened': 'opened',
    'first records read': 'read',
    'first rows applied': 'applied',
  };
  for (const m of MILESTONES) {
    const at = t.first[m];
    if (at !== undefined) parts.push(`${names[m]} ${((at - t0) / 1000).toFixed(1)} s`);
  }
  return parts.join(' → ');
}
