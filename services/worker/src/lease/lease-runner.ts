import { CdcError, errorMessage } from '@cdc/shared';
import type { LeaseJobData, Logger, SourceMetadata } from '@cdc/shared';
import type { DropBarrier } from '../ports/drop-barrier.js';
import type { SourceReader } from '../ports/source-reader.js';
import type { TargetWriter } from '../ports/target-writer.js';
import type { LeaseRef, WorkerControl } from '../ports/worker-control.js';
import { CollectionCatalog } from '../replication/collection-catalog.js';
import { DmlChannelReplicator } from '../replication/dml-channel-replicator.js';
import { TargetTicker } from '../replication/target-ticker.js';
import type { ReplicateTarget } from '../ports/replicate-target.js';
import { PartitionFollower } from '../replication/partition-follower.js';
import { ReplicateChannelReplicator } from '../replication/replicate-channel-replicator.js';
import { sleep, withRetry } from '../replication/retry.js';
import { TaskScope } from '../replication/task-scope.js';
import type { TaskSpecWire } from '../task-spec.js';
import { isReplicateMode, mappingsOf, scopeOf } from '../task-spec.js';
import { LeaseReporter } from './lease-reporter.js';
import { needsPerson } from './needs-person.js';
import { readerStartOf } from './lease-start.js';

/** Connections a lease borrows; released with `release()` (shared per task by the factory). */
export interface Borrowed<T> {
  readonly value: T;
  release(): Promise<void>;
}

export interface LeaseFactories {
  sourceMetadata(taskId: string, spec: TaskSpecWire): Promise<Borrowed<SourceMetadata>>;
  targetWriter(taskId: string, spec: TaskSpecWire): Promise<Borrowed<TargetWriter>>;
  /** Replicate mode only: the target's ReplicateMessage side. */
  replicateTarget(taskId: string, spec: TaskSpecWire): Promise<Borrowed<ReplicateTarget>>;
  sourceReader(spec: TaskSpecWire, channel: string): SourceReader;
  dropBarrier(taskId: string): DropBarrier;
}

export interface LeaseSettings {
  readonly maxBatchRows: number;
  readonly readBatchSize: number;
  readonly objectWaitMs: number;
}

export interface LeaseHooks {
  onLeaseStart?(lease: LeaseRef): void;
  onLeaseEnd?(lease: LeaseRef, reason: string): void;
  onRetry?(lease: LeaseRef): void;
  onQuarantine?(lease: LeaseRef): void;
  /** Periodic progress for metrics. */
  onProgress?(lease: LeaseRef, appliedRows: number): void;
}

export interface LeaseRunnerDeps {
  readonly control: WorkerControl;
  readonly factories: LeaseFactories;
  readonly workerId: string;
  readonly log: Logger;
  readonly settings: LeaseSettings;
  readonly hooks?: LeaseHooks;
}

export type LeaseOutcome = 'ended' | 'refused';

/**
 * Runs one channel lease from acquisition to release: takes a new epoch from the control plane, opens the channel at
 * the checkpoint, replicates until the lease ends (pause, delete, rebalancing, stale epoch, shutdown), then reports the
 * final checkpoint and releases the lease.
 */
export class LeaseRunner {
  constructor(private readonly deps: LeaseRunnerDeps) {}

  async run(job: LeaseJobData, shutdown: AbortSignal): Promise<LeaseOutcome> {
    const { control, workerId } = this.deps;
    let grant;
    try {
      grant = await control.acquireLease(job.taskId, job.channel, workerId);
    } catch (err) {
      if (
        err instanceof CdcError &&
        (err.code === 'FAILED_PRECONDITION' || err.code === 'NOT_FOUND')
      ) {
        this.deps.log.info({ ...job, reason: err.message }, 'lease refused');
        return 'refused';
      }
      await sleep(1_000, shutdown).catch(() => undefined); // no hot loop while the control plane is unreachable
      throw err;
    }
    const lease: LeaseRef = { taskId: job.taskId, channel: job.channel, epoch: grant.epoch };
    const log = this.deps.log.child({
      taskId: job.taskId,
      channel: job.channel,
      epoch: grant.epoch,
    });
    const ending = new AbortController();
    const onShutdown = (): void => {
      ending.abort(new Error('worker shutting down'));
    };
    shutdown.addEventListener('abort', onShutdown, { once: true });
    const reporter = new LeaseReporter({
      control,
      lease,
      workerId,
      intervalMs: grant.reportIntervalMs,
      log,
      onLeaseEnd: (reason) => {
        ending.abort(new Error(reason));
      },
      ...(this.deps.hooks?.onQuarantine
        ? { onQuarantine: () => this.deps.hooks?.onQuarantine?.(lease) }
        : {}),
    });
    log.info({ start: readerStartOf(grant.start).kind }, 'lease acquired');
    this.deps.hooks?.onLeaseStart?.(lease);
    let endReason = 'ended';
    try {
      await this.replicate(
        job,
        grant.spec,
        readerStartOf(grant.start),
        reporter,
        ending.signal,
        log,
        lease,
      );
      endReason = ending.signal.reason instanceof Error ? ending.signal.reason.message : 'ended';
    } catch (err) {
      endReason = errorMessage(err);
      if (!ending.signal.aborted) {
        const person = needsPerson(err);
        log.error({ err: endReason, needsPerson: person }, 'lease failed');
        await control.reportFailure(lease, endReason, person).catch((e: unknown) => {
          log.warn({ err: errorMessage(e) }, 'reporting lease failure failed');
        });
      }
    } finally {
      shutdown.removeEventListener('abort', onShutdown);
      ending.abort(new Error(endReason));
      await reporter.stop();
      await control.releaseLease(lease, workerId).catch(() => undefined);
      this.deps.hooks?.onLeaseEnd?.(lease, endReason);
      log.info({ reason: endReason, appliedRows: reporter.appliedRows }, 'lease ended');
    }
    return 'ended';
  }

  private async replicate(
    job: LeaseJobData,
    spec: TaskSpecWire,
    start: ReturnType<typeof readerStartOf>,
    reporter: LeaseReporter,
    signal: AbortSignal,
    log: Logger,
    lease: LeaseRef,
  ): Promise<void> {
    const { factories, settings, hooks } = this.deps;
    const metadata = await factories.sourceMetadata(job.taskId, spec);
    const writer = await factories.targetWriter(job.taskId, spec).catch(async (err: unknown) => {
      await metadata.release();
      throw err;
    });
    const replicateTarget = isReplicateMode(spec)
      ? await factories.replicateTarget(job.taskId, spec).catch(async (err: unknown) => {
          await writer.release();
          await metadata.release();
          throw err;
        })
      : undefined;
    let reader: SourceReader | undefined;
    const onRetry = hooks?.onRetry ? () => hooks.onRetry?.(lease) : undefined;
    const progressTimer = setInterval(
      () => hooks?.onProgress?.(lease, reporter.appliedRows),
      1_000,
    );
    try {
      reporter.start();
      // A pchannel no collection has used yet has no topic: hold the lease and wait for it to appear.
      await withRetry(
        async () => {
          const candidate = factories.sourceReader(spec, job.channel);
          try {
            await candidate.open(start);
            reader = candidate;
          } catch (err) {
            await candidate.close();
            throw err;
          }
        },
        {
          signal,
          log,
          action: 'opening channel',
          maxDelayMs: 5_000,
          quiet: true,
        },
      ).catch((err: unknown) => {
        if (signal.aborted) return;
        throw err;
      });
      if (signal.aborted || reader === undefined) return;
      const scope = new TaskScope(scopeOf(spec), mappingsOf(spec));
      const catalog = new CollectionCatalog(metadata.value, scope, writer.value);
      const common = {
        reader,
        writer: writer.value,
        catalog,
        progress: reporter,
        log,
        ...(onRetry ? { onRetry } : {}),
      };
      const isReplicateChannel = job.channel.endsWith('-replicate-msg');
      const followerStop = new AbortController();
      const stopFollower = (): void => {
        followerStop.abort();
      };
      signal.addEventListener('abort', stopFollower, { once: true });
      const follower = isReplicateChannel
        ? new PartitionFollower(metadata.value, catalog, writer.value, log).run(followerStop.signal)
        : Promise.resolve();
      const ticker =
        isReplicateChannel && replicateTarget
          ? new TargetTicker({
              target: replicateTarget.value,
              progress: reporter,
              metadata: metadata.value,
              scope,
              channel: job.channel,
              log,
            }).run(followerStop.signal)
          : Promise.resolve();
      const replicator = isReplicateChannel
        ? new ReplicateChannelReplicator({ ...common, scope, objectWaitMs: settings.objectWaitMs })
        : new DmlChannelReplicator({
            ...common,
            channel: job.channel,
            barrier: factories.dropBarrier(job.taskId),
            maxBatchRows: settings.maxBatchRows,
            readBatchSize: settings.readBatchSize,
            ...(replicateTarget ? { replicateTarget: replicateTarget.value } : {}),
          });
      try {
        await replicator.run(signal).catch((err: unknown) => {
          if (signal.aborted && err instanceof CdcError && err.code === 'LEASE_LOST') return;
          throw err;
        });
      } finally {
        signal.removeEventListener('abort', stopFollower);
        followerStop.abort();
        await follower;
        await ticker;
      }
    } finally {
      clearInterval(progressTimer);
      await reader?.close();
      await replicateTarget?.release();
      await writer.release();
      await metadata.release();
    }
  }
}
