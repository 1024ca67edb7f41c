/**
 * Quarantine throughput (`pnpm bench:quarantine`): N malformed records on one Kafka channel of a task, read by one
 * real worker, each quarantined through the real control service into the real etcd. Measures the time from task
 * creation until all N are stored (polling the control's `cdc_control_quarantine_records` metric), and appends the
 * figures to BENCHMARKS.md. `--cdc-dir` runs the control service and worker of another checkout's build (e.g. an
 * export of main) to compare before and after.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { CdcTestClient, waitForControl } from '../helpers/cdc-client.js';
import { connectKafka } from '../helpers/kafka.js';
import { REPO_ROOT, freePort, startNodeProcess, waitUntil } from '../helpers/processes.js';
import type { RunningProcess } from '../helpers/processes.js';
import { kafkaSourceSpec, stackEnv } from '../helpers/stack.js';
import { malformed } from '../fault/inject.js';
import { appendBenchmarks, load, machine } from './report.js';

const { values: args } = parseArgs({
  options: {
    records: { type: 'string', default: '10000' },
    'cdc-dir': { type: 'string', default: REPO_ROOT },
    label: { type: 'string', default: 'this checkout' },
    'timeout-s': { type: 'string', default: '600' },
    'no-record': { type: 'boolean', default: false },
  },
});
const N = Number(args.records);
const CDC_DIR = args['cdc-dir'];
const command = `pnpm bench:quarantine ${process.argv
  .slice(2)
  .map((a) => (/\s/.test(a) ? `'${a}'` : a))
  .join(' ')}`.trim();
const env = stackEnv();
const say = (line: string) =>
  process.stdout.write(`[${new Date().toISOString().slice(11, 19)}] ${line}\n`);

async function quarantineCount(metricsPort: number, taskId: string): Promise<number> {
  const res = await fetch(`http://127.0.0.1:${metricsPort}/metrics`);
  const text = await res.text();
  const line = text
    .split('\n')
    .find((l) => l.startsWith(`cdc_control_quarantine_records{task="${taskId}"}`));
  return line === undefined ? 0 : Number(line.split(' ').pop());
}

async function main(): Promise<void> {
  const id = randomUUID().slice(0, 8);
  const prefix = `qbench${id}`;
  const topic = `${prefix}-rootcoord-dml_0`;
  const root = `cdc-qbench-${id}/`;
  const queuePrefix = `cdc-qbench-${id}`;
  const kafka = connectKafka(env.kafkaBrokers);
  const producer = kafka.producer();
  await producer.connect();
  say(`writing ${N} malformed records to ${topic}`);
  for (let i = 0; i < N; i += 500)
    await producer.send({
      topic,
      messages: Array.from({ length: Math.min(500, N - i) }, (_, k) => ({
        value: malformed(i + k),
      })),
    });
  await producer.disconnect();

  const port = await freePort();
  const metricsPort = await freePort();
  const secret = randomBytes(32).toString('base64');
  const procs: RunningProcess[] = [];
  const taskId = `qbench-${id}`;
  const client = new CdcTestClient(`127.0.0.1:${port}`);
  const loadBefore = load();
  let elapsedMs = NaN;
  let firstMs = NaN;
  let stored = 0;
  try {
    procs.push(
      startNodeProcess('qbench-control', join(CDC_DIR, 'services/control/dist/main.js'), {
        CONTROL_GRPC_ADDRESS: `127.0.0.1:${port}`,
        CONTROL_ETCD_ENDPOINTS: env.etcdEndpoints.join(','),
        CONTROL_ETCD_ROOT: root,
        CONTROL_QUEUE_PREFIX: queuePrefix,
        CONTROL_REDIS_URL: env.redisUrl,
        CONTROL_SECRET_KEY: secret,
        CONTROL_METRICS_PORT: String(metricsPort),
        CONTROL_METRICS_HOST: '127.0.0.1',
        CONTROL_RECONCILE_INTERVAL_MS: '500',
        CONTROL_ASSUMED_DML_CHANNELS: '1',
        CONTROL_QUARANTINE_MAX_ENTRIES: String(N + 1000),
        LOG_LEVEL: 'warn',
      }),
      startNodeProcess('qbench-worker', join(CDC_DIR, 'services/worker/dist/main.js'), {
        CONTROL_ADDRESS: `127.0.0.1:${port}`,
        REDIS_URL: env.redisUrl,
        QUEUE_PREFIX: queuePrefix,
        METRICS_PORT: '0',
        LOG_LEVEL: 'error',
      }),
    );
    await waitForControl(client);
    const started = Date.now();
    await client.call('CreateTask', {
      task_id: taskId,
      spec: {
        source: kafkaSourceSpec(env, prefix),
        target: { uri: env.targetMilvusAddress },
        scope: { include: [{ database: `qbench_${id}`, collection: '*' }] },
        start: { kind: 'START_KIND_EARLIEST' },
      },
    });
    await waitUntil(
      `${N} records quarantined`,
      async () => {
        stored = await quarantineCount(metricsPort, taskId);
        if (stored > 0 && Number.isNaN(firstMs)) firstMs = Date.now() - started;
        return stored >= N;
      },
      Number(args['timeout-s']) * 1000,
      1000,
    );
    elapsedMs = Date.now() - started;
    say(`${stored} quarantined in ${(elapsedMs / 1000).toFixed(1)} s`);
  } finally {
    await client.call('DeleteTask', { task_id: taskId }).catch(() => undefined);
    for (const p of procs.reverse()) await p.stop();
    client.close();
    const { Etcd3 } = await import('etcd3');
    const etcd = new Etcd3({ hosts: env.etcdEndpoints.map((h) => `http://${h}`) });
    await etcd.delete().prefix(root);
    etcd.close();
    const { Queue } = await import('bullmq');
    const url = new URL(env.redisUrl);
    const queue = new Queue('cdc-leases', {
      prefix: queuePrefix,
      connection: { host: url.hostname, port: Number(url.port || 6379) },
    });
    await queue.obliterate({ force: true }).catch(() => undefined);
    await queue.close();
    const admin = kafka.admin();
    await admin.connect();
    await admin.deleteTopics({ topics: [topic] }).catch(() => undefined);
    await admin.disconnect();
  }
  const perRecord = (elapsedMs - firstMs) / Math.max(1, stored - 1);
  const entry = [
    `## ${new Date().toISOString()} — quarantine: ${N} malformed records (${args.label})`,
    '',
    `Command: \`${command}\``,
    '',
    `Machine: ${machine()}. Load average (1/5/15 min) before: ${loadBefore}; after: ${load()}.`,
    '',
    '| build | records | until all stored s | first stored after s | per record ms | records/s |',
    '|---|---:|---:|---:|---:|---:|',
    `| ${args.label} | ${stored} | ${(elapsedMs / 1000).toFixed(1)} | ${(firstMs / 1000).toFixed(1)} | ${perRecord.toFixed(2)} | ${((stored * 1000) / (elapsedMs - firstMs)).toFixed(0)} |`,
    '',
    'One worker, one channel; time from CreateTask until the control reports every record stored (metrics polled',
    'every second). "Per record" excludes the time to the first stored record (lease, reader start).',
  ].join('\n');
  process.stdout.write(`\n${entry}\n`);
  if (!args['no-record']) appendBenchmarks(join(REPO_ROOT, 'BENCHMARKS.md'), entry);
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`${String(err instanceof Error ? err.stack : err)}\n`);
    process.exit(1);
  },
);
