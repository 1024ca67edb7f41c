import { CdcError } from '@cdc/shared';
import { emptyChannelRecord, type TaskRecord } from '../domain/model.js';
import { validateWorkerId } from '../domain/id-validation.js';
import {
  acceptReport,
  type CheckpointReport,
  type ReportAnswer,
  type ReportJudgement,
} from './checkpoint-report.js';
import type { LeaseTiming } from './lease-timing.js';
import type { Clock, ReportBatchStore, ReportWrite } from './ports.js';

/** One report's result in a batch: its answer, or why it was refused. */
export type ReportOutcome =
  | { readonly answer: ReportAnswer; readonly error?: undefined }
  | { readonly error: CdcError; readonly answer?: undefined };

export interface ReportBatchDeps {
  readonly store: ReportBatchStore;
  readonly clock: Clock;
  readonly timing: LeaseTiming;
  judge(task: TaskRecord, r: CheckpointReport): Promise<ReportJudgement>;
  /** The answer once the report's channel record is written. */
  answer(task: TaskRecord, r: CheckpointReport, judged: ReportJudgement): Promise<ReportAnswer>;
  /** The one-report path (its own reads and compare-and-set loop). */
  single(r: CheckpointReport): Promise<ReportAnswer>;
}

/** A report's result, its error kept: anything but a CdcError becomes INTERNAL without its message (no internals). */
export async function settleReport(fn: () => Promise<ReportAnswer>): Promise<ReportOutcome> {
  try {
    return { answer: await fn() };
  } catch (err) {
    return { error: asCdcError(err) };
  }
}

function asCdcError(err: unknown): CdcError {
  return err instanceof CdcError
    ? err
    : new CdcError('INTERNAL', 'internal error', { retryable: true, cause: err });
}

/**
 * Judges a batch of reports from one linearizable read of their task and channel records and writes the accepted
 * ones with compare-and-set on both records' versions, so a confirmation is as current as a single report's: a pause
 * or delete that lands between the read and the write fails the write, and the report is judged again on its own.
 * The bound (`apply_until`) of each answer is taken after its write, as for a single report. A report whose task is
 * absent, a second report of the same lease, and every report of a group that lost a race go the single way.
 */
export async function reportBatch(
  deps: ReportBatchDeps,
  reports: readonly CheckpointReport[],
): Promise<ReportOutcome[]> {
  interface Item {
    readonly index: number;
    readonly report: CheckpointReport;
  }
  const outcomes = new Map<number, ReportOutcome>();
  const alone: Item[] = [];
  const first: Item[] = [];
  const leases = new Set<string>();
  reports.forEach((report, index) => {
    const key = `${report.taskId}/${report.channel}`;
    (leases.has(key) ? alone : first).push({ index, report });
    leases.add(key);
  });
  const read = await deps.store.read(
    [...new Set(first.map((f) => f.report.taskId))],
    first.map((f) => f.report),
  );
  const now = deps.clock.now();
  const accepted: (Item & { readonly task: TaskRecord; readonly judged: ReportJudgement })[] = [];
  const writes: ReportWrite[] = [];
  for (const item of first) {
    const r = item.report;
    const task = read.tasks.get(r.taskId);
    if (task === undefined) {
      alone.push(item); // deleted: the single way answers "task deleted" or refuses a stale epoch
      continue;
    }
    try {
      validateWorkerId(r.workerId);
      const judged = await deps.judge(task.value, r);
      const rec = read.channels.get(`${r.taskId}/${r.channel}`);
      const ok = acceptReport(rec?.value ?? emptyChannelRecord(), r, now, deps.timing, judged);
      accepted.push({ ...item, task: task.value, judged: { ...judged, reason: ok.reason } });
      writes.push({
        taskId: r.taskId,
        channel: r.channel,
        record: ok.next,
        version: rec?.version,
        taskVersion: task.version,
      });
    } catch (err) {
      outcomes.set(item.index, { error: asCdcError(err) });
    }
  }
  const written = writes.length === 0 ? [] : await deps.store.write(writes);
  await Promise.all(
    accepted.map(async (a, j) => {
      if (written[j] !== true) {
        alone.push(a);
        return;
      }
      outcomes.set(a.index, await settleReport(() => deps.answer(a.task, a.report, a.judged)));
    }),
  );
  // One at a time: a second report of a lease must not race the first.
  for (const item of alone)
    outcomes.set(item.index, await settleReport(() => deps.single(item.report)));
  return reports.map(
    (_, i) =>
      outcomes.get(i) ?? {
        error: new CdcError('INTERNAL', 'report not answered', { retryable: true }),
      },
  );
}
