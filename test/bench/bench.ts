/**
 * CDC benchmark (`pnpm bench -- --rows 200000`): loads N rows into the source Milvus and measures, in one run, the
 * direct SDK ceilings into the target, the raw Kafka read (and its CPU), CDC catch-up with 1, 2 … workers in API mode
 * and with 1 worker in replicate mode side by side (time, first row, CPU of the CDC processes, RSS), end-to-end lag at
 * 50% load in both modes, K idle tasks on one source, and failover after SIGKILL; prints issue 17's table of figures
 * and appends everything to BENCHMARKS.md. `--quick` is a short run (CI's log) that prints the same table.
 */
import { mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { composeTs, tsToUnixMs } from '@cdc/shared';
import { milvusClient } from '../helpers/milvus-compare.js';
import { REPO_ROOT } from '../helpers/processes.js';
import { stackEnv } from '../helpers/stack.js';
import type { CdcDeployment, DeploymentOptions, TargetRef } from './cdc-run.js';
import { runCatchUp } from './catch-up.js';
import type { CatchUpResult, CatchUpSetup } from './catch-up.js';
import {
  LAG_COLLECTION,
  ROWS_COLLECTION,
  DB_PREFIX,
  SOURCE_DB,
  count,
  createIndexedCollection,
  dropDatabase,
  writeRows,
} from './data.js';
import { FAILOVER_DB, runFailover } from './failover.js';
import type { FailoverResult } from './failover.js';
import { issueTable } from './issue-table.js';
import { kafkaReadCeiling } from './kafka-read.js';
import { runLag } from './lag-run.js';
import type { LagRunResult } from './lag-run.js';
import { runManyTasks } from './many-tasks.js';
import type { ManyTasksResult } from './many-tasks.js';
import { ownCpuSeconds } from './proc-stats.js';
import { summarize, summaryMarkdown } from './profile-summary.js';
import {
  appendBenchmarks,
  lagAgreement,
  lagTable,
  load,
  machine,
  rate,
  throughputTable,
} from './report.js';
import type { Row } from './report.js';

const OPTIONS = {
  quick: { type: 'boolean', default: false },
  rows: { type: 'string' },
  batch: { type: 'string', default: '1000' },
  dim: { type: 'string', default: '128' },
  shards: { type: 'string', default: '4' },
  workers: { type: 'string' },
  'lag-seconds': { type: 'string' },
  'lag-workers': { type: 'string', default: '2' },
  tasks: { type: 'string' },
  'idle-seconds': { type: 'string' },
  'run-timeout-s': { type: 'string', default: '1200' },
  'skip-load': { type: 'boolean', default: false },
  'keep-source': { type: 'boolean', default: false },
  'skip-ceiling': { type: 'boolean', default: false },
  'skip-many': { type: 'boolean', default: false },
  'skip-failover': { type: 'boolean', default: false },
  profile: { type: 'boolean', default: false },
  'no-record': { type: 'boolean', default: false },
  /** api, replicate (into the replica, ttMsgEnabled=false), or both side by side. */
  mode: { type: 'string', default: 'both' },
  /** Run the control service and workers from another checkout's build (same bench, same machine). */
  'cdc-root': { type: 'string' },
  help: { type: 'boolean', default: false },
} as const;

const USAGE = `pnpm bench [options]   (the local stack must be up: bash deploy/local/up.sh)

  --quick               short run for CI's log: 20,000 rows, 10 idle tasks, 10 s of lag
  --rows N              rows loaded into the source (200000; quick 20000)
  --batch N, --dim N, --shards N   insert batch (1000), vector dimension (128), shards (4)
  --workers 1,2         worker counts to time the catch-up with (1,2; quick 1)
  --mode api|replicate|both        target modes to run (both)
  --lag-seconds N       seconds of end-to-end lag at 50% load per mode (30; quick 10; 0 skips)
  --lag-workers N       workers during the lag run (2)
  --tasks N, --idle-seconds N      idle tasks on one source and how long they are watched (30, 20 s; quick 10, 10 s)
  --skip-load           reuse the rows already in the source (with --keep-source on the run before)
  --keep-source         leave the source rows for the next run
  --skip-ceiling, --skip-many, --skip-failover   leave out the direct-ingest ceilings, idle tasks, failover
  --profile             one more catch-up under --cpu-prof, summarized in the record
  --no-record           print only; do not append to BENCHMARKS.md
  --cdc-root DIR        run the control service and workers from another checkout's build
  --run-timeout-s N     longest a CDC run may take (1200)
BENCH_NODE_ARGS adds node flags to the CDC processes (e.g. --trace-gc).`;

function parseBenchArgs() {
  try {
    return parseArgs({ options: OPTIONS, allowPositionals: true }).values;
  } catch (err) {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n\n${USAGE}\n`);
    process.exit(2);
  }
}
const args = parseBenchArgs();
if (args.help) {
  process.stdout.write(`${USAGE}\n`);
  process.exit(0);
}
const QUICK = args.quick;
const CEILING_DB = `${DB_PREFIX}_ceiling`;
const N = Number(args.rows ?? (QUICK ? '20000' : '200000'));
const BATCH = Number(args.batch);
const shape = { dim: Number(args.dim), shards: Number(args.shards) };
const WORKERS = (args.workers ?? (QUICK ? '1' : '1,2'))
  .split(',')
  .filter((w) => w !== '')
  .map(Number);
const LAG_SECONDS = Number(args['lag-seconds'] ?? (QUICK ? '10' : '30'));
const LAG_WORKERS = Number(args['lag-workers']);
const TASKS = Number(args.tasks ?? (QUICK ? '10' : '30'));
const IDLE_MS = Number(args['idle-seconds'] ?? (QUICK ? '10' : '20')) * 1000;
const RUN_TIMEOUT_MS = Number(args['run-timeout-s']) * 1000;
const MODES = args.mode === 'both' ? ['api', 'replicate'] : [args.mode];
if (!MODES.every((m) => m === 'api' || m === 'replicate'))
  throw new Error(`--mode must be api, replicate or both, not ${args.mode}`);
const command = `pnpm bench ${process.argv.slice(2).join(' ')}`.trim();
const deployment: DeploymentOptions =
  args['cdc-root'] === undefined ? {} : { root: args['cdc-root'] };

const env = stackEnv();
const API_TARGET: TargetRef = { uri: env.targetMilvusAddress, mode: 'TARGET_MODE_API' };
const REPLICA: TargetRef = { uri: env.replicaMilvusAddress, mode: 'TARGET_MODE_REPLICATE' };
const source = milvusClient(env.sourceMilvusAddress);
const target = milvusClient(env.targetMilvusAddress);
const replica = milvusClient(env.replicaMilvusAddress);
const say = (line: string) =>
  process.stdout.write(`[${new Date().toISOString().slice(11, 19)}] ${line}\n`);
let live: CdcDeployment | undefined;
const track = (dep: CdcDeployment | undefined) => {
  live = dep;
};

async function loadSource(): Promise<Row | undefined> {
  if (args['skip-load']) {
    const n = await count(source, SOURCE_DB, ROWS_COLLECTION).catch(() => -1);
    if (n === N) {
      say(`--skip-load: ${SOURCE_DB}.${ROWS_COLLECTION} already holds ${N} rows`);
      return undefined;
    }
    say(`--skip-load: source holds ${n} rows, not ${N}: loading`);
  }
  await dropDatabase(source, SOURCE_DB);
  await createIndexedCollection(source, SOURCE_DB, ROWS_COLLECTION, shape);
  say(`loading ${N} rows into ${SOURCE_DB}.${ROWS_COLLECTION} (batch ${BATCH})`);
  const t = await writeRows(source, 'insert', SOURCE_DB, ROWS_COLLECTION, N, BATCH, shape.dim, 1);
  return { what: 'source load (SDK insert into source)', rows: N, ms: t.ms, bytesPerRow: 0 };
}

async function describeSource(collection: string) {
  const d = await source.describeCollection({ db_name: SOURCE_DB, collection_name: collection });
  if (d.status.error_code !== 'Success') throw new Error(`describe: ${d.status.reason}`);
  return {
    id: BigInt(d.collectionID),
    createdTs: BigInt(d.created_timestamp),
    channels: d.physical_channel_names,
  };
}

/** Direct SDK writes into the target; `--quick` measures only the best one (upsert, 4 in flight). */
async function directCeiling(bytesPerRow: number): Promise<Row[]> {
  const db = CEILING_DB;
  await dropDatabase(target, db);
  const out: Row[] = [];
  const cases = [
    ...(QUICK
      ? []
      : [
          { name: 'direct_insert', op: 'insert' as const, c: 1 },
          { name: 'direct_upsert', op: 'upsert' as const, c: 1 },
        ]),
    { name: 'direct_upsert_c4', op: 'upsert' as const, c: 4 },
  ];
  for (const k of cases) {
    await createIndexedCollection(target, db, k.name, shape);
    say(`direct ${k.op} of ${N} rows into target ${db}.${k.name}, ${k.c} call(s) in flight`);
    const t = await writeRows(target, k.op, db, k.name, N, BATCH, shape.dim, k.c);
    out.push({
      what: `direct SDK ${k.op} into target, ${k.c} in flight`,
      rows: N,
      ms: t.ms,
      bytesPerRow,
      notes: k.c === 1 ? 'SDK call time only' : 'wall time',
    });
    await target.dropCollection({ db_name: db, collection_name: k.name });
  }
  await dropDatabase(target, db);
  return out;
}

function catchUpRow(r: CatchUpResult, bytesPerRow: number): Row {
  const mib = r.peakRssPerWorker.map((b) => (b / 2 ** 20).toFixed(0)).join(', ');
  const applied = r.timeline.first['first rows applied'];
  return {
    what: `CDC catch-up, ${r.workers} worker(s), ${r.mode} mode`,
    rows: r.rows,
    ms: r.ms,
    bytesPerRow,
    notes: `first row counted after ${(r.firstRowMs / 1000).toFixed(1)} s (acknowledged ${applied === undefined ? '?' : `${((applied - r.createdAt) / 1000).toFixed(1)} s`}); CPU ${((r.cpuS * 1e6) / r.rows).toFixed(0)} ms/1000 rows; ${r.timeline.grants} lease grants (${r.timeline.validityExpired} lost to write validity; longest worker event-loop stall ${r.loopStallMs.toFixed(0)} ms); peak RSS/worker ${mib} MiB`,
  };
}

/**
 * The rate the lag runs load half of: the CDC's catch-up rate, but no more than the best direct ingest into a Milvus
 * measured in the same run. The source Milvus has to take the load while the CDC replicates it, on the same machine
 * here; past half of what a Milvus takes, the source queues its own writes (seen: ticks read 4.5 s after the broker
 * took them at 14,800 rows/s against a 7,100 rows/s ceiling), and the figure is the machine's, not the CDC's lag.
 */
function lagBaseRate(cdcRowsPerSec: number, directRowsPerSec: number | undefined): number {
  return directRowsPerSec === undefined || directRowsPerSec <= 0
    ? cdcRowsPerSec
    : Math.min(cdcRowsPerSec, directRowsPerSec);
}

function lagSection(lags: readonly LagRunResult[], base: number): { md: string; agrees: boolean } {
  const parts: string[] = [];
  let agrees = true;
  for (const l of lags) {
    const table = lagTable([
      {
        what: `end-to-end (per batch), ${l.mode} mode`,
        values: l.res.lagsMs,
        notes: `${l.res.batches} batches, ${l.res.rows} rows at ${l.res.achievedRowsPerSec.toFixed(0)} rows/s (50% of ${base.toFixed(0)}, the lesser of the CDC catch-up and the best direct ingest); ${l.res.missing} not seen; last batch ${l.res.lastBatchLagMs?.toFixed(0) ?? '?'} ms; CDC CPU ${l.cpuS.toFixed(1)} s; peak RSS/worker ${l.rss.map((b) => (b / 2 ** 20).toFixed(0)).join(', ')} MiB`,
      },
      {
        what: `end-to-end from the source's stamp, ${l.mode} mode`,
        values: l.res.lagsFromStampMs,
        notes: `the same batches, counted from the insert's timestamp instead of its acknowledgement`,
      },
      {
        what: `reported (GetTaskPositions task lag), ${l.mode} mode`,
        values: l.reported,
        notes: `channels with lag: ${l.busiest || 'none'}`,
      },
    ]);
    const agreement = lagAgreement(l.res.lagsMs, l.reported);
    const fromStamp = `Counted from the source's stamp: ${lagAgreement(l.res.lagsFromStampMs, l.reported).line}`;
    say(`${l.mode}: ${agreement.line} ${fromStamp}`);
    // Guarantee 7 is checked where the reported lag is the task's own: API mode.
    if (l.mode === 'api') agrees &&= agreement.ok;
    say(`${l.mode}: ${l.split}`);
    parts.push(`${table}\n\n${l.mode} mode. ${agreement.line} ${fromStamp} ${l.split}.`);
  }
  return { md: parts.join('\n\n'), agrees };
}

async function main(): Promise<void> {
  const loadBefore = load();
  const startedAt = new Date();
  say(`bench: ${command}; machine ${machine()}; load ${loadBefore}`);
  const rows: Row[] = [];
  const loaded = await loadSource();
  const info = await describeSource(ROWS_COLLECTION);
  const createdMs = tsToUnixMs(info.createdTs);
  const startTs = composeTs(createdMs - 1_000);
  say(`source collection ${info.id}, channels ${info.channels.join(', ')}`);

  say('raw Kafka read of the collection channels with the worker reader');
  const cpu0 = ownCpuSeconds();
  const k = await kafkaReadCeiling(
    env.kafkaBrokers,
    info.channels,
    createdMs - 1_000,
    info.id,
    600_000,
  );
  const rawReadCpuS = ownCpuSeconds() - cpu0;
  const bytesPerRow = k.insertRows > 0 ? k.insertBytes / k.insertRows : 0;
  if (loaded) rows.push({ ...loaded, bytesPerRow });
  const recRow = (what: string, ms: number, notes: string): Row => ({
    what,
    rows: k.insertRows,
    ms,
    bytesPerRow,
    notes,
  });
  rows.push(
    recRow(
      'raw Kafka read (worker reader, zstd)',
      k.ms,
      `${k.records} records, ${(k.bytes / 1e6).toFixed(0)} MB on the ${info.channels.length} channels; CPU ${rawReadCpuS.toFixed(1)} s = ${((rawReadCpuS * 1e6) / Math.max(1, k.insertRows)).toFixed(1)} ms/1000 rows`,
    ),
    recRow('decodeMessage alone', k.decodeMs, 'all records'),
    recRow('insertToRows alone', k.toRowsMs, 'Insert records of the bench collection'),
  );

  let ceiling: Row | undefined;
  let bestDirect: Row | undefined;
  if (!args['skip-ceiling'] && MODES.includes('api')) {
    const direct = await directCeiling(bytesPerRow);
    ceiling = direct[0];
    bestDirect = direct[direct.length - 1];
    rows.push(...direct);
  }

  const setup = (targetRef: TargetRef): CatchUpSetup => ({
    env,
    target: targetRef === REPLICA ? replica : target,
    targetRef,
    sourceDb: SOURCE_DB,
    collection: ROWS_COLLECTION,
    startTs,
    rows: N,
    timeoutMs: RUN_TIMEOUT_MS,
    say,
    onDeployment: track,
  });
  const catchUps: CatchUpResult[] = [];
  for (const mode of MODES) {
    // Replicate mode side by side with one worker (one replicate task per target Milvus).
    for (const w of mode === 'api' ? WORKERS : [1]) {
      say(`CDC run with ${w} worker(s), ${mode} mode`);
      const r = await runCatchUp(
        setup(mode === 'api' ? API_TARGET : REPLICA),
        w,
        `${mode}_w${w}`,
        deployment,
      );
      catchUps.push(r);
      rows.push(catchUpRow(r, bytesPerRow));
    }
  }

  const lags: LagRunResult[] = [];
  const apiBase =
    catchUps.find((c) => c.mode === 'api' && c.workers === LAG_WORKERS) ?? catchUps[0];
  const baseRate = lagBaseRate(
    apiBase === undefined ? 0 : (apiBase.rows * 1000) / apiBase.ms,
    bestDirect === undefined ? undefined : rate(bestDirect),
  );
  if (LAG_SECONDS > 0 && baseRate > 0) {
    for (const mode of MODES) {
      lags.push(
        await runLag({
          env,
          source,
          target: mode === 'api' ? target : replica,
          targetRef: mode === 'api' ? API_TARGET : REPLICA,
          sourceDb: SOURCE_DB,
          collection: LAG_COLLECTION,
          shape,
          workers: mode === 'api' ? LAG_WORKERS : 1,
          rowsPerSec: baseRate / 2,
          seconds: LAG_SECONDS,
          label: `lag_${mode}`,
          say,
          options: deployment,
          onDeployment: track,
        }),
      );
    }
  }
  const lag = lagSection(lags, baseRate);

  let many: ManyTasksResult | undefined;
  if (!args['skip-many'] && TASKS > 0) {
    say(`${TASKS} idle tasks on the source, 2 workers`);
    many = await runManyTasks({
      env,
      sourceDb: SOURCE_DB,
      tasks: TASKS,
      workers: 2,
      settleTimeoutMs: QUICK ? 60_000 : 120_000,
      idleWindowMs: IDLE_MS,
      say,
      options: deployment,
      onDeployment: track,
    });
  }

  let failover: FailoverResult | undefined;
  if (!args['skip-failover']) {
    const collection = 'failover';
    await source
      .dropCollection({ db_name: SOURCE_DB, collection_name: collection })
      .catch(() => undefined);
    await createIndexedCollection(source, SOURCE_DB, collection, shape);
    const f = await describeSource(collection);
    try {
      failover = await runFailover({
        env,
        source,
        target,
        targetRef: API_TARGET,
        sourceDb: SOURCE_DB,
        collection,
        collectionChannels: f.channels,
        startTs: f.createdTs - composeTs(1_000),
        dim: shape.dim,
        firstId: 0,
        timeoutMs: 120_000,
        say,
        options: deployment,
        onDeployment: track,
      });
    } finally {
      await dropDatabase(target, FAILOVER_DB).catch(() => undefined);
      await source
        .dropCollection({ db_name: SOURCE_DB, collection_name: collection })
        .catch(() => undefined);
    }
  }

  let profileMd = '';
  if (args.profile) {
    const dir = join(REPO_ROOT, '.stack', 'bench-prof', String(Date.now()));
    mkdirSync(dir, { recursive: true });
    // The first mode asked for (--mode replicate profiles replicate mode).
    const profiled = MODES[0] === 'replicate' ? REPLICA : API_TARGET;
    say(`profiled CDC run (1 worker, ${MODES[0]} mode, --cpu-prof into ${dir})`);
    const r = await runCatchUp(setup(profiled), 1, 'prof', {
      ...deployment,
      nodeArgs: ['--cpu-prof', `--cpu-prof-dir=${dir}`],
    });
    const files = readdirSync(dir)
      .filter((f) => f.endsWith('.cpuprofile'))
      .map((f) => join(dir, f));
    const row = catchUpRow(r, bytesPerRow);
    profileMd = `Profiled catch-up (worker): ${row.notes ?? ''}, ${rate(row).toFixed(0)} rows/s under the profiler.\n\n${summaryMarkdown(summarize(files))}`;
  }

  const figures = issueTable({
    rows: N,
    catchUps,
    ...(bestDirect ? { bestDirect } : {}),
    rawReadCpuS,
    rawReadRows: k.insertRows,
    lags,
    ...(many ? { many } : {}),
    ...(failover ? { failover } : {}),
  });
  const entry = [
    `## ${startedAt.toISOString()} — ${N} rows × ${shape.dim}-dim, batch ${BATCH}, ${shape.shards} shards`,
    '',
    `Command: \`${command}\`${args['cdc-root'] ? ` (services from the build in ${args['cdc-root']})` : ''}`,
    '',
    `Machine: ${machine()}. Load average (1/5/15 min) before: ${loadBefore}; after: ${load()}.`,
    '',
    figures,
    '',
    throughputTable(rows, ceiling),
    '',
    lag.md,
    '',
    profileMd,
  ].join('\n');
  process.stdout.write(`\n${entry}\n`);
  if (!args['no-record'] && !QUICK) appendBenchmarks(join(REPO_ROOT, 'BENCHMARKS.md'), entry);
  // --quick gates nothing (CI's log only): a disagreement is printed above, not an exit code.
  if (!lag.agrees && !QUICK)
    throw new Error('reported and end-to-end lag disagree (see the lag table)');
}

async function cleanup(): Promise<void> {
  await live?.stop().catch(() => undefined);
  for (const db of [CEILING_DB, FAILOVER_DB]) await dropDatabase(target, db).catch(() => undefined);
  if (!args['keep-source']) await dropDatabase(source, SOURCE_DB).catch(() => undefined);
  for (const c of [source, target, replica]) await c.closeConnection().catch(() => undefined);
}

process.on('SIGINT', () => {
  void cleanup().finally(() => process.exit(130));
});

let failed = false;
try {
  await main();
} catch (err) {
  failed = true;
  process.stderr.write(
    `bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
  );
  if (live) process.stderr.write(`process logs: ${live.logFiles.join(' ')}\n`);
} finally {
  await cleanup();
}
process.exit(failed ? 1 : 0);
