/** Bench report helpers: percentiles, machine facts, the markdown tables and the BENCHMARKS.md entry. */
import { execFileSync } from 'node:child_process';
import { appendFileSync, existsSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';

export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank] ?? NaN;
}

export function machine(): string {
  let nproc = String(cpus().length);
  try {
    nproc = execFileSync('nproc', { encoding: 'utf8' }).trim();
  } catch {
    // cpus() it is
  }
  const model = cpus()[0]?.model.trim() ?? '?';
  return `${nproc} vCPU (${model}), ${(totalmem() / 2 ** 30).toFixed(1)} GiB RAM, node ${process.version}, ${process.platform}`;
}

export function load(): string {
  return loadavg()
    .map((l) => l.toFixed(2))
    .join(' / ');
}

export interface Row {
  readonly what: string;
  readonly rows: number;
  readonly ms: number;
  readonly bytesPerRow: number;
  readonly notes?: string;
}

export const rate = (r: Row) => (r.ms > 0 ? (r.rows * 1000) / r.ms : 0);

export function throughputTable(rows: readonly Row[], ceiling: Row | undefined): string {
  const out = [
    '| measurement | rows | time s | rows/s | MB/s | ÷ direct insert | notes |',
    '|---|---:|---:|---:|---:|---:|---|',
  ];
  for (const r of rows) {
    const rps = rate(r);
    const ratio = ceiling && rate(ceiling) > 0 ? (rps / rate(ceiling)).toFixed(2) : '';
    out.push(
      `| ${r.what} | ${r.rows} | ${(r.ms / 1000).toFixed(1)} | ${rps.toFixed(0)} | ${((rps * r.bytesPerRow) / 1e6).toFixed(2)} | ${ratio} | ${r.notes ?? ''} |`,
    );
  }
  return out.join('\n');
}

export function lagTable(
  entries: readonly { what: string; values: readonly number[]; notes?: string }[],
): string {
  const out = [
    '| lag (ms) | samples | p50 | p95 | p99 | max | notes |',
    '|---|---:|---:|---:|---:|---:|---|',
  ];
  for (const e of entries) {
    const f = (p: number) => percentile(e.values, p).toFixed(0);
    out.push(
      `| ${e.what} | ${e.values.length} | ${f(50)} | ${f(95)} | ${f(99)} | ${f(100)} | ${e.notes ?? ''} |`,
    );
  }
  return out.join('\n');
}

/**
 * Guarantee 7 as a check: the lag GetTaskPositions reports agrees with the lag measured end to end, within
 * max(250 ms, 20%) at p50 and p95. Returns the verdict line and whether it holds.
 */
export function lagAgreement(
  endToEnd: readonly number[],
  reported: readonly number[],
): { line: string; ok: boolean } {
  const parts: string[] = [];
  let ok = endToEnd.length > 0 && reported.length > 0;
  for (const p of [50, 95]) {
    const e = percentile(endToEnd, p);
    const r = percentile(reported, p);
    const allowed = Math.max(250, 0.2 * e);
    const fine = Math.abs(r - e) <= allowed;
    ok &&= fine;
    parts.push(
      `p${String(p)} reported ${r.toFixed(0)} vs end-to-end ${e.toFixed(0)} ms (±${allowed.toFixed(0)}: ${fine ? 'ok' : 'DISAGREE'})`,
    );
  }
  return { line: `Reported vs end-to-end lag: ${parts.join('; ')}.`, ok };
}

const HEADER = `# Benchmarks

Produced by \`pnpm bench\` (\`test/bench/bench.ts\`) against the local stack (\`deploy/local\`): source Milvus 2.3.5 on
Kafka, target Milvus 2.3.5, every process on 127.0.0.1. Each entry below is appended by the script itself, with the
exact command. How to read it:

- **rows/s, MB/s**: rows reaching the target (\`count(*)\`) per second, from task creation (leases, catch-up from the
  start timestamp) until the last row is counted. MB = decompressed Kafka record bytes of the collection's Insert
  messages (the payload the CDC moves), per row, times rows.
- **÷ direct insert**: the same rows, same batch size, inserted straight into a fresh target collection with the Node
  SDK (one call in flight), measured in the same run: the physical limit of API mode on this machine.
- **lag**: a steady load at 50% of the measured 2-worker CDC throughput (at most 50% of the best direct ingest: the
  source Milvus takes the load on the same machine), small batches; *end-to-end* = issue time of
  the first Strong-consistency query on the target that sees the batch's last id − the source's insert acknowledgement;
  *reported* = \`GetTaskPositions\` task lag (largest channel lag) sampled every 500 ms.
`;

export function appendBenchmarks(path: string, entry: string): void {
  if (!existsSync(path)) writeFileSync(path, HEADER);
  appendFileSync(path, `\n${entry.trim()}\n`);
}
