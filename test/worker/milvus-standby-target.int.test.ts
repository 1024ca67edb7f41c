/**
 * MilvusStandbyTarget against the real target Milvus 2.3.5 (127.0.0.1:19540): aliases, renames (also into another
 * database), properties and RBAC are applied idempotently, and what 2.3.5 lacks is refused as unsupported.
 */
import { randomUUID } from 'node:crypto';
import { CdcError, createLogger } from '@cdc/shared';
import { DataType, MilvusClient } from '@zilliz/milvus2-sdk-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stackEnv } from '../helpers/stack.js';
import {
  createMilvusTargetWriter,
  type MilvusTargetWriter,
} from '../../services/worker/src/adapters/milvus-target-writer.js';
import type { MilvusStandbyTarget } from '../../services/worker/src/adapters/milvus-standby.js';

const env = stackEnv();
const logger = createLogger({ service: 'test', level: 'silent' });
const id = randomUUID().slice(0, 8);
const db1 = `sbt_${id}_a`;
const db2 = `sbt_${id}_b`;
const role = `sbt_role_${id}`;
const user = `sbt_user_${id}`;
const fields = [
  { name: 'id', data_type: DataType.Int64, is_primary_key: true },
  { name: 'v', data_type: DataType.FloatVector, dim: 2 },
];

async function rejection(p: Promise<unknown>): Promise<CdcError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(err instanceof CdcError)) throw new Error(`expected a CdcError, got ${String(err)}`);
  return err;
}

describe('MilvusStandbyTarget on the real target', () => {
  let writer: MilvusTargetWriter;
  let standby: MilvusStandbyTarget;
  // Grants need a user in the request even though the local target runs without authentication.
  const check = new MilvusClient({
    address: env.targetMilvusAddress,
    username: 'root',
    password: 'Milvus',
    logLevel: 'error',
  });

  beforeAll(async () => {
    writer = createMilvusTargetWriter({
      address: env.targetMilvusAddress,
      username: 'root',
      password: 'Milvus',
      logger,
    });
    standby = writer.standby();
    await check.createDatabase({ db_name: db1 });
    for (const c of ['c1', 'c2'])
      await check.createCollection({ db_name: db1, collection_name: c, fields });
  });
  afterAll(async () => {
    await standby.removeUserFromRole({ user, role }).catch(() => undefined);
    await standby.dropRole(role).catch(() => undefined);
    await standby.deleteUser(user).catch(() => undefined);
    for (const db of [db1, db2]) {
      for (const a of await standby.listAliases(db).catch(() => []))
        await standby.dropAlias(db, a.alias);
      const list = await check.listCollections({ db_name: db }).catch(() => ({ data: [] }));
      for (const c of list.data)
        await check.dropCollection({ db_name: db, collection_name: c.name });
      await check.dropDatabase({ db_name: db }).catch(() => undefined);
    }
    await writer.close();
    await check.closeConnection();
  });

  it('creates, re-points and drops aliases, each step replayable', async () => {
    await standby.setAlias('live', { db: db1, collection: 'c1' });
    await standby.setAlias('live', { db: db1, collection: 'c1' });
    expect(await standby.listAliases(db1)).toEqual([{ alias: 'live', collection: 'c1' }]);
    await standby.setAlias('live', { db: db1, collection: 'c2' });
    expect(await standby.listAliases(db1)).toEqual([{ alias: 'live', collection: 'c2' }]);
    await standby.dropAlias(db1, 'live');
    await standby.dropAlias(db1, 'live');
    expect(await standby.listAliases(db1)).toEqual([]);
    expect(await standby.listAliases(`nodb_${id}`)).toEqual([]);
  });

  it('renames within and across databases; a replayed rename is a no-op', async () => {
    await standby.renameCollection({ db: db1, collection: 'c1' }, { db: db1, collection: 'c1r' });
    await standby.renameCollection({ db: db1, collection: 'c1' }, { db: db1, collection: 'c1r' });
    expect(await standby.describeCollection({ db: db1, collection: 'c1r' })).toBeDefined();
    // Into a database that does not exist yet: created first.
    await standby.renameCollection({ db: db1, collection: 'c1r' }, { db: db2, collection: 'c1m' });
    expect(await standby.describeCollection({ db: db2, collection: 'c1m' })).toBeDefined();
    expect(await standby.describeCollection({ db: db1, collection: 'c1r' })).toBeUndefined();
    // The writer's own schema cache follows: rows go to the new name at once.
    await writer.upsert({ db: db2, collection: 'c1m' }, '_default', [{ id: '1', v: [1, 2] }]);
  });

  it('sets properties; removing them is refused as unsupported on 2.3.5, and so is AlterDatabase', async () => {
    const c2 = { db: db1, collection: 'c2' };
    await standby.alterCollectionProperties(
      c2,
      [{ key: 'collection.ttl.seconds', value: '600' }],
      [],
    );
    expect((await standby.describeCollection(c2))?.properties).toEqual([
      { key: 'collection.ttl.seconds', value: '600' },
    ]);
    const remove = await rejection(
      standby.alterCollectionProperties(c2, [], ['collection.ttl.seconds']),
    );
    expect(remove.details['unsupported']).toBe(true);
    const alterDb = await rejection(
      standby.alterDatabaseProperties(db1, [{ key: 'database.replica.number', value: '1' }], []),
    );
    expect(alterDb.details['unsupported']).toBe(true);
    expect(await standby.databaseProperties(db1)).toBeUndefined();
  });

  it('creates roles, users, bindings and grants per database, and takes them away again', async () => {
    const grant = {
      role,
      objectType: 'Collection',
      db: db1,
      objectName: 'c2',
      privilege: 'Search',
    };
    const global = {
      role,
      objectType: 'Global',
      db: 'default',
      objectName: '*',
      privilege: 'CreateCollection',
    };
    await standby.createRole(role);
    await standby.createRole(role);
    await standby.createUser(user, 'Passw0rd-1');
    await standby.createUser(user, 'Passw0rd-1');
    await standby.addUserToRole({ user, role });
    await standby.grant(grant);
    await standby.grant(grant);
    await standby.grant(global);
    const rbac = await standby.rbac(['default', db1]);
    expect(rbac.users).toContain(user);
    expect(rbac.roles).toContain(role);
    expect(rbac.bindings).toContainEqual({ user, role });
    expect(rbac.grants.filter((g) => g.role === role)).toEqual([global, grant]);

    await standby.revoke(grant);
    await standby.revoke(grant);
    await standby.revoke(global);
    await standby.removeUserFromRole({ user, role });
    await standby.dropRole(role);
    await standby.dropRole(role);
    await standby.deleteUser(user);
    await standby.removeUserFromRole({ user, role });
    const after = await standby.rbac(['default', db1]);
    expect(after.roles).not.toContain(role);
    expect(after.users).not.toContain(user);
  });
});
