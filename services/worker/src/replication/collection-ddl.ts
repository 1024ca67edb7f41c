import type {
  CreateCollectionMessage,
  DropCollectionMessage,
  Logger,
  PartitionMessage,
} from '@cdc/shared';
import type { DropBarrier } from '../ports/drop-barrier.js';
import type { TargetWriter } from '../ports/target-writer.js';
import type { CollectionCatalog, ReplicatedCollection } from './collection-catalog.js';
import { DropBarrierSteps } from './drop-barrier-steps.js';
import type { RetryStep } from './retry-step.js';

export interface CollectionDdlDeps {
  readonly channel: string;
  readonly writer: TargetWriter;
  readonly catalog: CollectionCatalog;
  readonly barrier: DropBarrier;
  readonly log: Logger;
  readonly retry: RetryStep;
}

/**
 * The collection DDL that Milvus broadcasts into a DML channel (CreateCollection, DropCollection, Create/DropPartition)
 * applied to the target, and the target collections and partitions the channel's Inserts and Deletes need. Drops wait
 * at the cross-channel drop barrier.
 */
export class CollectionDdl {
  private readonly barrierSteps: DropBarrierSteps;

  constructor(private readonly deps: CollectionDdlDeps) {
    this.barrierSteps = new DropBarrierSteps(deps);
  }

  /** The collection of a change, created on the target if needed; undefined: its changes are skipped. */
  async collectionFor(
    collectionId: bigint,
    signal: AbortSignal,
  ): Promise<ReplicatedCollection | undefined> {
    const { catalog, retry } = this.deps;
    const c = await retry('resolving collection', () => catalog.resolve(collectionId), signal);
    if (c === undefined) return undefined;
    return (await this.ensureOnTarget(c, signal)) ? c : undefined;
  }

  /**
   * The partition of a change, created on the target if needed. False: this task dropped it already (its drop barrier
   * is done), so the change is one a resumed lease reads again from before that drop, and is skipped: creating the
   * partition again would bring back the rows the drop removed. Partition ids are never reused, so a partition
   * created again under the same name is not mistaken for it.
   */
  async ensurePartition(
    c: ReplicatedCollection,
    partition: string,
    partitionId: bigint,
    signal: AbortSignal,
  ): Promise<boolean> {
    const { catalog, retry } = this.deps;
    if (!catalog.needsPartition(c, partition)) return true;
    if (await this.dropApplied(partitionDropKey(c.id, partitionId), signal)) return false;
    await retry('creating target partition', () => catalog.ensurePartition(c, partition), signal);
    return true;
  }

  async createCollection(m: CreateCollectionMessage, signal: AbortSignal): Promise<void> {
    const { catalog, retry } = this.deps;
    const c = await retry(
      'resolving created collection',
      () => catalog.resolveCreated(m, signal),
      signal,
    );
    if (c) await this.ensureOnTarget(c, signal);
  }

  /** True once the collection is dropped on the target; false: this channel cannot resolve it and only passed. */
  async dropCollection(m: DropCollectionMessage, signal: AbortSignal): Promise<boolean> {
    const { catalog, writer, retry } = this.deps;
    const c = await retry(
      'resolving dropped collection',
      () => catalog.resolve(m.collectionId),
      signal,
    );
    const key = collectionDropKey(m.collectionId);
    if (!c) {
      await this.barrierSteps.pass(key, signal);
      return false;
    }
    await this.barrierSteps.at(key, c.physicalChannels, signal, () =>
      retry(
        'dropping target collection',
        () => writer.dropCollection(c.target, c.id.toString()),
        signal,
      ),
    );
    catalog.forget(m.collectionId);
    return true;
  }

  async partition(m: PartitionMessage, signal: AbortSignal): Promise<void> {
    const { catalog, writer, retry } = this.deps;
    const c = await this.collectionFor(m.collectionId, signal);
    if (!c) {
      if (m.type === 'DropPartition') {
        await this.barrierSteps.pass(partitionDropKey(m.collectionId, m.partitionId), signal);
      }
      return;
    }
    if (m.type === 'CreatePartition') {
      await this.ensurePartition(c, m.partitionName, m.partitionId, signal);
      return;
    }
    await this.barrierSteps.at(
      partitionDropKey(m.collectionId, m.partitionId),
      c.physicalChannels,
      signal,
      async () => {
        // Milvus refuses to drop a loaded partition; the source released it before dropping, so do the same.
        await retry(
          'releasing target partition',
          () => writer.releasePartitions(c.target, [m.partitionName]),
          signal,
        );
        await retry(
          'dropping target partition',
          () => writer.dropPartition(c.target, m.partitionName),
          signal,
        );
      },
    );
    catalog.forgetPartition(c, m.partitionName);
  }

  /**
   * False: the collection's messages are skipped from now on. Either a later incarnation of the name replaced it, or
   * this task dropped it already and a resumed lease reads its changes again from before that drop (see
   * `ensurePartition`).
   */
  private async ensureOnTarget(c: ReplicatedCollection, signal: AbortSignal): Promise<boolean> {
    const { catalog, retry } = this.deps;
    if (!catalog.isOnTarget(c.id) && (await this.dropApplied(collectionDropKey(c.id), signal))) {
      catalog.skip(c.id);
      return false;
    }
    return retry(
      'creating target collection',
      () => catalog.ensureOnTarget(c, signal, this.leftEarlierIncarnation(c.target, signal)),
      signal,
    );
  }

  private dropApplied(key: string, signal: AbortSignal): Promise<boolean> {
    return this.deps.retry('reading drop barrier', () => this.barrierSteps.isDone(key), signal);
  }

  /**
   * A new incarnation of a name is waiting for the old one's drop. Milvus writes a DropCollection message only when it
   * garbage-collects the collection, with a fresh timestamp, so on a pchannel both incarnations use the old one's drop
   * can come after the new one's create, and the channel would wait for itself. It need not: the old collection's
   * rows were all written before the drop request, hence before the create being applied now, so this channel has
   * passed all of them and joins the old drop's barrier now. If that completes the barrier, or the old collection is
   * gone from the source altogether (no channel resolves it, so none writes its rows any more), the drop is applied
   * here.
   */
  private leftEarlierIncarnation(
    target: ReplicatedCollection['target'],
    signal: AbortSignal,
  ): (earlierSourceId: string) => Promise<void> {
    const { catalog, writer, log, retry } = this.deps;
    return async (earlier) => {
      // Renamed on the source, not dropped: the standby follower frees the name by renaming it on the target.
      if (
        await retry(
          'checking earlier incarnation',
          () => catalog.renamedAway(BigInt(earlier), target),
          signal,
        )
      )
        return;
      const key = collectionDropKey(BigInt(earlier));
      const arrived = await this.barrierSteps.join(key, signal);
      if (await this.barrierSteps.isDone(key)) return;
      const old = await retry(
        'resolving earlier incarnation',
        () => catalog.resolve(BigInt(earlier)),
        signal,
      );
      if (old !== undefined && !old.physicalChannels.every((ch) => arrived.has(ch))) return;
      await retry(
        'dropping earlier incarnation',
        () => writer.dropCollection(target, earlier),
        signal,
      );
      await this.barrierSteps.complete(key, signal);
      log.info({ barrier: key }, 'earlier incarnation dropped before its DropCollection message');
    };
  }
}

function collectionDropKey(collectionId: bigint): string {
  return `drop-collection-${collectionId}`;
}

function partitionDropKey(collectionId: bigint, partitionId: bigint): string {
  return `drop-partition-${collectionId}-${partitionId}`;
}
