import { afterAll, describe, expect, it } from 'vitest';
import { Etcd3 } from 'etcd3';
import { EtcdReportBatchStore } from '../../services/control/src/adapters/etcd-report-batch.js';
import { EtcdKeys } from '../../services/control/src/adapters/etcd-stores.js';
import { emptyChannelRecord } from '../../services/control/src/domain/model.js';
import type { ReportWrite } from '../../services/control/src/tasks/ports.js';
import { ETCD, uniq } from './control-harness.js';

/** The etcd side of batched reports against a real etcd: more records than one transaction holds, and a lost race. */
const etcd = new Etcd3({ hosts: ETCD });
const root = `${uniq('batchstore')}/`;
const keys = new EtcdKeys(root);
const store = new EtcdReportBatchStore(etcd, keys);

afterAll(async () => {
  await etcd.delete().prefix(root);
  etcd.close();
});

describe('EtcdReportBatchStore', () => {
  it('reads and writes more records than one transaction holds, and fences each group on both revisions', async () => {
    const tasks = ['t1', 't2'];
    for (const t of tasks) await etcd.put(keys.task(t)).value(JSON.stringify({ taskId: t }));
    // 2 × 70 channel records: 142 keys to read (two transactions), 140 records to write (two groups: 126 + 14).
    const channels = tasks.flatMap((taskId) =>
      Array.from({ length: 70 }, (_, i) => ({ taskId, channel: `ch_${String(i)}` })),
    );
    const first = await store.read(tasks, channels);
    expect(first.tasks.size).toBe(2);
    expect(first.channels.size).toBe(0);
    const writes = (read: typeof first, rows: string): ReportWrite[] =>
      channels.map((c) => ({
        ...c,
        record: { ...emptyChannelRecord(), epoch: '1', appliedRows: rows },
        version: read.channels.get(`${c.taskId}/${c.channel}`)?.version,
        taskVersion: read.tasks.get(c.taskId)?.version ?? '',
      }));
    expect((await store.write(writes(first, '1'))).every(Boolean)).toBe(true);

    const second = await store.read(tasks, channels);
    expect(second.channels.size).toBe(140);
    expect(second.channels.get('t2/ch_69')?.value.appliedRows).toBe('1');
    // A pause of t1 lands between the read and the write: the group holding t1 is not written, the other one is.
    await etcd.put(keys.task('t1')).value(JSON.stringify({ taskId: 't1', state: 'paused' }));
    const written = await store.write(writes(second, '2'));
    expect(written.slice(0, 126).every((w) => !w)).toBe(true);
    expect(written.slice(126).every(Boolean)).toBe(true);
    const third = await store.read(tasks, channels);
    channels.forEach((c, i) => {
      expect(third.channels.get(`${c.taskId}/${c.channel}`)?.value.appliedRows).toBe(
        written[i] === true ? '2' : '1',
      );
    });
    // A channel record written meanwhile (another replica, a new lease) fails its group just the same.
    await etcd.put(keys.channel('t2', 'ch_7')).value(JSON.stringify(emptyChannelRecord()));
    const raced = await store.write(writes(third, '3').slice(70)); // t2's 70: one group
    expect(raced).toEqual(Array<boolean>(70).fill(false));
  });
});
