import { describe, expect, it } from 'vitest';
import { WorkerMetrics } from './metrics.js';

const lease = { taskId: 't1', channel: 'by-dev-rootcoord-dml_0', epoch: '3' };

describe('WorkerMetrics', () => {
  it("reads each held lease's applied rows when scraped, and drops the lease when it ends", async () => {
    const metrics = new WorkerMetrics();
    const hooks = metrics.hooks();
    let rows = 5;
    hooks.onLeaseStart?.(lease, () => rows);
    const series = async () =>
      (await metrics.registry.getSingleMetricAsString('cdc_worker_applied_rows'))
        .split('\n')
        .filter((l) => l.startsWith('cdc_worker_applied_rows{'));
    expect(await series()).toEqual([
      'cdc_worker_applied_rows{task="t1",channel="by-dev-rootcoord-dml_0"} 5',
    ]);
    rows = 1_200;
    expect(await series()).toEqual([
      'cdc_worker_applied_rows{task="t1",channel="by-dev-rootcoord-dml_0"} 1200',
    ]);
    hooks.onLeaseEnd?.(lease, 'ended');
    expect(await series()).toEqual([]);
  });
});
