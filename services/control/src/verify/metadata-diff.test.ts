import { describe, expect, it } from 'vitest';
import type { KeyValue } from '@cdc/shared';
import { spec } from '../testing/memory-stores.js';
import { metadataDifferences } from './metadata-diff.js';
import type { AliasTarget, CollectionRef, MetadataSide, SideRbac } from './ports.js';

function side(opts: {
  aliases?: Record<string, AliasTarget[]>;
  properties?: Record<string, KeyValue[]>;
  rbac?: SideRbac;
}): MetadataSide {
  return {
    aliases: (db) => Promise.resolve(opts.aliases?.[db] ?? []),
    properties: (ref: CollectionRef) =>
      Promise.resolve(opts.properties?.[`${ref.db}.${ref.collection}`]),
    rbac: () => Promise.resolve(opts.rbac ?? { users: [], roles: [], bindings: [], grants: [] }),
  };
}

describe('metadataDifferences', () => {
  it('compares aliases and properties in target names, and RBAC when the task replicates it', async () => {
    const task = {
      ...spec(),
      name_mapping: [
        {
          source_database: 'shop',
          target_database: 'shop_dr',
          collections: { orders: 'orders_dr' },
        },
      ],
      replicate_rbac: { enabled: true, initial_passwords: [] },
    };
    const grant = {
      role: 'reader',
      objectType: 'Collection',
      db: 'shop',
      objectName: 'orders',
      privilege: 'Search',
    };
    const source = side({
      aliases: {
        shop: [
          { alias: 'live', collection: 'orders' },
          { alias: 'elsewhere', collection: 'other' },
        ],
      },
      properties: { 'shop.orders': [{ key: 'collection.ttl.seconds', value: '600' }] },
      rbac: {
        users: ['root', 'alice'],
        roles: ['admin', 'reader'],
        bindings: [{ user: 'alice', role: 'reader' }],
        grants: [grant],
      },
    });
    const target = side({
      aliases: {
        shop_dr: [
          { alias: 'old', collection: 'orders_dr' },
          { alias: 'theirs', collection: 'theirs' },
        ],
      },
      properties: { 'shop_dr.orders_dr': [{ key: 'collection.ttl.seconds', value: '60' }] },
      rbac: {
        users: ['root', 'alice', 'ops'],
        roles: ['admin', 'public', 'reader', 'extra'],
        // A target-only user's bindings are that cluster's own.
        bindings: [{ user: 'ops', role: 'admin' }],
        grants: [{ ...grant, db: 'shop_dr', objectName: 'orders_dr' }],
      },
    });
    expect(
      await metadataDifferences(source, target, task, [{ db: 'shop', collection: 'orders' }]),
    ).toEqual([
      { kind: 'alias', name: 'shop_dr.live', source: 'shop_dr.orders_dr', target: '' },
      { kind: 'alias', name: 'shop_dr.old', source: '', target: 'shop_dr.orders_dr' },
      {
        kind: 'collection_property',
        name: 'shop_dr.orders_dr/collection.ttl.seconds',
        source: '600',
        target: '60',
      },
      { kind: 'role', name: 'extra', source: '', target: 'extra' },
      { kind: 'user_role', name: 'alice/reader', source: 'alice/reader', target: '' },
    ]);
    // Without RBAC replication only aliases and properties count.
    const plain = await metadataDifferences(
      source,
      target,
      { ...task, replicate_rbac: undefined } as never,
      [{ db: 'shop', collection: 'orders' }],
    );
    expect(plain.map((d) => d.kind)).toEqual(['alias', 'alias', 'collection_property']);
  });
});
