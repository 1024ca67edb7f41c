import { describe, expect, it } from 'vitest';
import { CdcError, decodeKafkaMessageId, decodeMessage, encodeMessage } from '@cdc/shared';
import type { CollectionInfo, PrimaryKeys, Row } from '@cdc/shared';
import type { CreateCollectionSpec, TargetCollection } from '../ports/target-writer.js';
import { books } from '../testing/dml-replicator.js';
import {
  FakeDropBarrier,
  FakeLeaseProgress,
  FakeSourceMetadata,
  FakeSourceReader,
  FakeTargetWriter,
  GARBAGE_PAYLOAD,
  RecordLog,
  UNKNOWN_TYPE_PAYLOAD,
  collectionInfo,
  createCollectionMsg,
  deleteMsg,
  dropCollectionMsg,
  dropPartitionMsg,
  insertMsg,
  rowOf,
  sinkRejected,
  silentLogger,
  sinkUnavailable,
  timeTickMsg,
  waitFor,
} from '../testing/fakes.js';
import { CollectionCatalog } from './collection-catalog.js';
import { DmlChannelReplicator } from './dml-channel-replicator.js';
import { TaskScope } from './task-scope.js';

const target: TargetCollection = { db: 'default', collection: 'books' };

/** Progress that also notes how many writer calls were acknowledged when each checkpoint was taken. */
class ObservedProgress extends FakeLeaseProgress {
  readonly writesAtCheckpoint: number[] = [];
  constructor(private readonly writer: FakeTargetWriter) {
    super();
  }
  override checkpoint(msgId: Uint8Array, timestamp: bigint): void {
    this.writesAtCheckpoint.push(this.writer.calls.length);
    super.checkpoint(msgId, timestamp);
  }
}

interface Channel {
  readonly log: RecordLog;
  readonly progress: ObservedProgress;
  readonly run: () => Promise<void>;
  readonly lease: AbortController;
}

function channel(
  name: string,
  log: RecordLog,
  shared: {
    writer: FakeTargetWriter;
    metadata: FakeSourceMetadata;
    barrier?: FakeDropBarrier;
    scope?: TaskScope;
    retries?: unknown[];
  },
): Channel {
  const lease = new AbortController();
  const progress = new ObservedProgress(shared.writer);
  const catalog = new CollectionCatalog(
    shared.metadata,
    shared.scope ?? new TaskScope({ include: [], exclude: [] }),
    shared.writer,
  );
  const replicator = new DmlChannelReplicator({
    channel: name,
    reader: new FakeSourceReader(log.records, () => {
      lease.abort(new Error('drained'));
    }),
    writer: shared.writer,
    catalog,
    barrier: shared.barrier ?? new FakeDropBarrier(),
    progress,
    log: silentLogger(),
    maxBatchRows: 1000,
    readBatchSize: 3,
    ...(shared.retries ? { onRetry: (err: unknown) => shared.retries?.push(err) } : {}),
  });
  return { log, progress, lease, run: () => replicator.run(lease.signal) };
}

async function replicate(
  log: RecordLog,
  infos: CollectionInfo[] = [books],
  opts: { scope?: TaskScope; retries?: unknown[] } = {},
) {
  const writer = new FakeTargetWriter();
  const metadata = new FakeSourceMetadata(...infos);
  const ch = channel(log.channel, log, { writer, metadata, ...opts });
  await ch.run();
  return { writer, progress: ch.progress, metadata };
}

/** Checkpoints as (Kafka offset, timestamp). */
const checkpoints = (p: FakeLeaseProgress): [bigint, bigint][] =>
  p.checkpoints.map((c) => [decodeKafkaMessageId(c.msgId), c.timestamp]);

/** Each row write as `op:ids`, in call order. */
function writes(writer: FakeTargetWriter): string[] {
  return writer.calls.flatMap((c) => {
    if (c.op === 'upsert') return [`upsert:${(c.args[2] as Row[]).map((r) => r['id']).join(',')}`];
    if (c.op === 'delete') return [`delete:${(c.args[2] as PrimaryKeys).values.join(',')}`];
    return [];
  });
}

describe('DmlChannelReplicator', () => {
  it('applies create, insert, upsert and delete in order and checkpoints only at ticks', async () => {
    const log = new RecordLog('dml_0').add(
      createCollectionMsg(books, 10n), // 0
      timeTickMsg(10n), // 1
      insertMsg({ collectionId: 10n, ids: [1n, 2n], ts: 20n }), // 2
      // an upsert as Milvus 2.3.5 writes it: Insert (base ts 0) then Delete, same timestamp
      insertMsg({ collectionId: 10n, ids: [2n], ts: 30n, baseTs: 0n }), // 3
      deleteMsg({ collectionId: 10n, ids: [2n], ts: 30n }), // 4
      deleteMsg({ collectionId: 10n, ids: [1n], ts: 40n }), // 5
      timeTickMsg(50n), // 6
    );
    const { writer, progress } = await replicate(log);

    expect(writer.ops()).toEqual([
      'createDatabase',
      'createCollection',
      'upsert',
      'delete',
      'upsert',
      'delete',
    ]);
    expect(writes(writer)).toEqual(['upsert:1,2', 'delete:2', 'upsert:2', 'delete:1']);
    const spec = writer.callsOf('createCollection')[0]![0] as CreateCollectionSpec;
    expect(spec).toMatchObject({ ...target, sourceCollectionId: '10' });
    expect(writer.callsOf('upsert')[0]).toEqual([target, '_default', [rowOf(1n), rowOf(2n)]]);
    expect(writer.callsOf('delete')[0]).toEqual([
      target,
      undefined,
      { type: 'Int64', values: [2n] },
    ]);

    expect(checkpoints(progress)).toEqual([
      [1n, 10n],
      [6n, 50n],
    ]);
    // each checkpoint was taken only once everything before it was acknowledged
    expect(progress.writesAtCheckpoint).toEqual([2, 6]);
    expect(progress.heads).toEqual([10n, 50n]);
    expect(progress.rows).toBe(5);
    expect(progress.quarantined).toEqual([]);
  });

  it('holds messages newer than a tick and does not checkpoint past them', async () => {
    const log = new RecordLog('dml_0').add(
      insertMsg({ collectionId: 10n, ids: [2n], ts: 60n }), // 0: ahead of the next tick
      insertMsg({ collectionId: 10n, ids: [1n], ts: 40n }), // 1
      timeTickMsg(50n), // 2
      timeTickMsg(70n), // 3
    );
    const { writer, progress } = await replicate(log);
    expect(writes(writer)).toEqual(['upsert:1', 'upsert:2']);
    expect(checkpoints(progress)).toEqual([[3n, 70n]]);
    expect(progress.writesAtCheckpoint).toEqual([4]); // createDatabase, createCollection, 2 upserts
    expect(progress.heads).toEqual([50n, 70n]);
  });

  it('writes rows of a named partition there, creating the partition once', async () => {
    const log = new RecordLog('dml_0').add(
      insertMsg({ collectionId: 10n, ids: [1n], ts: 20n, partition: 'p1' }),
      insertMsg({ collectionId: 10n, ids: [2n], ts: 21n, partition: 'p1' }),
      deleteMsg({ collectionId: 10n, ids: [1n], ts: 22n, partition: 'p1' }),
      timeTickMsg(30n),
    );
    const { writer } = await replicate(log);
    expect(writer.ops('createDatabase', 'createCollection')).toEqual([
      'createPartition',
      'upsert',
      'delete',
    ]);
    expect(writer.callsOf('upsert')[0]!.slice(0, 2)).toEqual([target, 'p1']);
    expect(writer.callsOf('delete')[0]!.slice(0, 2)).toEqual([target, 'p1']);
  });

  it('quarantines an undecodable record and carries on', async () => {
    const log = new RecordLog('dml_0')
      .add(insertMsg({ collectionId: 10n, ids: [1n], ts: 20n }))
      .raw(GARBAGE_PAYLOAD, { msg_type: 'Insert' }) // 1
      .add(insertMsg({ collectionId: 10n, ids: [2n], ts: 21n }), timeTickMsg(30n));
    const { writer, progress } = await replicate(log);
    expect(progress.quarantined).toHaveLength(1);
    expect(progress.quarantined[0]).toMatchObject({ payload: GARBAGE_PAYLOAD, timestamp: 0n });
    expect(decodeKafkaMessageId(progress.quarantined[0]!.msgId)).toBe(1n);
    expect(progress.quarantined[0]!.reason).toMatch(/^undecodable record/);
    expect(writes(writer)).toEqual(['upsert:1,2']);
    expect(checkpoints(progress)).toEqual([[3n, 30n]]);
  });

  it('skips records of message types without changes (e.g. DataNodeTt) without quarantine', async () => {
    const log = new RecordLog('dml_0')
      .raw(UNKNOWN_TYPE_PAYLOAD)
      .add(insertMsg({ collectionId: 10n, ids: [1n], ts: 20n }), timeTickMsg(30n));
    const { writer, progress } = await replicate(log);
    expect(progress.quarantined).toEqual([]);
    expect(writes(writer)).toEqual(['upsert:1']);
    expect(checkpoints(progress)).toEqual([[2n, 30n]]);
  });

  it('skips rows of collections missing from the source metadata or out of scope, and still checkpoints', async () => {
    const hidden = collectionInfo({ id: 11n, name: 'hidden' });
    const scope = new TaskScope({
      include: [],
      exclude: [{ database: '*', collection: 'hidden' }],
    });
    const log = new RecordLog('dml_0').add(
      insertMsg({ collectionId: 99n, ids: [1n], ts: 20n }), // gone from the source
      deleteMsg({ collectionId: 99n, ids: [1n], ts: 21n }),
      insertMsg({ collectionId: 11n, ids: [2n], ts: 22n }), // out of scope
      insertMsg({ collectionId: 10n, ids: [3n], ts: 23n }),
      timeTickMsg(30n),
    );
    const { writer, progress } = await replicate(log, [books, hidden], { scope });
    expect(writer.ops()).toEqual(['createDatabase', 'createCollection', 'upsert']);
    expect(writes(writer)).toEqual(['upsert:3']);
    expect(checkpoints(progress)).toEqual([[4n, 30n]]);
  });

  it("decodes the columns only of Inserts in scope (another collection's rows are dropped on their header)", async () => {
    const hidden = collectionInfo({ id: 11n, name: 'hidden' });
    const scope = new TaskScope({
      include: [],
      exclude: [{ database: '*', collection: 'hidden' }],
    });
    // fields_data (13) holding a FieldData with wire type 7: well-formed at the top level, undecodable inside.
    const opaqueColumn = Uint8Array.from([0x6a, 3, 0x0f, 0xff, 0xff]);
    const withOpaque = (collectionId: bigint, id: bigint, ts: bigint) =>
      Buffer.concat([encodeMessage(insertMsg({ collectionId, ids: [id], ts })), opaqueColumn]);
    expect(() => decodeMessage(withOpaque(10n, 9n, 20n))).toThrow(CdcError);
    const log = new RecordLog('dml_0')
      .raw(withOpaque(11n, 1n, 20n)) // out of scope: never column-decoded, so nothing to quarantine
      .raw(withOpaque(10n, 2n, 21n)) // in scope: decoded, refused, quarantined
      .add(insertMsg({ collectionId: 10n, ids: [3n], ts: 22n }), timeTickMsg(30n));
    const { writer, progress } = await replicate(log, [books, hidden], { scope });
    expect(progress.quarantined.map((q) => decodeKafkaMessageId(q.msgId))).toEqual([1n]);
    expect(writes(writer)).toEqual(['upsert:3']);
    expect(checkpoints(progress)).toEqual([[3n, 30n]]);
  });

  it('writes the Inserts of a pack as their own columns, in one call, with the rows the row path writes', async () => {
    const log = new RecordLog('dml_0').add(
      insertMsg({ collectionId: 10n, ids: [1n, 2n], ts: 20n }),
      insertMsg({ collectionId: 10n, ids: [3n, 2n ** 60n], ts: 21n }),
      timeTickMsg(30n),
    );
    const { writer } = await replicate(log);
    expect(writer.columnCalls).toBe(1);
    expect(writes(writer)).toEqual([`upsert:1,2,3,${2n ** 60n}`]);
    expect([...(writer.rowsOf.get('default.books')?.values() ?? [])]).toEqual(
      [1n, 2n, 3n, 2n ** 60n].map(rowOf),
    );
  });

  it('writes rows instead when a pack repeats a key (the last write wins) or the target refuses the columns', async () => {
    const repeated = new RecordLog('dml_0').add(
      insertMsg({ collectionId: 10n, ids: [1n, 2n], ts: 20n }),
      insertMsg({ collectionId: 10n, ids: [2n, 3n], ts: 21n }),
      timeTickMsg(30n),
    );
    const { writer } = await replicate(repeated);
    expect(writer.columnCalls).toBe(0);
    expect(writes(writer)).toEqual(['upsert:1,2,3']);

    const log = new RecordLog('dml_0').add(
      insertMsg({ collectionId: 10n, ids: [1n], ts: 20n }),
      timeTickMsg(30n),
    );
    const refusing = new FakeTargetWriter().failWith('upsert', (_a, n) =>
      n === 1 ? sinkRejected('columns refused') : undefined,
    );
    const ch = channel('dml_0', log, { writer: refusing, metadata: new FakeSourceMetadata(books) });
    await ch.run();
    expect(refusing.columnCalls).toBe(1); // refused (failed calls are not recorded) …
    expect(writes(refusing)).toEqual(['upsert:1']); // … then taken as rows
    expect(ch.progress.quarantined).toEqual([]);
    expect(checkpoints(ch.progress)).toEqual([[1n, 30n]]);
  });

  it('retries a target outage and checkpoints once the target accepted', async () => {
    const log = new RecordLog('dml_0').add(
      insertMsg({ collectionId: 10n, ids: [1n], ts: 20n }),
      timeTickMsg(30n),
    );
    const writer = new FakeTargetWriter().failWith('upsert', (_a, n) =>
      n === 1 ? sinkUnavailable() : undefined,
    );
    const retries: unknown[] = [];
    const ch = channel('dml_0', log, { writer, metadata: new FakeSourceMetadata(books), retries });
    await ch.run();
    expect(retries).toHaveLength(1);
    expect(writes(writer)).toEqual(['upsert:1']);
    expect(checkpoints(ch.progress)).toEqual([[1n, 30n]]);
  });

  it('stops on an error that needs a person, without checkpointing the pack', async () => {
    const log = new RecordLog('dml_0').add(
      insertMsg({ collectionId: 10n, ids: [1n], ts: 20n }),
      timeTickMsg(30n),
    );
    const writer = new FakeTargetWriter().failWith(
      'upsert',
      () => new CdcError('SCHEMA_MISMATCH', 'vec dim differs', { retryable: false }),
    );
    const ch = channel('dml_0', log, { writer, metadata: new FakeSourceMetadata(books) });
    await expect(ch.run()).rejects.toMatchObject({ code: 'SCHEMA_MISMATCH' });
    expect(ch.progress.checkpoints).toEqual([]);
  });

  it('applies a drop on a single-shard collection at once, with the source collection id', async () => {
    const log = new RecordLog('dml_0').add(
      insertMsg({ collectionId: 10n, ids: [1n], ts: 20n }),
      dropCollectionMsg(10n, 25n),
      timeTickMsg(30n),
    );
    const { writer, progress } = await replicate(log);
    expect(writer.ops()).toEqual([
      'createDatabase',
      'createCollection',
      'upsert',
      'dropCollection',
    ]);
    expect(writer.callsOf('dropCollection')).toEqual([[target, '10']]);
    expect(checkpoints(progress)).toEqual([[2n, 30n]]);
  });

  it('skips the drop of a collection the source metadata no longer knows', async () => {
    const log = new RecordLog('dml_0').add(dropCollectionMsg(99n, 25n), timeTickMsg(30n));
    const { writer, progress } = await replicate(log);
    expect(writer.calls).toEqual([]);
    expect(checkpoints(progress)).toEqual([[1n, 30n]]);
  });

  it('releases and drops a partition at the barrier', async () => {
    const log = new RecordLog('dml_0').add(
      insertMsg({ collectionId: 10n, ids: [1n], ts: 20n, partition: 'p1' }),
      dropPartitionMsg(10n, 5n, 'p1', 25n),
      insertMsg({ collectionId: 10n, ids: [2n], ts: 26n, partition: 'p1' }),
      timeTickMsg(30n),
    );
    const barrier = new FakeDropBarrier();
    const writer = new FakeTargetWriter();
    const ch = channel('dml_0', log, { writer, metadata: new FakeSourceMetadata(books), barrier });
    await ch.run();
    expect(writer.ops('createDatabase', 'createCollection')).toEqual([
      'createPartition',
      'upsert',
      'releasePartitions',
      'dropPartition',
      'createPartition', // forgotten with the drop: a later row re-creates it
      'upsert',
    ]);
    expect(writer.callsOf('releasePartitions')).toEqual([[target, ['p1']]]);
    expect(writer.callsOf('dropPartition')).toEqual([[target, 'p1']]);
    expect(barrier.done).toEqual(new Set(['drop-partition-10-5']));
  });

  // Regression (fan-out e2e): a lease failed after its drop barrier was done but before its checkpoint passed the
  // drop. The next lease read the partition's rows again, created the partition again for them, and then found the
  // barrier done, so the dropped partition stayed on the target with its rows.
  it('a lease resumed behind an applied partition drop does not bring the partition back', async () => {
    const log = new RecordLog('dml_0').add(
      insertMsg({ collectionId: 10n, ids: [1n], ts: 20n, partition: 'p1', partitionId: 5n }),
      dropPartitionMsg(10n, 5n, 'p1', 25n),
      // The name made again: a new partition id.
      insertMsg({ collectionId: 10n, ids: [2n], ts: 26n, partition: 'p1', partitionId: 6n }),
      timeTickMsg(30n),
    );
    const barrier = new FakeDropBarrier();
    barrier.done.add('drop-partition-10-5');
    const writer = new FakeTargetWriter();
    const ch = channel('dml_0', log, { writer, metadata: new FakeSourceMetadata(books), barrier });
    await ch.run();
    expect(writer.ops('createDatabase', 'createCollection')).toEqual(['createPartition', 'upsert']);
    expect(writes(writer)).toEqual(['upsert:2']);
    expect(checkpoints(ch.progress)).toEqual([[3n, 30n]]);
  });

  it('a lease resumed behind an applied collection drop does not bring the collection back', async () => {
    const log = new RecordLog('dml_0').add(
      insertMsg({ collectionId: 10n, ids: [1n], ts: 20n }),
      dropCollectionMsg(10n, 25n),
      timeTickMsg(30n),
    );
    const barrier = new FakeDropBarrier();
    barrier.done.add('drop-collection-10');
    const writer = new FakeTargetWriter();
    const ch = channel('dml_0', log, { writer, metadata: new FakeSourceMetadata(books), barrier });
    await ch.run();
    expect(writer.calls).toEqual([]);
    expect(checkpoints(ch.progress)).toEqual([[2n, 30n]]);
  });

  // Regression: Milvus writes DropCollection when it garbage-collects, with a fresh timestamp, so on a pchannel shared
  // by both incarnations the new create came first and the channel waited for its own drop until the task paused.
  it('drops an earlier incarnation whose DropCollection comes after the new create on the same pchannel', async () => {
    const old = collectionInfo({ id: 10n, name: 'books', physicalChannels: ['dml_0'] });
    const reborn = collectionInfo({ id: 20n, name: 'books', physicalChannels: ['dml_0'] });
    const writer = new FakeTargetWriter();
    const owner = new Map<string, string>();
    writer.failWith('createCollection', ([spec]) => {
      const s = spec as CreateCollectionSpec;
      const held = owner.get(s.collection);
      if (held !== undefined && held !== s.sourceCollectionId) {
        return new CdcError('CONFLICT', 'target holds an earlier incarnation of this name', {
          retryable: false,
          details: { targetSourceId: held },
        });
      }
      owner.set(s.collection, s.sourceCollectionId ?? '');
      return undefined;
    });
    writer.failWith('dropCollection', ([t]) => {
      owner.delete((t as TargetCollection).collection);
      return undefined;
    });
    const barrier = new FakeDropBarrier();
    const a = channel(
      'dml_0',
      new RecordLog('dml_0').add(
        createCollectionMsg(old, 5n),
        insertMsg({ collectionId: 10n, ids: [1n], ts: 10n }),
        timeTickMsg(15n), // 2
        createCollectionMsg(reborn, 30n),
        insertMsg({ collectionId: 20n, ids: [7n], ts: 31n }),
        timeTickMsg(40n), // 5
        dropCollectionMsg(10n, 50n),
        timeTickMsg(60n), // 7
      ),
      { writer, metadata: new FakeSourceMetadata(old, reborn), barrier },
    );
    await a.run();

    const ops = writer.ops();
    expect(writer.callsOf('dropCollection')).toEqual([[target, '10']]);
    expect(ops.lastIndexOf('createCollection')).toBeGreaterThan(ops.indexOf('dropCollection'));
    expect(writes(writer)).toEqual(['upsert:1', 'upsert:7']);
    expect(ops.lastIndexOf('upsert')).toBeGreaterThan(ops.indexOf('dropCollection'));
    expect(checkpoints(a.progress)).toEqual([
      [2n, 15n],
      [5n, 40n],
      [7n, 60n],
    ]);
    expect(barrier.done).toEqual(new Set(['drop-collection-10']));
  });

  // Regression: a collection dropped right after creation, and re-created on other pchannels, is already replaced on
  // the target when its own channel gets to it; the channel used to wait for the later incarnation to be dropped.
  it('skips an incarnation the target already replaced with a later one', async () => {
    const old = collectionInfo({ id: 10n, name: 'books', physicalChannels: ['dml_0'] });
    const later = collectionInfo({ id: 20n, name: 'books', physicalChannels: ['dml_1'] });
    const writer = new FakeTargetWriter();
    writer.failWith('createCollection', ([spec]) =>
      (spec as CreateCollectionSpec).sourceCollectionId === '10'
        ? new CdcError('CONFLICT', 'target holds an earlier incarnation of this name', {
            retryable: false,
            details: { targetSourceId: '20' },
          })
        : undefined,
    );
    const barrier = new FakeDropBarrier();
    const a = channel(
      'dml_0',
      new RecordLog('dml_0').add(
        createCollectionMsg(old, 5n),
        insertMsg({ collectionId: 10n, ids: [1n], ts: 10n }),
        timeTickMsg(15n), // 2
        dropCollectionMsg(10n, 50n),
        timeTickMsg(60n), // 4
      ),
      { writer, metadata: new FakeSourceMetadata(old, later), barrier },
    );
    await a.run();

    expect(writes(writer)).toEqual([]);
    expect(writer.ops()).not.toContain('dropCollection');
    expect(checkpoints(a.progress)).toEqual([
      [2n, 15n],
      [4n, 60n],
    ]);
    expect(barrier.arrivals.get('drop-collection-10')).toEqual(new Set(['dml_0']));
  });

  it('holds a drop until every pchannel of the collection reached it, applies it once, then re-creates', async () => {
    const twoShards = collectionInfo({
      id: 10n,
      name: 'books',
      physicalChannels: ['dml_0', 'dml_1'],
    });
    const reborn = collectionInfo({ id: 20n, name: 'books', physicalChannels: ['dml_0', 'dml_1'] });
    const writer = new FakeTargetWriter();
    const metadata = new FakeSourceMetadata(twoShards, reborn);
    const barrier = new FakeDropBarrier();
    const a = channel(
      'dml_0',
      new RecordLog('dml_0').add(
        insertMsg({ collectionId: 10n, ids: [1n], ts: 10n }),
        dropCollectionMsg(10n, 20n),
        timeTickMsg(20n), // 2
        createCollectionMsg(reborn, 30n),
        insertMsg({ collectionId: 20n, ids: [7n], ts: 31n }),
        timeTickMsg(40n), // 5
      ),
      { writer, metadata, barrier },
    );
    const b = channel(
      'dml_1',
      new RecordLog('dml_1').add(
        insertMsg({ collectionId: 10n, ids: [2n], ts: 11n }),
        timeTickMsg(15n), // 1
        dropCollectionMsg(10n, 20n),
        timeTickMsg(20n), // 3
      ),
      { writer, metadata, barrier },
    );

    const runA = a.run();
    await waitFor(() => barrier.arrivals.get('drop-collection-10')?.has('dml_0') ?? false);
    await new Promise((r) => setTimeout(r, 300)); // A keeps waiting alone
    expect(writer.ops()).not.toContain('dropCollection');
    expect(a.progress.checkpoints).toEqual([]);
    expect(writes(writer)).toEqual(['upsert:1']); // A wrote nothing of the new incarnation

    await Promise.all([runA, b.run()]);
    expect(writer.callsOf('dropCollection')).toEqual([[target, '10']]);
    const created = writer
      .callsOf('createCollection')
      .map((args) => (args[0] as CreateCollectionSpec).sourceCollectionId);
    expect(created[created.length - 1]).toBe('20');
    const ops = writer.ops();
    const dropAt = ops.indexOf('dropCollection');
    expect(ops.lastIndexOf('createCollection')).toBeGreaterThan(dropAt);
    expect(writes(writer)).toEqual(['upsert:1', 'upsert:2', 'upsert:7']);
    expect(ops.lastIndexOf('upsert')).toBeGreaterThan(dropAt);
    expect(checkpoints(a.progress)).toEqual([
      [2n, 20n],
      [5n, 40n],
    ]);
    expect(checkpoints(b.progress)).toEqual([
      [1n, 15n],
      [3n, 20n],
    ]);
    expect(barrier.done).toEqual(new Set(['drop-collection-10']));
  });

  it('passes a drop whose barrier another channel completed without applying it again', async () => {
    const twoShards = collectionInfo({
      id: 10n,
      name: 'books',
      physicalChannels: ['dml_0', 'dml_1'],
    });
    const barrier = new FakeDropBarrier();
    barrier.done.add('drop-collection-10');
    const log = new RecordLog('dml_0').add(
      insertMsg({ collectionId: 10n, ids: [1n], ts: 10n }),
      dropCollectionMsg(10n, 20n),
      timeTickMsg(20n),
    );
    const writer = new FakeTargetWriter();
    const ch = channel('dml_0', log, {
      writer,
      metadata: new FakeSourceMetadata(twoShards),
      barrier,
    });
    await ch.run();
    expect(writer.ops()).not.toContain('dropCollection');
    expect(checkpoints(ch.progress)).toEqual([[2n, 20n]]);
  });

  // Regression (CollectionDdl.dropCollection, fixed): a channel that cannot resolve the dropped collection
  // (Milvus deletes its etcd meta shortly after the drop; a lease that starts or restarts after that resolves it to
  // undefined) returns without arriving at the barrier. A channel that did resolve it then waits at the barrier
  // forever (atBarrier has no bound), holding its lease and never checkpointing, and the drop never reaches the
  // target. The unresolved channel should still `arrive` at `drop-collection-{id}` (without applying).
  it('completes a drop when another channel no longer finds the collection in the source metadata', async () => {
    const twoShards = collectionInfo({
      id: 10n,
      name: 'books',
      physicalChannels: ['dml_0', 'dml_1'],
    });
    const writer = new FakeTargetWriter();
    const metadata = new FakeSourceMetadata(twoShards);
    const barrier = new FakeDropBarrier();
    const a = channel(
      'dml_0',
      new RecordLog('dml_0').add(
        insertMsg({ collectionId: 10n, ids: [1n], ts: 10n }),
        dropCollectionMsg(10n, 20n),
        timeTickMsg(20n),
      ),
      { writer, metadata, barrier },
    );
    const runA = a.run().catch(() => undefined);
    try {
      await waitFor(() => barrier.arrivals.has('drop-collection-10'));
      metadata.collections.delete(10n); // the source GC removed the dropped collection's meta
      const b = channel(
        'dml_1',
        new RecordLog('dml_1').add(dropCollectionMsg(10n, 20n), timeTickMsg(20n)),
        { writer, metadata, barrier },
      );
      await b.run();
      await waitFor(() => writer.ops().includes('dropCollection'), 1_000);
    } finally {
      a.lease.abort(new Error('test over'));
      await runA;
    }
  });

  it('ends with LEASE_LOST when the lease ends while waiting at a barrier', async () => {
    const twoShards = collectionInfo({
      id: 10n,
      name: 'books',
      physicalChannels: ['dml_0', 'dml_1'],
    });
    const barrier = new FakeDropBarrier();
    const log = new RecordLog('dml_0').add(dropCollectionMsg(10n, 20n), timeTickMsg(20n));
    const ch = channel('dml_0', log, {
      writer: new FakeTargetWriter(),
      metadata: new FakeSourceMetadata(twoShards),
      barrier,
    });
    const running = ch.run();
    await waitFor(() => barrier.arrivals.has('drop-collection-10'));
    ch.lease.abort(new Error('rebalanced'));
    await expect(running).rejects.toMatchObject({ code: 'LEASE_LOST' });
    expect(ch.progress.checkpoints).toEqual([]);
  });
});
