/**
 * The worker's launcher (services/worker/bin/cdc-worker), as the image and `pnpm start` run it: the process it leaves
 * is node itself (signals and process ids reach the worker), with the runtime memory profile in force, and each
 * setting yields to the environment. The worker is pointed at a control address nothing listens on: it starts,
 * serves /metrics and retries the control plane, which is all this needs.
 */
import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import {
  WORKER_LAUNCHER,
  freePort,
  startNodeProcess,
  waitUntil,
  type RunningProcess,
} from '../helpers/processes.js';
import { stackEnv } from '../helpers/stack.js';

const MiB = 1024 * 1024;
let running: RunningProcess | undefined;

afterEach(async () => {
  await running?.stop();
  running = undefined;
});

async function startWorker(
  env: Record<string, string> = {},
): Promise<{ pid: number; metrics: string }> {
  const port = await freePort();
  running = startNodeProcess(`launcher-${port}`, WORKER_LAUNCHER, {
    WORKER_CONTROL_ADDRESS: '127.0.0.1:1',
    CDC_REDIS_URL: stackEnv().redisUrl,
    CDC_QUEUE_PREFIX: `cdc-launcher-${port}`,
    WORKER_METRICS_PORT: String(port),
    ...env,
  });
  let metrics = '';
  await waitUntil(
    'worker metrics',
    async () => {
      metrics = await fetch(`http://127.0.0.1:${port}/metrics`)
        .then((r) => (r.ok ? r.text() : ''))
        .catch(() => '');
      return metrics.includes('nodejs_heap_space_size_total_bytes');
    },
    30_000,
  );
  const pid = running.child.pid;
  if (pid === undefined) throw new Error('the launcher has no process id');
  return { pid, metrics };
}

function environOf(pid: number): Map<string, string> {
  const entries = readFileSync(`/proc/${pid}/environ`, 'utf8')
    .split('\0')
    .filter((e) => e.includes('='))
    .map((e) => [e.slice(0, e.indexOf('=')), e.slice(e.indexOf('=') + 1)] as const);
  return new Map(entries);
}

function newSpaceBytes(metrics: string): number {
  const m = /nodejs_heap_space_size_total_bytes\{space="new"\} (\d+)/.exec(metrics);
  if (m?.[1] === undefined) throw new Error('no new-space figure in /metrics');
  return Number(m[1]);
}

describe('worker launcher', () => {
  it('execs node with the memory profile', async () => {
    // Empty counts as unset in the launcher: the defaults, whatever the environment running the tests holds.
    const { pid, metrics } = await startWorker({
      MALLOC_ARENA_MAX: '',
      MALLOC_MMAP_THRESHOLD_: '',
      WORKER_SEMI_SPACE_MB: '',
      WORKER_NODE_OPTIONS: '',
    });
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    expect(cmdline[0]).toMatch(/node$/);
    expect(cmdline).toContain('--max-semi-space-size=4');
    expect(cmdline.some((a) => a.endsWith('services/worker/bin/../dist/main.js'))).toBe(true);
    const environ = environOf(pid);
    expect(environ.get('MALLOC_ARENA_MAX')).toBe('2');
    expect(environ.get('MALLOC_MMAP_THRESHOLD_')).toBe('65536');
    // Two semi-spaces of at most 4 MiB; V8's default lets them grow to 16 MiB each (32 MiB at an idle worker's start).
    expect(newSpaceBytes(metrics)).toBeLessThanOrEqual(8 * MiB);
  });

  it('yields each setting to the environment', async () => {
    const { pid } = await startWorker({
      MALLOC_ARENA_MAX: '4',
      WORKER_SEMI_SPACE_MB: '16',
      WORKER_NODE_OPTIONS: '--max-old-space-size=512',
    });
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    expect(cmdline).toContain('--max-semi-space-size=16');
    expect(cmdline).toContain('--max-old-space-size=512');
    const environ = environOf(pid);
    expect(environ.get('MALLOC_ARENA_MAX')).toBe('4');
    expect(environ.get('MALLOC_MMAP_THRESHOLD_')).toBe('65536');
  });
});
