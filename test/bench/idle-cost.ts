/**
 * What idle tasks cost, split (`pnpm bench:idle [--tasks 0,1,10] [--window-s 15] [--control-env K=V,...]`): for each
 * count, the control service and two workers start on the local stack, that many idle tasks are created on the source
 * (the many-tasks scenario of `pnpm bench`), and the CDC processes' CPU is read from /proc over the window once every
 * channel is served. 0 tasks is the fixed part. `--control-env` overrides the control service's settings (e.g.
 * `CONTROL_IDLE_REPORT_INTERVAL_MS=0` for the per-second reports of idle leases) to compare builds of behaviour in
 * the same run. Needs the whole local stack (bash deploy/local/up.sh).
 */
import { parseArgs } from 'node:util';
import { stackEnv } from '../helpers/stack.js';
import { CdcDeployment, envListArg, type DeploymentOptions } from './cdc-run.js';
import { workersReady } from './catch-up.js';
import { SOURCE_DB } from './data.js';
import { runManyTasks } from './many-tasks.js';

const { values: args } = parseArgs({
  options: {
    tasks: { type: 'string', default: '0,1,10' },
    'window-s': { type: 'string', default: '15' },
    'control-env': { type: 'string', default: '' },
  },
});
const counts = args.tasks.split(',').map(Number);
const windowMs = Number(args['window-s']) * 1_000;
const controlEnv = envListArg(args['control-env']);
const options: DeploymentOptions = { controlEnv };
const env = stackEnv();
const say = (line: string): void => {
  process.stdout.write(`[${new Date().toISOString().slice(11, 19)}] ${line}\n`);
};
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The fixed part: the CDC with two workers and no task. */
async function noTasks(): Promise<string> {
  const dep = new CdcDeployment(env, 'idle', options);
  try {
    await dep.start(2);
    await workersReady(dep);
    await sleep(5_000);
    const total0 = dep.cpuSecondsTotal();
    const control0 = dep.cpuSecondsControl();
    const workers0 = dep.cpuSecondsPerWorker();
    await sleep(windowMs);
    const s = windowMs / 1_000;
    const workers = dep
      .cpuSecondsPerWorker()
      .map((w, i) => ((w - (workers0[i] ?? 0)) / s).toFixed(3));
    return `${((dep.cpuSecondsTotal() - total0) / s).toFixed(3)} core (control ${((dep.cpuSecondsControl() - control0) / s).toFixed(3)}, workers ${workers.join(', ')})`;
  } finally {
    await dep.stop();
  }
}

say(
  `idle cost: tasks ${counts.join(', ')}; window ${String(windowMs / 1_000)} s; control env ${JSON.stringify(controlEnv)}`,
);
for (const tasks of counts) {
  if (tasks === 0) {
    say(`0 tasks: ${await noTasks()}`);
    continue;
  }
  const r = await runManyTasks({
    env,
    sourceDb: SOURCE_DB,
    tasks,
    workers: 2,
    settleTimeoutMs: 120_000,
    idleWindowMs: windowMs,
    say: () => undefined,
    options,
  });
  say(
    `${String(tasks)} task(s): ${r.idleCores.toFixed(3)} core (control ${r.idleControlCores.toFixed(3)}); ${String(r.served)} of ${String(r.tasks * r.channelsPerTask)} channels served${r.allServedS === undefined ? '' : ` after ${r.allServedS.toFixed(1)} s`}`,
  );
}
process.exit(0);
