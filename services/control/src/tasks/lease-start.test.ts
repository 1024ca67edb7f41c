import { describe, expect, it } from 'vitest';
import {
  emptyChannelRecord,
  type ChannelRecord,
  type Position,
  type TaskRecord,
} from '../domain/model.js';
import { leaseStartFor } from './lease-start.js';

const target = (uri: string) => ({
  uri,
  token: '',
  username: '',
  password: '',
  tls: {
    enabled: false,
    ca_pem: '',
    cert_pem: '',
    key_pem: '',
    server_name: '',
    insecure_skip_verify: false,
  },
  mode: 'TARGET_MODE_API' as const,
});
const pos = (ts: number): Position => ({
  msg_id: Buffer.from([ts]).toString('base64'),
  timestamp: String(ts),
  batch_index: 0,
});

function task(fanOut: string[]): TaskRecord {
  return {
    taskId: 't',
    spec: {
      source: {} as TaskRecord['spec']['source'],
      target: target('a:1'),
      scope: { include: [], exclude: [] },
      name_mapping: [],
      start: { kind: 'START_KIND_LATEST', timestamp: '0', positions: {} },
      ...(fanOut.length > 0 ? { fan_out: fanOut.map(target) } : {}),
    },
    sealedSecrets: '',
    secretFieldsSet: [],
    specDigest: '',
    state: 'TASK_STATE_RUNNING',
    reason: '',
    pausedBy: '',
    createTimeMs: 1_000,
    updateTimeMs: 1_000,
    channels: ['c'],
  };
}
const record = (over: Partial<ChannelRecord>): ChannelRecord => ({
  ...emptyChannelRecord(),
  ...over,
});

describe('leaseStartFor (fan-out)', () => {
  it('without fan-out resumes after the checkpoint and names no target positions', () => {
    const r = leaseStartFor(record({ position: pos(50) }), task([]), 'c');
    expect(r).toEqual({
      start: {
        kind: 'START_KIND_POSITIONS',
        position: pos(50),
        timestamp: '0',
        fromCheckpoint: true,
      },
      targetPositions: {},
    });
  });

  it('reads from the earliest target checkpoint and gives each target its own', () => {
    const r = leaseStartFor(
      record({ position: pos(50), fanOutPositions: { 'b:1': pos(30), 'c:1': pos(70) } }),
      task(['b:1', 'c:1']),
      'c',
    );
    expect(r.start).toMatchObject({ kind: 'START_KIND_POSITIONS', position: pos(30) });
    expect(r.targetPositions).toEqual({ 'a:1': pos(50), 'b:1': pos(30), 'c:1': pos(70) });
  });

  it('reads from the task start while a target has no checkpoint yet', () => {
    const r = leaseStartFor(record({ position: pos(50) }), task(['b:1']), 'c');
    expect(r.start.kind).toBe('START_KIND_TIMESTAMP');
    expect(r.targetPositions).toEqual({ 'a:1': pos(50) });
  });
});
