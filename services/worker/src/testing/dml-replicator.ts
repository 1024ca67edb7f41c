import { CollectionCatalog } from '../replication/collection-catalog.js';
import {
  DmlChannelReplicator,
  type DmlReplicatorDeps,
} from '../replication/dml-channel-replicator.js';
import { TaskScope } from '../replication/task-scope.js';
import { FakeDropBarrier, FakeSourceMetadata, collectionInfo, silentLogger } from './fakes.js';

/** The one collection of the source these replicators read: `books`, id 10, on channel dml_0. */
export const books = collectionInfo({ id: 10n, name: 'books', physicalChannels: ['dml_0'] });

/** A replicator of channel dml_0 over fake ports, with `books` in scope; `deps` add or replace any dependency. */
export function booksReplicator(
  deps: Pick<DmlReplicatorDeps, 'reader' | 'writer' | 'progress' | 'readBatchSize'> &
    Partial<DmlReplicatorDeps>,
): DmlChannelReplicator {
  return new DmlChannelReplicator({
    channel: 'dml_0',
    catalog: new CollectionCatalog(
      new FakeSourceMetadata(books),
      new TaskScope({ include: [], exclude: [] }),
      deps.writer,
    ),
    barrier: new FakeDropBarrier(),
    log: silentLogger(),
    maxBatchRows: 1000,
    ...deps,
  });
}
