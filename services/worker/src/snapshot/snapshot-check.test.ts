import type { Row, ScannedRow, SourceMetadata } from '@cdc/shared';
import { describe, expect, it } from 'vitest';
import type { Borrowed } from '../lease/lease-runner.js';
import type { SourceCollectionRef, SourceRows } from '../ports/source-rows.js';
import type { TargetWriter } from '../ports/target-writer.js';
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
import { SnapshotRunner } from './snapshot-runner.js';

/** Initial sync checks a partition's copy against a second, keys-only read of the source before calling it done. */

/** Full-row reads miss key 3 (as short pages on a 2.3 collection with repeated keys did), `missCopies` times. */
class MissingRows extends FakeSourceRows {
  constructor(private missCopies: number) {
    super();
  }
  override query(
    c: SourceCollectionRef,
    partition: string | undefined,
    expr: string,
    limit: number,
    fields?: readonly string[],
  ): Promise<readonly ScannedRow[]> {
    if (fields !== undefined && this.missCopies > 0) this.missCopies--; // the check ends a copy
    const hide = fields === undefined && this.missCopies > 0;
    return super
      .query(c, partition, expr, limit)
      .then((rows) => (hide ? rows.filter((r) => r['id'] !== '3') : rows));
  }
}

function setup(rows: FakeSourceRows) {
  const orders = collectionInfo({ id: 10n, name: 'orders' });
  const metadata = new FakeSourceMetadata(orders);
  metadata.partitions.set(10n, [partitionInfo(10n, 1n, '_default')]);
  rows.add('_default', [1, 2, 3, 4, 5]);
  const writer = new FakeTargetWriter();
  const control = new FakeWorkerControl();
  control.snapshotGrant = {
    epoch: '1',
    spec: taskSpecWire({
      scope: { include: [{ database: 'default', collection: '*' }], exclude: [] },
      initial_sync: { enabled: true, batch_rows: 2 },
    }),
    progress: { rowsCopied: 0, rowsTotal: 0, partition: '', lastKey: '' },
  };
  const borrowed = <T>(value: T): Promise<Borrowed<T>> =>
    Promise.resolve({ value, release: () => Promise.resolve() });
  const runner = new SnapshotRunner({
    control,
    factories: {
      sourceMetadata: () => borrowed<SourceMetadata>(metadata),
      targetWriter: () => borrowed<TargetWriter>(writer),
      sourceRows: () => borrowed<SourceRows>(rows),
    },
    workerId: 'w1',
    log: silentLogger(),
    failureBackoffMs: 0,
  });
  const written = () =>
    new Set(
      writer.callsOf('upsert').flatMap(([, , list]) => (list as Row[]).map((r) => String(r['id']))),
    );
  return { control, runner, written };
}

describe('initial sync key check', () => {
  it('copies a partition again when a second read finds keys the copy missed', async () => {
    const { control, runner, written } = setup(new MissingRows(1));
    expect(
      await runner.run({ taskId: 't1', collectionId: '10' }, new AbortController().signal),
    ).toBe('copied');
    expect([...written()].sort()).toEqual(['1', '2', '3', '4', '5']);
    expect(control.snapshotReports.at(-1)?.done).toBe(true);
  });

  it('asks a person, with the figures, when copies keep missing keys', async () => {
    const { control, runner } = setup(new MissingRows(99));
    expect(
      await runner.run({ taskId: 't1', collectionId: '10' }, new AbortController().signal),
    ).toBe('failed');
    const last = control.snapshotReports.at(-1);
    expect(last?.done).toBe(false);
    expect(last?.needsPerson).toBe(true);
    expect(last?.error).toContain(
      'copied 4 distinct keys of default.orders partition _default up to key 5, but a second read of the source finds 5 (after 3 copies)',
    );
  });
});
