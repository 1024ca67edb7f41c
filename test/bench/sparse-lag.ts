/**
 * Lag of changes that come after a quiet spell (`pnpm bench:sparse [--writes 10] [--gap-s 3] [--worker-env K=V,...]`):
 * one row every `gap` seconds into a fresh source collection while a task replicates it (2 workers), each row timed
 * from the source's acknowledgement to a Strong query seeing it on the target (lag.ts). The steady-load lag run of
 * `pnpm bench` never lets a channel go quiet; this one does, so it shows what idle-time settings
 * (WORKER_IDLE_FETCH_WAIT_MS) cost a change that wakes an idle worker. Needs the whole local stack.
 */
import { parseArgs } from 'node:util';
import { milvusClient } from '../helpers/milvus-compare.js';
import { stackEnv } from '../helpers/stack.js';
import { percentile } from './report.js';
import { envListArg } from './cdc-run.js';
import { runLag } from './lag-run.js';
import { SOURCE_DB } from './data.js';

const { values: args } = parseArgs({
  options: {
    writes: { type: 'string', default: '10' },
    'gap-s': { type: 'string', default: '3' },
    'worker-env': { type: 'string', default: '' },
  },
});
const writes = Number(args.writes);
const gapS = Number(args['gap-s']);
const workerEnv = envListArg(args['worker-env']);
const env = stackEnv();
const say = (line: string): void => {
  process.stdout.write(`[${new Date().toISOString().slice(11, 19)}] ${line}\n`);
};

const r = await runLag({
  env,
  source: milvusClient(env.sourceMilvusAddress),
  target: milvusClient(env.targetMilvusAddress),
  targetRef: { uri: env.targetMilvusAddress, mode: 'TARGET_MODE_API' },
  sourceDb: SOURCE_DB,
  collection: 'sparse',
  shape: { dim: 128, shards: 4 },
  workers: 2,
  rowsPerSec: 1 / gapS,
  seconds: writes * gapS,
  label: 'sparse',
  say,
  options: { workerEnv },
});
const lags = r.res.lagsMs;
say(
  `sparse writes: ${lags.length} of ${r.res.batches} seen, one row every ${gapS} s; lag p50 ${percentile(lags, 50).toFixed(0)} / max ${Math.max(...lags).toFixed(0)} ms (${lags.map((l) => l.toFixed(0)).join(', ')}); worker env ${JSON.stringify(workerEnv)}`,
);
process.exit(0);
