/**
 * A complete standby end to end on the real stack (issue 19): aliases created, re-pointed and dropped, collections
 * renamed (within a database and into another one), a TTL changed, roles, grants and user bindings created on the
 * source Milvus 2.3.5 are all found on the target; an alias re-pointed right after a bulk load never points at a
 * half-copied collection on the target; VerifyTask reports differences made directly on the target.
 */
import { DataType, MilvusClient, promisify, type RowData } from '@zilliz/milvus2-sdk-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kafkaSourceSpec } from '../helpers/stack.js';
import { waitUntil } from '../helpers/processes.js';
import { E2eHarness, env } from './harness.js';

const h = new E2eHarness();
const db = `${h.prefix}_db`;
const db2 = `${h.prefix}_db2`;
const p = h.prefix;
const role = `${p}_reader`;
const role2 = `${p}_writer`;
const alice = `${p}_alice`;
const bob = `${p}_bob`;
const BULK_ROWS = 20_000;
const DIM = 8;

// RBAC calls need a user in the request even though the local servers run without authentication.
const connect = (address: string): MilvusClient =>
  new MilvusClient({ address, username: 'root', password: 'Milvus', logLevel: 'error' });
const src = connect(env.sourceMilvusAddress);
const tgt = connect(env.targetMilvusAddress);
let taskId = '';

function ok(res: { error_code?: string | number; reason?: string }, what: string): void {
  if (res.error_code !== 'Success') throw new Error(`${what}: ${res.reason ?? 'failed'}`);
}

function operatePrivilege(
  client: MilvusClient,
  type: 0 | 1,
  grant: { role: string; object: string; name: string; db: string; privilege: string },
): Promise<{ error_code: string; reason: string }> {
  return promisify(
    client.channelPool,
    'OperatePrivilege',
    {
      entity: {
        role: { name: grant.role },
        object: { name: grant.object },
        object_name: grant.name,
        grantor: { privilege: { name: grant.privilege } },
        db_name: grant.db,
      },
      type,
    },
    15_000,
  ) as Promise<{ error_code: string; reason: string }>;
}

interface Grant {
  object: { name: string };
  object_name: string;
  db_name: string;
  grantor: { privilege: { name: string } };
}

async function grantsOf(client: MilvusClient, r: string, d: string): Promise<string[]> {
  const res = (await promisify(
    client.channelPool,
    'SelectGrant',
    { entity: { role: { name: r }, db_name: d } },
    15_000,
  )) as { entities: Grant[] };
  return res.entities
    .map((e) => `${e.object.name}/${e.db_name}.${e.object_name}/${e.grantor.privilege.name}`)
    .sort();
}

async function createCollection(d: string, name: string): Promise<void> {
  const base = { db_name: d, collection_name: name };
  ok(
    await src.createCollection({
      ...base,
      fields: [
        { name: 'pk', data_type: DataType.Int64, is_primary_key: true },
        { name: 'vec', data_type: DataType.FloatVector, dim: DIM },
      ],
    }),
    `creating ${name}`,
  );
  ok(
    await src.createIndex({ ...base, field_name: 'vec', index_type: 'FLAT', metric_type: 'L2' }),
    'index',
  );
  ok(await src.loadCollectionSync(base), 'load');
}

async function insert(
  d: string,
  name: string,
  from: number,
  count: number,
  batch = 2_000,
): Promise<void> {
  for (let i = from; i < from + count; i += batch) {
    const data: RowData[] = [];
    for (let k = i; k < Math.min(from + count, i + batch); k++)
      data.push({ pk: k, vec: Array.from({ length: DIM }, (_, j) => Math.sin(k + j)) });
    const res = await src.insert({ db_name: d, collection_name: name, data });
    ok(res.status, `inserting into ${name}`);
  }
}

async function aliasOf(client: MilvusClient, d: string, alias: string): Promise<string> {
  const res = await client.describeAlias({ db_name: d, alias, collection_name: alias });
  return res.status.error_code === 'Success' ? res.collection : '';
}

async function count(client: MilvusClient, d: string, name: string): Promise<number> {
  const res = await client.query({
    db_name: d,
    collection_name: name,
    expr: '',
    output_fields: ['count(*)'],
    consistency_level: 'Strong' as never,
  });
  if (res.status.error_code !== 'Success') return -1;
  return Number(res.data[0]?.['count(*)'] ?? -1);
}

async function properties(
  client: MilvusClient,
  d: string,
  name: string,
): Promise<Record<string, string>> {
  const res = await client.describeCollection({ db_name: d, collection_name: name });
  return Object.fromEntries(
    res.properties
      .filter((kv) => !kv.key.startsWith('cdc.'))
      .map((kv) => [kv.key, String(kv.value)]),
  );
}

async function exists(client: MilvusClient, d: string, name: string): Promise<boolean> {
  const res = await client.hasCollection({ db_name: d, collection_name: name });
  return res.value === true;
}

async function boundRoles(client: MilvusClient, user: string): Promise<string[]> {
  const res = await client.describeUser({ username: user, includeRoleInfo: true });
  return (res.results[0]?.roles ?? []).map((r) => r.name).sort();
}

interface StandbyStatus {
  users_needing_person: string[];
  skipped: string[];
}
interface MetadataDifference {
  kind: string;
  name: string;
  source: string;
  target: string;
}

/** Waits until `state()` reads `expected`; a timeout names the last state seen. */
async function eventually(
  what: string,
  state: () => Promise<string>,
  expected: string,
  timeoutMs: number,
): Promise<void> {
  let last = '';
  await waitUntil(what, async () => (last = await state()) === expected, timeoutMs, 1_000).catch(
    (err: unknown) => {
      throw new Error(`${String(err)}; last state ${last}, expected ${expected}`);
    },
  );
}

async function standbyStatus(): Promise<StandbyStatus | null> {
  const task = await h.client!.call<{ standby: StandbyStatus | null }>('GetTask', {
    task_id: taskId,
  });
  return task.standby;
}

function verify(): Promise<{ clean: boolean; metadata_differences: MetadataDifference[] }> {
  return h.client!.call('VerifyTask', { task_id: taskId }, 180_000);
}

/** Drops the roles (grants and bindings first) and users whose names match: RBAC is cluster-wide, not per test. */
async function dropRbac(client: MilvusClient, match: (name: string) => boolean): Promise<void> {
  const dbs = (await client.listDatabases()).db_names;
  for (const r of (await client.listRoles({ includeUserInfo: true })).results) {
    if (!match(r.role.name)) continue;
    for (const d of dbs) {
      const res = (await promisify(
        client.channelPool,
        'SelectGrant',
        { entity: { role: { name: r.role.name }, db_name: d } },
        15_000,
      )) as { entities: Grant[] };
      for (const g of res.entities)
        await operatePrivilege(client, 1, {
          role: r.role.name,
          object: g.object.name,
          name: g.object_name,
          db: g.db_name,
          privilege: g.grantor.privilege.name,
        });
    }
    for (const u of r.users)
      await client.removeUserFromRole({ username: u.name, roleName: r.role.name });
    await client.dropRole({ roleName: r.role.name });
  }
  for (const u of (await client.listUsers()).usernames)
    if (match(u)) await client.deleteUser({ username: u });
}

beforeAll(async () => {
  // What an interrupted earlier run of this test left.
  for (const client of [src, tgt])
    await dropRbac(client, (name) => /^e2e_[0-9a-f]{8}_(reader|writer|alice|bob)$/.test(name));
  await h.startControl();
  await h.startWorker('standby-worker');
  taskId = `task-${h.id}`;
  await h.client!.call('CreateTask', {
    task_id: taskId,
    spec: {
      source: kafkaSourceSpec(env),
      target: { uri: env.targetMilvusAddress, username: 'root', password: 'Milvus' },
      scope: {
        include: [{ database: `${p}_db*`, collection: '*' }],
        exclude: [{ database: db, collection: 'outside' }],
      },
      start: { kind: 'START_KIND_LATEST' },
      replicate_rbac: {
        enabled: true,
        initial_passwords: [{ user: alice, password: 'Alice-Passw0rd' }],
      },
    },
  });
  ok(await src.createDatabase({ db_name: db }), 'db');
  for (const c of ['orders_v1', 'orders_v2', 'moving', 'outside']) await createCollection(db, c);
  await insert(db, 'orders_v1', 0, 1_000);
  await insert(db, 'moving', 0, 500);
  ok(
    await src.createAlias({ db_name: db, collection_name: 'orders_v1', alias: 'orders_live' }),
    'alias',
  );
  await waitUntil(
    'orders_live on the target',
    async () =>
      (await aliasOf(tgt, db, 'orders_live')) === 'orders_v1' &&
      (await count(tgt, db, 'orders_v1')) === 1_000,
    120_000,
    500,
  );
}, 240_000);

afterAll(async () => {
  // The worker first: it would replay the source's RBAC removals half-done.
  for (const w of h.workers) await w.stop(5_000);
  await h.control?.stop(5_000);
  for (const client of [src, tgt]) {
    await dropRbac(client, (name) => name.startsWith(`${p}_`));
    for (const d of [db, db2])
      for (const a of ['orders_live', 'tmp_alias', 'outside_alias'])
        await client.dropAlias({ db_name: d, alias: a } as never).catch(() => undefined);
  }
  await h.cleanup();
  await src.closeConnection();
  await tgt.closeConnection();
});

describe('standby on the real stack', () => {
  it('re-points an alias after a bulk load only once the load is on the target', async () => {
    const seen: { alias: string; rows: number }[] = [];
    let polling = true;
    const poller = (async () => {
      while (polling) {
        const alias = await aliasOf(tgt, db, 'orders_live').catch(() => '');
        if (alias === 'orders_v2') seen.push({ alias, rows: await count(tgt, db, 'orders_v2') });
        await new Promise((r) => setTimeout(r, 50));
      }
    })();
    // Counting needs the target collection loaded (the load is replicated on its own).
    await waitUntil(
      'orders_v2 loaded on the target',
      async () => (await count(tgt, db, 'orders_v2')) === 0,
      120_000,
      500,
    );
    // The CDC is behind when the bulk load and the re-pointing happen (its worker is down), so when it starts again
    // the alias change is known at once while the rows still have to be copied: only the order keeps them apart.
    // Many small inserts, copied in small batches: the copy takes a while.
    await h.workers[0]?.stop();
    await insert(db, 'orders_v2', 0, BULK_ROWS, 100);
    ok(
      await src.alterAlias({ db_name: db, collection_name: 'orders_v2', alias: 'orders_live' }),
      'alter alias',
    );
    await h.startWorker('standby-worker-2', { WORKER_MAX_BATCH_ROWS: '100' });
    await waitUntil('orders_live re-pointed on the target', () => seen.length > 0, 180_000, 200);
    polling = false;
    await poller;
    // The first time the target shows the alias on orders_v2, every bulk-loaded row is already there.
    expect(seen[0]).toEqual({ alias: 'orders_v2', rows: BULK_ROWS });
    expect(seen.every((s) => s.rows === BULK_ROWS)).toBe(true);
  }, 240_000);

  it('follows renames (also into another database), TTL, dropped aliases and RBAC; reports what it cannot do', async () => {
    ok(
      await src.renameCollection({
        db_name: db,
        collection_name: 'orders_v1',
        new_collection_name: 'orders_archive',
        new_db_name: db,
      }),
      'rename',
    );
    await insert(db, 'orders_archive', 1_000, 10); // written under the new name
    ok(await src.createDatabase({ db_name: db2 }), 'db2');
    ok(
      await src.renameCollection({
        db_name: db,
        collection_name: 'moving',
        new_collection_name: 'moved',
        new_db_name: db2,
      }),
      'rename across databases',
    );
    await insert(db2, 'moved', 500, 5);
    ok(
      await src.alterCollectionProperties({
        db_name: db,
        collection_name: 'orders_v2',
        properties: { 'collection.ttl.seconds': 86_400 },
      }),
      'ttl',
    );
    ok(
      await src.createAlias({ db_name: db, collection_name: 'orders_v2', alias: 'tmp_alias' }),
      'tmp',
    );
    ok(await src.dropAlias({ db_name: db, alias: 'tmp_alias' } as never), 'drop tmp');
    ok(
      await src.createAlias({ db_name: db, collection_name: 'outside', alias: 'outside_alias' }),
      'outside',
    );
    ok(await src.createRole({ roleName: role }), 'role');
    ok(
      await operatePrivilege(src, 0, {
        role,
        object: 'Collection',
        name: 'orders_v2',
        db,
        privilege: 'Search',
      }),
      'grant',
    );
    ok(
      await operatePrivilege(src, 0, {
        role,
        object: 'Global',
        name: '*',
        db: 'default',
        privilege: 'CreateCollection',
      }),
      'grant global',
    );
    for (const u of [alice, bob]) {
      ok(await src.createUser({ username: u, password: 'Source-Passw0rd' }), 'user');
      ok(await src.addUserToRole({ username: u, roleName: role }), 'bind');
    }

    const renamed = async (): Promise<string> =>
      JSON.stringify([
        await exists(tgt, db, 'orders_archive'),
        await exists(tgt, db, 'orders_v1'),
        await exists(tgt, db2, 'moved'),
        await exists(tgt, db, 'moving'),
        await count(tgt, db, 'orders_archive'),
        await count(tgt, db2, 'moved'),
      ]);
    await eventually('renames on the target', renamed, '[true,false,true,false,1010,505]', 180_000);
    await waitUntil(
      'TTL, aliases and RBAC on the target',
      async () =>
        (await properties(tgt, db, 'orders_v2'))['collection.ttl.seconds'] === '86400' &&
        (await aliasOf(tgt, db, 'tmp_alias')) === '' &&
        (await boundRoles(tgt, alice).catch((): string[] => [])).includes(role),
      120_000,
      1_000,
    );
    expect(await aliasOf(tgt, db, 'orders_live')).toBe('orders_v2');
    expect(await aliasOf(tgt, db, 'outside_alias')).toBe('');
    expect(await grantsOf(tgt, role, db)).toEqual([`Collection/${db}.orders_v2/Search`]);
    expect(await grantsOf(tgt, role, 'default')).toEqual(['Global/default.*/CreateCollection']);
    expect((await tgt.listUsers()).usernames).not.toContain(bob);
    await waitUntil(
      'GetTask to report bob and the alias out of scope',
      async () => {
        const s = await standbyStatus();
        return (
          s !== null &&
          s.users_needing_person.includes(bob) &&
          s.skipped.some((x) => x.includes('outside_alias') && x.includes('out of the task'))
        );
      },
      30_000,
    );
    const status = await standbyStatus();
    expect(status?.users_needing_person).toEqual([bob]);
    // The rows written under the new names went to the renamed collections, not to new empty ones.
    expect(await count(tgt, db, 'orders_archive')).toBe(await count(src, db, 'orders_archive'));
  }, 420_000);

  it('binds a user once a person created it on the target', async () => {
    ok(await tgt.createUser({ username: bob, password: 'Bob-Passw0rd' }), 'bob on target');
    // Any later RBAC change on the source (or the periodic look) applies bob's binding.
    ok(await src.createRole({ roleName: role2 }), 'role2');
    await waitUntil(
      'bob bound and role2 created on the target',
      async () =>
        (await boundRoles(tgt, bob).catch((): string[] => [])).includes(role) &&
        (await tgt.listRoles()).results.some((r) => r.role.name === role2),
      90_000,
      1_000,
    );
    await waitUntil(
      'GetTask to clear bob',
      async () => (await standbyStatus())?.users_needing_person.length === 0,
      30_000,
    );
  }, 180_000);

  it('VerifyTask finds nothing, then reports aliases, properties and grants changed on the target', async () => {
    const clean = await verify();
    expect(clean.metadata_differences).toEqual([]);
    expect(clean.clean, JSON.stringify(clean)).toBe(true);

    ok(
      await tgt.alterCollectionProperties({
        db_name: db,
        collection_name: 'orders_v2',
        properties: { 'collection.ttl.seconds': 60 },
      }),
      'target ttl',
    );
    ok(await tgt.dropAlias({ db_name: db, alias: 'orders_live' } as never), 'target alias');
    ok(
      await operatePrivilege(tgt, 1, {
        role,
        object: 'Collection',
        name: 'orders_v2',
        db,
        privilege: 'Search',
      }),
      'revoke',
    );
    const found = await verify();
    expect(found.clean).toBe(false);
    expect(found.metadata_differences).toEqual([
      { kind: 'alias', name: `${db}.orders_live`, source: `${db}.orders_v2`, target: '' },
      {
        kind: 'collection_property',
        name: `${db}.orders_v2/collection.ttl.seconds`,
        source: '86400',
        target: '60',
      },
      {
        kind: 'grant',
        name: `${role}/Collection/${db}.orders_v2/Search`,
        source: `${role}/Collection/${db}.orders_v2/Search`,
        target: '',
      },
    ]);
  }, 420_000);
});
