import { describe, expect, it } from 'vitest';
import { P, encodeProto } from '../wire/proto-root.js';
import { decodeAliasInfo, grantName, rbacFromKvs, snapshotKeyTimestamp } from './standby-codec.js';

describe('standby codec', () => {
  it('reads the RBAC keys Milvus 2.3.5 writes (captured from the real source)', () => {
    const rbac = rbacFromKvs([
      { key: 'users/root', value: '{"encrypted_password":"$2a$10$x"}' },
      { key: 'users/alice', value: '{"encrypted_password":"$2a$04$y"}' },
      { key: 'roles/admin', value: '' },
      { key: 'roles/reader', value: '' },
      { key: 'user-role-mapping/alice/reader', value: '' },
      { key: 'grantee-privileges/reader/Collection/shop.orders', value: '5e7b2805b57c804c' },
      { key: 'grantee-id/5e7b2805b57c804c/PrivilegeSearch', value: 'root' },
      { key: 'grantee-id/5e7b2805b57c804c/PrivilegeQuery', value: 'root' },
      { key: 'grantee-privileges/reader/Global/default.*', value: '11caa48626acd810' },
      // Revoked: the grantee entry stays, its privilege key is gone.
      { key: 'grantee-privileges/reader/User/default.*', value: 'aaaa' },
      // A privilege whose grantee entry is gone, and a tenant-scoped key (never written by open-source Milvus).
      { key: 'grantee-id/ffff/PrivilegeSearch', value: 'root' },
      { key: 'roles/tenant1/other', value: '' },
      { key: 'grantee-id/11caa48626acd810/PrivilegeCreateCollection', value: 'root' },
    ]);
    expect(rbac.users).toEqual(['alice', 'root']);
    expect(rbac.roles).toEqual(['admin', 'reader']);
    expect(rbac.bindings).toEqual([{ user: 'alice', role: 'reader' }]);
    expect(rbac.grants.map(grantName)).toEqual([
      'reader/Collection/shop.orders/Query',
      'reader/Collection/shop.orders/Search',
      'reader/Global/default.*/CreateCollection',
    ]);
  });

  it('reads alias values and snapshot key timestamps, refusing look-alike keys', () => {
    const value = encodeProto(P.AliasInfo, {
      aliasName: 'live',
      collectionId: '470932918797391116',
      createdTime: '1',
      dbId: '1',
    });
    expect(decodeAliasInfo(value)).toEqual({
      alias: 'live',
      collectionId: 470932918797391116n,
      dbId: 1n,
      created: true,
    });
    const prefix = 'source/meta/snapshots/root-coord/database/aliases/1/live_ts';
    expect(snapshotKeyTimestamp(`${prefix}470934526315986947`, prefix)).toBe(470934526315986947n);
    // An alias named "live_ts5" has its own keys under the same prefix.
    expect(snapshotKeyTimestamp(`${prefix}5_ts470934526315986947`, prefix)).toBeUndefined();
    expect(snapshotKeyTimestamp('other', prefix)).toBeUndefined();
  });
});
