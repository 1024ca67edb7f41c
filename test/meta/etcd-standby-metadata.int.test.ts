import { randomUUID } from 'node:crypto';
import { Etcd3 } from 'etcd3';
import { DataType, MilvusClient, promisify } from '@zilliz/milvus2-sdk-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EtcdStandbyMetadata, tsToUnixMs } from '@cdc/shared';
import type { StandbyEvent } from '@cdc/shared';
import { stackEnv } from '../helpers/stack.js';

/**
 * The standby metadata of the real source Milvus 2.3.5: aliases, renames (also into another database), collection
 * properties and RBAC made through the SDK are read from its etcd with their source timestamps.
 */
const env = stackEnv();
const id = randomUUID().slice(0, 8);
const db1 = `sbm_${id}_a`;
const db2 = `sbm_${id}_b`;
const role = `sbm_role_${id}`;
const user = `sbm_user_${id}`;
const fields = [
  { name: 'id', data_type: DataType.Int64, is_primary_key: true },
  { name: 'v', data_type: DataType.FloatVector, dim: 2 },
];

function ok(res: { error_code?: string | number; reason?: string }): void {
  if (res.error_code !== 'Success') throw new Error(`source refused: ${res.reason ?? ''}`);
}

describe('EtcdStandbyMetadata on the real source', () => {
  let etcd: Etcd3;
  let meta: EtcdStandbyMetadata;
  // RBAC calls need a user in the request even though the local source runs without authentication.
  const source = new MilvusClient({
    address: env.sourceMilvusAddress,
    username: 'root',
    password: 'Milvus',
    logLevel: 'error',
  });
  const privilege = (type: 0 | 1, db: string, collection: string, name: string) =>
    promisify(
      (source as unknown as { channelPool: never }).channelPool,
      'OperatePrivilege',
      {
        entity: {
          role: { name: role },
          object: { name: 'Collection' },
          object_name: collection,
          grantor: { privilege: { name } },
          db_name: db,
        },
        type,
      },
      15_000,
    ) as Promise<{ error_code: string; reason: string }>;

  beforeAll(async () => {
    etcd = new Etcd3({ hosts: env.etcdEndpoints.map((h) => `http://${h}`) });
    meta = new EtcdStandbyMetadata({ client: etcd, rootPath: env.sourceEtcdRoot });
    ok(await source.createDatabase({ db_name: db1 }));
    ok(await source.createDatabase({ db_name: db2 }));
    for (const c of ['c1', 'c2'])
      ok(await source.createCollection({ db_name: db1, collection_name: c, fields }));
  });
  afterAll(async () => {
    await privilege(1, db1, 'c2', 'Search').catch(() => undefined);
    await source.removeUserFromRole({ username: user, roleName: role }).catch(() => undefined);
    await source.dropRole({ roleName: role }).catch(() => undefined);
    await source.deleteUser({ username: user }).catch(() => undefined);
    for (const db of [db1, db2]) {
      const list = await source.listCollections({ db_name: db }).catch(() => ({ data: [] }));
      for (const c of list.data)
        await source.dropCollection({ db_name: db, collection_name: c.name });
      await source.dropDatabase({ db_name: db }).catch(() => undefined);
    }
    await meta.close();
    etcd.close();
    await source.closeConnection();
  });

  it('reports aliases, renames, properties and RBAC in source order with their source timestamps', async () => {
    const before = await meta.snapshot();
    expect(
      before.collections
        .filter((c) => c.db === db1)
        .map((c) => c.name)
        .sort(),
    ).toEqual(['c1', 'c2']);
    const ac = new AbortController();
    const events: StandbyEvent[] = [];
    const watching = (async () => {
      for await (const e of meta.watch({ signal: ac.signal, afterRevision: before.revision }))
        if (e.type !== 'RbacChanged' || e.rbac.roles.includes(role)) events.push(e);
    })();
    const started = Date.now();
    ok(await source.createAlias({ db_name: db1, collection_name: 'c1', alias: 'live' }));
    ok(await source.alterAlias({ db_name: db1, collection_name: 'c2', alias: 'live' }));
    ok(await source.dropAlias({ db_name: db1, alias: 'live' } as never));
    ok(
      await source.alterCollectionProperties({
        db_name: db1,
        collection_name: 'c1',
        properties: { 'collection.ttl.seconds': 1800 },
      }),
    );
    ok(
      await source.renameCollection({
        db_name: db1,
        collection_name: 'c1',
        new_collection_name: 'c1_renamed',
        new_db_name: db1,
      }),
    );
    ok(
      await source.renameCollection({
        db_name: db1,
        collection_name: 'c1_renamed',
        new_collection_name: 'c1_moved',
        new_db_name: db2,
      }),
    );
    ok(await source.createUser({ username: user, password: 'Passw0rd-1' }));
    ok(await source.createRole({ roleName: role }));
    ok(await privilege(0, db1, 'c2', 'Search'));
    ok(await source.addUserToRole({ username: user, roleName: role }));
    const deadline = Date.now() + 20_000;
    while (Date.now() < deadline) {
      const last = events.at(-1);
      if (last?.type === 'RbacChanged' && last.rbac.bindings.some((b) => b.role === role)) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    ac.abort();
    await watching;

    const summary = events.map((e) => {
      switch (e.type) {
        case 'AliasSet':
          return `set ${e.alias.db}.${e.alias.alias}`;
        case 'AliasDropped':
          return `drop ${e.db}.${e.alias}`;
        case 'CollectionAltered':
          return `alter ${e.before.db}.${e.before.name} -> ${e.after.db}.${e.after.name}`;
        default:
          return e.type;
      }
    });
    // RBAC changes may be seen one by one or together: compare them as one.
    const compact = summary.filter(
      (s, i) => s !== 'RbacChanged' || summary[i + 1] !== 'RbacChanged',
    );
    expect(compact).toEqual([
      `set ${db1}.live`,
      `set ${db1}.live`,
      `drop ${db1}.live`,
      `alter ${db1}.c1 -> ${db1}.c1`,
      `alter ${db1}.c1 -> ${db1}.c1_renamed`,
      `alter ${db1}.c1_renamed -> ${db2}.c1_moved`,
      'RbacChanged',
    ]);
    const c2 = before.collections.find((c) => c.db === db1 && c.name === 'c2');
    const repoint = events[1];
    expect(repoint?.type === 'AliasSet' && repoint.alias.collectionId).toBe(c2?.id);
    // Milvus 2.3.5 saves the previous properties on AlterCollection: the TTL reaches etcd with the next rewrite.
    const [altered, renamed] = events.filter((e) => e.type === 'CollectionAltered');
    expect(altered?.type === 'CollectionAltered' && altered.after.properties).toEqual([]);
    expect(renamed?.type === 'CollectionAltered' && renamed.after.properties).toContainEqual({
      key: 'collection.ttl.seconds',
      value: '1800',
    });
    // Source timestamps: increasing, and the physical part is the wall time of the call.
    const stamps = events.filter((e) => e.type !== 'RbacChanged').map((e) => e.ts);
    expect([...stamps].sort((a, b) => (a < b ? -1 : 1))).toEqual(stamps);
    for (const ts of stamps) {
      expect(tsToUnixMs(ts)).toBeGreaterThanOrEqual(started - 1_000);
      expect(tsToUnixMs(ts)).toBeLessThanOrEqual(Date.now() + 1_000);
    }
    const rbac = events.at(-1);
    expect(rbac?.type === 'RbacChanged' && rbac.rbac.grants).toContainEqual({
      role,
      objectType: 'Collection',
      db: db1,
      objectName: 'c2',
      privilege: 'Search',
    });
    expect(rbac?.type === 'RbacChanged' && rbac.rbac.bindings).toContainEqual({ user, role });
    expect(rbac?.type === 'RbacChanged' && rbac.rbac.users).toContain(user);

    // The renamed collection's names, newest first (to find it on a target that has not followed yet).
    const moved = events.filter((e) => e.type === 'CollectionAltered').at(-1);
    const movedId = moved?.type === 'CollectionAltered' ? moved.after.id : -1n;
    expect(await meta.collectionNames(movedId)).toEqual([
      { db: db2, name: 'c1_moved' },
      { db: db1, name: 'c1_renamed' },
      { db: db1, name: 'c1' },
    ]);
    const after = await meta.snapshot();
    expect(after.rbac.roles).toContain(role);
    expect(after.collections.find((c) => c.id === movedId)?.db).toBe(db2);
  });
});
