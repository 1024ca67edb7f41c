import { CdcError } from '@cdc/shared';
import type { Logger, SourceMetadata } from '@cdc/shared';
import type { DropBarrier } from '../ports/drop-barrier.js';
import type { LeaseProgress } from '../ports/lease-progress.js';
import type { ReplicateTarget } from '../ports/replicate-target.js';
import type { SourceReader } from '../ports/source-reader.js';
import type { TargetWriter } from '../ports/target-writer.js';
import { CollectionCatalog } from '../replication/collection-catalog.js';
import { DmlChannelReplicator } from '../replication/dml-channel-replicator.js';
import { PartitionFollower } from '../replication/partition-follower.js';
import { ReplicateChannelReplicator } from '../replication/replicate-channel-replicator.js';
import { TargetTicker } from '../replication/target-ticker.js';
import type { TaskScope } from '../replication/task-scope.js';

/** Everything one target of a lease replicates with; a fan-out lease runs one pipeline per target. */
export interface TargetPipelineDeps {
  readonly channel: string;
  readonly reader: SourceReader;
  readonly metadata: SourceMetadata;
  readonly scope: TaskScope;
  readonly writer: TargetWriter;
  /** Replicate mode only. */
  readonly replicateTarget?: ReplicateTarget;
  readonly progress: LeaseProgress;
  readonly barrier: DropBarrier;
  readonly log: Logger;
  readonly maxBatchRows: number;
  readonly readBatchSize: number;
  readonly objectWaitMs: number;
  readonly maxTickCarryMs?: number;
  readonly onRetry?: () => void;
  /** DML channels: the message id reading resumed after, and the checkpoint's floor (see DmlReplicatorDeps). */
  readonly resumeAfter?: Uint8Array;
  readonly floor?: bigint;
}

const isReplicateChannel = (channel: string): boolean => channel.endsWith('-replicate-msg');

/**
 * Replicates the lease's channel into one target until `signal` aborts or the channel reached the task's pause point:
 * a DML channel through DmlChannelReplicator;
 * the replicate channel through ReplicateChannelReplicator, with the partition follower beside it and, in replicate
 * mode, the target's time ticker.
 */
export async function runTargetPipeline(
  deps: TargetPipelineDeps,
  signal: AbortSignal,
): Promise<void> {
  const { channel, reader, metadata, scope, writer, replicateTarget, progress, log, onRetry } =
    deps;
  const catalog = new CollectionCatalog(metadata, scope, writer);
  const common = { reader, writer, catalog, progress, log, ...(onRetry ? { onRetry } : {}) };
  const helpersStop = new AbortController();
  const stopHelpers = (): void => {
    helpersStop.abort();
  };
  signal.addEventListener('abort', stopHelpers, { once: true });
  const ops = isReplicateChannel(channel);
  const follower = ops
    ? new PartitionFollower(metadata, catalog, writer, log).run(helpersStop.signal)
    : Promise.resolve();
  const ticker =
    ops && replicateTarget
      ? new TargetTicker({ target: replicateTarget, progress, metadata, scope, channel, log }).run(
          helpersStop.signal,
        )
      : Promise.resolve();
  const replicator = ops
    ? new ReplicateChannelReplicator({ ...common, scope, objectWaitMs: deps.objectWaitMs })
    : new DmlChannelReplicator({
        ...common,
        channel,
        barrier: deps.barrier,
        maxBatchRows: deps.maxBatchRows,
        readBatchSize: deps.readBatchSize,
        scope,
        ...(deps.maxTickCarryMs === undefined ? {} : { maxTickCarryMs: deps.maxTickCarryMs }),
        ...(replicateTarget ? { replicateTarget } : {}),
        ...(deps.resumeAfter === undefined ? {} : { resumeAfter: deps.resumeAfter }),
        ...(deps.floor === undefined ? {} : { floor: deps.floor }),
      });
  try {
    await replicator.run(signal).catch((err: unknown) => {
      if (signal.aborted && err instanceof CdcError && err.code === 'LEASE_LOST') return;
      throw err;
    });
  } finally {
    signal.removeEventListener('abort', stopHelpers);
    helpersStop.abort();
    await follower;
    await ticker;
  }
}
