import { randomUUID } from 'node:crypto';
import { Etcd3 } from 'etcd3';
import { afterAll, describe, expect, it } from 'vitest';
import { STREAMING_VERSION_KEY } from '@cdc/shared';
import { detectTaskSourceLog } from '../../services/worker/src/adapters/wal26/source-version.js';
import type { TaskSpecWire } from '../../services/worker/src/task-spec.js';
import { stackEnv } from '../helpers/stack.js';

/**
 * Which log a source writes (2.3–2.5 msgstream or the 2.6 WAL) is read from its etcd once per source and remembered
 * for a while: leases waiting for a topic re-open their readers every few seconds and must not each ask etcd.
 */
const env = stackEnv();
const etcd = new Etcd3({ hosts: env.etcdEndpoints.map((h) => `http://${h}`) });

afterAll(() => {
  etcd.close();
});

const specFor = (root: string, endpoints = env.etcdEndpoints.map((h) => `http://${h}`)) =>
  ({ source: { etcd: { endpoints, root_path: root }, channel_prefix: root } }) as TaskSpecWire;

describe('detectTaskSourceLog (real etcd)', () => {
  it('reads the source log from etcd, then answers from memory until the detection is 30 s old', async () => {
    const root = `srcver-${randomUUID().slice(0, 8)}`;
    const spec = specFor(root);
    const t0 = Date.now();
    expect((await detectTaskSourceLog(spec, t0)).streaming).toBe(false);
    await etcd.put(`${root}/meta/${STREAMING_VERSION_KEY}`).value('1');
    try {
      // Remembered: etcd is not asked again.
      expect((await detectTaskSourceLog(spec, t0 + 1_000)).streaming).toBe(false);
      // Too old: asked again, and the 2.6 WAL is found.
      const later = await detectTaskSourceLog(spec, t0 + 31_000);
      expect(later).toEqual({ streaming: true, controlPChannel: `${root}-rootcoord-dml_0` });
    } finally {
      await etcd.delete().prefix(`${root}/`);
    }
  });
});
