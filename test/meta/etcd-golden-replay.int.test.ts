import { randomUUID } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Etcd3 } from 'etcd3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EtcdSourceMetadata } from '@cdc/shared';
import type { MetadataEvent } from '@cdc/shared';
import { stackEnv } from '../helpers/stack.js';

/**
 * Replays the etcd changes the real Milvus 2.3.5 made during the capture session (test/fixtures/captured) into a
 * fresh prefix of the real etcd, and checks what the metadata watch reports.
 */
const file = fileURLToPath(new URL('../fixtures/captured/etcd-changes.json', import.meta.url));
const present = existsSync(file);

interface EtcdChange {
  revision: string;
  type: 'put' | 'delete';
  key: string;
  value?: string;
}

describe.skipIf(!present)('EtcdSourceMetadata on the captured 2.3.5 etcd changes', () => {
  const env = stackEnv();
  let client: Etcd3;
  const root = `test-${randomUUID()}`;

  beforeAll(() => {
    client = new Etcd3({ hosts: env.etcdEndpoints.map((h) => `http://${h}`) });
  });
  afterAll(async () => {
    await client.delete().prefix(`${root}/`);
    client.close();
  });

  it('reports creates and drops in source order', async () => {
    const changes = JSON.parse(readFileSync(file, 'utf8')) as EtcdChange[];
    const srcRoot = changes[0]?.key.split('/')[0] ?? 'source';
    const meta = new EtcdSourceMetadata({ client, rootPath: root });
    const afterRevision = await meta.currentRevision();
    const ac = new AbortController();
    const events: MetadataEvent[] = [];
    const watching = (async () => {
      for await (const e of meta.watch({ signal: ac.signal, afterRevision })) {
        events.push(e);
        if (e.type === 'DatabaseDropped') ac.abort();
      }
    })();
    for (const c of changes) {
      const key = `${root}${c.key.slice(srcRoot.length)}`;
      if (c.type === 'delete') await client.delete().key(key);
      else await client.put(key).value(Buffer.from(c.value ?? '', 'base64'));
    }
    await watching;

    expect(events.map((e) => e.type)).toEqual([
      'DatabaseCreated',
      'PartitionCreated',
      'CollectionCreated',
      'PartitionCreated',
      'CollectionCreated',
      'PartitionCreated',
      'PartitionDropped',
      'CollectionDropped',
      'CollectionDropped',
      'DatabaseDropped',
    ]);
    const created = events.flatMap((e) => (e.type === 'CollectionCreated' ? [e.collection] : []));
    const allTypes = created.find((c) => c.name === 'all_types');
    expect(allTypes?.dbName).toBe('cdc_fx_db');
    expect(allTypes?.schema.enableDynamicField).toBe(true);
    expect(allTypes?.schema.fields.map((f) => f.name)).toEqual([
      'id',
      'b',
      'i8',
      'i16',
      'i32',
      'i64',
      'f',
      'd',
      's',
      'j',
      'arr',
      'vec',
    ]);
    expect(allTypes?.virtualChannels.length).toBe(2);
    expect(allTypes?.startPositions.length).toBe(2);
    const binStr = created.find((c) => c.name === 'bin_str');
    expect(binStr?.schema.fields.find((f) => f.isPrimaryKey)?.name).toBe('pk');
    const p1 = events.find((e) => e.type === 'PartitionCreated' && e.partition.name === 'p1');
    expect(p1).toBeDefined();

    // after the session everything is dropped (Dropping state or tombstone): nothing is listed
    expect(await meta.listDatabases()).toEqual([]);
    expect(await meta.listCollections()).toEqual([]);
    expect((await meta.readTso()).unixNanos).toBeGreaterThan(0n);
    await meta.close();
  });
});
