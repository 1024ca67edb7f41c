import { tsToUnixMs } from '@cdc/shared';

export type OutputFormat = 'table' | 'json';

/**
 * JSON for scripts: the API messages with their proto field names, every field present (unset messages are null),
 * 64-bit integers as decimal strings, enums as names, bytes as base64. Fields are only ever added.
 */
export function jsonText(value: unknown, compact = false): string {
  return JSON.stringify(
    value,
    (_key, v: unknown) => {
      if (isSerializedBuffer(v)) return Buffer.from(v.data).toString('base64');
      return v;
    },
    compact ? undefined : 2,
  );
}

function isSerializedBuffer(v: unknown): v is { type: 'Buffer'; data: number[] } {
  return (
    typeof v === 'object' &&
    v !== null &&
    (v as { type?: unknown }).type === 'Buffer' &&
    Array.isArray((v as { data?: unknown }).data)
  );
}

/** Left-aligned columns separated by two spaces; cells are single-line. */
export function table(headers: string[], rows: string[][]): string {
  const clean = rows.map((r) => r.map((c) => c.replace(/\s+/g, ' ')));
  const widths = headers.map((h, i) =>
    Math.max(h.length, ...clean.map((r) => (r[i] ?? '').length)),
  );
  const line = (cells: string[]): string =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  return [line(headers), ...clean.map(line)].join('\n');
}

/** "key: value" lines with aligned values. */
export function fields(pairs: [string, string][]): string {
  const width = Math.max(...pairs.map(([k]) => k.length));
  return pairs.map(([k, v]) => `${`${k}:`.padEnd(width + 1)} ${v}`).join('\n');
}

/** 850ms, 12.3s, 5m02s, 3h04m, 2d03h. */
export function duration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(1)}s`;
  const two = (n: number): string => String(Math.floor(n)).padStart(2, '0');
  if (s < 3600) return `${Math.floor(s / 60)}m${two(s % 60)}s`;
  if (s < 86_400) return `${Math.floor(s / 3600)}h${two((s % 3600) / 60)}m`;
  return `${Math.floor(s / 86_400)}d${two((s % 86_400) / 3600)}h`;
}

/** Unix ms → "2025-01-31T12:00:00Z"; 0 → "-". */
export function time(ms: number): string {
  return ms <= 0 ? '-' : new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** Hybrid timestamp (TSO, decimal) → its physical unix ms; 0 for anything else. */
export function tsoMs(tso: string): number {
  return /^\d+$/.test(tso) ? tsToUnixMs(BigInt(tso)) : 0;
}

/** "TASK_STATE_RUNNING" → "RUNNING". */
export function enumLabel(s: string, prefix: string): string {
  return s.startsWith(prefix) ? s.slice(prefix.length) : s;
}

export function orDash(s: string): string {
  return s === '' ? '-' : s;
}

/** A 20-cell bar, e.g. "[########------------]". */
export function bar(fraction: number, cells = 20): string {
  const f = Math.min(1, Math.max(0, fraction));
  const done = Math.round(f * cells);
  return `[${'#'.repeat(done)}${'-'.repeat(cells - done)}]`;
}
