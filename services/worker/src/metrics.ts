import { createServer } from 'node:http';
import type { Server } from 'node:http';
import { DEFAULT_METRICS_OPTIONS } from '@cdc/shared';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { LeaseHooks } from './lease/lease-runner.js';
import type { LeaseRef } from './ports/worker-control.js';

const leaseKey = (l: LeaseRef): string => `${l.taskId}\0${l.channel}\0${l.epoch}`;

/** Prometheus metrics of a worker. Labels stay low-cardinality: task and channel, never data. */
export class WorkerMetrics {
  readonly registry = new Registry();
  private readonly leases = new Gauge({
    name: 'cdc_worker_leases_held',
    help: 'Channel leases held',
    registers: [this.registry],
  });
  /** Each held lease's count, read when scraped. */
  private readonly appliedRows = new Map<
    string,
    { task: string; channel: string; read: () => number }
  >();
  private readonly applied: Gauge;
  private readonly retries = new Counter({
    name: 'cdc_worker_retries_total',
    help: 'Retryable failures that were retried',
    labelNames: ['task', 'channel'],
    registers: [this.registry],
  });
  private readonly quarantined = new Counter({
    name: 'cdc_worker_quarantined_total',
    help: 'Messages quarantined',
    labelNames: ['task', 'channel'],
    registers: [this.registry],
  });

  private readonly recordsRead = new Counter({
    name: 'cdc_worker_records_read_total',
    help: 'Records read from the source MQ (once per record, whatever the number of fan-out targets)',
    labelNames: ['task', 'channel'],
    registers: [this.registry],
  });

  /** The lag split: no task or channel label (one series per stage), the benchmark reads it worker-wide. */
  private readonly delays = new Histogram({
    name: 'cdc_worker_source_delay_seconds',
    help: 'Time since the source wrote it: stage="tick_read" when a time tick is read (tick_read_since_broker: since the broker took it), stage="applied" when the oldest change of a pack is acknowledged by the target',
    labelNames: ['stage'],
    buckets: [0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.75, 1, 1.5, 2, 5, 10, 30],
    registers: [this.registry],
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry, ...DEFAULT_METRICS_OPTIONS });
    const leases = this.appliedRows;
    this.applied = new Gauge({
      name: 'cdc_worker_applied_rows',
      help: 'Rows applied to the target in the current lease',
      labelNames: ['task', 'channel'],
      registers: [this.registry],
      collect() {
        for (const l of leases.values()) this.set({ task: l.task, channel: l.channel }, l.read());
      },
    });
  }

  hooks(): LeaseHooks {
    return {
      onLeaseStart: (l, appliedRows) => {
        this.leases.inc();
        this.appliedRows.set(leaseKey(l), {
          task: l.taskId,
          channel: l.channel,
          read: appliedRows,
        });
      },
      onLeaseEnd: (l) => {
        this.leases.dec();
        this.appliedRows.delete(leaseKey(l));
        this.applied.remove(l.taskId, l.channel);
      },
      onRetry: (l) => {
        this.retries.inc({ task: l.taskId, channel: l.channel });
      },
      onQuarantine: (l) => {
        this.quarantined.inc({ task: l.taskId, channel: l.channel });
      },
      onTickRead: (_l, ms, sinceBrokerMs) => {
        this.delays.observe({ stage: 'tick_read' }, ms / 1000);
        if (sinceBrokerMs !== undefined)
          this.delays.observe({ stage: 'tick_read_since_broker' }, sinceBrokerMs / 1000);
      },
      onApplied: (_l, ms) => {
        this.delays.observe({ stage: 'applied' }, ms / 1000);
      },
      onRecordsRead: (l, records) => {
        this.recordsRead.inc({ task: l.taskId, channel: l.channel }, records);
      },
    };
  }

  /** Serves /metrics and /healthz on 127.0.0.1-or-all interfaces as configured. */
  serve(host: string, port: number, healthy: () => boolean, onError: (err: Error) => void): Server {
    const server = createServer((req, res) => {
      if (req.url === '/metrics') {
        void this.registry.metrics().then((body) => {
          res.writeHead(200, { 'content-type': this.registry.contentType });
          res.end(body);
        });
        return;
      }
      if (req.url === '/healthz') {
        const ok = healthy();
        res.writeHead(ok ? 200 : 503);
        res.end(ok ? 'ok' : 'stopping');
        return;
      }
      res.writeHead(404);
      res.end();
    });
    // A taken port must not take the worker down: replication matters more than its metrics.
    server.on('error', (err) => {
      onError(err);
    });
    server.listen(port, host);
    return server;
  }
}
