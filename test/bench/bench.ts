/**
 * CDC benchmark (`pnpm bench -- --rows 1000000`): loads N rows into the source Milvus, measures in one run the direct
 * SDK insert/upsert ceiling into the target, the raw Kafka read and decode rates, CDC catch-up throughput with 1, 2
 * and 4 workers, and end-to-end lag at 50% load; prints markdown tables and appends them to BENCHMARKS.md.
 */
import { mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { composeTs, tsToUnixMs } from '@cdc/shared';
import { milvusClient } from '../helpers/milvus-compare.js';
import { REPO_ROOT } from '../helpers/processes.js';
import { stackEnv } from '../helpers/stack.js';
import { CdcDeployment } from './cdc-run.js';
import {
  LAG_COLLECTION,
  ROWS_COLLECTION,
  SOURCE_DB,
  count,
  createIndexedCollection,
  dropDatabase,
  writeRows,
} from './data.js';
import { kafkaReadCeiling } from './kafka-read.js';
import { runLagLoad } from './lag.js';
import { summarize, summaryMarkdown } from './profile-summary.js';
import {
  appendBenchmarks,
  lagAgreement,
  lagTable,
  load,
  percentile,
  machine,
  rate,
  throughputTable,
} from './report.js';
import type { Row } from './report.js';

const { values: args } = parseArgs({
  options: {
    rows: { type: 'string', default: '1000000' },
    batch: { type: 'string', default: '1000' },
    dim: { type: 'string', default: '128' },
    shards: { type: 'string', default: '4' },
    workers: { type: 'string', default: '1,2,4' },
    'lag-seconds': { type: 'string', default: '30' },
    'lag-workers': { type: 'string', default: '2' },
    'run-timeout-s': { type: 'string', default: '1200' },
    'skip-load': { type: 'boolean', default: false },
    'keep-source': { type: 'boolean', default: false },
    'skip-ceiling': { type: 'boolean', default: false },
    profile: { type: 'boolean', default: false },
    'no-record': { type: 'boolean', default: false },
    /** api (SDK writes into the target) or replicate (ReplicateMessage into the replica, ttMsgEnabled=false). */
    mode: { type: 'string', default: 'api' },
  },
  allowPositionals: true,
});
const N = Number(args.rows);
const BATCH = Number(args.batch);
const shape = { dim: Number(args.dim), shards: Number(args.shards) };
const WORKERS = args.workers
  .split(',')
  .filter((w) => w !== '')
  .map(Number);
const LAG_SECONDS = Number(args['lag-seconds']);
const LAG_WORKERS = Number(args['lag-workers']);
const RUN_TIMEOUT_MS = Number(args['run-timeout-s']) * 1000;
const command = `pnpm bench ${process.argv.slice(2).join(' ')}`.trim();

const env = stackEnv();
const REPLICATE = args.mode === 'replicate';
if (!REPLICATE && args.mode !== 'api')
  throw new Error(`--mode must be api or replicate, not ${args.mode}`);
const TARGET = REPLICATE
  ? { uri: env.replicaMilvusAddress, mode: 'TARGET_MODE_REPLICATE' }
  : { uri: env.targetMilvusAddress, mode: 'TARGET_MODE_API' };
const source = milvusClient(env.sourceMilvusAddress);
const target = milvusClient(TARGET.uri);
const say = (line: string) =>
  process.stdout.write(`[${new Date().toISOString().slice(11, 19)}] ${line}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const targetDbs = new Set<string>();
let live: CdcDeployment | undefined;

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
  let lastLog = Date.now();
  const t = await writeRows(
    source,
    'insert',
    SOURCE_DB,
    ROWS_COLLECTION,
    N,
    BATCH,
    shape.dim,
    1,
    (d) => {
      if (Date.now() - lastLog > 15_000) {
        lastLog = Date.now();
        say(`  source load: ${d}/${N}`);
      }
    },
  );
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

async function directCeiling(bytesPerRow: number): Promise<Row[]> {
  const db = 'bench_ceiling';
  targetDbs.add(db);
  await dropDatabase(target, db);
  const out: Row[] = [];
  const cases = [
    { name: 'direct_insert', op: 'insert' as const, c: 1 },
    { name: 'direct_upsert', op: 'upsert' as const, c: 1 },
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

async function waitForCount(
  db: string,
  collection: string,
  n: number,
  timeoutMs: number,
  dep: CdcDeployment,
  onFirst?: () => void,
): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  let lastLog = Date.now();
  let seen = -1;
  while (Date.now() < deadline) {
    dep.checkWorkers();
    seen = await count(target, db, collection).catch(() => -1);
    if (seen > 0) onFirst?.();
    if (seen >= n) return seen;
    if (Date.now() - lastLog > 15_000) {
      lastLog = Date.now();
      say(`  ${db}.${collection}: ${seen}/${n}`);
    }
    await sleep(seen > 0 ? 500 : 1_000);
  }
  throw new Error(`${db}.${collection} reached ${seen} of ${n} rows in ${timeoutMs} ms`);
}

async function cdcRun(
  workers: number,
  startTs: bigint,
  bytesPerRow: number,
  label: string,
  nodeArgs: readonly string[] = [],
): Promise<{ row: Row; rss: number[] }> {
  const db = `bench_${label}`;
  targetDbs.add(db);
  await dropDatabase(target, db);
  const dep = new CdcDeployment(env, label);
  live = dep;
  try {
    await dep.start(workers, {}, nodeArgs);
    const started = performance.now();
    await dep.createTask(SOURCE_DB, ROWS_COLLECTION, db, startTs, TARGET);
    let firstAt = 0;
    await waitForCount(db, ROWS_COLLECTION, N, RUN_TIMEOUT_MS, dep, () => {
      firstAt ||= performance.now();
    });
    const ms = performance.now() - started;
    const rss = dep.peakRssPerWorker();
    const channels = await dep.positions();
    const applied = channels.reduce((s, c) => s + Number(c.applied_rows ?? 0), 0);
    const used = channels.filter((c) => Number(c.applied_rows ?? 0) > 0).length;
    say(
      `CDC ${label}: ${N} rows in ${(ms / 1000).toFixed(1)} s; ${applied} rows applied on ${used} channels; peak RSS ${rss.map((b) => (b / 2 ** 20).toFixed(0)).join(', ')} MiB`,
    );
    const row: Row = {
      what: `CDC catch-up, ${workers} worker(s)`,
      rows: N,
      ms,
      bytesPerRow,
      notes: `first row after ${((firstAt - started) / 1000).toFixed(1)} s; peak RSS/worker ${rss.map((b) => (b / 2 ** 20).toFixed(0)).join(', ')} MiB`,
    };
    return { row, rss };
  } finally {
    await dep.stop();
    live = undefined;
    await dropDatabase(target, db).catch(() => undefined);
  }
}

async function lagRun(rowsPerSec: number) {
  const db = 'bench_lag';
  targetDbs.add(db);
  await dropDatabase(target, db);
  await source
    .dropCollection({ db_name: SOURCE_DB, collection_name: LAG_COLLECTION })
    .catch(() => undefined);
  await createIndexedCollection(source, SOURCE_DB, LAG_COLLECTION, shape);
  const info = await describeSource(LAG_COLLECTION);
  const dep = new CdcDeployment(env, 'lag');
  live = dep;
  const reported: number[] = [];
  /** Channel → its lag samples, to tell which channels the task lag comes from. */
  const perChannel = new Map<string, number[]>();
  let sampling = true;
  try {
    await dep.start(LAG_WORKERS);
    await dep.createTask(SOURCE_DB, LAG_COLLECTION, db, info.createdTs - composeTs(1_000), TARGET);
    await waitForCount(db, LAG_COLLECTION, 0, 180_000, dep);
    await sleep(3_000); // leases settle
    const sampler = (async () => {
      while (sampling) {
        const channels = await dep.positions().catch(() => undefined);
        if (channels !== undefined) {
          reported.push(Math.max(0, ...channels.map((c) => Number(c.lag_ms ?? 0))));
          for (const c of channels)
            perChannel.set(c.channel, [
              ...(perChannel.get(c.channel) ?? []),
              Number(c.lag_ms ?? 0),
            ]);
        }
        await sleep(500);
      }
    })();
    say(
      `lag: writing ${rowsPerSec.toFixed(0)} rows/s for ${LAG_SECONDS} s, ${LAG_WORKERS} workers`,
    );
    const res = await runLagLoad({
      source,
      target,
      sourceDb: SOURCE_DB,
      targetDb: db,
      collection: LAG_COLLECTION,
      rowsPerSec,
      seconds: LAG_SECONDS,
      dim: shape.dim,
      firstId: 0,
    });
    sampling = false;
    await sampler;
    const busiest = [...perChannel.entries()]
      .map(([channel, lags]) => ({ channel, p50: percentile(lags, 50) }))
      .filter((c) => c.p50 > 0)
      .sort((a, b) => b.p50 - a.p50)
      .slice(0, 6)
      .map((c) => `${c.channel.replace(/^.*-/, '')} p50 ${c.p50.toFixed(0)}`)
      .join(', ');
    return { res, reported, busiest, rss: dep.peakRssPerWorker() };
  } finally {
    sampling = false;
    await dep.stop();
    live = undefined;
    await dropDatabase(target, db).catch(() => undefined);
    await source
      .dropCollection({ db_name: SOURCE_DB, collection_name: LAG_COLLECTION })
      .catch(() => undefined);
  }
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
  const k = await kafkaReadCeiling(
    env.kafkaBrokers,
    info.channels,
    createdMs - 1_000,
    info.id,
    600_000,
  );
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
      `${k.records} records, ${(k.bytes / 1e6).toFixed(0)} MB on the ${info.channels.length} channels; ${((k.records * 1000) / k.ms).toFixed(0)} records/s, ${(k.bytes / 1e3 / k.ms).toFixed(1)} MB/s all records`,
    ),
    recRow('decodeMessage alone', k.decodeMs, 'all records'),
    recRow('insertToRows alone', k.toRowsMs, 'Insert records of the bench collection'),
  );

  let ceiling: Row | undefined;
  // A replicate-mode target refuses SDK writes: there is no direct ceiling to measure on it.
  if (REPLICATE) say('--mode replicate: no direct SDK ceiling (the replica refuses SDK writes)');
  if (!args['skip-ceiling'] && !REPLICATE) {
    const direct = await directCeiling(bytesPerRow);
    ceiling = direct[0];
    rows.push(...direct);
  }

  const cdc = new Map<number, Row>();
  const rss = new Map<number, number[]>();
  for (const w of WORKERS) {
    say(`CDC run with ${w} worker(s)`);
    const r = await cdcRun(w, startTs, bytesPerRow, `w${w}`);
    cdc.set(w, r.row);
    rss.set(w, r.rss);
    rows.push(r.row);
  }

  let lagMd = '';
  let lagAgrees = true;
  const lagBase = cdc.get(LAG_WORKERS) ?? [...cdc.values()][0];
  if (LAG_SECONDS > 0 && lagBase) {
    const { res, reported, busiest, rss: lagRss } = await lagRun(rate(lagBase) / 2);
    lagMd = lagTable([
      {
        what: `end-to-end (per batch)`,
        values: res.lagsMs,
        notes: `${res.batches} batches, ${res.rows} rows at ${res.achievedRowsPerSec.toFixed(0)} rows/s (50% of ${rate(lagBase).toFixed(0)}); ${res.missing} not seen; peak RSS/worker ${lagRss.map((b) => (b / 2 ** 20).toFixed(0)).join(', ')} MiB`,
      },
      {
        what: 'reported (GetTaskPositions task lag)',
        values: reported,
        notes: `channels with lag: ${busiest || 'none'}`,
      },
    ]);
    const agreement = lagAgreement(res.lagsMs, reported);
    lagAgrees = agreement.ok;
    lagMd = `${lagMd}\n\n${agreement.line}`;
    say(agreement.line);
  }

  let profileMd = '';
  if (args.profile) {
    const dir = join(REPO_ROOT, '.stack', 'bench-prof', String(Date.now()));
    mkdirSync(dir, { recursive: true });
    say(`profiled CDC run (1 worker, --cpu-prof into ${dir})`);
    const r = await cdcRun(1, startTs, bytesPerRow, 'prof', [
      '--cpu-prof',
      `--cpu-prof-dir=${dir}`,
    ]);
    const files = readdirSync(dir)
      .filter((f) => f.endsWith('.cpuprofile'))
      .map((f) => join(dir, f));
    profileMd = `Profiled catch-up: ${r.row.notes ?? ''}, ${rate(r.row).toFixed(0)} rows/s under the profiler.\n\n${summaryMarkdown(summarize(files))}`;
  }

  const loadAfter = load();
  const table = throughputTable(rows, ceiling);
  const entry = [
    `## ${startedAt.toISOString()} — ${N} rows × ${shape.dim}-dim, batch ${BATCH}, ${shape.shards} shards`,
    '',
    `Command: \`${command}\``,
    '',
    `Machine: ${machine()}. Load average (1/5/15 min) before: ${loadBefore}; after: ${loadAfter}.`,
    '',
    table,
    '',
    lagMd,
    '',
    ...[...cdc.entries()].map(
      ([w, r]) =>
        `- CDC ${w} worker(s): ${ceiling ? `${(rate(r) / rate(ceiling)).toFixed(2)} of the direct insert ceiling` : 'no direct ceiling measured in this run'}; peak RSS per worker ${(rss.get(w) ?? []).map((b) => `${(b / 2 ** 20).toFixed(0)} MiB`).join(', ')}.`,
    ),
    '',
    profileMd,
  ].join('\n');
  process.stdout.write(`\n${entry}\n`);
  if (!args['no-record']) appendBenchmarks(join(REPO_ROOT, 'BENCHMARKS.md'), entry);
  if (!lagAgrees) throw new Error('reported and end-to-end lag disagree (see the lag table)');
}

async function cleanup(): Promise<void> {
  await live?.stop().catch(() => undefined);
  for (const db of targetDbs) await dropDatabase(target, db).catch(() => undefined);
  if (!args['keep-source']) await dropDatabase(source, SOURCE_DB).catch(() => undefined);
  await source.closeConnection().catch(() => undefined);
  await target.closeConnection().catch(() => undefined);
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
