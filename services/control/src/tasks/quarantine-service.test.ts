import { CdcError } from '@cdc/shared';
import { beforeEach, describe, expect, it } from 'vitest';
import type { ChannelRecord, QuarantineRecord, TaskRecord } from '../domain/model.js';
import { emptyChannelRecord } from '../domain/model.js';
import type { ChannelStore, QuarantineOutcome, QuarantineStore, QuarantineWrite } from './ports.js';
import {
  QUARANTINE_FULL,
  QuarantineService,
  dedupeKey,
  type QuarantineReport,
} from './quarantine-service.js';

/** The QuarantineStore contract in memory: ordered ids, deduplication by key, the cap per task. */
class MemoryQuarantine implements QuarantineStore {
  readonly records = new Map<string, QuarantineRecord>();
  private readonly seen = new Map<string, string>();

  add(
    _taskId: string,
    entries: readonly QuarantineWrite[],
    maxEntries: number,
  ): Promise<QuarantineOutcome[]> {
    return Promise.resolve(
      entries.map((e): QuarantineOutcome => {
        const stored = this.seen.get(e.dedupeKey);
        if (stored !== undefined) return { kind: 'duplicate', quarantineId: stored };
        if (this.records.size >= maxEntries) return { kind: 'full' };
        this.records.set(e.record.quarantineId, e.record);
        this.seen.set(e.dedupeKey, e.record.quarantineId);
        return { kind: 'added', quarantineId: e.record.quarantineId };
      }),
    );
  }
  list(_taskId: string, afterId: string, limit: number) {
    const after = [...this.records.values()]
      .filter((r) => r.quarantineId > afterId)
      .sort((a, b) => (a.quarantineId < b.quarantineId ? -1 : 1));
    return Promise.resolve({ records: after.slice(0, limit), more: after.length > limit });
  }
  count(): Promise<number> {
    return Promise.resolve(this.records.size);
  }
  purge(): Promise<number> {
    const n = this.records.size;
    this.records.clear();
    this.seen.clear();
    return Promise.resolve(n);
  }
}

const LEASE = { taskId: 't1', channel: 'by-dev-rootcoord-dml_0', epoch: '3' };

function entry(offset: number, over: Partial<QuarantineReport> = {}): QuarantineReport {
  return {
    position: {
      msg_id: Buffer.from([offset, 0, 0, 0, 0, 0, 0, 0]).toString('base64'),
      timestamp: '449000000000000000',
      batch_index: 0,
    },
    reason: `undecodable record ${offset}`,
    payload: Buffer.alloc(10, offset),
    payloadSize: 0,
    target: '',
    ...over,
  };
}

async function rejection(p: Promise<unknown>): Promise<CdcError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof CdcError) return err;
    throw err;
  }
  throw new Error('expected a rejection');
}

describe('QuarantineService', () => {
  let store: MemoryQuarantine;
  let task: Pick<TaskRecord, 'taskId' | 'state' | 'reason'>;
  let channel: ChannelRecord;
  let now: number;
  let service: QuarantineService;

  beforeEach(() => {
    store = new MemoryQuarantine();
    task = { taskId: 't1', state: 'TASK_STATE_RUNNING', reason: '' };
    channel = { ...emptyChannelRecord(), epoch: '3' };
    now = 1_700_000_000_000;
    const channels = {
      get: () => Promise.resolve({ value: channel, version: '1' }),
    } as unknown as ChannelStore;
    service = new QuarantineService({
      tasks: {
        get: () => Promise.resolve(task as TaskRecord),
        pause: (_id: string, reason: string) => {
          task = { ...task, state: 'TASK_STATE_PAUSED', reason };
          return Promise.resolve(task as TaskRecord);
        },
      },
      channels,
      store,
      clock: { now: () => now++ },
      payloadCap: 8,
      maxEntries: 5,
    });
  });

  it('stores a batch in order, cuts payloads at the cap and says so', async () => {
    const ids = await service.report(LEASE, [
      entry(1),
      entry(2, { payload: Buffer.alloc(8, 2) }),
      entry(3, { payload: Buffer.alloc(4, 3), payloadSize: 900_000 }),
    ]);
    expect(ids).toHaveLength(3);
    expect([...ids].sort()).toEqual(ids);
    const records = ids.map((id) => store.records.get(id));
    expect(records.map((r) => Buffer.from(r?.payload ?? '', 'base64').length)).toEqual([8, 8, 4]);
    expect(records.map((r) => r?.truncated)).toEqual([true, false, true]);
    expect(records[0]).toMatchObject({
      channel: LEASE.channel,
      epoch: '3',
      reason: 'undecodable record 1',
    });
  });

  it('a replayed message is the same entry, per target', async () => {
    const [first] = await service.report(LEASE, [entry(1)]);
    const again = await service.report(LEASE, [entry(1), entry(1, { target: 'http://fan:19530' })]);
    expect(again[0]).toBe(first);
    expect(again[1]).not.toBe(first);
    expect(store.records.size).toBe(2);
    expect(dedupeKey('c', entry(1).position, '')).toBe(dedupeKey('c', entry(1).position, ''));
    expect(dedupeKey('c', entry(1).position, '')).not.toBe(dedupeKey('d', entry(1).position, ''));
    expect(dedupeKey('c', undefined, '')).not.toBe(dedupeKey('c', undefined, ''));
  });

  it('at the cap: stores what fits, pauses the task with "quarantine full" and refuses the batch', async () => {
    await service.report(LEASE, [entry(1), entry(2), entry(3)]);
    const err = await rejection(service.report(LEASE, [entry(3), entry(4), entry(5), entry(6)]));
    expect(err.code).toBe('FAILED_PRECONDITION');
    expect(err.message).toMatch(/^quarantine full: task t1 holds 5 quarantined messages/);
    expect(err.message.startsWith(QUARANTINE_FULL)).toBe(true);
    expect(store.records.size).toBe(5);
    expect(task.state).toBe('TASK_STATE_PAUSED');
    expect(task.reason).toMatch(
      /^quarantine full: 5 messages \(CONTROL_QUARANTINE_MAX_ENTRIES\); .*cdcctl quarantine purge t1/,
    );
    // Replays of stored messages still answer; new ones are refused until the list is purged.
    expect(await service.report(LEASE, [entry(1)])).toHaveLength(1);
    await rejection(service.report(LEASE, [entry(7)]));
    expect(await service.purge('t1')).toBe(5);
    expect(await service.report(LEASE, [entry(7)])).toHaveLength(1);
  });

  it('does not pause a task that is not running', async () => {
    task = { ...task, state: 'TASK_STATE_PAUSED', reason: 'paused by user' };
    await service.report(LEASE, [entry(1), entry(2), entry(3), entry(4), entry(5)]);
    await rejection(service.report(LEASE, [entry(6)]));
    expect(task.reason).toBe('paused by user');
  });

  it('fences stale epochs and bounds every field before storing', async () => {
    channel = { ...channel, epoch: '4' };
    const stale = await rejection(service.report(LEASE, [entry(1)]));
    expect(stale.message).toBe('stale lease epoch');
    channel = { ...channel, epoch: '3' };
    const cases: [QuarantineReport[], string][] = [
      [[], 'entries: needs at least one entry'],
      [
        Array.from({ length: 257 }, (_, i) => entry(i % 250)),
        'entries: has 257 entries; at most 256',
      ],
      [[entry(1), entry(2, { reason: 'r'.repeat(4097) })], 'entries[1].reason: is 4097 characters'],
      [[entry(1, { target: 'u'.repeat(1025) })], 'entries[0].target_uri: is 1025 characters'],
      [
        [
          entry(1, {
            position: {
              msg_id: Buffer.alloc(193).toString('base64'),
              timestamp: '1',
              batch_index: 0,
            },
          }),
        ],
        'entries[0].position.msg_id: is 193 bytes long; at most 192 allowed',
      ],
    ];
    for (const [reports, message] of cases) {
      const err = await rejection(service.report(LEASE, reports));
      expect(err.code).toBe('INVALID_ARGUMENT');
      expect(err.message).toContain(message);
    }
    expect(store.records.size).toBe(0);
  });

  it('lists pages with a token while more records follow', async () => {
    await service.report(LEASE, [entry(1), entry(2), entry(3)]);
    const first = await service.list('t1', 2, '');
    expect(first.records).toHaveLength(2);
    const second = await service.list('t1', 2, first.nextPageToken);
    expect(second.records).toHaveLength(1);
    expect(second.nextPageToken).toBe('');
  });
});
