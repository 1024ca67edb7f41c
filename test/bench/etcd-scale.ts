/**
 * The control plane at scale (`pnpm bench:etcd`): 5,000 tasks and 20,000 quarantine entries in the real etcd under
 * a fresh root. Times ListTasks (every page), GetTask, CreateTask (its overlap checks read every task), a scheduler
 * reconcile pass over all tasks (in this process, on the real etcd and Redis, its own queue prefix), writing the
 * quarantine entries through ReportQuarantineBatch, ListQuarantine (every page) and PurgeQuarantine; appends the
 * figures to BENCHMARKS.md and deletes everything it wrote.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { createLogger, type LeaseJobData } from '@cdc/shared';
import { Queue } from 'bullmq';
import { Etcd3 } from 'etcd3';
import { AesSecretBox } from '../../services/control/src/adapters/aes-secret-box.js';
import {
  EtcdChannelStore,
  EtcdKeys,
  EtcdTaskStore,
} from '../../services/control/src/adapters/etcd-stores.js';
import { EtcdChannelDiscovery } from '../../services/control/src/adapters/source-probes.js';
import { LeaseScheduler } from '../../services/control/src/scheduling/lease-scheduler.js';
import { LeaseService } from '../../services/control/src/tasks/lease-service.js';
import { systemClock } from '../../services/control/src/tasks/ports.js';
import { TaskService } from '../../services/control/src/tasks/task-service.js';
import { clients, startControl, stopControl } from '../control/control-harness.js';
import { REPO_ROOT } from '../helpers/processes.js';
import { kafkaSourceSpec, stackEnv } from '../helpers/stack.js';
import { appendBenchmarks, load, machine, percentile } from './report.js';

const { values: args } = parseArgs({
  options: {
    tasks: { type: 'string', default: '5000' },
    running: { type: 'string', default: '20' },
    quarantine: { type: 'string', default: '20000' },
    'payload-bytes': { type: 'string', default: '1024' },
    'no-record': { type: 'boolean', default: false },
  },
});
const TASKS = Number(args.tasks);
const RUNNING = Number(args.running);
const ENTRIES = Number(args.quarantine);
const PAYLOAD = Number(args['payload-bytes']);
const command = `pnpm bench:etcd ${process.argv.slice(2).join(' ')}`.trim();
const env = stackEnv();
const say = (line: string) =>
  process.stdout.write(`[${new Date().toISOString().slice(11, 19)}] ${line}\n`);

interface Timing {
  readonly what: string;
  readonly samples: number[];
  readonly notes: string;
}

async function timed<T>(fn: () => Promise<T>): Promise<[T, number]> {
  const t = performance.now();
  const v = await fn();
  return [v, performance.now() - t];
}

function row(t: Timing): string {
  const total = t.samples.reduce((a, b) => a + b, 0);
  const f = (v: number) => v.toFixed(v < 10 ? 1 : 0);
  return `| ${t.what} | ${t.samples.length} | ${f(percentile(t.samples, 50))} | ${f(Math.max(...t.samples))} | ${f(total)} | ${t.notes} |`;
}

async function main(): Promise<void> {
  const id = randomUUID().slice(0, 8);
  const root = `cdc-escale-${id}/`;
  const queuePrefix = `cdc-escale-${id}`;
  const benchQueuePrefix = `cdc-escale-${id}-pass`;
  const secret = randomBytes(32).toString('base64');
  const etcd = new Etcd3({
    hosts: env.etcdEndpoints.map((h) => `http://${h}`),
    grpcOptions: { 'grpc.max_receive_message_length': 256 * 1024 * 1024 },
  });
  const url = new URL(env.redisUrl);
  const connection = { host: url.hostname, port: Number(url.port || 6379) };
  const queues = [queuePrefix, benchQueuePrefix].map(
    (prefix) => new Queue<LeaseJobData>('cdc-leases', { prefix, connection }),
  );
  const loadBefore = load();
  const timings: Timing[] = [];
  const control = await startControl({
    CONTROL_ETCD_ENDPOINTS: env.etcdEndpoints.map((h) => `http://${h}`).join(','),
    CONTROL_ETCD_ROOT: root,
    CONTROL_REDIS_URL: env.redisUrl,
    CONTROL_QUEUE_PREFIX: queuePrefix,
    CONTROL_SECRET_KEY: secret,
    CONTROL_METRICS_PORT: '0',
    CONTROL_ASSUMED_DML_CHANNELS: '16',
    CONTROL_RECONCILE_INTERVAL_MS: '60000',
    CONTROL_QUARANTINE_MAX_ENTRIES: String(ENTRIES),
    LOG_LEVEL: 'warn',
  });
  const c = clients(control.port);
  const spec = (db: string) => ({
    source: kafkaSourceSpec(env),
    target: { uri: env.targetMilvusAddress },
    scope: { include: [{ database: db, collection: '*' }] },
  });
  try {
    // ---- seed: one task through the API, cloned into etcd (each CreateTask would read every task so far) ----
    const template = `bench-template-${id}`;
    await c.cdc.CreateTask({ task_id: template, spec: spec(`tmpl_${id}`), start_paused: true });
    const stored = JSON.parse((await etcd.get(`${root}tasks/${template}`).string()) ?? '{}');
    const recordBytes = JSON.stringify(stored).length;
    const [, seedMs] = await timed(async () => {
      for (let i = 0; i < TASKS - 1; i += 100) {
        const puts = [];
        for (let k = i; k < Math.min(TASKS - 1, i + 100); k++) {
          const taskId = `bench-${String(k).padStart(5, '0')}`;
          const running = k < RUNNING;
          const record = {
            ...stored,
            taskId,
            state: running ? 'TASK_STATE_RUNNING' : 'TASK_STATE_PAUSED',
            reason: running ? '' : stored.reason,
            spec: {
              ...stored.spec,
              scope: { include: [{ database: `bench_${k}`, collection: '*' }], exclude: [] },
            },
          };
          puts.push(etcd.put(`${root}tasks/${taskId}`).value(JSON.stringify(record)));
        }
        await Promise.all(puts);
      }
    });
    say(`seeded ${TASKS} tasks (${recordBytes} bytes each) in ${(seedMs / 1000).toFixed(1)} s`);

    // ---- ListTasks, every page ----
    const pages: number[] = [];
    let listed = 0;
    let token = '';
    do {
      const [res, ms] = await timed(() => c.cdc.ListTasks({ page_size: 500, page_token: token }));
      pages.push(ms);
      listed += (res.tasks as unknown[]).length;
      token = res.next_page_token as string;
    } while (token !== '');
    if (listed !== TASKS) throw new Error(`ListTasks listed ${listed} of ${TASKS} tasks`);
    timings.push({
      what: 'ListTasks, page_size 500, every page',
      samples: pages,
      notes: `${listed} tasks`,
    });
    const [, firstPageMs] = await timed(() => c.cdc.ListTasks({}));
    timings.push({ what: 'ListTasks, default page (50)', samples: [firstPageMs], notes: '' });
    const gets: number[] = [];
    for (let i = 0; i < 20; i++) {
      const taskId = `bench-${String(Math.floor((i * (TASKS - 1)) / 20)).padStart(5, '0')}`;
      gets.push((await timed(() => c.cdc.GetTask({ task_id: taskId })))[1]);
    }
    timings.push({ what: 'GetTask', samples: gets, notes: '' });

    // ---- CreateTask with 5,000 tasks to check for overlaps ----
    const creates: number[] = [];
    for (let i = 0; i < 5; i++) {
      const [res, ms] = await timed(() =>
        c.cdc.CreateTask({ task_id: `bench-new-${i}`, spec: spec(`new_${id}_${i}`) }),
      );
      if (res.task.state !== 'TASK_STATE_RUNNING') throw new Error(`CreateTask: ${res.task.state}`);
      creates.push(ms);
    }
    timings.push({
      what: 'CreateTask (running; overlap checks read every task)',
      samples: creates,
      notes: 'reachability probes and channel discovery on the real source included',
    });

    // ---- a scheduler reconcile pass over every task (this process, its own queue prefix) ----
    const keys = new EtcdKeys(root);
    const store = new EtcdTaskStore(etcd, keys);
    const discovery = new EtcdChannelDiscovery(3_000, 16);
    const tasks = new TaskService({
      tasks: store,
      channels: new EtcdChannelStore(etcd, keys),
      secrets: new AesSecretBox([Buffer.from(secret, 'base64')]),
      reachability: { check: () => Promise.resolve() },
      discovery,
      clock: systemClock,
      staleReportMs: 5_000,
      pauseLeadMs: 2_500,
    });
    const channels = new EtcdChannelStore(etcd, keys);
    const leases = new LeaseService({
      tasks,
      channels,
      clock: systemClock,
      liveWindowMs: 5_000,
      reportIntervalMs: 1_000,
      timing: { writeValidityMs: 5_000, handoverMs: 7_000, pauseLeadMs: 2_500 },
    });
    const benchQueue = queues[1]!;
    const scheduler = new LeaseScheduler(
      benchQueue,
      store,
      tasks,
      discovery,
      leases,
      createLogger({ service: 'bench-scheduler', level: 'warn' }),
      {
        reconcileIntervalMs: 60_000,
        discoveryIntervalMs: 3_600_000,
        creatingTimeoutMs: 30_000,
        deletingGraceMs: 30_000,
      },
    );
    scheduler.state = 'running'; // one pass at a time, called here (no timer)
    const passes: number[] = [];
    for (let i = 0; i < 3; i++) passes.push((await timed(() => scheduler.reconcile()))[1]);
    scheduler.state = 'stopped';
    const jobs = await benchQueue.getJobCounts('waiting');
    timings.push({
      what: 'scheduler reconcile pass (all tasks)',
      samples: passes,
      notes: `first pass discovers channels of the ${RUNNING + 5} running tasks and adds ${jobs['waiting'] ?? 0} lease jobs; then steady`,
    });

    // ---- 20,000 quarantine entries through ReportQuarantineBatch ----
    const qTask = 'bench-00000';
    const channel = `${env.sourceChannelPrefix}-rootcoord-dml_0`;
    const lease = await c.worker.AcquireLease({ task_id: qTask, channel, worker_id: 'bench-w' });
    const calls: number[] = [];
    for (let i = 0; i < ENTRIES; i += 250) {
      const entries = Array.from({ length: Math.min(250, ENTRIES - i) }, (_, k) => {
        const msgId = Buffer.alloc(8);
        msgId.writeBigUInt64LE(BigInt(i + k));
        return {
          position: { msg_id: msgId, timestamp: String(449000000000000000n + BigInt(i + k)) },
          reason: `undecodable record: truncated field ${i + k}`,
          payload: randomBytes(PAYLOAD),
        };
      });
      const [, ms] = await timed(() =>
        c.worker.ReportQuarantineBatch({
          task_id: qTask,
          channel,
          epoch: lease.epoch,
          worker_id: 'bench-w',
          entries,
        }),
      );
      calls.push(ms);
    }
    const writeTotal = calls.reduce((a, b) => a + b, 0);
    timings.push({
      what: 'ReportQuarantineBatch, 250 entries per call',
      samples: calls,
      notes: `${ENTRIES} entries of ${PAYLOAD} B payload: ${((ENTRIES * 1000) / writeTotal).toFixed(0)} entries/s`,
    });
    const qPages: number[] = [];
    let qListed = 0;
    token = '';
    do {
      const [res, ms] = await timed(() =>
        c.cdc.ListQuarantine({ task_id: qTask, page_size: 500, page_token: token }),
      );
      qPages.push(ms);
      qListed += (res.records as unknown[]).length;
      token = res.next_page_token as string;
    } while (token !== '');
    if (qListed !== ENTRIES) throw new Error(`ListQuarantine listed ${qListed} of ${ENTRIES}`);
    timings.push({
      what: 'ListQuarantine, page_size 500, every page',
      samples: qPages,
      notes: `${qListed} entries`,
    });
    const [purged, purgeMs] = await timed(() => c.cdc.PurgeQuarantine({ task_id: qTask }));
    timings.push({
      what: 'PurgeQuarantine',
      samples: [purgeMs],
      notes: `${purged.purged} entries`,
    });
  } finally {
    c.close();
    await stopControl(control);
    await etcd.delete().prefix(root);
    etcd.close();
    for (const q of queues) {
      await q.obliterate({ force: true }).catch(() => undefined);
      await q.close();
    }
  }

  const entry = [
    `## ${new Date().toISOString()} — etcd at scale: ${TASKS} tasks, ${ENTRIES} quarantine entries`,
    '',
    `Command: \`${command}\``,
    '',
    `Machine: ${machine()}. Load average (1/5/15 min) before: ${loadBefore}; after: ${load()}.`,
    '',
    '| measurement | calls | p50 ms | max ms | total ms | notes |',
    '|---|---:|---:|---:|---:|---|',
    ...timings.map(row),
    '',
    `${TASKS} task records (${RUNNING + 5} running, the rest paused) and ${ENTRIES} quarantine entries of one task in the`,
    'real etcd under a fresh root, through a real control service (its own process); every read pages. Deleted',
    'afterwards.',
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
