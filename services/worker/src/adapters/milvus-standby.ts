import { CdcError, type KeyValue, type RbacBinding, type RbacGrant } from '@cdc/shared';
import { promisify } from '@zilliz/milvus2-sdk-node';
import type { StandbyTarget, TargetCollectionState, TargetRbac } from '../ports/standby-target.js';
import { SOURCE_COLLECTION_ID_PROPERTY, type TargetCollection } from '../ports/target-writer.js';
import {
  doneOrGone,
  looked,
  failure,
  nestedStatus,
  plainStatus,
  type MilvusCalls,
  type Outcome,
} from './milvus-calls.js';
import { kvRecord } from './milvus-schema.js';

const BUILT_IN_ROLES = new Set(['admin', 'public']);

interface GrantEntity {
  readonly role?: { readonly name?: string };
  readonly object?: { readonly name?: string };
  readonly object_name?: string;
  readonly db_name?: string;
  readonly grantor?: { readonly privilege?: { readonly name?: string } };
}

const GRPC_UNIMPLEMENTED = 12;

function unsupported(action: string, where: Record<string, unknown>, reason: string): CdcError {
  return new CdcError('SINK_REJECTED', `${action}: ${reason}`, {
    retryable: false,
    details: { ...where, unsupported: true },
  });
}

/**
 * The server has no such RPC: gRPC UNIMPLEMENTED, or the empty reply the SDK's retry interceptor makes of it (other
 * SDK clients than the writer's still carry that interceptor).
 */
function unimplemented(o: Outcome<unknown>): boolean {
  if (o.cls.kind !== 'rejected') return false;
  if (o.details['grpcCode'] === GRPC_UNIMPLEMENTED) return true;
  if (o.res === undefined || o.res === null) return false;
  const res = o.res as { status?: unknown; error_code?: unknown };
  return res.status === undefined && res.error_code === undefined;
}

/**
 * `StandbyTarget` over the writer's SDK client (so the lease's write fence applies to every call). Idempotency comes
 * from looking after a refusal (2.3 reports "already exists" only as text); grants go through the raw RPC because the
 * SDK's grantPrivilege does not pass the grant's database.
 */
export class MilvusStandbyTarget implements StandbyTarget {
  constructor(private readonly calls: MilvusCalls) {}

  private get client() {
    return this.calls.client;
  }

  private raw<T>(method: string, params: Record<string, unknown>): Promise<T> {
    return promisify(this.client.channelPool, method, params, this.calls.timeout) as Promise<T>;
  }

  async describeCollection(target: TargetCollection): Promise<TargetCollectionState | undefined> {
    const o = await this.calls.attempt(
      () => this.client.describeCollection({ ...this.calls.req(target), cache: false }),
      nestedStatus,
    );
    if (o.cls.notFound === 'collection' || o.cls.notFound === 'database') return undefined;
    if (o.cls.kind !== 'ok' || o.res === undefined)
      throw failure('describing collection', o, { ...target });
    const props = o.res.properties.map((p) => ({ key: p.key, value: String(p.value) }));
    const marker = props.find((p) => p.key === SOURCE_COLLECTION_ID_PROPERTY)?.value;
    return {
      ...(marker === undefined ? {} : { sourceCollectionId: marker }),
      properties: props.filter((p) => p.key !== SOURCE_COLLECTION_ID_PROPERTY),
    };
  }

  async listAliases(db: string): Promise<{ alias: string; collection: string }[]> {
    // Raw: the SDK refuses an empty collection_name, which is how the RPC lists every alias of the database.
    const o = await this.calls.attempt(
      () =>
        this.raw<{ status?: never; aliases?: string[] }>('ListAliases', {
          db_name: db,
          collection_name: '',
        }),
      nestedStatus,
    );
    if (o.cls.notFound === 'database') return [];
    if (o.cls.kind !== 'ok') throw failure('listing aliases', o, { db });
    const out: { alias: string; collection: string }[] = [];
    for (const alias of o.res?.aliases ?? []) {
      const collection = await this.aliasTarget(db, alias);
      if (collection !== undefined) out.push({ alias, collection });
    }
    return out;
  }

  /** The collection an alias points at; undefined when there is no such alias. */
  private async aliasTarget(db: string, alias: string): Promise<string | undefined> {
    // The SDK insists on a collection_name the RPC does not have.
    const req = { db_name: db, alias, collection_name: alias, timeout: this.calls.timeout };
    const o = await this.calls.attempt(() => this.client.describeAlias(req), nestedStatus);
    if (o.cls.kind === 'ok') return o.res?.collection || undefined;
    if (o.cls.kind === 'rejected') return undefined;
    throw failure('describing alias', o, { db, alias });
  }

  async setAlias(alias: string, target: TargetCollection): Promise<void> {
    const req = { ...this.calls.req(target), alias };
    const where = { ...target, alias };
    const created = await this.calls.attempt(() => this.client.createAlias(req), plainStatus);
    if (created.cls.kind === 'ok') return;
    if (created.cls.kind !== 'rejected') throw failure('creating alias', created, where);
    if ((await this.aliasTarget(target.db, alias)) === target.collection) return;
    const altered = await this.calls.attempt(() => this.client.alterAlias(req), plainStatus);
    if (altered.cls.kind !== 'ok') throw failure('re-pointing alias', altered, where);
  }

  async dropAlias(db: string, alias: string): Promise<void> {
    const req = { db_name: db, alias, timeout: this.calls.timeout };
    const o = await this.calls.attempt(() => this.client.dropAlias(req), plainStatus);
    if (!doneOrGone(o)) throw failure('dropping alias', o, { db, alias });
  }

  async renameCollection(from: TargetCollection, to: TargetCollection): Promise<void> {
    const where = { from: `${from.db}.${from.collection}`, to: `${to.db}.${to.collection}` };
    if (to.db !== from.db) {
      const req = { db_name: to.db, timeout: this.calls.timeout };
      await this.calls.attempt(() => this.client.createDatabase(req), plainStatus);
    }
    // new_db_name always: Milvus 2.3.5 moves the collection into `default` when it is empty.
    const req = {
      ...this.calls.req(from),
      new_collection_name: to.collection,
      new_db_name: to.db,
    };
    const o = await this.calls.attempt(() => this.client.renameCollection(req), plainStatus);
    this.client.forgetSchema(from.db, from.collection);
    this.client.forgetSchema(to.db, to.collection);
    if (o.cls.kind === 'ok') return;
    // A replay after the rename took effect.
    if (
      o.cls.kind === 'rejected' &&
      (await this.describeCollection(to)) !== undefined &&
      (await this.describeCollection(from)) === undefined
    )
      return;
    throw failure('renaming collection', o, where);
  }

  async alterCollectionProperties(
    target: TargetCollection,
    set: readonly KeyValue[],
    remove: readonly string[],
  ): Promise<void> {
    const where = { ...target };
    if (set.length > 0) {
      const req = { ...this.calls.req(target), properties: kvRecord(set) };
      await this.calls.must(
        'altering collection properties',
        where,
        () => this.client.alterCollectionProperties(req),
        plainStatus,
      );
    }
    if (remove.length === 0) return;
    const req = { ...this.calls.req(target), properties: [...remove] };
    await this.calls.attempt(() => this.client.dropCollectionProperties(req), plainStatus);
    // Before 2.5 the server ignores the keys to delete (2.3.5 even calls the request empty): look.
    const left = (await this.describeCollection(target))?.properties.filter((p) =>
      remove.includes(p.key),
    );
    if (left !== undefined && left.length > 0)
      throw unsupported(
        'removing collection properties',
        where,
        `the target cannot remove properties (Milvus < 2.5): ${left.map((p) => p.key).join(', ')}`,
      );
  }

  async databaseProperties(db: string): Promise<readonly KeyValue[] | undefined> {
    const req = { db_name: db, timeout: this.calls.timeout };
    const o = await this.calls.attempt(() => this.client.describeDatabase(req), nestedStatus);
    if (o.cls.kind !== 'ok') return undefined;
    return (o.res?.properties ?? []).map((p) => ({ key: p.key, value: String(p.value) }));
  }

  async alterDatabaseProperties(
    db: string,
    set: readonly KeyValue[],
    remove: readonly string[],
  ): Promise<void> {
    const req = {
      db_name: db,
      properties: kvRecord(set),
      ...(remove.length > 0 ? { delete_keys: [...remove] } : {}),
      timeout: this.calls.timeout,
    };
    const o = await this.calls.attempt(() => this.client.alterDatabase(req), plainStatus);
    if (o.cls.kind === 'ok') return;
    if (unimplemented(o))
      throw unsupported(
        'altering database properties',
        { db },
        'the target does not support AlterDatabase (Milvus < 2.4)',
      );
    throw failure('altering database properties', o, { db });
  }

  async rbac(dbs: readonly string[]): Promise<TargetRbac> {
    const t = this.calls.timeout;
    const users = await this.calls.must(
      'listing users',
      {},
      () => this.client.listUsers({ timeout: t }),
      nestedStatus,
    );
    const roles = await this.calls.must(
      'listing roles',
      {},
      () => this.client.listRoles({ includeUserInfo: true, timeout: t }),
      nestedStatus,
    );
    const bindings: RbacBinding[] = [];
    const roleNames: string[] = [];
    for (const r of roles?.results ?? []) {
      const role = r.role.name;
      roleNames.push(role);
      for (const u of r.users) bindings.push({ user: u.name, role });
    }
    const grants: RbacGrant[] = [];
    for (const role of roleNames.filter((r) => !BUILT_IN_ROLES.has(r)))
      for (const db of dbs) grants.push(...(await this.grantsOf(role, db)));
    return { users: users?.usernames ?? [], roles: roleNames, bindings, grants };
  }

  private async grantsOf(role: string, db: string): Promise<RbacGrant[]> {
    const o = await this.calls.attempt(
      () =>
        this.raw<{ status?: never; entities?: GrantEntity[] }>('SelectGrant', {
          entity: { role: { name: role }, db_name: db },
        }),
      nestedStatus,
    );
    if (o.cls.kind !== 'ok') throw failure('listing grants', o, { role, db });
    return (o.res?.entities ?? []).map((e) => ({
      role: e.role?.name ?? role,
      objectType: e.object?.name ?? '',
      db: e.db_name || db,
      objectName: e.object_name ?? '',
      privilege: e.grantor?.privilege?.name ?? '',
    }));
  }

  async createUser(user: string, password: string): Promise<void> {
    const req = { username: user, password, timeout: this.calls.timeout };
    const o = await this.calls.attempt(() => this.client.createUser(req), plainStatus);
    if (o.cls.kind === 'ok') return;
    if (o.cls.kind === 'rejected' && (await this.hasUser(user))) return;
    throw failure('creating user', o, { user });
  }

  private async hasUser(user: string): Promise<boolean> {
    const o = looked(
      'listing users',
      await this.calls.attempt(
        () => this.client.listUsers({ timeout: this.calls.timeout }),
        nestedStatus,
      ),
      { user },
    );
    return o.cls.kind === 'ok' && (o.res?.usernames.includes(user) ?? false);
  }

  async deleteUser(user: string): Promise<void> {
    const req = { username: user, timeout: this.calls.timeout };
    const o = await this.calls.attempt(() => this.client.deleteUser(req), plainStatus);
    if (doneOrGone(o) || (o.cls.kind === 'rejected' && !(await this.hasUser(user)))) return;
    throw failure('deleting user', o, { user });
  }

  private async hasRole(role: string): Promise<boolean | undefined> {
    const o = looked(
      'checking role',
      await this.calls.attempt(
        () => this.client.hasRole({ roleName: role, timeout: this.calls.timeout }),
        nestedStatus,
      ),
      { role },
    );
    return o.cls.kind === 'ok' ? o.res?.hasRole === true : undefined;
  }

  async createRole(role: string): Promise<void> {
    const req = { roleName: role, timeout: this.calls.timeout };
    const o = await this.calls.attempt(() => this.client.createRole(req), plainStatus);
    if (o.cls.kind === 'ok') return;
    if (o.cls.kind === 'rejected' && (await this.hasRole(role)) === true) return;
    throw failure('creating role', o, { role });
  }

  async dropRole(role: string): Promise<void> {
    const req = { roleName: role, timeout: this.calls.timeout };
    const o = await this.calls.attempt(() => this.client.dropRole(req), plainStatus);
    if (doneOrGone(o) || (o.cls.kind === 'rejected' && (await this.hasRole(role)) === false))
      return;
    throw failure('dropping role', o, { role });
  }

  async addUserToRole(b: RbacBinding): Promise<void> {
    const req = { username: b.user, roleName: b.role, timeout: this.calls.timeout };
    await this.calls.must(
      'binding user to role',
      { ...b },
      () => this.client.addUserToRole(req),
      plainStatus,
    );
  }

  async removeUserFromRole(b: RbacBinding): Promise<void> {
    const req = { username: b.user, roleName: b.role, timeout: this.calls.timeout };
    const o = await this.calls.attempt(() => this.client.removeUserFromRole(req), plainStatus);
    if (o.cls.kind === 'ok') return;
    // A user or role that is gone has no binding left.
    if (
      o.cls.kind === 'rejected' &&
      (!(await this.hasUser(b.user)) || (await this.hasRole(b.role)) === false)
    )
      return;
    throw failure('unbinding user from role', o, { ...b });
  }

  grant(g: RbacGrant): Promise<void> {
    return this.operatePrivilege(g, 0);
  }

  revoke(g: RbacGrant): Promise<void> {
    return this.operatePrivilege(g, 1);
  }

  /** `OperatePrivilege` with the grant's database in the entity (type 0 grant, 1 revoke). */
  private async operatePrivilege(g: RbacGrant, type: 0 | 1): Promise<void> {
    const params = {
      entity: {
        role: { name: g.role },
        object: { name: g.objectType },
        object_name: g.objectName,
        grantor: { privilege: { name: g.privilege } },
        db_name: g.db,
      },
      type,
    };
    await this.calls.must(
      type === 0 ? 'granting privilege' : 'revoking privilege',
      { ...g },
      () => this.raw<{ error_code?: string }>('OperatePrivilege', params),
      plainStatus,
    );
  }
}
