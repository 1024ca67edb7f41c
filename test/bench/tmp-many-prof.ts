import { mkdirSync } from 'node:fs';
import { stackEnv } from '../helpers/stack.js';
import { runManyTasks } from './many-tasks.js';
const dir = process.argv[2] ?? '/tmp/many-prof';
mkdirSync(dir, { recursive: true });
const r = await runManyTasks({
  env: stackEnv(),
  sourceDb: 'bench_src',
  tasks: Number(process.argv[3] ?? 10),
  workers: 2,
  settleTimeoutMs: 60_000,
  idleWindowMs: 15_000,
  say: (l) => console.log(l),
  options: {
    nodeArgs: ['--cpu-prof', `--cpu-prof-dir=${dir}`],
    controlNodeArgs: ['--cpu-prof', `--cpu-prof-dir=${dir}/control`],
  },
});
console.log(JSON.stringify(r));
process.exit(0);
