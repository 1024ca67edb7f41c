/**
 * Decoded proto messages for unit tests: what the control service's answers look like after decoding (every field
 * present), built from only the fields a test cares about.
 */
import type { pb } from '@cdc/shared';

export function targetWire(t: Partial<pb.TargetSpec__Output> = {}): pb.TargetSpec__Output {
  return {
    uri: '',
    token: '',
    username: '',
    password: '',
    tls: null,
    mode: 'TARGET_MODE_UNSPECIFIED',
    ...t,
  };
}

export interface TaskSpecParts extends Partial<Omit<pb.TaskSpec__Output, 'target' | 'fan_out'>> {
  readonly target?: Partial<pb.TargetSpec__Output>;
  readonly fan_out?: Partial<pb.TargetSpec__Output>[];
}

export function taskSpecWire(s: TaskSpecParts = {}): pb.TaskSpec__Output {
  return {
    source: null,
    scope: { include: [], exclude: [] },
    name_mapping: [],
    start: null,
    initial_sync: null,
    replicate_rbac: null,
    ...s,
    target: targetWire(s.target),
    fan_out: (s.fan_out ?? []).map(targetWire),
  };
}

export function positionWire(p: Partial<pb.Position__Output> = {}): pb.Position__Output {
  return { msg_id: Buffer.alloc(0), timestamp: '0', batch_index: 0, ...p };
}

export function leaseStartWire(s: Partial<pb.LeaseStart__Output> = {}): pb.LeaseStart__Output {
  return {
    kind: 'START_KIND_UNSPECIFIED',
    position: null,
    timestamp: '0',
    from_checkpoint: false,
    ...s,
  };
}
