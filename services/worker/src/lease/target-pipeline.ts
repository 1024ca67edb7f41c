import { CdcError } from '@cdc/shared';
import type { DelayObserver } from '../ports/delay-observer.js';
import type { Logger, SourceMetadata } from '@cdc/shared';
import type { DropBarrier } from '../ports/drop-barrier.js';
import type { LeaseProgress } from '../ports/lease-progress.js';
import type { ReplicateTarget } from '../ports/replicate-target.js';
import type { SourceReader } from '../ports/source-reader.js';
import type { TargetWriter } from '../ports/target-writer.js';
import { CollectionCatalog, type ReplicatedCollection } from '../replication/collection-catalog.js';
import { DmlChannelReplicator } from '../replication/dml-channel-replicator.js';
import { PartitionFollower } from '../replication/partition-follower.js';
import { ReplicateChannelReplicator } from '../replication/replicate-channel-replicator.js';
import { TargetTicker } from '../replication/target-ticker.js';
import type { TaskScope } from '../replication/task-scope.js';
import { locateCollection } from '../standby/collection-locator.js';
import { CollectionSync } from '../standby/collection-sync.js';
import { RbacSync } from '../standby/rbac-sync.js';
import { StandbyFollower } from '../standby/standby-follower.js';
import type { IssueSink } from '../standby/standby-issues.js';
import { StandbyOrder, type StandbyProgress } from '../standby/standby-order.js';
import type { StandbyResources } from './lease-runner.js';

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
  readonly maxClockLeadMs?: number;
  /** See DmlReplicatorDeps.applyAheadOfTicks. */
  readonly applyAheadOfTicks?: boolean;
  /** DML channels: see DmlReplicatorDeps.idleTickWaitMs. */
  readonly idleTickWaitMs?: number;
  readonly onRetry?: () => void;
  /** DML channels: the message id reading resumed after, and the checkpoint's floor (see DmlReplicatorDeps). */
  readonly resumeAfter?: Uint8Array;
  readonly floor?: bigint;
  /** Aliases, renames, properties and RBAC (undefined: not followed). */
  readonly standby?: PipelineStandby;
  readonly delays?: DelayObserver;
}

/** What the standby follower (replicate channel) and the lookup of renamed collections (every channel) use. */
export interface PipelineStandby {
  readonly resources: StandbyResources;
  readonly issues: IssueSink;
  readonly progress: StandbyProgress;
  /** Source user → initial target password, with RBAC replication; undefined: RBAC is not replicated. */
  readonly initialPasswords?: ReadonlyMap<string, string>;
}

function standbyFollower(
  standby: PipelineStandby,
  deps: { catalog: CollectionCatalog; metadata: SourceMetadata; scope: TaskScope; log: Logger },
): StandbyFollower {
  const { resources, issues, progress, initialPasswords } = standby;
  const log = deps.log.child({ component: 'standby' });
  const order = new StandbyOrder({ progress, log });
  const collections = new CollectionSync({
    standbyMetadata: resources.metadata,
    sourceMetadata: deps.metadata,
    target: resources.target,
    catalog: deps.catalog,
    scope: deps.scope,
    order,
    issues,
    log,
    ...(resources.sourceProperties ? { sourceProperties: resources.sourceProperties } : {}),
  });
  const rbac =
    initialPasswords === undefined
      ? undefined
      : new RbacSync({
          target: resources.target,
          scope: deps.scope,
          initialPasswords,
          issues,
          log,
        });
  return new StandbyFollower({
    metadata: resources.metadata,
    collections,
    ...(rbac ? { rbac } : {}),
    order,
    issues,
    log,
  });
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
  const standby = deps.standby;
  const locate = standby
    ? async (c: ReplicatedCollection) =>
        (
          await locateCollection(
            { target: standby.resources.target, metadata: standby.resources.metadata, scope },
            c.id,
            { db: c.sourceDb, name: c.sourceName },
          )
        )?.at
    : undefined;
  const catalog = new CollectionCatalog(metadata, scope, writer, undefined, locate);
  const common = { reader, writer, catalog, progress, log, ...(onRetry ? { onRetry } : {}) };
  const helpersStop = new AbortController();
  const stopHelpers = (): void => {
    helpersStop.abort();
  };
  signal.addEventListener('abort', stopHelpers, { once: true });
  const ops = isReplicateChannel(channel);
  const follower = ops
    ? Promise.all([
        new PartitionFollower(metadata, catalog, writer, log).run(helpersStop.signal),
        standby
          ? standbyFollower(standby, { catalog, metadata, scope, log }).run(helpersStop.signal)
          : undefined,
      ])
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
        ...(deps.maxClockLeadMs === undefined ? {} : { maxClockLeadMs: deps.maxClockLeadMs }),
        ...(deps.idleTickWaitMs === undefined ? {} : { idleTickWaitMs: deps.idleTickWaitMs }),
        ...(deps.applyAheadOfTicks === undefined
          ? {}
          : { applyAheadOfTicks: deps.applyAheadOfTicks }),
        ...(replicateTarget ? { replicateTarget } : {}),
        ...(deps.resumeAfter === undefined ? {} : { resumeAfter: deps.resumeAfter }),
        ...(deps.floor === undefined ? {} : { floor: deps.floor }),
        ...(deps.delays === undefined ? {} : { delays: deps.delays }),
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
