/**
 * The figures of issue 17's table from one bench run, each beside its goal, and the ratios `--quick` prints.
 */
import type { CatchUpResult } from './catch-up.js';
import type { FailoverResult } from './failover.js';
import type { LagRunResult } from './lag-run.js';
import type { ManyTasksResult } from './many-tasks.js';
import { percentile, rate } from './report.js';
import type { Row } from './report.js';

export interface IssueFigures {
  readonly rows: number;
  readonly catchUps: readonly CatchUpResult[];
  /** Direct SDK upsert into the target with 4 calls in flight (the best direct ingest). */
  readonly bestDirect?: Row;
  /** The bench process's CPU seconds for the raw read + decompress of the source records, and their rows. */
  readonly rawReadCpuS?: number;
  readonly rawReadRows?: number;
  readonly lags: readonly LagRunResult[];
  readonly many?: ManyTasksResult;
  readonly failover?: FailoverResult;
}

const s = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
const mib = (b: number) => `${(b / 2 ** 20).toFixed(0)} MiB`;

interface Line {
  readonly figure: string;
  readonly measured: string;
  readonly goal: string;
  readonly met: boolean | undefined;
}

function firstRowLine(catchUps: readonly CatchUpResult[]): Line | undefined {
  const api = catchUps.filter((c) => c.mode === 'api');
  if (api.length === 0) return undefined;
  const applied = (c: CatchUpResult) => {
    const at = c.timeline.first['first rows applied'];
    return at === undefined ? '?' : s(at - c.createdAt);
  };
  return {
    figure: `first row after CreateTask, ${api.map((c) => c.workers).join(' / ')} worker(s): counted on the target (acknowledged by it)`,
    measured: api.map((c) => `${s(c.firstRowMs)} (${applied(c)})`).join(' / '),
    goal: '≤ 1 s',
    met: api.every((c) => c.firstRowMs <= 1_000),
  };
}

function cpuPer1000(c: CatchUpResult): number {
  return (c.cpuS * 1000 * 1000) / c.rows;
}

export function issueLines(f: IssueFigures): Line[] {
  const out: Line[] = [];
  const first = firstRowLine(f.catchUps);
  if (first) out.push(first);
  const api1 = f.catchUps.find((c) => c.mode === 'api' && c.workers === 1);
  const rep1 = f.catchUps.find((c) => c.mode === 'replicate' && c.workers === 1);
  if (api1 && f.bestDirect) {
    const ratio = (f.rows * 1000) / api1.ms / rate(f.bestDirect);
    out.push({
      figure: 'CDC catch-up, 1 worker ÷ best direct ingest (upsert, 4 in flight, same run)',
      measured: `${ratio.toFixed(2)} (${((f.rows * 1000) / api1.ms).toFixed(0)} ÷ ${rate(f.bestDirect).toFixed(0)} rows/s)`,
      goal: '≥ 0.9',
      met: ratio >= 0.9,
    });
  }
  const apiLag = f.lags.find((l) => l.mode === 'api');
  if (apiLag) {
    const p99 = percentile(apiLag.res.lagsMs, 99);
    out.push({
      figure: 'end-to-end lag at 50% load, p50 / p99',
      measured: `${percentile(apiLag.res.lagsMs, 50).toFixed(0)} / ${p99.toFixed(0)} ms`,
      goal: 'p99 ≤ 500 ms',
      met: p99 <= 500,
    });
  }
  if (api1) {
    const peak = Math.max(...api1.peakRssPerWorker);
    out.push({
      figure: `peak worker RSS, ${f.rows}-row backlog, 1 worker`,
      measured: mib(peak),
      goal: '≤ 256 MiB at 1M rows',
      met: f.rows >= 1_000_000 ? peak <= 256 * 2 ** 20 : undefined,
    });
    out.push({
      figure: 'CPU of control + worker per 1,000 rows, API mode',
      measured: `${cpuPer1000(api1).toFixed(0)} ms`,
      goal: '≤ 30 ms',
      met: cpuPer1000(api1) <= 30,
    });
  }
  if (rep1) {
    const raw =
      f.rawReadCpuS !== undefined && f.rawReadRows
        ? (f.rawReadCpuS * 1e6) / f.rawReadRows
        : undefined;
    out.push({
      figure:
        'CPU of control + worker per 1,000 rows, replicate mode (raw read + decompress, same run)',
      measured: `${cpuPer1000(rep1).toFixed(0)} ms (${raw === undefined ? '?' : `${raw.toFixed(1)} ms; ×${(cpuPer1000(rep1) / raw).toFixed(1)}`})`,
      goal: '≤ 1.5 × raw read + decompress',
      met: raw === undefined ? undefined : cpuPer1000(rep1) <= 1.5 * raw,
    });
  }
  const repLag = f.lags.find((l) => l.mode === 'replicate');
  if (repLag) {
    const p50 = percentile(repLag.res.lagsMs, 50);
    const p99 = percentile(repLag.res.lagsMs, 99);
    const last = repLag.res.lastBatchLagMs;
    out.push({
      figure:
        'replicate mode: rows visible on the target after the source write (50% load): p50 / p99, last batch',
      measured: `${p50.toFixed(0)} / ${p99.toFixed(0)} ms, ${last === undefined ? 'not seen' : `${last.toFixed(0)} ms`}`,
      goal: '≤ 1 s',
      met: p99 <= 1_000,
    });
  }
  if (f.many) {
    const m = f.many;
    const total = m.tasks * m.channelsPerTask;
    out.push({
      figure: `${m.tasks} idle tasks on one source, ${m.workers} workers`,
      measured: `${m.served} of ${total} channels served${m.allServedS === undefined ? '' : ` (all after ${m.allServedS.toFixed(0)} s)`}; lease jobs ${m.jobs['active'] ?? 0} active, ${m.jobs['waiting'] ?? 0} waiting; ${m.idleCores.toFixed(2)} core busy idle (control ${m.idleControlCores.toFixed(2)})`,
      goal: 'every channel served, ≤ 0.1 core idle',
      met: m.served === total && m.idleCores <= 0.1,
    });
  }
  if (f.failover) {
    out.push({
      figure:
        'worker failover after SIGKILL: channels caught up again / rows written at the kill visible',
      measured: `${f.failover.channelsBackS.toFixed(1)} s / ${f.failover.rowsVisibleS.toFixed(1)} s`,
      goal: '≤ 5 s',
      met: f.failover.rowsVisibleS <= 5 && f.failover.channelsBackS <= 5,
    });
  }
  return out;
}

export function issueTable(f: IssueFigures): string {
  const out = ['| figure (issue 17) | measured | goal | met |', '|---|---|---|---|'];
  for (const l of issueLines(f))
    out.push(
      `| ${l.figure} | ${l.measured} | ${l.goal} | ${l.met === undefined ? '—' : l.met ? 'yes' : 'no'} |`,
    );
  return out.join('\n');
}
