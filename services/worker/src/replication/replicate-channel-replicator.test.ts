import { describe, expect, it } from 'vitest';
import { CdcError, decodeKafkaMessageId } from '@cdc/shared';
import type { CollectionInfo, KnownMessage } from '@cdc/shared';
import type { CreateCollectionSpec } from '../ports/target-writer.js';
import {
  FakeLeaseProgress,
  FakeSourceMetadata,
  FakeSourceReader,
  FakeTargetWriter,
  GARBAGE_PAYLOAD,
  RecordLog,
  UNKNOWN_TYPE_PAYLOAD,
  collectionInfo,
  msgBase,
  silentLogger,
  sinkRejected,
} from '../testing/fakes.js';
import { CollectionCatalog } from './collection-catalog.js';
import { ReplicateChannelReplicator } from './replicate-channel-replicator.js';
import { TaskScope } from './task-scope.js';

const books = collectionInfo({ id: 10n, name: 'books' });
const films = collectionInfo({ id: 11n, name: 'films', dbName: 'media' });
const books2 = { db: 'copy', collection: 'books2' };
const films2 = { db: 'media', collection: 'films' };

const scope = new TaskScope(
  {
    include: [
      { database: 'default', collection: '*' },
      { database: 'media', collection: '*' },
    ],
    exclude: [{ database: 'default', collection: 'tmp_*' }],
  },
  [{ sourceDatabase: 'default', targetDatabase: 'copy', collections: { books: 'books2' } }],
);

let ts = 100n;
const base = () => msgBase(ts++);
const op = {
  createDatabase: (dbName: string): KnownMessage => ({
    type: 'CreateDatabase',
    base: base(),
    dbName,
    properties: [{ key: 'database.replica.number', value: '1' }],
  }),
  dropDatabase: (dbName: string): KnownMessage => ({ type: 'DropDatabase', base: base(), dbName }),
  alterDatabase: (dbName: string): KnownMessage => ({
    type: 'AlterDatabase',
    base: base(),
    dbName,
    dbId: '1',
    properties: [],
    deleteKeys: [],
  }),
  createIndex: (dbName: string, collectionName: string): KnownMessage => ({
    type: 'CreateIndex',
    base: base(),
    dbName,
    collectionName,
    fieldName: 'vec',
    indexName: 'vec_idx',
    extraParams: [{ key: 'index_type', value: 'HNSW' }],
  }),
  dropIndex: (dbName: string, collectionName: string): KnownMessage => ({
    type: 'DropIndex',
    base: base(),
    dbName,
    collectionName,
    fieldName: 'vec',
    indexName: 'vec_idx',
  }),
  alterIndex: (dbName: string, collectionName: string): KnownMessage => ({
    type: 'AlterIndex',
    base: base(),
    dbName,
    collectionName,
    indexName: 'vec_idx',
    extraParams: [{ key: 'mmap.enabled', value: 'true' }],
    deleteKeys: ['x'],
  }),
  load: (dbName: string, collectionName: string, replicaNumber = 0): KnownMessage => ({
    type: 'LoadCollection',
    base: base(),
    dbName,
    collectionName,
    replicaNumber,
    resourceGroups: [],
    refresh: false,
    loadFields: [],
    skipLoadDynamicField: false,
    loadParams: {},
  }),
  release: (dbName: string, collectionName: string): KnownMessage => ({
    type: 'ReleaseCollection',
    base: base(),
    dbName,
    collectionName,
  }),
  loadPartitions: (dbName: string, collectionName: string): KnownMessage => ({
    type: 'LoadPartitions',
    base: base(),
    dbName,
    collectionName,
    partitionNames: ['p1'],
    replicaNumber: 2,
    resourceGroups: [],
    refresh: false,
    loadFields: [],
    skipLoadDynamicField: false,
    loadParams: {},
  }),
  releasePartitions: (dbName: string, collectionName: string): KnownMessage => ({
    type: 'ReleasePartitions',
    base: base(),
    dbName,
    collectionName,
    partitionNames: ['p1'],
  }),
  flush: (dbName: string, ...collectionNames: string[]): KnownMessage => ({
    type: 'Flush',
    base: base(),
    dbName,
    collectionNames,
  }),
};

function setup(
  log: RecordLog,
  opts: {
    writer?: FakeTargetWriter;
    infos?: CollectionInfo[];
    objectWaitMs?: number;
    /** Partitions the source holds now, by collection id (besides _default). */
    partitions?: [bigint, string[]][];
  } = {},
) {
  const lease = new AbortController();
  const writer = opts.writer ?? new FakeTargetWriter();
  const progress = new FakeLeaseProgress();
  const metadata = new FakeSourceMetadata(...(opts.infos ?? [books, films]));
  for (const [collectionId, names] of opts.partitions ?? [[books.id, ['p1']]])
    metadata.partitions.set(
      collectionId,
      names.map((name, i) => ({
        id: collectionId * 100n + BigInt(i),
        name,
        collectionId,
        createdTimestamp: 1n,
        state: 'Created' as const,
      })),
    );
  const replicator = new ReplicateChannelReplicator({
    reader: new FakeSourceReader(log.records, () => {
      lease.abort(new Error('drained'));
    }),
    writer,
    catalog: new CollectionCatalog(metadata, scope, writer),
    scope,
    progress,
    log: silentLogger(),
    objectWaitMs: opts.objectWaitMs ?? 0,
  });
  return { writer, progress, run: () => replicator.run(lease.signal) };
}

const offsets = (p: FakeLeaseProgress): bigint[] =>
  p.checkpoints.map((c) => decodeKafkaMessageId(c.msgId));

describe('ReplicateChannelReplicator', () => {
  it('applies database, index, load, release and flush ops with mapped names, in order', async () => {
    const log = new RecordLog('by-dev-replicate-msg').add(
      op.createDatabase('media'),
      op.createIndex('', 'books'),
      op.load('default', 'books'),
      op.release('default', 'books'),
      op.flush('', 'books'),
      op.createIndex('media', 'films'),
    );
    const { writer, progress, run } = setup(log);
    await run();
    expect(writer.calls).toEqual([
      { op: 'createDatabase', args: ['media', [{ key: 'database.replica.number', value: '1' }]] },
      // the first op on books creates it on the target from the source metadata (the DML channel may lag)
      { op: 'createDatabase', args: ['copy', []] },
      { op: 'createCollection', args: [expect.objectContaining(books2)] },
      {
        op: 'createIndex',
        args: [books2, 'vec', 'vec_idx', [{ key: 'index_type', value: 'HNSW' }]],
      },
      { op: 'loadCollection', args: [books2, 1] },
      { op: 'releaseCollection', args: [books2] },
      { op: 'flush', args: ['copy', ['books2']] },
      { op: 'createDatabase', args: ['media', []] },
      { op: 'createCollection', args: [expect.objectContaining(films2)] },
      {
        op: 'createIndex',
        args: [films2, 'vec', 'vec_idx', [{ key: 'index_type', value: 'HNSW' }]],
      },
    ]);
    const spec = writer.callsOf('createCollection')[0]![0] as CreateCollectionSpec;
    expect(spec.sourceCollectionId).toBe('10');
    expect(offsets(progress)).toEqual([0n, 1n, 2n, 3n, 4n, 5n]);
    expect(progress.checkpoints.map((c) => c.timestamp)).toEqual(progress.heads);
    expect(progress.quarantined).toEqual([]);
  });

  it('applies partition and index variants', async () => {
    const log = new RecordLog('by-dev-replicate-msg').add(
      op.loadPartitions('default', 'books'),
      op.releasePartitions('default', 'books'),
      op.alterIndex('default', 'books'),
      op.dropIndex('default', 'books'),
      op.load('default', 'books', 3),
    );
    const { writer, run } = setup(log);
    await run();
    expect(writer.calls.filter((c) => !c.op.startsWith('create'))).toEqual([
      { op: 'loadPartitions', args: [books2, ['p1'], 2] },
      { op: 'releasePartitions', args: [books2, ['p1']] },
      {
        op: 'alterIndex',
        args: [books2, 'vec_idx', [{ key: 'mmap.enabled', value: 'true' }], ['x']],
      },
      { op: 'dropIndex', args: [books2, 'vec', 'vec_idx'] },
      { op: 'loadCollection', args: [books2, 3] },
    ]);
  });

  // Catching up, the DML channels may already have dropped a partition this channel has yet to load: the source
  // dropped it after the load, so the load is moot. Waiting for it would hold every later op for objectWaitMs.
  it('does not load a partition the source dropped since, and goes on at once', async () => {
    const log = new RecordLog('by-dev-replicate-msg').add(
      op.loadPartitions('default', 'books'),
      op.dropIndex('default', 'books'),
    );
    const writer = new FakeTargetWriter().failWith('loadPartitions', () =>
      sinkRejected('partition not found[partition=p1]'),
    );
    const { progress, run } = setup(log, { writer, objectWaitMs: 60_000, partitions: [] });
    await run();
    expect(writer.callsOf('loadPartitions')).toEqual([]);
    expect(writer.callsOf('dropIndex')).toEqual([[books2, 'vec', 'vec_idx']]);
    expect(progress.quarantined).toEqual([]);
    expect(offsets(progress)).toEqual([0n, 1n]);
  }, 5_000);

  it('skips out-of-scope ops but still checkpoints them', async () => {
    const log = new RecordLog('by-dev-replicate-msg').add(
      op.createDatabase('other'),
      op.createIndex('default', 'tmp_1'),
      op.load('other', 'books'),
      op.flush('default', 'tmp_1', 'tmp_2'),
      op.dropDatabase('other'),
      op.alterDatabase('default'), // not replicated in API mode
    );
    const { writer, progress, run } = setup(log);
    await run();
    expect(writer.calls).toEqual([]);
    expect(offsets(progress)).toEqual([0n, 1n, 2n, 3n, 4n, 5n]);
  });

  it('flushes only the in-scope collections of a Flush', async () => {
    const log = new RecordLog('by-dev-replicate-msg').add(op.flush('default', 'tmp_1', 'books'));
    const { writer, run } = setup(log);
    await run();
    expect(writer.callsOf('flush')).toEqual([['copy', ['books2']]]);
  });

  it('applies an op on a collection gone from the source only if the target still has it', async () => {
    const log = new RecordLog('by-dev-replicate-msg').add(
      op.release('default', 'gone'),
      op.release('default', 'kept'),
    );
    const writer = new FakeTargetWriter();
    writer.existing.add('copy.kept');
    const { progress, run } = setup(log, { writer });
    await run();
    expect(writer.ops()).toEqual(['hasCollection', 'hasCollection', 'releaseCollection']);
    expect(writer.callsOf('releaseCollection')).toEqual([[{ db: 'copy', collection: 'kept' }]]);
    expect(offsets(progress)).toEqual([0n, 1n]);
  });

  it('quarantines an op the target keeps rejecting after the wait, and carries on', async () => {
    const log = new RecordLog('by-dev-replicate-msg').add(
      op.createIndex('default', 'books'),
      op.load('default', 'books'),
    );
    const writer = new FakeTargetWriter().failWith('createIndex', () =>
      sinkRejected('field vec not found'),
    );
    const { progress, run } = setup(log, { writer, objectWaitMs: 0 });
    await run();
    expect(progress.quarantined).toHaveLength(1);
    expect(decodeKafkaMessageId(progress.quarantined[0]!.msgId)).toBe(0n);
    expect(progress.quarantined[0]!.payload).toEqual(log.records[0]!.value);
    expect(progress.quarantined[0]!.reason).toMatch(
      /target rejected CreateIndex: field vec not found/,
    );
    expect(progress.quarantined[0]!.timestamp).toBeGreaterThan(0n);
    expect(writer.ops()).toContain('loadCollection');
    expect(offsets(progress)).toEqual([0n, 1n]);
  });

  it('does not replay a database drop over the collections of the database the source made again since', async () => {
    // Source: drop media (films was dropped before it), make media again with films (id 11) in it. The DML channel
    // created the new films on the target before this channel reached the drop.
    const log = new RecordLog('by-dev-replicate-msg').add(
      op.dropDatabase('media'),
      op.createDatabase('media'),
    );
    const writer = new FakeTargetWriter().withReplicaOf(films.id, films2);
    const { progress, run } = setup(log, { writer, objectWaitMs: 60_000 });
    const started = Date.now();
    await run();
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(writer.callsOf('dropDatabase')).toEqual([]);
    expect(writer.existing.has('media.films')).toBe(true);
    expect(progress.quarantined).toEqual([]);
    expect(offsets(progress)).toEqual([0n, 1n]);
  });

  it('waits for the DML channels to drop the old collections of a dropped database', async () => {
    // media.films replicates an earlier incarnation (id 7, gone from the source): the drop waits for it to go.
    const log = new RecordLog('by-dev-replicate-msg').add(op.dropDatabase('media'));
    const writer = new FakeTargetWriter().withReplicaOf(7n, films2);
    setTimeout(() => writer.existing.delete('media.films'), 700);
    const { progress, run } = setup(log, { writer, objectWaitMs: 60_000 });
    await run();
    expect(writer.callsOf('dropDatabase')).toEqual([['media']]);
    expect(progress.quarantined).toEqual([]);
  });

  it('quarantines a database drop kept out by a collection the task did not make', async () => {
    const log = new RecordLog('by-dev-replicate-msg').add(op.dropDatabase('media'));
    const writer = new FakeTargetWriter().withCollections(films2);
    const { progress, run } = setup(log, { writer, objectWaitMs: 0 });
    await run();
    expect(writer.callsOf('dropDatabase')).toEqual([]);
    expect(progress.quarantined.map((q) => q.reason)).toEqual([
      expect.stringMatching(/target rejected DropDatabase: database:media not empty/),
    ]);
  });

  it('waits for an op that is not applicable yet instead of quarantining it', async () => {
    const log = new RecordLog('by-dev-replicate-msg').add(op.load('default', 'books'));
    const writer = new FakeTargetWriter().failWith('loadCollection', (_a, n) =>
      n === 1 ? sinkRejected('index not built yet') : undefined,
    );
    const { progress, run } = setup(log, { writer, objectWaitMs: 10_000 });
    await run();
    expect(writer.callsOf('loadCollection')).toEqual([[books2, 1]]);
    expect(progress.quarantined).toEqual([]);
    expect(offsets(progress)).toEqual([0n]);
  });

  it('checkpoints and skips unknown op types, and quarantines undecodable records', async () => {
    const log = new RecordLog('by-dev-replicate-msg')
      .raw(UNKNOWN_TYPE_PAYLOAD)
      .raw(GARBAGE_PAYLOAD, { msg_type: 'CreateIndex' })
      .add(op.release('default', 'books'));
    const { writer, progress, run } = setup(log);
    await run();
    expect(progress.checkpoints.map((c) => [decodeKafkaMessageId(c.msgId), c.timestamp])).toEqual([
      [0n, 7n], // the MsgBase timestamp of the unknown op
      [1n, 0n],
      [2n, progress.heads[0]],
    ]);
    expect(progress.quarantined.map((q) => decodeKafkaMessageId(q.msgId))).toEqual([1n]);
    expect(progress.quarantined[0]!.reason).toMatch(/^undecodable record/);
    expect(writer.ops()).toContain('releaseCollection');
  });

  it('stops on an error a person must look at, without checkpointing that op', async () => {
    const log = new RecordLog('by-dev-replicate-msg').add(
      op.release('default', 'books'),
      op.createIndex('default', 'books'),
    );
    const writer = new FakeTargetWriter().failWith(
      'createIndex',
      () => new CdcError('SCHEMA_MISMATCH', 'index differs', { retryable: false }),
    );
    const { progress, run } = setup(log, { writer });
    await expect(run()).rejects.toMatchObject({ code: 'SCHEMA_MISMATCH' });
    expect(offsets(progress)).toEqual([0n]);
  });
});
