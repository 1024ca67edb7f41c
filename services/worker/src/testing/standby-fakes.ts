import { CdcError, grantName } from '@cdc/shared';
import type {
  AliasEntry,
  CollectionNaming,
  KeyValue,
  MetaSource,
  RbacBinding,
  RbacGrant,
  RbacState,
  StandbyEvent,
  StandbyMetadata,
  StandbySnapshot,
} from '@cdc/shared';
import type { StandbyTarget, TargetCollectionState, TargetRbac } from '../ports/standby-target.js';
import type { TargetCollection } from '../ports/target-writer.js';

/** In-memory unit-test fakes of the standby ports. */

export const NO_RBAC: RbacState = {
  users: [],
  roles: [],
  bindings: [],
  grants: [],
  privilegeGroups: [],
};

export function naming(
  c: Partial<CollectionNaming> & Pick<CollectionNaming, 'id' | 'name'>,
): CollectionNaming {
  return {
    dbId: 1n,
    db: 'default',
    properties: [],
    physicalChannels: ['p-dml_0'],
    source: { key: `coll/${c.id}`, revision: 1n },
    ...c,
  };
}

export function aliasEntry(alias: string, collectionId: bigint, db = 'default'): AliasEntry {
  return {
    dbId: 1n,
    db,
    alias,
    collectionId,
    source: { key: `alias/${db}/${alias}`, revision: 1n },
  };
}

/** A snapshot and then the events pushed with `emit`, in order. `timestamps` answers `timestampOf` by key. */
export class FakeStandbyMetadata implements StandbyMetadata {
  snapshotValue: StandbySnapshot = {
    revision: 1n,
    databases: [],
    collections: [],
    aliases: [],
    rbac: NO_RBAC,
  };
  readonly timestamps = new Map<string, bigint>();
  /** Collection id → its names, newest first. */
  readonly history = new Map<bigint, { db: string; name: string }[]>();
  private readonly queue: StandbyEvent[] = [];
  private wake: (() => void) | undefined;

  emit(e: StandbyEvent): void {
    this.queue.push(e);
    this.wake?.();
  }

  snapshot(): Promise<StandbySnapshot> {
    return Promise.resolve(this.snapshotValue);
  }

  async *watch(opts: { readonly signal: AbortSignal }): AsyncIterable<StandbyEvent> {
    const onAbort = (): void => this.wake?.();
    opts.signal.addEventListener('abort', onAbort);
    try {
      while (!opts.signal.aborted) {
        const next = this.queue.shift();
        if (next !== undefined) {
          yield next;
          continue;
        }
        await new Promise<void>((r) => (this.wake = r));
      }
    } finally {
      opts.signal.removeEventListener('abort', onAbort);
    }
  }

  timestampOf(source: MetaSource): Promise<bigint> {
    return Promise.resolve(this.timestamps.get(source.key) ?? 1n);
  }

  collectionNames(id: bigint): Promise<{ db: string; name: string }[]> {
    return Promise.resolve(this.history.get(id) ?? []);
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}

const key = (t: TargetCollection): string => `${t.db}.${t.collection}`;

/** A target's collections (with the source-id marker), aliases and RBAC; records every change as text. */
export class FakeStandbyTarget implements StandbyTarget {
  readonly collections = new Map<string, { sourceId?: string; properties: KeyValue[] }>();
  /** `db.alias` → collection. */
  readonly aliases = new Map<string, string>();
  users = new Set<string>(['root']);
  passwords = new Map<string, string>();
  roles = new Set<string>(['admin', 'public']);
  bindings = new Set<string>();
  grants = new Map<string, RbacGrant>();
  /** Database properties; undefined: the target does not support them (Milvus 2.3). */
  databaseProps: Map<string, KeyValue[]> | undefined = undefined;
  readonly changes: string[] = [];
  refuse: ((change: string) => boolean) | undefined;

  addCollection(t: TargetCollection, sourceId?: bigint, properties: KeyValue[] = []): void {
    this.collections.set(key(t), {
      ...(sourceId === undefined ? {} : { sourceId: String(sourceId) }),
      properties,
    });
  }

  private change(text: string): void {
    if (this.refuse?.(text) === true)
      throw new CdcError('SINK_REJECTED', `refused: ${text}`, { retryable: false });
    this.changes.push(text);
  }

  describeCollection(t: TargetCollection): Promise<TargetCollectionState | undefined> {
    const c = this.collections.get(key(t));
    return Promise.resolve(
      c === undefined
        ? undefined
        : {
            ...(c.sourceId === undefined ? {} : { sourceCollectionId: c.sourceId }),
            properties: c.properties,
          },
    );
  }

  listAliases(db: string): Promise<{ alias: string; collection: string }[]> {
    return Promise.resolve(
      [...this.aliases]
        .filter(([k]) => k.startsWith(`${db}.`))
        .map(([k, collection]) => ({ alias: k.slice(db.length + 1), collection })),
    );
  }

  setAlias(alias: string, t: TargetCollection): Promise<void> {
    this.change(`alias ${t.db}.${alias} -> ${t.collection}`);
    this.aliases.set(`${t.db}.${alias}`, t.collection);
    return Promise.resolve();
  }

  dropAlias(db: string, alias: string): Promise<void> {
    this.change(`drop alias ${db}.${alias}`);
    this.aliases.delete(`${db}.${alias}`);
    return Promise.resolve();
  }

  renameCollection(from: TargetCollection, to: TargetCollection): Promise<void> {
    this.change(`rename ${key(from)} -> ${key(to)}`);
    const c = this.collections.get(key(from));
    if (c !== undefined) {
      this.collections.delete(key(from));
      this.collections.set(key(to), c);
    }
    // Aliases belong to the collection, not to its name (Milvus keeps them across a rename in one database).
    for (const [a, coll] of this.aliases)
      if (a.startsWith(`${from.db}.`) && coll === from.collection)
        this.aliases.set(a, to.collection);
    return Promise.resolve();
  }

  alterCollectionProperties(
    t: TargetCollection,
    set: readonly KeyValue[],
    remove: readonly string[],
  ): Promise<void> {
    this.change(
      `properties ${key(t)} set ${set.map((kv) => `${kv.key}=${kv.value}`).join(',')} remove ${remove.join(',')}`,
    );
    const c = this.collections.get(key(t));
    if (c !== undefined)
      c.properties = [
        ...c.properties.filter(
          (kv) => !remove.includes(kv.key) && !set.some((s) => s.key === kv.key),
        ),
        ...set,
      ];
    return Promise.resolve();
  }

  databaseProperties(db: string): Promise<readonly KeyValue[] | undefined> {
    return Promise.resolve(
      this.databaseProps === undefined ? undefined : (this.databaseProps.get(db) ?? []),
    );
  }

  alterDatabaseProperties(db: string, set: readonly KeyValue[]): Promise<void> {
    this.change(`database ${db} set ${set.map((kv) => `${kv.key}=${kv.value}`).join(',')}`);
    this.databaseProps?.set(db, [...set]);
    return Promise.resolve();
  }

  rbac(): Promise<TargetRbac> {
    const bindings: RbacBinding[] = [...this.bindings].map((b) => {
      const [user = '', role = ''] = b.split('/');
      return { user, role };
    });
    return Promise.resolve({
      users: [...this.users],
      roles: [...this.roles],
      bindings,
      grants: [...this.grants.values()],
    });
  }

  createUser(user: string, password: string): Promise<void> {
    this.change(`create user ${user}`);
    this.users.add(user);
    this.passwords.set(user, password);
    return Promise.resolve();
  }
  deleteUser(user: string): Promise<void> {
    this.change(`delete user ${user}`);
    this.users.delete(user);
    return Promise.resolve();
  }
  createRole(role: string): Promise<void> {
    this.change(`create role ${role}`);
    this.roles.add(role);
    return Promise.resolve();
  }
  dropRole(role: string): Promise<void> {
    this.change(`drop role ${role}`);
    this.roles.delete(role);
    return Promise.resolve();
  }
  addUserToRole(b: RbacBinding): Promise<void> {
    this.change(`bind ${b.user}/${b.role}`);
    this.bindings.add(`${b.user}/${b.role}`);
    return Promise.resolve();
  }
  removeUserFromRole(b: RbacBinding): Promise<void> {
    this.change(`unbind ${b.user}/${b.role}`);
    this.bindings.delete(`${b.user}/${b.role}`);
    return Promise.resolve();
  }
  grant(g: RbacGrant): Promise<void> {
    this.change(`grant ${grantName(g)}`);
    this.grants.set(grantName(g), g);
    return Promise.resolve();
  }
  revoke(g: RbacGrant): Promise<void> {
    this.change(`revoke ${grantName(g)}`);
    this.grants.delete(grantName(g));
    return Promise.resolve();
  }
}
