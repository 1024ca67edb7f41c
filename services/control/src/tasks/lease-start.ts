import { composeTs } from '@cdc/shared';
import type {
  ChannelRecord,
  Position,
  StartKind,
  StartPoint,
  TaskRecord,
} from '../domain/model.js';

export interface LeaseStart {
  kind: StartKind;
  position?: Position;
  timestamp: string;
  fromCheckpoint: boolean;
}

/**
 * Where a lease starts reading, and (fan-out) each target's own checkpoint. With fan-out the channel is read once for
 * every target, so reading starts at the earliest checkpoint; a target that has none yet starts where the task does,
 * and so does the read.
 */
export function leaseStartFor(
  record: ChannelRecord,
  task: TaskRecord,
  channel: string,
): { start: LeaseStart; targetPositions: Record<string, Position> } {
  const fanOut = task.spec.fan_out ?? [];
  const start = startFor(record, task.spec.start, channel, task.createTimeMs);
  if (fanOut.length === 0 || record.pendingStart !== undefined)
    return { start, targetPositions: {} };
  // Keyed by target URIs from the request: a null-prototype map keeps any URI an ordinary key.
  const targetPositions = Object.create(null) as Record<string, Position>;
  if (record.position !== undefined) targetPositions[task.spec.target.uri] = record.position;
  for (const t of fanOut) {
    const own = record.fanOutPositions?.[t.uri];
    if (own !== undefined) targetPositions[t.uri] = own;
  }
  const own = [task.spec.target, ...fanOut].map((t) => targetPositions[t.uri]);
  let earliest: Position | undefined;
  for (const p of own) {
    if (p === undefined)
      return {
        start: fromStartPoint(task.spec.start, channel, task.createTimeMs),
        targetPositions,
      };
    if (earliest === undefined || BigInt(p.timestamp) < BigInt(earliest.timestamp)) earliest = p;
  }
  return {
    start: earliest === undefined ? start : { ...start, position: earliest },
    targetPositions,
  };
}

function startFor(
  record: ChannelRecord,
  taskStart: StartPoint,
  channel: string,
  taskCreateTimeMs: number,
): LeaseStart {
  if (record.pendingStart !== undefined)
    return fromStartPoint(record.pendingStart, channel, record.updateTimeMs);
  if (record.position !== undefined)
    return {
      kind: 'START_KIND_POSITIONS',
      position: record.position,
      timestamp: '0',
      fromCheckpoint: true,
    };
  return fromStartPoint(taskStart, channel, taskCreateTimeMs);
}

/**
 * "Latest" means latest when the task was created (or the position reset), not when a worker happens to take the
 * lease: it becomes a timestamp start, so writes between task creation and the first lease are not skipped, and a
 * restart before the first checkpoint starts at the same place again.
 */
function fromStartPoint(start: StartPoint, channel: string, latestAtMs: number): LeaseStart {
  const latest: LeaseStart = {
    kind: 'START_KIND_TIMESTAMP',
    timestamp: composeTs(latestAtMs).toString(),
    fromCheckpoint: false,
  };
  if (start.kind === 'START_KIND_POSITIONS') {
    const position = start.positions[channel];
    if (position === undefined) return latest;
    return { kind: 'START_KIND_POSITIONS', position, timestamp: '0', fromCheckpoint: false };
  }
  if (start.kind === 'START_KIND_UNSPECIFIED' || start.kind === 'START_KIND_LATEST') return latest;
  return { kind: start.kind, timestamp: start.timestamp, fromCheckpoint: false };
}
