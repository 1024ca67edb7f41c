import { describe, expect, it } from 'vitest';
import { DataType } from '@cdc/shared';
import type { CollectionInfo } from '@cdc/shared';
import type { CreateCollectionSpec } from '../ports/target-writer.js';
import {
  FakeSourceMetadata,
  FakeTargetWriter,
  collectionInfo,
  conflict,
  createCollectionMsg,
  field,
  partitionInfo,
  sinkUnavailable,
  testSchema,
} from '../testing/fakes.js';
import { CollectionCatalog } from './collection-catalog.js';
import { TaskScope } from './task-scope.js';

const everything = new TaskScope({ include: [], exclude: [] });
const signal = new AbortController().signal;

function setup(
  infos: CollectionInfo[],
  opts: { scope?: TaskScope; incarnationWaitMs?: number } = {},
) {
  const metadata = new FakeSourceMetadata(...infos);
  const writer = new FakeTargetWriter();
  const catalog = new CollectionCatalog(
    metadata,
    opts.scope ?? everything,
    writer,
    opts.incarnationWaitMs ?? 120_000,
  );
  return { metadata, writer, catalog };
}

const books = collectionInfo({
  id: 10n,
  name: 'books',
  physicalChannels: ['dml_0', 'dml_1', 'dml_0'],
  shardsNum: 2,
  consistencyLevel: 'Strong',
  properties: [{ key: 'collection.ttl.seconds', value: '60' }],
});

describe('CollectionCatalog.resolve', () => {
  it('resolves a collection with its target name, primary key and pchannels', async () => {
    const scope = new TaskScope({ include: [], exclude: [] }, [
      { sourceDatabase: 'default', targetDatabase: 'copy', collections: { books: 'books2' } },
    ]);
    const { catalog } = setup([books], { scope });
    const c = await catalog.resolve(10n);
    expect(c).toMatchObject({
      id: 10n,
      sourceDb: 'default',
      sourceName: 'books',
      target: { db: 'copy', collection: 'books2' },
      primaryKeyField: 'id',
      physicalChannels: ['dml_0', 'dml_1'],
    });
  });

  it('caches: the metadata is read once per collection', async () => {
    const { catalog, metadata } = setup([books]);
    const a = await catalog.resolve(10n);
    const b = await catalog.resolve(10n);
    expect(b).toBe(a);
    expect(metadata.getCollectionCalls).toBe(1);
  });

  it('resolves out-of-scope and missing collections to undefined, and caches that too', async () => {
    const scope = new TaskScope({ include: [], exclude: [{ database: '*', collection: 'books' }] });
    const { catalog, metadata } = setup([books], { scope });
    expect(await catalog.resolve(10n)).toBeUndefined();
    expect(await catalog.resolve(10n)).toBeUndefined();
    expect(await catalog.resolve(99n)).toBeUndefined();
    expect(metadata.getCollectionCalls).toBe(2);
  });

  it("maps a collection of database '' to 'default'", async () => {
    const { catalog } = setup([{ ...books, dbName: '' }]);
    expect((await catalog.resolve(10n))?.sourceDb).toBe('default');
  });

  it('keeps user fields only, and turns a $meta field into enableDynamicField', async () => {
    const schema = testSchema('books', [
      field({ fieldId: 102n, name: '$meta', dataType: DataType.JSON, isDynamic: true }),
    ]);
    const withSystem = {
      ...schema,
      fields: [
        field({ fieldId: 0n, name: 'RowID' }),
        field({ fieldId: 1n, name: 'Timestamp' }),
        ...schema.fields,
      ],
    };
    const { catalog } = setup([{ ...books, schema: withSystem }]);
    const c = await catalog.resolve(10n);
    expect(c?.schema.fields.map((f) => f.name)).toEqual(['id', 'vec']);
    expect(c?.schema.enableDynamicField).toBe(true);
  });

  it("prefers a CreateCollection message's schema and pchannels to etcd's", async () => {
    const { catalog } = setup([books]);
    const created = createCollectionMsg(
      {
        ...books,
        schema: testSchema('books', [field({ fieldId: 102n, name: 'extra' })]),
        physicalChannels: ['dml_7'],
      },
      5n,
    );
    const c = await catalog.resolve(10n, created);
    expect(c?.schema.fields.map((f) => f.name)).toEqual(['id', 'vec', 'extra']);
    expect(c?.physicalChannels).toEqual(['dml_7']);
  });
});

describe('CollectionCatalog.resolveByName', () => {
  it('finds a collection by source names, asking the source each time (names outlive incarnations)', async () => {
    const films = collectionInfo({ id: 11n, name: 'films', dbName: 'media' });
    const { catalog, metadata } = setup([books, films]);
    expect((await catalog.resolveByName('media', 'films'))?.id).toBe(11n);
    expect(metadata.listCollectionsCalls).toBe(1);
    expect((await catalog.resolveByName('media', 'films'))?.id).toBe(11n);
    expect(metadata.listCollectionsCalls).toBe(2);
    expect(await catalog.resolveByName('default', 'films')).toBeUndefined();
    expect(await catalog.resolveByName('media', 'nope')).toBeUndefined();
  });

  // Regression: a cached lookup by name used to return an earlier incarnation after the source dropped and re-created
  // the collection (the replicate channel never sees the DropCollection that would evict it).
  it('does not return a dropped incarnation once the name belongs to a new collection', async () => {
    const { catalog, metadata } = setup([books]);
    expect((await catalog.resolveByName('default', 'books'))?.id).toBe(10n);
    metadata.collections.delete(10n);
    metadata.collections.set(20n, { ...books, id: 20n });
    expect((await catalog.resolveByName('default', 'books'))?.id).toBe(20n);
  });
});

describe('CollectionCatalog.resolveCreated', () => {
  const created = createCollectionMsg(books, 5n);

  it('waits until the source metadata shows the collection Created', async () => {
    const { catalog, metadata } = setup([]);
    metadata.getCollectionHook = (_id, n) =>
      n === 1 ? undefined : { ...books, state: n < 3 ? 'Creating' : 'Created' };
    const c = await catalog.resolveCreated(created, signal, 5_000);
    expect(c?.id).toBe(10n);
    expect(metadata.getCollectionCalls).toBe(3);
  });

  it('gives up with undefined when the collection never shows up (dropped since)', async () => {
    const { catalog } = setup([]);
    expect(await catalog.resolveCreated(created, signal, 0)).toBeUndefined();
  });

  it('replaces what an earlier resolve cached for the id', async () => {
    const { catalog, metadata } = setup([]);
    expect(await catalog.resolve(10n)).toBeUndefined();
    metadata.collections.set(10n, books);
    expect((await catalog.resolveCreated(created, signal))?.id).toBe(10n);
    expect((await catalog.resolve(10n))?.id).toBe(10n);
  });

  it('ends the wait with LEASE_LOST when the lease ends', async () => {
    const { catalog, metadata } = setup([]);
    metadata.getCollectionHook = () => ({ ...books, state: 'Creating' });
    const lease = new AbortController();
    const waiting = catalog.resolveCreated(created, lease.signal, 60_000);
    lease.abort(new Error('paused'));
    await expect(waiting).rejects.toMatchObject({ code: 'LEASE_LOST' });
  });
});

describe('CollectionCatalog.ensureOnTarget', () => {
  it('creates the database and the collection with its partitions, once', async () => {
    const { catalog, metadata, writer } = setup([books]);
    metadata.partitions.set(10n, [
      partitionInfo(10n, 1n, '_default'),
      partitionInfo(10n, 2n, 'p1'),
      partitionInfo(10n, 3n, 'p2'),
    ]);
    const c = (await catalog.resolve(10n))!;
    await catalog.ensureOnTarget(c);
    await catalog.ensureOnTarget(c);
    expect(writer.ops()).toEqual(['createDatabase', 'createCollection']);
    expect(writer.callsOf('createDatabase')[0]).toEqual(['default', []]);
    const spec = writer.callsOf('createCollection')[0]![0] as CreateCollectionSpec;
    expect(spec).toMatchObject({
      db: 'default',
      collection: 'books',
      sourceCollectionId: '10',
      shardsNum: 2,
      consistencyLevel: 'Strong',
      properties: books.properties,
      partitions: ['p1', 'p2'],
    });
    expect(spec.schema.fields.map((f) => f.name)).toEqual(['id', 'vec']);
  });

  it('creates no partitions for a partition-key collection', async () => {
    const schema = testSchema('books', [
      field({ fieldId: 102n, name: 'tenant', isPartitionKey: true }),
    ]);
    const { catalog, metadata, writer } = setup([{ ...books, schema }]);
    metadata.partitions.set(10n, [partitionInfo(10n, 2n, '_default_0')]);
    await catalog.ensureOnTarget((await catalog.resolve(10n))!);
    expect((writer.callsOf('createCollection')[0]![0] as CreateCollectionSpec).partitions).toEqual(
      [],
    );
  });

  it('waits while the target holds an earlier incarnation, until its drop is applied', async () => {
    const { catalog, writer } = setup([books]);
    writer.failWith('createCollection', (_args, n) => (n <= 2 ? conflict() : undefined));
    await catalog.ensureOnTarget((await catalog.resolve(10n))!, signal);
    expect(writer.ops()).toEqual([
      'createDatabase',
      'createDatabase',
      'createDatabase',
      'createCollection',
    ]);
  });

  it('turns a CONFLICT that outlasts the wait into SCHEMA_MISMATCH for a person', async () => {
    const { catalog, writer } = setup([books], { incarnationWaitMs: 0 });
    writer.failWith('createCollection', () => conflict('books replicates source collection 9'));
    const err = await catalog.ensureOnTarget((await catalog.resolve(10n))!, signal).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toMatchObject({ code: 'SCHEMA_MISMATCH', retryable: false });
    expect((err as Error).message).toMatch(/books replicates source collection 9/);
    expect((err as Error).cause).toMatchObject({ code: 'CONFLICT' });
    // not marked as ensured: a later attempt tries again
    writer.failWith('createCollection', () => undefined);
    await catalog.ensureOnTarget((await catalog.resolve(10n))!, signal);
    expect(writer.ops()).toContain('createCollection');
  });

  it('passes other errors to the caller at once (it retries them)', async () => {
    const { catalog, writer } = setup([books]);
    writer.failWith('createDatabase', () => sinkUnavailable());
    await expect(catalog.ensureOnTarget((await catalog.resolve(10n))!)).rejects.toMatchObject({
      code: 'SINK_UNAVAILABLE',
    });
  });

  it('creates the collection again after forget (drop and re-create)', async () => {
    const { catalog, writer } = setup([books]);
    await catalog.ensureOnTarget((await catalog.resolve(10n))!);
    catalog.forget(10n);
    await catalog.ensureOnTarget((await catalog.resolve(10n))!);
    expect(writer.ops()).toEqual([
      'createDatabase',
      'createCollection',
      'createDatabase',
      'createCollection',
    ]);
  });
});

describe('CollectionCatalog.ensurePartition', () => {
  it('creates each partition once, and never _default', async () => {
    const { catalog, writer } = setup([books]);
    const c = (await catalog.resolve(10n))!;
    await catalog.ensurePartition(c, 'p1');
    await catalog.ensurePartition(c, 'p1');
    await catalog.ensurePartition(c, 'p2');
    await catalog.ensurePartition(c, '_default');
    await catalog.ensurePartition(c, '');
    expect(writer.callsOf('createPartition')).toEqual([
      [c.target, 'p1'],
      [c.target, 'p2'],
    ]);
  });

  it('skips partitions created with the collection', async () => {
    const { catalog, metadata, writer } = setup([books]);
    metadata.partitions.set(10n, [partitionInfo(10n, 2n, 'p1')]);
    const c = (await catalog.resolve(10n))!;
    await catalog.ensureOnTarget(c);
    await catalog.ensurePartition(c, 'p1');
    expect(writer.callsOf('createPartition')).toEqual([]);
  });

  it('skips partition-key collections', async () => {
    const schema = testSchema('books', [
      field({ fieldId: 102n, name: 'tenant', isPartitionKey: true }),
    ]);
    const { catalog, writer } = setup([{ ...books, schema }]);
    await catalog.ensurePartition((await catalog.resolve(10n))!, '_default_3');
    expect(writer.calls).toEqual([]);
  });

  it('creates a partition again after forgetPartition or forget', async () => {
    const { catalog, writer } = setup([books]);
    const c = (await catalog.resolve(10n))!;
    await catalog.ensurePartition(c, 'p1');
    catalog.forgetPartition(c, 'p1');
    await catalog.ensurePartition(c, 'p1');
    catalog.forget(10n);
    await catalog.ensurePartition(c, 'p1');
    expect(writer.callsOf('createPartition')).toHaveLength(3);
  });

  it('does not remember a partition whose creation failed', async () => {
    const { catalog, writer } = setup([books]);
    const c = (await catalog.resolve(10n))!;
    writer.failWith('createPartition', (_a, n) => (n === 1 ? sinkUnavailable() : undefined));
    await expect(catalog.ensurePartition(c, 'p1')).rejects.toMatchObject({
      code: 'SINK_UNAVAILABLE',
    });
    await catalog.ensurePartition(c, 'p1');
    expect(writer.callsOf('createPartition')).toEqual([[c.target, 'p1']]);
  });
});
