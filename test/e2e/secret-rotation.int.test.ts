/**
 * Rotating the secret key under running tasks: the control restarts with the new key first (the old one after it),
 * ResealSecrets seals every task secret under the new key, the control restarts with the new key alone, and
 * replication never stops. A worker that takes its leases afresh gets the secrets opened with the new key.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConsistencyLevelEnum, DataType, type RowData } from '@zilliz/milvus2-sdk-node';
import { Etcd3 } from 'etcd3';
import { E2eHarness, env } from './harness.js';
import { waitUntil } from '../helpers/processes.js';
import { kafkaSourceSpec } from '../helpers/stack.js';

const DIM = 4;
const oldKey = randomBytes(32).toString('base64');
const newKey = randomBytes(32).toString('base64');

describe('secret key rotation with running tasks', () => {
  const h = new E2eHarness();
  const ref = { db: `${h.prefix}_db`, collection: 'rotated' };
  const base = { db_name: ref.db, collection_name: ref.collection };
  const taskId = `task-${h.id}`;
  const etcd = new Etcd3({ hosts: env.etcdEndpoints });
  let next = 0;

  beforeAll(async () => {
    await h.startControl({ CONTROL_SECRET_KEY: '', CONTROL_SECRET_KEYS: oldKey });
    await h.startWorker('worker-0');
  });

  afterAll(async () => {
    etcd.close();
    await h.cleanup();
  });

  async function writeAndSee(count: number): Promise<void> {
    const from = next;
    next += count;
    const data: RowData[] = Array.from({ length: count }, (_, i) => ({
      id: from + i,
      vec: [from + i, 1, 2, 3],
    }));
    const res = await h.source.insert({ ...base, data });
    expect(res.status.error_code).toBe('Success');
    await waitUntil(
      `rows ${String(from)}..${String(next - 1)} on the target`,
      async () => {
        const q = await h.target.query({
          ...base,
          filter: `id >= ${String(from)}`,
          output_fields: ['id'],
          consistency_level: ConsistencyLevelEnum.Strong,
        });
        return q.data.length === count;
      },
      120_000,
      1_000,
    );
  }

  async function restartControl(keys: string): Promise<void> {
    await h.control?.stop(10_000);
    await h.startControl({ CONTROL_SECRET_KEY: '', CONTROL_SECRET_KEYS: keys });
  }

  it('keeps replicating through the rotation, and ends with every secret under the new key', async () => {
    await h.client!.call('CreateTask', {
      task_id: taskId,
      spec: {
        source: kafkaSourceSpec(env),
        // Milvus without authentication ignores the credentials; they are the secrets this test rotates.
        target: { uri: h.targetAddress, username: 'root', password: 'Milvus-rotated-9' },
        scope: { include: [{ database: `${h.prefix}_db*`, collection: '*' }], exclude: [] },
        start: { kind: 'START_KIND_LATEST' },
      },
    });
    await waitUntil(
      'leases held',
      async () =>
        (
          await h.client!.call<{ channels: { worker_id: string }[] }>('GetTaskPositions', {
            task_id: taskId,
          })
        ).channels.every((c) => c.worker_id !== ''),
      60_000,
    );
    await h.source.createDatabase({ db_name: ref.db });
    await h.source.createCollection({
      ...base,
      fields: [
        { name: 'id', data_type: DataType.Int64, is_primary_key: true, autoID: false },
        { name: 'vec', data_type: DataType.FloatVector, dim: DIM },
      ],
    });
    await h.source.createIndex({
      ...base,
      field_name: 'vec',
      index_type: 'FLAT',
      metric_type: 'L2',
    });
    await h.source.loadCollectionSync(base);
    await writeAndSee(50);

    await restartControl(`${newKey},${oldKey}`);
    await writeAndSee(50);
    const resealed = await h.client!.call<{ tasks: number; resealed: number }>('ResealSecrets', {});
    expect(resealed).toEqual({ tasks: 1, resealed: 1 });

    await restartControl(newKey);
    // Fresh leases: the worker drains and a new one acquires them, with secrets the new key alone opens.
    await h.workers[0]?.stop(30_000);
    await h.startWorker('worker-1');
    await writeAndSee(50);

    const stored = (await etcd.get(`${h.etcdRoot}tasks/${taskId}`).string()) ?? '';
    expect(stored).not.toContain('Milvus-rotated-9');
    const record = JSON.parse(stored) as {
      sealedFields: Record<string, string>;
      sealedSecrets: string;
    };
    expect(record.sealedSecrets).toBe('');
    expect(Object.keys(record.sealedFields)).toEqual(['target.password']);
    const task = await h.client!.call<{ state: string; secret_fields_set: string[] }>('GetTask', {
      task_id: taskId,
    });
    expect(task).toMatchObject({
      state: 'TASK_STATE_RUNNING',
      secret_fields_set: ['target.password'],
    });
  }, 600_000);
});
