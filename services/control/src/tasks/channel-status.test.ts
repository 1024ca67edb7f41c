import { describe, expect, it } from 'vitest';
import { composeTs } from '@cdc/shared';
import type { ChannelRecord, TaskRecord } from '../domain/model.js';
import { emptyChannelRecord } from '../domain/model.js';
import { channelStatuses } from './channel-status.js';

const NOW = 1_700_000_100_000;
const STALE_MS = 30_000;

const task = {
  taskId: 't',
  state: 'TASK_STATE_RUNNING',
  createTimeMs: NOW - 60_000,
  channels: ['dml_0'],
} as unknown as TaskRecord;

/** A live report of `dml_0` sent `ageMs` ago, its checkpoint `checkpointAgeMs` old when sent. */
function record(
  r: Partial<ChannelRecord> & { ageMs: number; checkpointAgeMs: number },
): ChannelRecord {
  const sentAt = NOW - r.ageMs;
  return {
    ...emptyChannelRecord(),
    epoch: '1',
    updateTimeMs: sentAt,
    position: {
      msg_id: 'AA==',
      timestamp: composeTs(sentAt - r.checkpointAgeMs).toString(),
      batch_index: 0,
    },
    ...r,
  };
}

const lagOf = (rec: ChannelRecord): number =>
  channelStatuses(task, new Map([['dml_0', rec]]), NOW, STALE_MS)[0]!.lagMs;

describe('channel lag', () => {
  it('a caught-up channel: how late its last changes reached the target, not how old its checkpoint is', () => {
    // Changes at the head are applied before the tick that closes them; the checkpoint waits for that tick.
    expect(
      lagOf(record({ ageMs: 500, checkpointAgeMs: 600, caughtUp: true, applyDelayMs: 120 })),
    ).toBe(120);
    expect(
      lagOf(record({ ageMs: 500, checkpointAgeMs: 600, caughtUp: true, applyDelayMs: 0 })),
    ).toBe(0);
    expect(lagOf(record({ ageMs: 500, checkpointAgeMs: 600, caughtUp: true }))).toBe(0);
  });

  it('a channel behind: the age of its checkpoint when reported', () => {
    expect(
      lagOf(record({ ageMs: 500, checkpointAgeMs: 2_000, caughtUp: false, applyDelayMs: 120 })),
    ).toBe(2_000);
  });

  it('a channel with everything read and a change waiting: the age of that change, not of an older checkpoint', () => {
    // A quiet channel's first change waits a round trip for the lease's apply bound; its checkpoint is a tick from
    // before the quiet fetch wait.
    const sentAt = NOW - 500;
    const waiting = composeTs(sentAt - 150).toString();
    expect(
      lagOf(
        record({ ageMs: 500, checkpointAgeMs: 1_300, caughtUp: false, waitingTimestamp: waiting }),
      ),
    ).toBe(150);
    expect(
      lagOf(record({ ageMs: 500, checkpointAgeMs: 1_300, caughtUp: false, waitingTimestamp: '0' })),
    ).toBe(1_300);
  });

  it('a caught-up report gone stale: the checkpoint age, rising while the lease is silent', () => {
    const silent = record({
      ageMs: 40_000,
      checkpointAgeMs: 100,
      caughtUp: true,
      applyDelayMs: 120,
    });
    expect(lagOf(silent)).toBe(40_100);
  });
});
