import { afterEach, describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import { createLogger } from '@cdc/shared';
import type { TaskSpecWire } from '../task-spec.js';
import { TaskResources } from './task-resources.js';

const log = createLogger({ service: 'test', level: 'silent' });
// Nothing listens there: the etcd client connects only when used, and these tests never use it.
const spec = (endpoint = 'http://127.0.0.1:1') =>
  ({ source: { etcd: { endpoints: [endpoint], root_path: 'by-dev' } } }) as TaskSpecWire;
// The connections under test never touch Redis.
const noRedis = null as unknown as Redis;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('TaskResources: shared connections', () => {
  let resources: TaskResources | undefined;
  afterEach(async () => {
    await resources?.close();
  });

  it('shares one connection between the leases that hold it', async () => {
    resources = new TaskResources(noRedis, 'q', log, {}, 1_000);
    const a = await resources.sourceMetadata('t1', spec());
    const b = await resources.sourceMetadata('t2', spec());
    expect(b.value).toBe(a.value);
    const other = await resources.sourceMetadata('t3', spec('http://127.0.0.1:2'));
    expect(other.value).not.toBe(a.value);
    await Promise.all([a.release(), b.release(), other.release()]);
  });

  it('keeps a released connection for the next lease instead of building it again', async () => {
    resources = new TaskResources(noRedis, 'q', log, {}, 1_000);
    const first = await resources.sourceMetadata('t', spec());
    await first.release();
    const again = await resources.sourceMetadata('t', spec());
    expect(again.value).toBe(first.value);
    await again.release();
  });

  it('closes a connection nobody held for the idle time, and all idle ones at close()', async () => {
    resources = new TaskResources(noRedis, 'q', log, {}, 30);
    const first = await resources.sourceMetadata('t', spec());
    await first.release();
    await sleep(80);
    const later = await resources.sourceMetadata('t', spec());
    expect(later.value).not.toBe(first.value);
    await later.release();
    await resources.close();
    const afterClose = await resources.sourceMetadata('t', spec());
    expect(afterClose.value).not.toBe(later.value);
    await afterClose.release();
  });
});
