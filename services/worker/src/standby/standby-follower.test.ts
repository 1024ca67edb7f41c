import type { CollectionNaming, RbacState, StandbyEvent } from '@cdc/shared';
import { describe, expect, it } from 'vitest';
import type { PausePoint } from '../ports/lease-progress.js';
import type { StandbyReport } from '../ports/worker-control.js';
import { CollectionCatalog } from '../replication/collection-catalog.js';
import { TaskScope } from '../replication/task-scope.js';
import {
  FakeSourceMetadata,
  FakeTargetWriter,
  collectionInfo,
  silentLogger,
} from '../testing/fakes.js';
import {
  FakeStandbyMetadata,
  FakeStandbyTarget,
  NO_RBAC,
  aliasEntry,
  naming,
} from '../testing/standby-fakes.js';
import { CollectionSync } from './collection-sync.js';
import { RbacSync } from './rbac-sync.js';
import { StandbyFollower } from './standby-follower.js';
import { StandbyIssues } from './standby-issues.js';
import { StandbyOrder } from './standby-order.js';

const log = silentLogger();

async function waitFor(what: string, check: () => boolean, ms = 3_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

const ORDERS = 10n;
const SECRET = 11n;

function setup(
  opts: {
    collections?: CollectionNaming[];
    rbac?: RbacState;
    passwords?: [string, string][];
  } = {},
) {
  const meta = new FakeStandbyMetadata();
  const collections = opts.collections ?? [naming({ id: ORDERS, db: 'shop', name: 'orders' })];
  meta.snapshotValue = { ...meta.snapshotValue, collections, rbac: opts.rbac ?? NO_RBAC };
  const target = new FakeStandbyTarget();
  const source = new FakeSourceMetadata(
    ...collections.map((c) =>
      collectionInfo({ id: c.id, name: c.name, dbName: c.db, physicalChannels: ['p-dml_0'] }),
    ),
  );
  const scope = new TaskScope({
    include: [{ database: 'shop', collection: '*' }],
    exclude: [{ database: 'shop', collection: 'secret*' }],
  });
  const progress: {
    pause: PausePoint | undefined;
    applyUntil: bigint | undefined;
    channelCheckpoints: Map<string, bigint>;
  } = { pause: undefined, applyUntil: undefined, channelCheckpoints: new Map([['p-dml_0', 1n]]) };
  const order = new StandbyOrder({ progress, log, channelWaitMs: 60_000, pollMs: 5 });
  const reports: StandbyReport[] = [];
  const issues = new StandbyIssues((r) => {
    reports.push(r);
    return Promise.resolve();
  }, log).forTarget(undefined);
  const catalog = new CollectionCatalog(source, scope, new FakeTargetWriter());
  const sync = new CollectionSync({
    standbyMetadata: meta,
    sourceMetadata: source,
    target,
    catalog,
    scope,
    order,
    issues,
    log,
  });
  const rbac = new RbacSync({
    target,
    scope,
    initialPasswords: new Map(opts.passwords ?? []),
    issues,
    log,
  });
  const follower = new StandbyFollower({
    metadata: meta,
    collections: sync,
    rbac,
    order,
    issues,
    log,
    recheckMs: 20,
  });
  const ac = new AbortController();
  let running: Promise<void> | undefined;
  return {
    meta,
    target,
    progress,
    reports,
    lastReport: () => reports.at(-1),
    start: (): void => {
      running = follower.run(ac.signal);
    },
    stop: async () => {
      ac.abort();
      await running;
    },
  };
}

describe('StandbyFollower', () => {
  it('brings the target in line at the start: a rename it missed, properties, aliases', async () => {
    const s = setup({
      collections: [
        naming({
          id: ORDERS,
          db: 'shop',
          name: 'orders_v2',
          properties: [{ key: 'collection.ttl.seconds', value: '600' }],
        }),
      ],
    });
    s.meta.snapshotValue = {
      ...s.meta.snapshotValue,
      aliases: [aliasEntry('live', ORDERS, 'shop')],
    };
    s.meta.history.set(ORDERS, [
      { db: 'shop', name: 'orders_v2' },
      { db: 'shop', name: 'orders' },
    ]);
    s.target.addCollection({ db: 'shop', collection: 'orders' }, ORDERS);
    s.target.aliases.set('shop.stale', 'orders');
    s.target.aliases.set('shop.theirs', 'not_ours');
    s.target.addCollection({ db: 'shop', collection: 'not_ours' });
    s.start();
    await waitFor('the aliases', () => s.target.changes.length >= 4);
    await s.stop();
    expect(s.target.changes).toEqual([
      'rename shop.orders -> shop.orders_v2',
      'properties shop.orders_v2 set collection.ttl.seconds=600 remove ',
      'alias shop.live -> orders_v2',
      'drop alias shop.stale',
    ]);
    // An alias of a collection the task does not replicate is the target's own.
    expect(s.target.aliases.get('shop.theirs')).toBe('not_ours');
  });

  it('points an alias at a collection only once its channels passed the change, and stops at a pause', async () => {
    const s = setup();
    s.target.addCollection({ db: 'shop', collection: 'orders' }, ORDERS);
    s.start();
    s.meta.emit({
      type: 'AliasSet',
      revision: 2n,
      ts: 100n,
      alias: aliasEntry('live', ORDERS, 'shop'),
    });
    await new Promise((r) => setTimeout(r, 100));
    expect(s.target.changes).toEqual([]);
    s.progress.channelCheckpoints.set('p-dml_0', 100n);
    await waitFor('the alias', () => s.target.changes.length === 1);
    expect(s.target.changes).toEqual(['alias shop.live -> orders']);

    // A change past the pause point is not applied; the follower stops there.
    s.progress.pause = { timestamp: 150n, immediate: false };
    s.progress.channelCheckpoints.set('p-dml_0', 500n);
    s.meta.emit({
      type: 'AliasDropped',
      revision: 3n,
      ts: 200n,
      dbId: 1n,
      db: 'shop',
      alias: 'live',
    });
    await s.stop();
    expect(s.target.changes).toEqual(['alias shop.live -> orders']);
  });

  it('renames on the target, also out of scope (reported), and reports an alias of an out-of-scope collection', async () => {
    const orders = naming({ id: ORDERS, db: 'shop', name: 'orders' });
    const secret = naming({ id: SECRET, db: 'shop', name: 'secret' });
    const s = setup({ collections: [orders, secret] });
    s.target.addCollection({ db: 'shop', collection: 'orders' }, ORDERS);
    s.start();
    const renamed = { ...orders, name: 'orders_2025' };
    s.meta.emit({
      type: 'CollectionAltered',
      revision: 2n,
      ts: 1n,
      before: orders,
      after: renamed,
    });
    s.meta.emit({
      type: 'AliasSet',
      revision: 3n,
      ts: 1n,
      alias: aliasEntry('hidden', SECRET, 'shop'),
    });
    s.meta.emit({
      type: 'CollectionAltered',
      revision: 4n,
      ts: 1n,
      before: renamed,
      after: { ...renamed, name: 'secret_old' },
    });
    await waitFor('two renames', () => s.target.changes.length === 2);
    await waitFor('the report', () => (s.lastReport()?.skipped.length ?? 0) === 2);
    await s.stop();
    expect(s.target.changes).toEqual([
      'rename shop.orders -> shop.orders_2025',
      'rename shop.orders_2025 -> shop.secret_old',
    ]);
    expect(s.lastReport()?.skipped).toEqual([
      "alias shop.hidden points at shop.secret, which is out of the task's scope: not replicated",
      "collection shop.orders_2025 was renamed to shop.secret_old, which is out of the task's scope: renamed on the target too, no longer replicated",
    ]);
  });

  it('replicates RBAC: users with an initial password, roles, bindings and grants; the rest waits for a person', async () => {
    const rbac: RbacState = {
      users: ['alice', 'bob', 'root'],
      roles: ['admin', 'reader'],
      bindings: [
        { user: 'alice', role: 'reader' },
        { user: 'bob', role: 'reader' },
      ],
      grants: [
        {
          role: 'reader',
          objectType: 'Collection',
          db: 'shop',
          objectName: 'orders',
          privilege: 'Search',
        },
        { role: 'admin', objectType: 'Global', db: '*', objectName: '*', privilege: 'All' },
      ],
      privilegeGroups: [],
    };
    const s = setup({ rbac, passwords: [['alice', 'alice-Secret-1']] });
    s.start();
    await waitFor(
      'bob reported',
      () => s.lastReport()?.usersNeedingPerson.includes('bob') === true,
    );
    expect(s.target.changes).toEqual([
      'create user alice',
      'create role reader',
      'bind alice/reader',
      'grant reader/Collection/shop.orders/Search',
    ]);
    expect(s.target.passwords.get('alice')).toBe('alice-Secret-1');
    // A person creates bob on the target: the next look binds him.
    s.target.users.add('bob');
    await waitFor('bob bound', () => s.target.bindings.has('bob/reader'));
    await waitFor('bob cleared', () => s.lastReport()?.usersNeedingPerson.length === 0);
    // Removals on the source follow, in the order Milvus needs (grants and bindings before the role).
    s.meta.emit({
      type: 'RbacChanged',
      revision: 2n,
      ts: 1n,
      rbac: {
        ...rbac,
        users: ['alice', 'root'],
        roles: ['admin'],
        bindings: [],
        grants: [rbac.grants[1]!],
      },
    });
    await waitFor('the removals', () => !s.target.users.has('bob'));
    await s.stop();
    expect(s.target.changes.slice(5)).toEqual([
      'revoke reader/Collection/shop.orders/Search',
      'unbind alice/reader',
      'unbind bob/reader',
      'drop role reader',
      'delete user bob',
    ]);
  });

  it('reports what the target refuses or lacks, and clears it once applied', async () => {
    const s = setup();
    s.target.addCollection({ db: 'shop', collection: 'orders' }, ORDERS);
    s.target.refuse = (c) => c.startsWith('alias');
    s.start();
    const event: StandbyEvent = {
      type: 'DatabaseAltered',
      revision: 2n,
      ts: 1n,
      before: { id: 5n, name: 'shop', properties: [], source: { key: 'db', revision: 1n } },
      after: {
        id: 5n,
        name: 'shop',
        properties: [{ key: 'database.replica.number', value: '2' }],
        source: { key: 'db', revision: 2n },
      },
    };
    s.meta.emit(event);
    s.meta.emit({
      type: 'AliasSet',
      revision: 3n,
      ts: 1n,
      alias: aliasEntry('live', ORDERS, 'shop'),
    });
    await waitFor('two items', () => (s.lastReport()?.skipped.length ?? 0) === 2);
    expect(s.lastReport()?.skipped).toEqual([
      'alias shop.live -> shop.orders: refused: alias shop.live -> orders',
      'database shop properties: the target does not support database properties (Milvus < 2.4)',
    ]);
    s.target.refuse = undefined;
    s.meta.emit({
      type: 'AliasSet',
      revision: 4n,
      ts: 1n,
      alias: aliasEntry('live', ORDERS, 'shop'),
    });
    await waitFor('one item', () => s.lastReport()?.skipped.length === 1);
    await s.stop();
  });
});
