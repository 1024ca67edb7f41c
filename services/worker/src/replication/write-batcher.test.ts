import { describe, expect, it } from 'vitest';
import { CdcError, encodeMessage, primaryKeyValues, readInsertColumns } from '@cdc/shared';
import type { KnownMessage, Row } from '@cdc/shared';
import {
  FakeLeaseProgress,
  FakeTargetWriter,
  collectionInfo,
  deleteMsg,
  insertMsg,
  int64Keys,
  offsetId,
  replicatedCollection,
  rowOf,
  silentLogger,
  sinkRejected,
  sinkUnavailable,
} from '../testing/fakes.js';
import { WriteBatcher } from './write-batcher.js';
import type { ChannelMessage } from './pack-buffer.js';

const books = replicatedCollection(collectionInfo({ id: 1n, name: 'books' }));
const films = replicatedCollection(collectionInfo({ id: 2n, name: 'films' }));

let offset = 0n;
function source(message: KnownMessage): ChannelMessage {
  return { message, msgId: offsetId(offset++), payload: encodeMessage(message) };
}
const ins = (...ids: bigint[]): ChannelMessage =>
  source(insertMsg({ collectionId: 1n, ids, ts: 10n }));
const del = (...ids: bigint[]): ChannelMessage =>
  source(deleteMsg({ collectionId: 1n, ids, ts: 10n }));
const rows = (...ids: bigint[]): Row[] => ids.map(rowOf);
/** What a call that ran out of time throws (gRPC DEADLINE_EXCEEDED). */
const deadlineExceeded = (action: string): CdcError =>
  new CdcError('SINK_UNAVAILABLE', `${action}: Deadline exceeded after 1.5s`, {
    retryable: true,
    details: { grpcCode: 4 },
  });

function setup(opts: { maxBatchRows?: number; signal?: AbortSignal } = {}) {
  const writer = new FakeTargetWriter().withCollections(books.target, films.target);
  const progress = new FakeLeaseProgress();
  const retries: unknown[] = [];
  const batcher = new WriteBatcher({
    writer,
    progress,
    signal: opts.signal ?? new AbortController().signal,
    log: silentLogger(),
    maxBatchRows: opts.maxBatchRows ?? 1000,
    onRetry: (err) => retries.push(err),
  });
  return { writer, progress, batcher, retries };
}

/** Primary keys of the rows of each upsert call. */
function upsertedIds(writer: FakeTargetWriter): string[][] {
  return writer.callsOf('upsert').map((args) => (args[2] as Row[]).map((r) => String(r['id'])));
}

describe('WriteBatcher', () => {
  it('merges consecutive upserts to one (collection, partition) into one call, in order', async () => {
    const { writer, batcher } = setup();
    await batcher.upsert(books, '_default', rows(1n), ins(1n));
    await batcher.upsert(books, '_default', rows(2n, 3n), ins(2n, 3n));
    expect(writer.calls).toEqual([]); // nothing before flush
    await batcher.flush();
    expect(writer.ops()).toEqual(['upsert']);
    expect(writer.callsOf('upsert')[0]).toEqual([books.target, '_default', rows(1n, 2n, 3n)]);
  });

  it('merges consecutive deletes and their keys', async () => {
    const { writer, batcher } = setup();
    await batcher.delete(books, undefined, int64Keys(1n), del(1n));
    await batcher.delete(books, undefined, int64Keys(2n, 3n), del(2n, 3n));
    await batcher.flush();
    expect(writer.calls).toEqual([
      { op: 'delete', args: [books.target, undefined, int64Keys(1n, 2n, 3n)] },
    ]);
  });

  it('merges VarChar keys', async () => {
    const { writer, batcher } = setup();
    const keys = (...v: string[]) => ({ type: 'VarChar', values: v }) as const;
    await batcher.delete(books, 'p', keys('a'), del(1n));
    await batcher.delete(books, 'p', keys('b', 'c'), del(2n));
    await batcher.flush();
    expect(writer.callsOf('delete')).toEqual([[books.target, 'p', keys('a', 'b', 'c')]]);
  });

  it('flushes on a change of kind, and never reorders', async () => {
    const { writer, batcher } = setup();
    await batcher.upsert(books, '_default', rows(1n), ins(1n));
    await batcher.delete(books, undefined, int64Keys(1n), del(1n));
    expect(writer.ops()).toEqual(['upsert']); // the upsert went first, the delete waits
    await batcher.upsert(books, '_default', rows(1n), ins(1n));
    await batcher.flush();
    expect(writer.ops()).toEqual(['upsert', 'delete', 'upsert']);
  });

  it('flushes on a change of collection or partition', async () => {
    const { writer, batcher } = setup();
    await batcher.upsert(books, '_default', rows(1n), ins(1n));
    await batcher.upsert(films, '_default', rows(2n), ins(2n));
    await batcher.upsert(films, 'p1', rows(3n), ins(3n));
    await batcher.upsert(films, 'p1', rows(4n), ins(4n));
    await batcher.delete(films, 'p1', int64Keys(5n), del(5n));
    await batcher.delete(films, undefined, int64Keys(6n), del(6n));
    await batcher.flush();
    expect(
      writer.calls.map((c) => [c.op, (c.args[0] as { collection: string }).collection, c.args[1]]),
    ).toEqual([
      ['upsert', 'books', '_default'],
      ['upsert', 'films', '_default'],
      ['upsert', 'films', 'p1'],
      ['delete', 'films', 'p1'],
      ['delete', 'films', undefined],
    ]);
    expect(upsertedIds(writer)).toEqual([['1'], ['2'], ['3', '4']]);
  });

  it('flushes once the batch reaches maxBatchRows', async () => {
    const { writer, batcher } = setup({ maxBatchRows: 3 });
    await batcher.upsert(books, '_default', rows(1n, 2n), ins(1n, 2n));
    expect(writer.calls).toEqual([]);
    await batcher.upsert(books, '_default', rows(3n), ins(3n));
    expect(upsertedIds(writer)).toEqual([['1', '2', '3']]);
    await batcher.upsert(books, '_default', rows(4n), ins(4n));
    await batcher.flush();
    expect(upsertedIds(writer)).toEqual([['1', '2', '3'], ['4']]);
  });

  it('keeps the last row per primary key within an upsert batch', async () => {
    const { writer, batcher } = setup();
    const v1 = { id: '2', vec: [1, 1] };
    const v2 = { id: '2', vec: [2, 2] };
    await batcher.upsert(books, '_default', [rowOf(1n), v1], ins(1n, 2n));
    await batcher.upsert(books, '_default', [v2, rowOf(3n)], ins(2n, 3n));
    await batcher.flush();
    const sent = writer.callsOf('upsert')[0]![2] as Row[];
    expect(sent).toHaveLength(3);
    expect(sent.filter((r) => r['id'] === '2')).toEqual([v2]);
    expect(sent.map((r) => r['id']).sort()).toEqual(['1', '2', '3']);
  });

  it('dedupes by a VarChar primary key too', async () => {
    const { writer, batcher } = setup();
    const c = { ...books, primaryKeyField: 'name' };
    await batcher.upsert(
      c,
      '_default',
      [
        { name: 'a', n: 1 },
        { name: 'b', n: 1 },
      ],
      ins(1n),
    );
    await batcher.upsert(c, '_default', [{ name: 'a', n: 2 }], ins(2n));
    await batcher.flush();
    expect(writer.callsOf('upsert')[0]![2]).toEqual([
      { name: 'b', n: 1 },
      { name: 'a', n: 2 },
    ]);
  });

  it('reports the rows and bytes the target acknowledged', async () => {
    const { progress, batcher } = setup();
    await batcher.upsert(books, '_default', rows(1n, 2n), ins(1n, 2n));
    await batcher.delete(books, undefined, int64Keys(1n), del(1n));
    await batcher.flush();
    expect(progress.rows).toBe(3);
    expect(progress.bytes).toBe(30);
  });

  it('does nothing when flushed empty', async () => {
    const { writer, progress, batcher } = setup();
    await batcher.flush();
    await batcher.flush();
    expect(writer.calls).toEqual([]);
    expect(progress.rows).toBe(0);
  });

  it('splits a rejected batch and quarantines only the refused message', async () => {
    const { writer, progress, batcher } = setup();
    writer.failWith('upsert', (args) =>
      (args[2] as Row[]).some((r) => r['id'] === '2') ? sinkRejected('bad vector') : undefined,
    );
    const bad = ins(2n);
    await batcher.upsert(books, '_default', rows(1n), ins(1n));
    await batcher.upsert(books, '_default', rows(2n), bad);
    await batcher.upsert(books, '_default', rows(3n), ins(3n));
    await batcher.flush();
    expect(upsertedIds(writer)).toEqual([['1'], ['3']]);
    expect(progress.quarantined).toHaveLength(1);
    expect(progress.quarantined[0]).toMatchObject({
      msgId: bad.msgId,
      payload: bad.payload,
      timestamp: 10n,
    });
    expect(progress.quarantined[0]!.reason).toMatch(/target rejected Insert: bad vector/);
    expect(progress.rows).toBe(2);
  });

  it('splits a rejected delete batch the same way', async () => {
    const { writer, progress, batcher } = setup();
    writer.failWith('delete', (args) =>
      (args[2] as { values: bigint[] }).values.includes(9n) ? sinkRejected() : undefined,
    );
    const bad = del(9n);
    await batcher.delete(books, undefined, int64Keys(1n), del(1n));
    await batcher.delete(books, undefined, int64Keys(9n), bad);
    await batcher.flush();
    expect(writer.callsOf('delete')).toEqual([[books.target, undefined, int64Keys(1n)]]);
    expect(progress.quarantined.map((q) => q.msgId)).toEqual([bad.msgId]);
  });

  it('surfaces a non-rejection error met while splitting', async () => {
    const { writer, batcher } = setup();
    writer.failWith('upsert', (_args, n) =>
      n === 1
        ? sinkRejected()
        : new CdcError('SCHEMA_MISMATCH', 'field gone', { retryable: false }),
    );
    await batcher.upsert(books, '_default', rows(1n), ins(1n));
    await expect(batcher.flush()).rejects.toMatchObject({ code: 'SCHEMA_MISMATCH' });
  });

  it('retries retryable errors until the target accepts', async () => {
    const { writer, progress, batcher, retries } = setup();
    writer.failWith('upsert', (_args, n) => (n === 1 ? sinkUnavailable() : undefined));
    await batcher.upsert(books, '_default', rows(1n), ins(1n));
    await batcher.flush();
    expect(retries).toHaveLength(1);
    expect(upsertedIds(writer)).toEqual([['1']]);
    expect(progress.rows).toBe(1);
    expect(progress.quarantined).toEqual([]);
  });

  it('surfaces non-retryable errors without retrying or quarantining', async () => {
    const { writer, progress, batcher, retries } = setup();
    writer.failWith(
      'delete',
      () => new CdcError('SCHEMA_MISMATCH', 'primary key type differs', { retryable: false }),
    );
    await batcher.delete(books, undefined, int64Keys(1n), del(1n));
    await expect(batcher.flush()).rejects.toMatchObject({ code: 'SCHEMA_MISMATCH' });
    expect(retries).toEqual([]);
    expect(progress.quarantined).toEqual([]);
  });

  it('stops retrying with LEASE_LOST once the lease ends', async () => {
    const lease = new AbortController();
    const { writer, batcher, retries } = setup({ signal: lease.signal });
    writer.failWith('upsert', () => sinkUnavailable());
    await batcher.upsert(books, '_default', rows(1n), ins(1n));
    const flushing = batcher.flush();
    setTimeout(() => {
      lease.abort(new Error('paused'));
    }, 20);
    await expect(flushing).rejects.toMatchObject({ code: 'LEASE_LOST' });
    expect(retries).toHaveLength(1);
  });

  // Regression (write-batcher.ts ~L94, same in dml-channel-replicator.ts onInsert, fixed): the quarantine entry takes
  // `message.base.timestamp`, which is 0 for the Inserts of 2.3.5 upserts (only per-row timestamps are set), so the
  // dead-letter list shows timestamp 0. It should use messageTimestamp(message).
  it('quarantines an upsert Insert with its per-row timestamp (2.3.5 base ts is 0)', async () => {
    const { writer, progress, batcher } = setup();
    writer.failWith('upsert', () => sinkRejected());
    const bad = source(insertMsg({ collectionId: 1n, ids: [1n], ts: 77n, baseTs: 0n }));
    await batcher.upsert(books, '_default', rows(1n), bad);
    await batcher.flush();
    expect(progress.quarantined[0]?.timestamp).toBe(77n);
  });

  it('splits a batch whose call ran out of time instead of retrying the same size', async () => {
    const { writer, progress, batcher } = setup();
    // The target manages at most 2 rows within the deadline.
    writer.failWith('upsert', (args) =>
      (args[2] as Row[]).length > 2 ? deadlineExceeded('upserting rows') : undefined,
    );
    await batcher.upsert(books, '_default', rows(1n, 2n, 3n, 4n, 5n), ins(1n, 2n, 3n, 4n, 5n));
    await batcher.flush();
    expect(upsertedIds(writer)).toEqual([['1', '2'], ['3'], ['4', '5']]);
    expect(progress.rows).toBe(5);
  });

  it('writes an Insert whose columns ran out of time as rows, split until the target takes them', async () => {
    const { writer, progress, batcher } = setup();
    // A slow target: at most 2 rows within the deadline, whichever way they come.
    writer.failWith('upsert', (args) =>
      (args[2] as Row[]).length > 2 ? deadlineExceeded('upserting rows') : undefined,
    );
    const item = ins(1n, 2n, 3n, 4n, 5n);
    const columns = readInsertColumns(item.payload);
    const keys = columns && primaryKeyValues(columns, 'id');
    if (columns === undefined || keys === undefined) throw new Error('not carried as columns');
    await batcher.upsertColumns(
      books,
      '_default',
      { columns, keys, rows: () => rows(1n, 2n, 3n, 4n, 5n), keep: () => true },
      item,
    );
    await batcher.flush();
    expect(writer.columnCalls).toBe(1);
    expect(upsertedIds(writer)).toEqual([['1', '2'], ['3'], ['4', '5']]);
    expect(progress.rows).toBe(5);
    expect(progress.quarantined).toEqual([]);
  });

  it('retries a single row that ran out of time (nothing left to split)', async () => {
    const { writer, batcher, retries } = setup();
    writer.failWith('delete', (_args, n) => (n <= 2 ? deadlineExceeded('deleting') : undefined));
    await batcher.delete(books, undefined, int64Keys(1n), del(1n));
    await batcher.flush();
    expect(writer.callsOf('delete')).toEqual([[books.target, undefined, int64Keys(1n)]]);
    expect(retries).toHaveLength(2);
  });
});
