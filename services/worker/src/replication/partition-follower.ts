import { errorMessage } from '@cdc/shared';
import type { Logger, SourceMetadata } from '@cdc/shared';
import type { TargetWriter } from '../ports/target-writer.js';
import type { CollectionCatalog } from './collection-catalog.js';
import { sleep } from './retry.js';

/**
 * Follows partition creation in the source etcd. Milvus 2.3–2.5 create partitions without writing anything to the
 * message queue, so without this an empty partition would reach the target only when its first row does. Drops are
 * not handled here: they travel on the DML channels and are applied at the drop barrier, in order with the data.
 * Runs beside the replicate-channel lease (one per task); best effort, restarting its watch after errors.
 */
export class PartitionFollower {
  constructor(
    private readonly metadata: SourceMetadata,
    private readonly catalog: CollectionCatalog,
    private readonly writer: TargetWriter,
    private readonly log: Logger,
  ) {}

  async run(signal: AbortSignal): Promise<void> {
    let after = await this.metadata.currentRevision().catch(() => undefined);
    while (!signal.aborted) {
      try {
        for await (const event of this.metadata.watch({
          signal,
          ...(after === undefined ? {} : { afterRevision: after }),
        })) {
          after = event.revision;
          if (event.type !== 'PartitionCreated' || event.partition.name === '_default') continue;
          const c = await this.catalog.resolve(event.partition.collectionId);
          if (!c || !(await this.writer.hasCollection(c.target))) continue; // created with the collection later
          await this.catalog.ensurePartition(c, event.partition.name);
          this.log.debug(
            { collection: c.target.collection, partition: event.partition.name },
            'partition created',
          );
        }
      } catch (err) {
        if (signal.aborted) return;
        this.log.warn({ err: errorMessage(err) }, 'partition watch failed; restarting');
        await sleep(2_000, signal).catch(() => undefined);
      }
    }
  }
}
