/**
 * Kafka against Pulsar (`pnpm bench:mq -- --rows 200000`): loads the same N rows into the Kafka-backed source Milvus
 * and into the Pulsar-backed one, then, in one run, lets one worker catch up from each into the target and reports
 * rows/s and the worker's CPU time per row (user + system, from /proc) side by side; appends them to BENCHMARKS.md.
 */
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { composeTs, tsToUnixMs } from '@cdc/shared';
import type { MilvusClient } from '@zilliz/milvus2-sdk-node';
import { milvusClient } from '../helpers/milvus-compare.js';
import { REPO_ROOT } from '../helpers/processes.js';
import { kafkaSourceSpec, pulsarSourceSpec, stackEnv } from '../helpers/stack.js';
import { CdcDeployment } from './cdc-run.js';
import {
  ROWS_COLLECTION,
  SOURCE_DB,
  count,
  createIndexedCollection,
  dropDatabase,
  writeRows,
} from './data.js';
import { appendBenchmarks, load, machine } from './report.js';

const { values: args } = parseArgs({
  options: {
    rows: { type: 'string', default: '200000' },
    batch: { type: 'string', default: '1000' },
    dim: { type: 'string', default: '128' },
    shards: { type: 'string', default: '4' },
    'run-timeout-s': { type: 'string', default: '1200' },
    'no-record': { type: 'boolean', default: false },
  },
  allowPositionals: true,
});
const N = Number(args.rows);
const BATCH = Number(args.batch);
const shape = { dim: Number(args.dim), shards: Number(args.shards) };
const RUN_TIMEOUT_MS = Number(args['run-timeout-s']) * 1000;
const command = `pnpm bench:mq ${process.argv.slice(2).join(' ')}`.trim();
const env = stackEnv();
const target = milvusClient(env.targetMilvusAddress);
const say = (line: string) =>
  process.stdout.write(`[${new Date().toISOString().slice(11, 19)}] ${line}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Source {
  readonly mq: 'kafka' | 'pulsar';
  readonly client: MilvusClient;
  readonly spec: Record<string, unknown>;
}
const SOURCES: Source[] = [
  { mq: 'kafka', client: milvusClient(env.sourceMilvusAddress), spec: kafkaSourceSpec(env) },
  { mq: 'pulsar', client: milvusClient(env.pulsarMilvusAddress), spec: pulsarSourceSpec(env) },
];

interface Result {
  readonly mq: string;
  readonly loadMs: number;
  readonly ms: number;
  readonly firstRowMs: number;
  readonly cpuS: number;
  readonly rssMiB: number;
}

/** Loads the rows; returns the load time and a start timestamp just before the collection was created. */
async function loadSource(s: Source): Promise<{ loadMs: number; startTs: bigint }> {
  await dropDatabase(s.client, SOURCE_DB);
  await createIndexedCollection(s.client, SOURCE_DB, ROWS_COLLECTION, shape);
  say(`${s.mq}: loading ${N} rows into ${SOURCE_DB}.${ROWS_COLLECTION}`);
  const t = await writeRows(s.client, 'insert', SOURCE_DB, ROWS_COLLECTION, N, BATCH, shape.dim, 1);
  const d = await s.client.describeCollection({
    db_name: SOURCE_DB,
    collection_name: ROWS_COLLECTION,
  });
  const createdMs = tsToUnixMs(BigInt(d.created_timestamp));
  return { loadMs: t.ms, startTs: composeTs(createdMs - 1_000) };
}

async function catchUp(s: Source, startTs: bigint, loadMs: number): Promise<Result> {
  const db = `bench_mq_${s.mq}`;
  await dropDatabase(target, db);
  const dep = new CdcDeployment(env, `mq-${s.mq}`);
  try {
    await dep.start(1);
    await sleep(5_000); // the worker's own start-up is not part of the catch-up
    const cpuBefore = dep.cpuSecondsPerWorker()[0] ?? 0;
    const started = performance.now();
    await dep.createTask(
      SOURCE_DB,
      ROWS_COLLECTION,
      db,
      startTs,
      { uri: env.targetMilvusAddress, mode: 'TARGET_MODE_API' },
      s.spec,
    );
    let firstRowMs = 0;
    const deadline = Date.now() + RUN_TIMEOUT_MS;
    for (let seen = 0; seen < N; await sleep(500)) {
      dep.checkWorkers();
      if (Date.now() > deadline) throw new Error(`${s.mq}: ${seen} of ${N} rows in time`);
      seen = await count(target, db, ROWS_COLLECTION).catch(() => 0);
      if (seen > 0) firstRowMs ||= performance.now() - started;
    }
    const ms = performance.now() - started;
    const cpuS = (dep.cpuSecondsPerWorker()[0] ?? 0) - cpuBefore;
    const rssMiB = (dep.peakRssPerWorker()[0] ?? 0) / 2 ** 20;
    say(`${s.mq}: ${N} rows in ${(ms / 1000).toFixed(1)} s, worker CPU ${cpuS.toFixed(1)} s`);
    return { mq: s.mq, loadMs, ms, firstRowMs, cpuS, rssMiB };
  } finally {
    await dep.stop();
    await dropDatabase(target, db).catch(() => undefined);
  }
}

function table(results: readonly Result[]): string {
  const lines = [
    '| source MQ | rows | source load s | catch-up s | rows/s | worker CPU s | CPU µs/row | first row s | peak RSS MiB |',
    '| --------- | ---: | ------------: | ---------: | -----: | -----------: | ---------: | ----------: | -----------: |',
  ];
  for (const r of results) {
    lines.push(
      `| ${r.mq} | ${N} | ${(r.loadMs / 1000).toFixed(1)} | ${(r.ms / 1000).toFixed(1)} | ${((N * 1000) / r.ms).toFixed(0)} | ${r.cpuS.toFixed(1)} | ${((r.cpuS * 1e6) / N).toFixed(0)} | ${(r.firstRowMs / 1000).toFixed(1)} | ${r.rssMiB.toFixed(0)} |`,
    );
  }
  return lines.join('\n');
}

async function main(): Promise<void> {
  const startedAt = new Date();
  const loadBefore = load();
  say(`bench: ${command}; machine ${machine()}; load ${loadBefore}`);
  const loaded = [];
  for (const s of SOURCES) loaded.push({ s, ...(await loadSource(s)) });
  const results: Result[] = [];
  for (const { s, startTs, loadMs } of loaded) results.push(await catchUp(s, startTs, loadMs));
  const entry = [
    `## ${startedAt.toISOString()} — Kafka and Pulsar sources: ${N} rows × ${shape.dim}-dim, batch ${BATCH}, ${shape.shards} shards, 1 worker`,
    '',
    `Command: \`${command}\``,
    '',
    `Machine: ${machine()}. Load average (1/5/15 min) before: ${loadBefore}; after: ${load()}.`,
    '',
    table(results),
  ].join('\n');
  process.stdout.write(`\n${entry}\n`);
  if (!args['no-record']) appendBenchmarks(join(REPO_ROOT, 'BENCHMARKS.md'), entry);
}

try {
  await main();
} finally {
  for (const s of SOURCES) {
    await dropDatabase(s.client, SOURCE_DB).catch(() => undefined);
    await s.client.closeConnection().catch(() => undefined);
  }
  await target.closeConnection().catch(() => undefined);
}
