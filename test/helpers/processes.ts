/**
 * Starts the real control service and workers as child processes (from their builds: run `pnpm build` first) and
 * stops them by pid. Each process logs to a file under .stack/test-logs/ so a failing test can point at it.
 */
import { execFile, spawn } from 'node:child_process';
import type { ChildProcess, ChildProcessByStdio } from 'node:child_process';
import { createWriteStream, mkdirSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname, isAbsolute, join } from 'node:path';
import type { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { rememberLog } from './log-tails.js';

export const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const LOG_DIR = join(REPO_ROOT, '.stack', 'test-logs');

export interface RunningProcess {
  readonly name: string;
  readonly child: ChildProcess;
  readonly logFile: string;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves when the process is gone. */
  stop(graceMs?: number): Promise<void>;
  /** SIGKILL: a crash. */
  kill(): Promise<void>;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => {
        if (addr && typeof addr === 'object') resolve(addr.port);
        else reject(new Error('no port'));
      });
    });
  });
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) =>
    child.once('exit', () => {
      resolve();
    }),
  );
}

/** How the worker image and `pnpm start` start a worker: with its runtime memory profile (see the script). */
export const WORKER_LAUNCHER = 'services/worker/bin/cdc-worker';

/**
 * Runs a built entry point with the node running this process: a `.js` file with `nodeFlags` before it, or a launcher
 * script (WORKER_LAUNCHER), which execs that node itself (same process id) with the flags from WORKER_NODE_OPTIONS.
 */
export function spawnEntry(
  path: string,
  nodeFlags: readonly string[],
  env: NodeJS.ProcessEnv,
): ChildProcessByStdio<null, Readable, Readable> {
  const stdio: ['ignore', 'pipe', 'pipe'] = ['ignore', 'pipe', 'pipe'];
  if (path.endsWith('.js')) return spawn(process.execPath, [...nodeFlags, path], { env, stdio });
  return spawn('/bin/sh', [path], {
    env: {
      ...env,
      PATH: `${dirname(process.execPath)}:${env['PATH'] ?? ''}`,
      WORKER_NODE_OPTIONS: [env['WORKER_NODE_OPTIONS'] ?? '', ...nodeFlags].join(' ').trim(),
    },
    stdio,
  });
}

/** A built entry point (spawnEntry) with `nodeFlags`, logging to .stack/test-logs; stopped by process id. */
export function startNodeProcess(
  name: string,
  script: string,
  env: Record<string, string>,
  nodeFlags: readonly string[] = [],
): RunningProcess {
  mkdirSync(LOG_DIR, { recursive: true });
  const logFile = join(LOG_DIR, `${name}-${Date.now()}.log`);
  const log = createWriteStream(logFile);
  rememberLog(name, logFile);
  // A relative script is of this checkout's builds; an absolute one may be another checkout's (benchmarks).
  const child = spawnEntry(isAbsolute(script) ? script : join(REPO_ROOT, script), nodeFlags, {
    ...process.env,
    ...env,
  });
  child.stdout.pipe(log);
  child.stderr.pipe(log);
  return {
    name,
    child,
    logFile,
    async stop(graceMs = 15_000) {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await exited(child);
      clearTimeout(timer);
    },
    async kill() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGKILL');
      await exited(child);
    },
  };
}

/** Polls `check` until it returns true or `timeoutMs` passes (then throws with `what`). */
export async function waitUntil(
  what: string,
  check: () => Promise<boolean> | boolean,
  timeoutMs = 60_000,
  everyMs = 250,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      if (await check()) return;
    } catch (err) {
      lastError = err;
    }
    await new Promise((r) => setTimeout(r, everyMs));
  }
  throw new Error(
    `timed out after ${timeoutMs} ms waiting for ${what}${lastError instanceof Error ? `: ${lastError.message}` : ''}`,
  );
}

/** Runs a built script to completion (e.g. cdcctl) and returns its exit code and output; never rejects on a code. */
export function runNodeScript(
  script: string,
  args: readonly string[],
  timeoutMs = 120_000,
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [join(REPO_ROOT, script), ...args],
      { timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 },
      (err, stdout, stderr) => {
        const code = err === null ? 0 : typeof err.code === 'number' ? err.code : -1;
        resolve({ code, stdout, stderr });
      },
    );
  });
}
