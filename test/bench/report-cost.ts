/**
 * The control service's cost of idle leases (`pnpm bench:reports [tasks]`): K tasks × 17 channels held by two
 * simulated workers that report every lease every second, first one ReportCheckpoint call per report, then one
 * ReportCheckpoints call per worker. Prints the control's CPU (cores, from /proc) for each way, over two rounds each.
 * Needs etcd and Redis of the local stack; no MQ or Milvus (a TCP listener stands in for them).
 */
import { readFileSync } from 'node:fs';
import { Queue } from 'bullmq';
import { Etcd3 } from 'etcd3';
import {
  clients,
  ETCD,
  REDIS_URL,
  SECRET_KEY,
  seedSourceMetadata,
  startControl,
  stopControl,
  tcpListener,
  uniq,
} from '../control/control-harness.js';

interface Lease {
  readonly task_id: string;
  readonly channel: string;
  readonly epoch: string;
  readonly worker_id: string;
}
interface Answer {
  readonly keep_lease: boolean;
}
interface Result {
  readonly answer: Answer | null;
  readonly error: { readonly code: string } | null;
}

const TASKS = Number(process.argv[2] ?? 10);
const ROUND_S = 10;
const etcd = new Etcd3({ hosts: ETCD });
const root = `${uniq('cost')}/`;
const sourceRoot = uniq('costsrc');
const prefix = 'costpfx';
const queuePrefix = uniq('bullcost');
const target = await tcpListener();
await seedSourceMetadata(
  etcd,
  sourceRoot,
  prefix,
  Array.from({ length: 16 }, (_, i) => i),
);
const control = await startControl({
  CONTROL_ETCD_ENDPOINTS: ETCD,
  CONTROL_ETCD_ROOT: root,
  CDC_REDIS_URL: REDIS_URL,
  CDC_QUEUE_PREFIX: queuePrefix,
  CONTROL_SECRET_KEY: SECRET_KEY,
  // The defaults, not the harness's short test timings.
  CONTROL_LEASE_WRITE_VALIDITY_MS: '3000',
  CONTROL_LEASE_CLOCK_MARGIN_MS: '500',
  CONTROL_LEASE_HANDOVER_MS: '4000',
  LOG_LEVEL: 'warn',
});
const c = clients(control.port);

/** CPU seconds of the control process (utime + stime). */
function controlCpuS(): number {
  const stat = readFileSync(`/proc/${String(control.proc.pid)}/stat`, 'utf8');
  const fields = (stat.split(') ')[1] ?? '').split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

const leases: Lease[] = [];
const acquire = async (taskId: string, channel: string): Promise<void> => {
  const worker_id = leases.length % 2 === 0 ? 'wa' : 'wb';
  const grant = (await c.worker.AcquireLease({ task_id: taskId, channel, worker_id })) as {
    epoch: string;
  };
  leases.push({ task_id: taskId, channel, epoch: grant.epoch, worker_id });
};
for (let t = 0; t < TASKS; t++) {
  const taskId = uniq('cost');
  await c.cdc.CreateTask({
    task_id: taskId,
    spec: {
      source: {
        etcd: { endpoints: [ETCD], root_path: sourceRoot },
        mq: { type: 'MQ_TYPE_KAFKA', address: `127.0.0.1:${String(target.port)}` },
        channel_prefix: prefix,
      },
      target: { uri: `http://127.0.0.1:${String(target.port)}` },
      scope: { include: [{ database: `db${String(t)}`, collection: '*' }] },
      initial_sync: { enabled: false },
    },
  });
  const task = (await c.cdc.GetTask({ task_id: taskId })) as { channels: string[] };
  await Promise.all(task.channels.map((ch) => acquire(taskId, ch)));
}

const report = (l: Lease) => ({
  ...l,
  source_head_timestamp: String(BigInt(Date.now()) << 18n),
  caught_up: true,
});
let refused = 0;
const count = (a: Answer | null): void => {
  if (a?.keep_lease !== true) refused++;
};
const single = async (): Promise<void> => {
  await Promise.all(
    leases.map((l) =>
      c.worker.ReportCheckpoint(report(l)).then(
        (a) => {
          count(a as Answer);
        },
        () => refused++,
      ),
    ),
  );
};
const batched = async (): Promise<void> => {
  await Promise.all(
    ['wa', 'wb'].map((w) =>
      c.worker
        .ReportCheckpoints({ reports: leases.filter((l) => l.worker_id === w).map(report) })
        .then(
          (res) => {
            for (const r of (res as { results: Result[] }).results) count(r.answer);
          },
          () => (refused += leases.length / 2),
        ),
    ),
  );
};

async function round(name: string, send: () => Promise<void>): Promise<void> {
  const cpu0 = controlCpuS();
  const t0 = performance.now();
  for (let s = 0; s < ROUND_S; s++) {
    const started = performance.now();
    await send();
    await new Promise((r) => setTimeout(r, Math.max(0, 1000 - (performance.now() - started))));
  }
  const wallS = (performance.now() - t0) / 1000;
  const cores = (controlCpuS() - cpu0) / wallS;
  console.log(
    `${name}: control ${cores.toFixed(3)} cores over ${wallS.toFixed(1)} s; refused or failed reports ${String(refused)}`,
  );
  refused = 0;
}

console.log(`${String(leases.length)} leases of ${String(TASKS)} tasks, reported every second`);
try {
  await round('warm-up', batched);
  for (let i = 0; i < 2; i++) {
    await round('one ReportCheckpoint per lease', single);
    await round('one ReportCheckpoints per worker', batched);
  }
} finally {
  c.close();
  await stopControl(control);
  const queue = new Queue('cdc-leases', {
    prefix: queuePrefix,
    connection: {
      host: new URL(REDIS_URL).hostname,
      port: Number(new URL(REDIS_URL).port || 6379),
    },
  });
  await queue.obliterate({ force: true }).catch(() => undefined);
  await queue.close();
  await etcd.delete().prefix(root);
  await etcd.delete().prefix(`${sourceRoot}/`);
  etcd.close();
  await target.close();
}
