/** Pure parts of cdcctl: task files, error lines and exit codes, the catch-up summary. */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { pb } from '@cdc/shared';
import { afterAll, describe, expect, it } from 'vitest';
import { CatchUpTracker, summaryLine } from './catch-up.js';
import { CliError, describeFailure } from './errors.js';
import { parseCollection } from './commands/verify.js';
import { readTaskFile } from './task-file.js';
import { initialSyncSummary, snapshotLines, taskDetail, verifyView } from './views.js';

/** Decoded messages as the server sends them (every field present), from the fields a test sets. */
const channelStatus = (c: Partial<pb.ChannelStatus__Output>): pb.ChannelStatus__Output => ({
  channel: '',
  position: null,
  epoch: '0',
  worker_id: '',
  source_head_timestamp: '0',
  lag_ms: '0',
  applied_rows: '0',
  applied_bytes: '0',
  update_time_ms: '0',
  pending_start: null,
  last_error: '',
  fan_out_positions: {},
  caught_up: false,
  paused: false,
  ...c,
});
const snapshot = (c: Partial<pb.CollectionSnapshot__Output>): pb.CollectionSnapshot__Output => ({
  database: '',
  collection: '',
  collection_id: '0',
  state: 'SNAPSHOT_STATE_PENDING',
  rows_copied: '0',
  rows_total: '0',
  partition: '',
  last_key: '',
  last_error: '',
  worker_id: '',
  epoch: '0',
  update_time_ms: '0',
  ...c,
});
const taskMessage = (t: Partial<pb.Task__Output>): pb.Task__Output => ({
  task_id: '',
  spec: null,
  state: 'TASK_STATE_RUNNING',
  reason: '',
  create_time_ms: '0',
  update_time_ms: '0',
  channels: [],
  secret_fields_set: [],
  initial_sync: null,
  pause_timestamp: '0',
  pause_immediate: false,
  standby: null,
  ...t,
});
const verification = (
  c: Partial<pb.CollectionVerification__Output>,
): pb.CollectionVerification__Output => ({
  source_database: '',
  source_collection: '',
  target_database: '',
  target_collection: '',
  partitions: [],
  source_rows: '0',
  target_rows: '0',
  differences: null,
  caught_up: false,
  repaired: false,
  rows_recopied: '0',
  rows_deleted: '0',
  remaining: null,
  error: '',
  ...c,
});

const dir = mkdtempSync(join(tmpdir(), 'task-file-'));
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

function file(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

describe('readTaskFile', () => {
  it('normalizes names, short enums, maps and 64-bit integers', () => {
    const path = file(
      'ok.yaml',
      [
        'taskId: t1',
        'start_paused: true',
        'spec:',
        '  source: {mq: {type: kafka, address: "h:9092"}, channelPrefix: 2024}',
        '  target: {uri: "http://h:19530", mode: replicate}',
        '  fan_out: [{uri: "http://k:19530", mode: api}]',
        '  name_mapping: [{source_database: a, collections: {x: y}}]',
        '  start:',
        '    kind: positions',
        '    timestamp: 449999999999999999',
        '    positions: {source-rootcoord-dml_0: {msg_id: AQAAAAAAAAA=, batch_index: 3}}',
      ].join('\n'),
    );
    expect(readTaskFile(path)).toEqual({
      task_id: 't1',
      start_paused: true,
      spec: {
        source: { mq: { type: 'MQ_TYPE_KAFKA', address: 'h:9092' }, channel_prefix: '2024' },
        target: { uri: 'http://h:19530', mode: 'TARGET_MODE_REPLICATE' },
        fan_out: [{ uri: 'http://k:19530', mode: 'TARGET_MODE_API' }],
        name_mapping: [{ source_database: 'a', collections: { x: 'y' } }],
        start: {
          kind: 'START_KIND_POSITIONS',
          timestamp: '449999999999999999',
          positions: { 'source-rootcoord-dml_0': { msg_id: 'AQAAAAAAAAA=', batch_index: 3 } },
        },
      },
    });
  });

  it('takes a bare TaskSpec (JSON too)', () => {
    const path = file('bare.json', '{"target": {"uri": "http://h"}, "scope": {"include": [{}]}}');
    expect(readTaskFile(path)).toEqual({
      spec: { target: { uri: 'http://h' }, scope: { include: [{}] } },
    });
  });

  it.each([
    ['unknown.yaml', 'spec: {target: {tokn: S3CRET}}', /spec\.target\.tokn: unknown field/],
    [
      'enum.yaml',
      'spec: {source: {mq: {type: S3CRET}}}',
      /mq\.type: must be one of: kafka, pulsar$/,
    ],
    ['int.yaml', 'spec: {start: {timestamp: -1}}', /start\.timestamp: must be a non-negative/],
    ['list.yaml', 'spec: {scope: {include: S3CRET}}', /scope\.include: must be a list$/],
    ['top.yaml', '- a', /\(top level\): must be a mapping$/],
    ['syntax.yaml', 'a: [', /syntax\.yaml: /],
  ])('rejects %s naming the field, never the value', (name, text, message) => {
    let err: unknown;
    try {
      readTaskFile(file(name, text));
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(CliError);
    const { line, exitCode } = describeFailure(err);
    expect(exitCode).toBe(2);
    expect(line).toMatch(/^error: INVALID_ARGUMENT: /);
    expect(line).toMatch(message);
    expect(line).not.toContain('S3CRET');
  });
});

describe('describeFailure', () => {
  it('maps gRPC statuses to exit codes', () => {
    const grpc = (code: number, details: string): Error =>
      Object.assign(new Error(details), { code, details });
    expect(describeFailure(grpc(5, 'task x not found'))).toEqual({
      line: 'error: NOT_FOUND: task x not found',
      exitCode: 2,
    });
    expect(describeFailure(grpc(14, 'down')).exitCode).toBe(1);
    expect(describeFailure(grpc(13, '')).line).toBe('error: INTERNAL: (no details)');
  });

  it('says how to give a token when the server answers UNAUTHENTICATED', () => {
    const err = Object.assign(new Error('x'), { code: 16, details: 'missing credentials: …' });
    expect(describeFailure(err)).toEqual({
      line: 'error: UNAUTHENTICATED: missing credentials: … (give an API token with --token or env CDCCTL_TOKEN)',
      exitCode: 2,
    });
  });
});

describe('CatchUpTracker', () => {
  const status = (lagMs: number, channels: { lag: number; worker?: string }[]) => ({
    lag_ms: String(lagMs),
    channels: channels.map((c) =>
      channelStatus({
        lag_ms: String(c.lag),
        worker_id: c.worker ?? 'w',
        position: { msg_id: Buffer.alloc(0), timestamp: '0', batch_index: 0 },
        epoch: '1',
      }),
    ),
  });

  it('reports progress and an ETA while the lag shrinks, then in sync', () => {
    const t = new CatchUpTracker(5000);
    const first = t.update(status(65_000, [{ lag: 65_000 }, { lag: 1000 }]), 0);
    expect(first).toMatchObject({ progress: 0, inSync: 1, channels: 2, etaMs: undefined });
    const later = t.update(status(35_000, [{ lag: 35_000 }, { lag: 1000 }]), 10_000);
    expect(later.progress).toBeCloseTo(0.5);
    expect(later.etaMs).toBeCloseTo(10_000);
    expect(summaryLine('RUNNING', '', later, 5000)).toBe(
      'catching up [##########----------] 50% lag 35.0s, 1/2 channels in sync, ~10.0s left',
    );
    const done = t.update(status(500, [{ lag: 500 }, { lag: 100 }]), 20_000);
    expect(summaryLine('RUNNING', '', done, 5000)).toBe('in sync: lag 500ms, 2 channels');
    expect(summaryLine('PAUSED', 'by user', done, 5000)).toBe(
      'PAUSED: by user (lag 500ms, 2/2 channels in sync)',
    );
  });

  it('says which channels wait for a worker', () => {
    const s = new CatchUpTracker(5000).update(status(0, [{ lag: 0, worker: '' }, { lag: 0 }]), 0);
    expect(summaryLine('RUNNING', '', s, 5000)).toBe(
      'starting: lag 0ms, 1/2 channels in sync, 1 waiting for a worker',
    );
  });
});

describe('verify', () => {
  const keys = (n: [string, string, string], shown: string[][]) => ({
    missing_on_target: n[0],
    extra_on_target: n[1],
    content_differs: n[2],
    missing_keys: shown[0] ?? [],
    extra_keys: shown[1] ?? [],
    differing_keys: shown[2] ?? [],
  });

  it('parses --collection as DATABASE.COLLECTION or a default-database name', () => {
    expect(parseCollection('shop.orders')).toEqual({ database: 'shop', collection: 'orders' });
    expect(parseCollection('orders')).toEqual({ database: '', collection: 'orders' });
    for (const bad of ['a.b.c', '.x', 'x.', ''])
      expect(() => parseCollection(bad), bad).toThrow(CliError);
  });

  it('shows counts per collection and the differing keys that remain', () => {
    const text = verifyView({
      task_id: 't1',
      clean: false,
      rows_compared: '8000',
      duration_ms: '2000',
      metadata_differences: [{ kind: 'alias', name: 'dr.live', source: 'dr.a', target: '' }],
      collections: [
        verification({
          source_database: 'db',
          source_collection: 'a',
          target_database: 'dr',
          target_collection: 'a',
          source_rows: '3000',
          target_rows: '2999',
          differences: keys(['3', '2', '5'], [['1', '2'], ['7'], ['9']]),
          caught_up: true,
          rows_recopied: '0',
          rows_deleted: '0',
          remaining: null,
          error: '',
        }),
        verification({
          source_database: 'db',
          source_collection: 'b',
          target_database: 'dr',
          target_collection: 'b',
          source_rows: '0',
          target_rows: '0',
          differences: keys(['0', '0', '0'], []),
          caught_up: true,
          remaining: null,
          error: 'target collection dr.b not found',
        }),
      ],
    });
    expect(text.split('\n')).toEqual([
      'task t1: DIFFERENCES REMAIN (8000 rows compared in 2.0s, 4000 rows/s)',
      'SOURCE  TARGET  ROWS (SRC/TGT)  MISSING/EXTRA/DIFFERS                    CAUGHT UP  REPAIR',
      'db.a    dr.a    3000/2999       3/2/5                                    yes        -',
      'db.b    dr.b    0/0             error: target collection dr.b not found  yes        -',
      '  db.a missing on target: 1, 2, … (3 in all)',
      '  db.a extra on target: 7, … (2 in all)',
      '  db.a content differs: 9, … (5 in all)',
      'alias dr.live: source dr.a, target -',
    ]);
  });
});

describe('initial sync views', () => {
  const task = taskMessage({
    task_id: 't1',
    initial_sync: {
      copying: true,
      snapshot_timestamp: String(1_700_000_000_000 * 2 ** 18),
      collections: [
        snapshot({
          database: 'shop',
          collection: 'orders',
          state: 'SNAPSHOT_STATE_COPYING',
          rows_copied: '84000',
          rows_total: '200000',
          partition: '_default',
          last_error: '',
        }),
        snapshot({
          database: 'shop',
          collection: 'users',
          state: 'SNAPSHOT_STATE_DONE',
          rows_copied: '10',
          rows_total: '10',
          partition: '',
          last_error: '',
        }),
      ],
    },
  });

  it('prints a summary and one progress line per collection', () => {
    expect(initialSyncSummary(task)).toMatch(
      /^copying: 1\/2 collections done; streaming starts after them, from /,
    );
    expect(snapshotLines(task)).toEqual([
      '  shop.orders COPYING 84000/200000 rows (42%) partition=_default',
      '  shop.users DONE 10/10 rows (100%)',
    ]);
    expect(taskDetail(task)).toContain('\n  shop.orders COPYING 84000/200000 rows (42%)');
  });

  it('prints nothing for a task without initial sync', () => {
    expect(initialSyncSummary({ initial_sync: null })).toBe('');
    expect(snapshotLines({ initial_sync: null })).toEqual([]);
    expect(taskDetail(taskMessage({ task_id: 't2' }))).not.toContain('Initial sync');
  });
});
