/**
 * Summarizes V8 `.cpuprofile` files (node --cpu-prof): self time per function and per package, idle excluded.
 * Usage: tsx test/bench/profile-summary.ts <file.cpuprofile>...
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

export interface ProfileSummary {
  readonly busyMs: number;
  readonly idleMs: number;
  readonly functions: { name: string; ms: number; share: number }[];
  readonly packages: { name: string; ms: number; share: number }[];
}

/** Package (or area) a script URL belongs to. */
function area(url: string): string {
  if (url === '') return '(native/vm)';
  const pnpm = /node_modules\/\.pnpm\/[^/]+\/node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(url);
  if (pnpm?.[1] !== undefined) return pnpm[1];
  const nm = /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(url);
  if (nm?.[1] !== undefined) return nm[1];
  const ws = /\/(packages\/shared|services\/worker|services\/control)\/dist\/(.*)$/.exec(url);
  if (ws?.[1] !== undefined) return `${ws[1]}/${(ws[2] ?? '').split('/')[0] ?? ''}`;
  if (url.startsWith('node:')) return 'node core';
  return url;
}

function shortUrl(url: string): string {
  return url
    .replace(/^file:\/\//, '')
    .replace(/.*node_modules\/\.pnpm\/[^/]+\/node_modules\//, '')
    .replace(/.*\/(packages|services)\//, '$1/');
}

export function summarize(files: readonly string[], top = 25): ProfileSummary {
  const fn = new Map<string, number>();
  const pkg = new Map<string, number>();
  let idleUs = 0;
  let busyUs = 0;
  for (const file of files) {
    const p = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
    const byId = new Map(p.nodes.map((n) => [n.id, n]));
    p.samples.forEach((id, i) => {
      const dt = p.timeDeltas[i] ?? 0;
      const node = byId.get(id);
      if (!node) return;
      const { functionName, url, lineNumber } = node.callFrame;
      if (functionName === '(idle)') {
        idleUs += dt;
        return;
      }
      busyUs += dt;
      const key = `${functionName || '(anonymous)'} ${shortUrl(url)}${url ? `:${lineNumber + 1}` : ''}`;
      fn.set(key, (fn.get(key) ?? 0) + dt);
      const a = functionName.startsWith('(') ? functionName : area(url);
      pkg.set(a, (pkg.get(a) ?? 0) + dt);
    });
  }
  const rank = (m: Map<string, number>, n: number) =>
    [...m.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, n)
      .map(([name, us]) => ({ name, ms: us / 1000, share: busyUs > 0 ? us / busyUs : 0 }));
  return {
    busyMs: busyUs / 1000,
    idleMs: idleUs / 1000,
    functions: rank(fn, top),
    packages: rank(pkg, 15),
  };
}

export function summaryMarkdown(s: ProfileSummary): string {
  const pct = (x: number) => `${(x * 100).toFixed(1)}%`;
  const lines = [
    `Busy ${(s.busyMs / 1000).toFixed(1)} s, idle ${(s.idleMs / 1000).toFixed(1)} s (shares below are of busy time).`,
    '',
    '| self time by package/area | ms | share |',
    '|---|---:|---:|',
    ...s.packages.map((p) => `| ${p.name} | ${p.ms.toFixed(0)} | ${pct(p.share)} |`),
    '',
    '| top self-time functions | ms | share |',
    '|---|---:|---:|',
    ...s.functions.map((f) => `| \`${f.name}\` | ${f.ms.toFixed(0)} | ${pct(f.share)} |`),
  ];
  return lines.join('\n');
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  process.stdout.write(`${summaryMarkdown(summarize(process.argv.slice(2)))}\n`);
}
