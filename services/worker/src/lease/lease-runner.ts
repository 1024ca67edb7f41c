import { performance } from 'node:perf_hooks';
import { errorMessage } from '@cdc/shared';
import type { LeaseJobData, Logger, SourceMetadata, StandbyMetadata } from '@cdc/shared';
import type { DelayObserver } from '../ports/delay-observer.js';
import type { DropBarrier } from '../ports/drop-barrier.js';
import type { ReplicateTarget } from '../ports/replicate-target.js';
import type { SourceProperties } from '../ports/source-properties.js';
import type { StandbyTarget } from '../ports/standby-target.js';
import {
  isChannelWithoutTopic,
  topicAppearanceOf,
  type ReaderStart,
  type SourceReader,
} from '../ports/source-reader.js';
import type { TargetWriter } from '../ports/target-writer.js';
import type { LeaseGrant, LeaseRef, WorkerControl } from '../ports/worker-control.js';
import { writeFences } from '../ports/write-fence.js';
import { FanOutReader } from '../replication/fan-out-reader.js';
import { withRetry } from '../replication/retry.js';
import { TaskScope } from '../replication/task-scope.js';
import type { TaskSpecWire } from '../task-spec.js';
import { isReplicateMode, mappingsOf, scopeOf, targetsOf } from '../task-spec.js';
import { StandbyIssues } from '../standby/standby-issues.js';
import { acquireLease } from './lease-acquire.js';
import { idleReportPhaseMs } from './idle-report-slots.js';
import { LeaseReporter } from './lease-reporter.js';
import { LeaseValidity } from './lease-validity.js';
import { needsPerson } from './needs-person.js';
import { readerStartOf, resumeFloorOf } from './lease-start.js';
import { runTargetPipeline } from './target-pipeline.js';

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
  /** Drop barriers of one target of the task (fan-out targets have their own: `targetUri`). */
  dropBarrier(taskId: string, targetUri?: string): DropBarrier;
  /**
   * What the standby follower and renamed collections need, for one target of the spec. Optional: without it aliases,
   * renames, properties and RBAC are not followed.
   */
  standby?(taskId: string, spec: TaskSpecWire): Promise<Borrowed<StandbyResources>>;
}

/** The source etcd's standby metadata, one target's side of it, and the source server's properties (when set). */
export interface StandbyResources {
  readonly metadata: StandbyMetadata;
  readonly target: StandbyTarget;
  readonly sourceProperties?: SourceProperties;
}

export interface LeaseSettings {
  readonly maxBatchRows: number;
  readonly readBatchSize: number;
  readonly objectWaitMs: number;
  /** See DmlReplicatorDeps.maxClockLeadMs. */
  readonly maxClockLeadMs?: number;
  /** See DmlReplicatorDeps.applyAheadOfTicks. */
  readonly applyAheadOfTicks?: boolean;
}

export interface LeaseHooks {
  /** `appliedRows` reads the lease's count when metrics are scraped (no timer per lease). */
  onLeaseStart?(lease: LeaseRef, appliedRows: () => number): void;
  onLeaseEnd?(lease: LeaseRef, reason: string): void;
  onRetry?(lease: LeaseRef): void;
  onQuarantine?(lease: LeaseRef): void;
  /** Records read from the MQ for the lease (once, whatever the number of targets). */
  onRecordsRead?(lease: LeaseRef, records: number): void;
  /** The lag split of the main target (see DelayObserver). */
  onTickRead?(lease: LeaseRef, ms: number, sinceBrokerMs: number | undefined): void;
  onApplied?(lease: LeaseRef, ms: number): void;
}

export interface LeaseRunnerDeps {
  readonly control: WorkerControl;
  /** False while the control service does not answer heartbeats: a lease job is given back without asking it. */
  readonly controlReachable?: () => boolean;
  readonly factories: LeaseFactories;
  readonly workerId: string;
  readonly log: Logger;
  readonly settings: LeaseSettings;
  readonly hooks?: LeaseHooks;
}

export type LeaseOutcome = 'ended' | 'refused';

/** Source user → initial target password (spec.replicate_rbac). Secrets: never logged. */
function initialPasswordsOf(spec: TaskSpecWire): ReadonlyMap<string, string> {
  return new Map((spec.replicate_rbac?.initial_passwords ?? []).map((p) => [p.user, p.password]));
}

function delaysOf(hooks: LeaseHooks, lease: LeaseRef): DelayObserver {
  return {
    tickRead: (ms, sinceBrokerMs) => hooks.onTickRead?.(lease, ms, sinceBrokerMs),
    applied: (ms) => hooks.onApplied?.(lease, ms),
  };
}

/** Write validity assumed when the control service does not grant one (older control versions). */
const DEFAULT_WRITE_VALIDITY_MS = 5_000;

/** How long an idle DML channel waits out time ticks: as long as its lease reports while idle. */
function idleTickWaitMs(grant: LeaseGrant): number {
  return grant.idleReportIntervalMs > 0 ? grant.idleReportIntervalMs : grant.reportIntervalMs;
}
/**
 * Runs one channel lease from acquisition to release: takes a new epoch from the control plane, opens the channel at
 * the checkpoint, replicates until the lease ends (pause, delete, rebalancing, stale epoch, shutdown), then reports the
 * final checkpoint and releases the lease.
 */
export class LeaseRunner {
  /** The reporters of the leases running, by task. */
  private readonly reporters = new Map<string, Set<LeaseReporter>>();
  /** Every quiet lease of this worker reports on one grid, so their reports go in one call. */
  private readonly idleSlotPhaseMs: number;

  constructor(private readonly deps: LeaseRunnerDeps) {
    this.idleSlotPhaseMs = idleReportPhaseMs(deps.workerId);
  }

  /** The control service asked these tasks' idle leases to report now (someone waits for their checkpoints). */
  reportIfIdle(taskIds: readonly string[]): void {
    for (const taskId of taskIds)
      for (const r of this.reporters.get(taskId) ?? []) r.reportIfIdle();
  }

  async run(job: LeaseJobData, shutdown: AbortSignal): Promise<LeaseOutcome> {
    const { control, workerId } = this.deps;
    const jobStarted = performance.now();
    const acquired = await acquireLease(this.deps, job, shutdown);
    if (acquired === undefined) return 'refused';
    const { grant, sentAt } = acquired;
    const lease: LeaseRef = { taskId: job.taskId, channel: job.channel, epoch: grant.epoch };
    const log = this.deps.log.child({
      taskId: job.taskId,
      channel: job.channel,
      epoch: grant.epoch,
    });
    // The validity asks the reporter for a confirmation, and the reporter renews the validity: bound once both exist.
    let askForConfirmation = (): void => undefined;
    const validity = new LeaseValidity({
      validityMs: grant.writeValidityMs > 0 ? grant.writeValidityMs : DEFAULT_WRITE_VALIDITY_MS,
      grantSentAt: sentAt,
      onConfirmationNeeded: () => {
        askForConfirmation();
      },
    });
    const ending = new AbortController();
    // The worker shuts down, or this job's lock was lost (LeaseWorker says which).
    const onShutdown = (): void => {
      const reason: unknown = shutdown.reason;
      const said = reason instanceof Error && reason.name !== 'AbortError';
      ending.abort(
        new Error(
          said || typeof reason === 'string' ? errorMessage(reason) : 'worker shutting down',
        ),
      );
    };

    const onInvalid = (): void => {
      const reason = errorMessage(validity.signal.reason);
      log.warn({ reason }, 'lease may no longer write; ending it');
      ending.abort(new Error(reason));
    };
    shutdown.addEventListener('abort', onShutdown, { once: true });
    validity.signal.addEventListener('abort', onInvalid, { once: true });
    const reporter = new LeaseReporter({
      control,
      lease,
      workerId,
      intervalMs: grant.reportIntervalMs,
      log,
      onLeaseEnd: (reason) => {
        ending.abort(new Error(reason));
      },
      onConfirmed: (at) => {
        validity.confirm(at);
      },
      onFenced: (reason) => {
        validity.revoke(reason);
      },
      ...(this.deps.hooks?.onQuarantine
        ? { onQuarantine: () => this.deps.hooks?.onQuarantine?.(lease) }
        : {}),
      ...(grant.pause === undefined ? {} : { pause: grant.pause }),
      applyUntil: grant.applyUntil,
      targets: targetsOf(grant.spec).length,
      idleIntervalMs: grant.idleReportIntervalMs,
      idleSlotPhaseMs: this.idleSlotPhaseMs,
      onQuietChange: (quiet) => {
        validity.setQuiet(quiet);
      },
    });
    askForConfirmation = () => {
      reporter.requestConfirmation();
    };
    // Start-up milestones (the bench breaks the time to the first row down with them): once per lease.
    log.info(
      { start: readerStartOf(grant.start).kind, waitedMs: Math.round(sentAt - jobStarted) },
      'lease acquired',
    );
    this.deps.hooks?.onLeaseStart?.(lease, () => reporter.appliedRows);
    const ofTask = this.reporters.get(job.taskId) ?? new Set<LeaseReporter>();
    this.reporters.set(job.taskId, ofTask.add(reporter));
    let endReason = 'ended';
    try {
      // Every target call this lease makes carries its write deadline (fenceInterceptor).
      await writeFences.run(validity, () =>
        this.replicate(job, grant, reporter, ending.signal, log, lease),
      );
      endReason =
        ending.signal.reason instanceof Error
          ? ending.signal.reason.message
          : reporter.paused
            ? 'paused'
            : 'ended';
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
      validity.signal.removeEventListener('abort', onInvalid);
      ending.abort(new Error(endReason));
      await reporter.stop();
      validity.stop();
      // Every write of this lease is over (replicate() waited for all of them): the channel may move at once.
      await control.releaseLease(lease, workerId).catch(() => undefined);
      ofTask.delete(reporter);
      if (ofTask.size === 0 && this.reporters.get(job.taskId) === ofTask)
        this.reporters.delete(job.taskId);
      this.deps.hooks?.onLeaseEnd?.(lease, endReason);
      log.info({ reason: endReason, appliedRows: reporter.appliedRows }, 'lease ended');
    }
    return 'ended';
  }

  private async replicate(
    job: LeaseJobData,
    grant: LeaseGrant,
    reporter: LeaseReporter,
    signal: AbortSignal,
    log: Logger,
    lease: LeaseRef,
  ): Promise<void> {
    const { factories, settings, hooks } = this.deps;
    const spec = grant.spec;
    // Reports confirm the lease while the connections open: that can take longer than the write validity.
    reporter.start();
    const metadata = await factories.sourceMetadata(job.taskId, spec);
    const borrowed: Borrowed<unknown>[] = [];
    let reader: SourceReader | undefined;
    const onRetry = hooks?.onRetry ? () => hooks.onRetry?.(lease) : undefined;
    try {
      const targets = [];
      const issues = new StandbyIssues((r) => this.deps.control.reportStandby(lease, r), log);
      for (const target of targetsOf(spec)) {
        const targetSpec = { ...spec, target };
        const writer = await factories.targetWriter(job.taskId, targetSpec);
        borrowed.push(writer);
        const replicate = isReplicateMode(targetSpec)
          ? await factories.replicateTarget(job.taskId, targetSpec)
          : undefined;
        if (replicate) borrowed.push(replicate);
        const standby = await factories.standby?.(job.taskId, targetSpec);
        if (standby) borrowed.push(standby);
        targets.push({
          uri: target.uri ?? '',
          writer: writer.value,
          replicate: replicate?.value,
          standby: standby?.value,
        });
      }
      const start = readerStartOf(grant.start);
      reader = await this.openReader(spec, job.channel, start, signal, log, reporter);
      if (signal.aborted || reader === undefined) return;
      const floor = resumeFloorOf(grant.start);
      const upstream = reader;
      let firstRead = true;
      const fanOut = new FanOutReader(upstream, targets.length, (n) => {
        hooks?.onRecordsRead?.(lease, n);
        if (firstRead && n > 0) {
          firstRead = false;
          log.info({ records: n }, 'first records read');
        }
      });
      const scope = new TaskScope(scopeOf(spec), mappingsOf(spec));
      // One target failing ends the lease for all: they share the read.
      const stopAll = new AbortController();
      const onAbort = (): void => {
        stopAll.abort(signal.reason);
      };
      signal.addEventListener('abort', onAbort, { once: true });
      try {
        const results = await Promise.allSettled(
          targets.map((t, i) => {
            const main = i === 0;
            const own = grant.targetPositions.get(t.uri);
            const resumeAfter = own?.msgId ?? (start.kind === 'after' ? start.msgId : undefined);
            const pipeline = runTargetPipeline(
              {
                channel: job.channel,
                reader: fanOut.view(i, own?.msgId),
                ...(resumeAfter === undefined ? {} : { resumeAfter }),
                floor: own?.timestamp ?? floor,
                metadata: metadata.value,
                scope,
                writer: t.writer,
                ...(t.replicate ? { replicateTarget: t.replicate } : {}),
                progress: main ? reporter : reporter.forFanOutTarget(t.uri),
                barrier: factories.dropBarrier(job.taskId, main ? undefined : t.uri),
                ...(main && hooks ? { delays: delaysOf(hooks, lease) } : {}),
                log: main ? log : log.child({ target: t.uri }),
                maxBatchRows: settings.maxBatchRows,
                readBatchSize: settings.readBatchSize,
                objectWaitMs: settings.objectWaitMs,
                // Idle ticks only move the checkpoint, which reaches the control service once per (idle) report; a
                // report asked for by someone waiting on the checkpoint takes the queued ticks first.
                // Replicate mode forwards ticks to the replica, and fan-out reads in lock step: both take every tick.
                idleTickWaitMs: targets.length === 1 && !t.replicate ? idleTickWaitMs(grant) : 0,
                ...(settings.maxClockLeadMs === undefined
                  ? {}
                  : { maxClockLeadMs: settings.maxClockLeadMs }),
                ...(settings.applyAheadOfTicks === undefined
                  ? {}
                  : { applyAheadOfTicks: settings.applyAheadOfTicks }),
                ...(onRetry ? { onRetry } : {}),
                ...(t.standby
                  ? {
                      standby: {
                        resources: t.standby,
                        issues: issues.forTarget(main ? undefined : t.uri),
                        progress: reporter,
                        ...(spec.replicate_rbac?.enabled === true
                          ? { initialPasswords: initialPasswordsOf(spec) }
                          : {}),
                      },
                    }
                  : {}),
              },
              stopAll.signal,
            );
            return pipeline.catch((err: unknown) => {
              stopAll.abort(err);
              throw err;
            });
          }),
        );
        // Every pipeline has stopped (no write in flight) before the lease reports a failure or releases.
        const failed = results.find((r) => r.status === 'rejected');
        if (failed !== undefined) throw failed.reason;
      } finally {
        signal.removeEventListener('abort', onAbort);
      }
    } finally {
      await reader?.close();
      for (const b of borrowed.reverse()) await b.release();
      await metadata.release();
    }
  }

  /**
   * A pchannel no collection has used yet has no topic: hold the lease and wait for it to appear. Such a channel has
   * nothing to apply: it reports caught up meanwhile (for at most the ≤ 5 s between looks after a topic appears),
   * and a pause stops the wait with the channel counted as paused.
   */
  private async openReader(
    spec: TaskSpecWire,
    channel: string,
    start: ReaderStart,
    signal: AbortSignal,
    log: Logger,
    reporter: LeaseReporter,
  ): Promise<SourceReader | undefined> {
    let reader: SourceReader | undefined;
    const waiting = new AbortController();
    const stopWaiting = (): void => {
      waiting.abort(signal.reason);
    };
    signal.addEventListener('abort', stopWaiting, { once: true });
    const unwatchPause = reporter.onPause(() => {
      waiting.abort(new Error('task pausing'));
    });
    const started = performance.now();
    try {
      await withRetry(
        async () => {
          for (;;) {
            const candidate = this.deps.factories.sourceReader(spec, channel);
            try {
              await candidate.open(start);
              reader = candidate;
              reporter.setNothingToRead(false);
              return;
            } catch (err) {
              await candidate.close();
              if (!isChannelWithoutTopic(err)) throw err;
              reporter.setNothingToRead(true);
              // Wait for the topic where the reader can watch for it, instead of opening again every few seconds.
              const appeared = topicAppearanceOf(err);
              if (appeared === undefined) throw err;
              await appeared(waiting.signal);
            }
          }
        },
        { signal: waiting.signal, log, action: 'opening channel', maxDelayMs: 5_000, quiet: true },
      ).catch((err: unknown) => {
        if (!waiting.signal.aborted) throw err;
        if (!signal.aborted && reporter.pause !== undefined) reporter.pauseReachedByAll();
      });
    } finally {
      unwatchPause();
      signal.removeEventListener('abort', stopWaiting);
    }
    if (reader !== undefined)
      log.info({ openMs: Math.round(performance.now() - started) }, 'channel opened');
    return reader;
  }
}
