import {
  classifyStatus,
  statusError,
  thrownError,
  type KeyValue,
  type MilvusStatusLike,
  type RbacGrant,
} from '@cdc/shared';
import { promisify, type MilvusClient } from '@zilliz/milvus2-sdk-node';
import type { AliasTarget, CollectionRef, MetadataSide, SideRbac } from '../verify/ports.js';

/** The marker the worker puts on every target collection (services/worker ports/target-writer.ts). */
const SOURCE_COLLECTION_ID_PROPERTY = 'cdc.source.collection_id';
const BUILT_IN_ROLES = new Set(['admin', 'public']);

interface GrantEntity {
  readonly role?: { readonly name?: string };
  readonly object?: { readonly name?: string };
  readonly object_name?: string;
  readonly db_name?: string;
  readonly grantor?: { readonly privilege?: { readonly name?: string } };
}

/** Runs one SDK call for `what` (prefixed with the side); a throw or a failed status becomes a CdcError. */
export async function sideCall<T>(
  what: string,
  fn: () => Promise<T>,
  statusOf: (res: T) => MilvusStatusLike | undefined,
): Promise<T> {
  let res: T;
  try {
    res = await fn();
  } catch (err) {
    throw thrownError(what, err);
  }
  const status = statusOf(res);
  if (classifyStatus(status).kind !== 'ok') throw statusError(what, status);
  return res;
}

/**
 * `MetadataSide` over the SDK, on the verification's connection to one side. Aliases and grants go through the raw
 * RPCs where the SDK cannot express the request (every alias of a database; grants of one database).
 */
export class SdkMetadataSide implements MetadataSide {
  constructor(
    private readonly client: MilvusClient,
    private readonly name: string,
    private readonly timeoutMs: number,
  ) {}

  private call<T>(
    action: string,
    fn: () => Promise<T>,
    statusOf: (res: T) => MilvusStatusLike | undefined,
  ): Promise<T> {
    return sideCall(`${this.name}: ${action}`, fn, statusOf);
  }

  private raw<T>(method: string, params: Record<string, unknown>): Promise<T> {
    return promisify(this.client.channelPool, method, params, this.timeoutMs) as Promise<T>;
  }

  async aliases(db: string): Promise<AliasTarget[]> {
    const listed = await this.raw<{ status?: MilvusStatusLike; aliases?: string[] }>(
      'ListAliases',
      { db_name: db, collection_name: '' },
    ).catch((err: unknown) => {
      throw thrownError(`${this.name}: listing aliases of ${db}`, err);
    });
    if (classifyStatus(listed.status).notFound === 'database') return [];
    if (classifyStatus(listed.status).kind !== 'ok')
      throw statusError(`${this.name}: listing aliases of ${db}`, listed.status);
    const out: AliasTarget[] = [];
    for (const alias of listed.aliases ?? []) {
      const res = await this.call(
        `describing alias ${db}.${alias}`,
        () =>
          this.client.describeAlias({
            db_name: db,
            alias,
            collection_name: alias,
            timeout: this.timeoutMs,
          }),
        (r) => r.status,
      );
      out.push({ alias, collection: res.collection });
    }
    return out.sort((a, b) => (a.alias < b.alias ? -1 : 1));
  }

  async properties(ref: CollectionRef): Promise<KeyValue[] | undefined> {
    const req = { db_name: ref.db, collection_name: ref.collection, timeout: this.timeoutMs };
    const res = await this.client.describeCollection(req).catch((err: unknown) => {
      throw thrownError(`${this.name}: describing ${ref.db}.${ref.collection}`, err);
    });
    const cls = classifyStatus(res.status);
    if (cls.notFound === 'collection' || cls.notFound === 'database') return undefined;
    if (cls.kind !== 'ok')
      throw statusError(`${this.name}: describing ${ref.db}.${ref.collection}`, res.status);
    return res.properties
      .filter((p) => p.key !== SOURCE_COLLECTION_ID_PROPERTY)
      .map((p) => ({ key: p.key, value: String(p.value) }));
  }

  async rbac(): Promise<SideRbac> {
    const t = this.timeoutMs;
    const users = await this.call(
      'listing users',
      () => this.client.listUsers({ timeout: t }),
      (r) => r.status,
    );
    const roles = await this.call(
      'listing roles',
      () => this.client.listRoles({ includeUserInfo: true, timeout: t }),
      (r) => r.status,
    );
    const dbs = await this.call(
      'listing databases',
      () => this.client.listDatabases({ timeout: t }),
      (r) => r.status,
    );
    const bindings: { user: string; role: string }[] = [];
    const grants: RbacGrant[] = [];
    for (const r of roles.results) {
      for (const u of r.users) bindings.push({ user: u.name, role: r.role.name });
      if (BUILT_IN_ROLES.has(r.role.name)) continue;
      for (const db of dbs.db_names) {
        const res = await this.call(
          `listing grants of ${r.role.name} in ${db}`,
          () =>
            this.raw<{ status?: MilvusStatusLike; entities?: GrantEntity[] }>('SelectGrant', {
              entity: { role: { name: r.role.name }, db_name: db },
            }),
          (x) => x.status,
        );
        for (const e of res.entities ?? [])
          grants.push({
            role: e.role?.name ?? r.role.name,
            objectType: e.object?.name ?? '',
            db: e.db_name || db,
            objectName: e.object_name ?? '',
            privilege: e.grantor?.privilege?.name ?? '',
          });
      }
    }
    return {
      users: users.usernames,
      roles: roles.results.map((r) => r.role.name),
      bindings,
      grants,
    };
  }
}
