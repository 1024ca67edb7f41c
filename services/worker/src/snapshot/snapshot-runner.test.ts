import { CdcError } from '@cdc/shared';
import type { Row, SourceMetadata } from '@cdc/shared';
import { describe, expect, it } from 'vitest';
import type { Borrowed } from '../lease/lease-runner.js';
import type { SourceRows } from '../ports/source-rows.js';
import type { TargetWriter } from '../ports/target-writer.js';
import type { SnapshotGrant } from '../ports/worker-control.js';
import {
  FakeSourceMetadata,
  FakeSourceRows,
  FakeTargetWriter,
  FakeWorkerControl,
  collectionInfo,
  partitionInfo,
  silentLogger,
} from '../testing/fakes.js';
import { taskSpecWire } from '../testing/wire.js';
import { SnapshotRunner, type SnapshotFactories } from './snapshot-runner.js';

const orders = collectionInfo({ id: 10n, name: 'orders' });
const job = { taskId: 't1', collectionId: '10' };
const target = { db: 'default', collection: 'orders' };

function grant(progress: Partial<SnapshotGrant['progress']> = {}): SnapshotGrant {
  return {
    epoch: '1',
    spec: taskSpecWire({
      scope: { include: [{ database: 'default', collection: '*' }], exclude: [] },
      initial_sync: { enabled: true, batch_rows: 3 },
    }),
    progress: { rowsCopied: 0, rowsTotal: 0, partition: '', lastKey: '', ...progress },
  };
}

function borrowed<T>(value: T): Promise<Borrowed<T>> {
  return Promise.resolve({ value, release: () => Promise.resolve() });
}

function setup(metadata = new FakeSourceMetadata(orders)) {
  metadata.partitions.set(10n, [partitionInfo(10n, 2n, 'p1'), partitionInfo(10n, 1n, '_default')]);
  const rows = new FakeSourceRows()
    .add('_default', [1, 2, 3, 4, 5], (id) => (id === 2 ? { $meta: { note: 'n2' } } : {}))
    .add('p1', [6, 7, 8, 9]);
  rows.indexList = [
    { fieldName: 'vec', indexName: 'vec_idx', params: [{ key: 'index_type', value: 'FLAT' }] },
  ];
  const writer = new FakeTargetWriter();
  const control = new FakeWorkerControl();
  control.snapshotGrant = grant();
  const factories: SnapshotFactories = {
    sourceMetadata: () => borrowed<SourceMetadata>(metadata),
    targetWriter: () => borrowed<TargetWriter>(writer),
    sourceRows: () => borrowed<SourceRows>(rows),
  };
  const runner = new SnapshotRunner({
    control,
    factories,
    workerId: 'w1',
    log: silentLogger(),
    failureBackoffMs: 0,
  });
  const upserted = (): [string, string[]][] =>
    writer
      .callsOf('upsert')
      .map(([, partition, list]) => [
        partition as string,
        (list as Row[]).map((r) => String(r['id'])),
      ]);
  return { rows, writer, control, runner, upserted };
}

describe('SnapshotRunner', () => {
  it('creates the target, copies every partition page by page in key order, then loads and reports DONE', async () => {
    const { writer, control, runner, upserted } = setup();
    expect(await runner.run(job, new AbortController().signal)).toBe('copied');

    expect(writer.ops('upsert')).toEqual([
      'createDatabase',
      'createCollection',
      'createIndex',
      'loadCollection',
    ]);
    expect(writer.callsOf('createCollection')[0]?.[0]).toMatchObject({
      ...target,
      sourceCollectionId: '10',
      partitions: ['p1'],
    });
    // Partitions by id (_default first), pages of 3 rows, keys ascending.
    expect(upserted()).toEqual([
      ['_default', ['1', '2', '3']],
      ['_default', ['4', '5']],
      ['p1', ['6', '7', '8']],
      ['p1', ['9']],
    ]);
    // The dynamic field is passed whole under $meta, which the SDK keeps as the dynamic field on upsert.
    const first = writer.callsOf('upsert')[0]?.[2] as Row[];
    expect(first[1]).toEqual({ id: '2', vec: [2, 2], $meta: { note: 'n2' } });

    const reports = control.snapshotReports.map((r) => [
      r.partition,
      r.lastKey,
      r.rowsCopied,
      r.done,
    ]);
    expect(reports).toEqual([
      ['_default', '3', 3, false],
      ['_default', '5', 5, false],
      ['p1', '8', 8, false],
      ['p1', '9', 9, false],
      ['p1', '9', 9, true],
    ]);
    expect(control.snapshotReports.every((r) => r.rowsTotal === 9 && r.epoch === '1')).toBe(true);
  });

  it('resumes a taken-over copy after the last reported key, skipping finished partitions', async () => {
    const { control, runner, upserted, rows } = setup();
    control.snapshotGrant = grant({ rowsCopied: 6, rowsTotal: 9, partition: 'p1', lastKey: '6' });
    expect(await runner.run(job, new AbortController().signal)).toBe('copied');
    expect(upserted()).toEqual([['p1', ['7', '8', '9']]]);
    expect(rows.queries[0]).toEqual({ partition: 'p1', expr: 'id > 6' });
    expect(control.snapshotReports.at(-1)).toMatchObject({ rowsCopied: 9, done: true });
  });

  it('stops without DONE when the control says stop (task paused or deleted)', async () => {
    const { writer, control, runner, upserted } = setup();
    control.snapshotAnswers = [
      { keepGoing: true, reason: '' },
      { keepGoing: false, reason: 'task paused' },
    ];
    expect(await runner.run(job, new AbortController().signal)).toBe('stopped');
    expect(upserted()).toHaveLength(2);
    expect(writer.ops()).not.toContain('loadCollection');
    expect(control.snapshotReports.some((r) => r.done)).toBe(false);
  });

  it('writes nothing more once another worker took the copy over (stale epoch)', async () => {
    const { control, runner, upserted } = setup();
    control.snapshotAnswers = [
      new CdcError('LEASE_LOST', 'ReportSnapshot: stale snapshot epoch', {
        retryable: false,
      }),
    ];
    expect(await runner.run(job, new AbortController().signal)).toBe('stopped');
    expect(upserted()).toHaveLength(1);
    expect(control.snapshotReports.filter((r) => r.error !== undefined)).toEqual([]);
  });

  it('reports a source collection that is not loaded as needing a person, before writing anything', async () => {
    const { writer, control, runner, rows } = setup();
    rows.loaded = false;
    expect(await runner.run(job, new AbortController().signal)).toBe('failed');
    expect(writer.calls).toEqual([]);
    expect(control.snapshotReports).toEqual([
      expect.objectContaining({ needsPerson: true, error: expect.stringMatching(/not loaded/) }),
    ]);
  });

  it('retries a target that is down and loses no page', async () => {
    const { writer, runner, upserted } = setup();
    writer.failWith('upsert', (_args, n) =>
      n <= 2 ? new CdcError('SINK_UNAVAILABLE', 'target down', { retryable: true }) : undefined,
    );
    expect(await runner.run(job, new AbortController().signal)).toBe('copied');
    expect(upserted().flatMap(([, ids]) => ids)).toEqual([
      '1',
      '2',
      '3',
      '4',
      '5',
      '6',
      '7',
      '8',
      '9',
    ]);
  });

  it('reports DONE at once for a collection dropped since the plan', async () => {
    const { writer, control, runner } = setup(new FakeSourceMetadata());
    expect(await runner.run(job, new AbortController().signal)).toBe('copied');
    expect(writer.calls).toEqual([]);
    expect(control.snapshotReports).toEqual([
      expect.objectContaining({ done: true, rowsCopied: 0 }),
    ]);
  });

  it('gives a refused copy (already done, task not running) back without work', async () => {
    const { control, runner, writer } = setup();
    control.snapshotGrant = new CdcError('FAILED_PRECONDITION', 'already copied', {
      retryable: false,
    });
    expect(await runner.run(job, new AbortController().signal)).toBe('refused');
    expect(writer.calls).toEqual([]);
  });
});
