import { describe, expect, it } from 'vitest';
import { CdcError, encodeMessage } from '@cdc/shared';
import type { CreateCollectionSpec, TargetCollection } from '../ports/target-writer.js';
import {
  FakeDropBarrier,
  FakeLeaseProgress,
  FakeSourceMetadata,
  FakeSourceReader,
  FakeTargetWriter,
  RecordLog,
  collectionInfo,
  createCollectionMsg,
  insertMsg,
  offsetId,
  rowOf,
  silentLogger,
  timeTickMsg,
} from '../testing/fakes.js';
import { CollectionCatalog } from './collection-catalog.js';
import { DmlChannelReplicator } from './dml-channel-replicator.js';
import { TaskScope } from './task-scope.js';
import { WriteBatcher } from './write-batcher.js';

/** A source collection renamed while the target has not followed yet (the standby follower renames it in order). */

const everything = new TaskScope({ include: [], exclude: [] });
const at = (collection: string): TargetCollection => ({ db: 'default', collection });

describe('renamed collections on the DML side', () => {
  it('writes where the collection sits on the target, and follows it once the target renamed it', async () => {
    const metadata = new FakeSourceMetadata(collectionInfo({ id: 10n, name: 'orders_2025' }));
    const writer = new FakeTargetWriter().withCollections(at('orders_2025'));
    let location = at('orders'); // the rename has not reached the target yet
    const catalog = new CollectionCatalog(metadata, everything, writer, undefined, () =>
      Promise.resolve(location),
    );
    const c = await catalog.resolve(10n);
    expect(c?.target).toEqual(at('orders'));

    // The follower renames it on the target: a write to the old name is refused as not found.
    location = at('orders_2025');
    writer.failWith('upsert', ([t]) =>
      (t as TargetCollection).collection === 'orders'
        ? new CdcError('SINK_REJECTED', 'collection not found', {
            retryable: false,
            details: { notFound: 'collection' },
          })
        : undefined,
    );
    const progress = new FakeLeaseProgress();
    const batcher = new WriteBatcher({
      writer,
      progress,
      signal: new AbortController().signal,
      log: silentLogger(),
      maxBatchRows: 100,
      relocate: (x) => catalog.relocate(x),
    });
    const message = insertMsg({ collectionId: 10n, ids: [1n, 2n], ts: 10n });
    await batcher.upsert(c!, '_default', [rowOf(1n), rowOf(2n)], {
      message,
      msgId: offsetId(1n),
      payload: encodeMessage(message),
    });
    await batcher.flush();
    expect(writer.callsOf('upsert').map(([t]) => t)).toEqual([at('orders_2025')]);
    expect(progress.quarantined).toEqual([]);
    expect((await catalog.resolve(10n))?.target).toEqual(at('orders_2025'));
    // Not moved: nothing to relocate to.
    expect(await catalog.relocate((await catalog.resolve(10n))!)).toBeUndefined();
  });

  // A new collection takes the name of one renamed on the source; the target still holds the renamed one under it.
  // It is a rename in flight, not a drop: the channel must never drop it (its rows would be lost).
  it('never drops a collection that holds the name only because its rename has not reached the target', async () => {
    const renamed = collectionInfo({ id: 10n, name: 'orders_old', physicalChannels: ['dml_0'] });
    const reborn = collectionInfo({ id: 20n, name: 'orders', physicalChannels: ['dml_0'] });
    const writer = new FakeTargetWriter();
    const owner = new Map<string, string>([['orders', '10']]);
    writer.failWith('createCollection', ([spec], n) => {
      const s = spec as CreateCollectionSpec;
      const held = owner.get(s.collection);
      // The follower renames the old one away after a while.
      if (n === 3) owner.delete('orders');
      if (held !== undefined && held !== s.sourceCollectionId)
        return new CdcError('CONFLICT', 'target holds an earlier incarnation of this name', {
          retryable: false,
          details: { targetSourceId: held },
        });
      owner.set(s.collection, s.sourceCollectionId ?? '');
      return undefined;
    });
    const lease = new AbortController();
    const log = new RecordLog('dml_0').add(
      createCollectionMsg(reborn, 30n),
      insertMsg({ collectionId: 20n, ids: [7n], ts: 31n }),
      timeTickMsg(40n),
    );
    const replicator = new DmlChannelReplicator({
      channel: 'dml_0',
      reader: new FakeSourceReader(log.records, () => {
        lease.abort(new Error('drained'));
      }),
      writer,
      catalog: new CollectionCatalog(new FakeSourceMetadata(renamed, reborn), everything, writer),
      barrier: new FakeDropBarrier(),
      progress: new FakeLeaseProgress(),
      log: silentLogger(),
      maxBatchRows: 1000,
      readBatchSize: 3,
    });
    await replicator.run(lease.signal);
    expect(writer.ops()).not.toContain('dropCollection');
    expect(writer.callsOf('upsert').map(([t]) => t)).toEqual([at('orders')]);
  });
});
