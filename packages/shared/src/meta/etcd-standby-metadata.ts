import type { Etcd3, IKeyValue } from 'etcd3';
import { CdcError } from '../errors.js';
import { decodeTsoValue } from '../wire/tso.js';
import { decodeCollectionInfo, decodeDatabaseInfo, isTombstone } from './etcd-codec.js';
import { idsAfter } from './keys.js';
import { dbNameOf, decodeAliasInfo, rbacFromKvs, snapshotKeyTimestamp } from './standby-codec.js';
import type {
  AliasEntry,
  CollectionNaming,
  DatabaseNaming,
  MetaSource,
  RbacState,
  StandbyEvent,
  StandbyMetadata,
  StandbySnapshot,
} from './standby-metadata.js';
import { watchStandbyEvents } from './etcd-standby-watch.js';

export interface EtcdStandbyMetadataOptions {
  /** A connected client; not closed by `close()`. */
  readonly client: Etcd3;
  /** The source's `etcd.rootPath`. */
  readonly rootPath: string;
}

/** Key prefixes of the standby metadata under `{root}/meta/` (reference §1.2–1.3). */
export interface StandbyKeys {
  readonly meta: string;
  readonly rootCoord: string;
  readonly dbInfo: string;
  readonly collectionInfo: string;
  readonly legacyCollection: string;
  readonly aliases: string;
  /** 2.1–2.2.8 aliases (no database: the default one). */
  readonly legacyAliases: string;
  readonly credential: string;
  readonly privilegeGroup: string;
  readonly snapshots: string;
  readonly tso: string;
}

export function standbyKeys(rootPath: string): StandbyKeys {
  const root = rootPath.replace(/\/+$/, '');
  const meta = `${root}/meta/`;
  const rc = `${meta}root-coord/`;
  return {
    meta,
    rootCoord: rc,
    dbInfo: `${rc}database/db-info/`,
    collectionInfo: `${rc}database/collection-info/`,
    legacyCollection: `${rc}collection/`,
    aliases: `${rc}database/aliases/`,
    legacyAliases: `${rc}aliases/`,
    credential: `${rc}credential/`,
    privilegeGroup: `${rc}privilege-group/`,
    snapshots: `${meta}snapshots/`,
    tso: `${root}/kv/gid/timestamp`,
  };
}

export interface RawKv {
  readonly key: string;
  readonly value: Uint8Array;
  readonly revision: bigint;
}

function unavailable(action: string, cause: unknown): CdcError {
  return new CdcError('SOURCE_UNAVAILABLE', action, { retryable: true, cause });
}

/** `StandbyMetadata` over the source etcd (etcd3). See the port for the contract. */
export class EtcdStandbyMetadata implements StandbyMetadata {
  readonly keys: StandbyKeys;
  private readonly client: Etcd3;
  private readonly stop = new AbortController();

  constructor(opts: EtcdStandbyMetadataOptions) {
    this.client = opts.client;
    this.keys = standbyKeys(opts.rootPath);
  }

  /** Live (non-tombstone, unless asked) kvs under `prefix`, at `revision` when given. */
  async scan(prefix: string, revision?: bigint, withTombstones = false): Promise<RawKv[]> {
    try {
      let q = this.client.getAll().prefix(prefix);
      if (revision !== undefined) q = q.revision(revision.toString());
      const res = await q.exec();
      return res.kvs
        .filter((kv) => withTombstones || !isTombstone(kv.value))
        .map((kv: IKeyValue) => ({
          key: kv.key.toString('utf8'),
          value: new Uint8Array(kv.value),
          revision: BigInt(kv.mod_revision),
        }));
    } catch (err) {
      throw unavailable('reading source etcd', err);
    }
  }

  async currentRevision(): Promise<bigint> {
    try {
      const res = await this.client.get(this.keys.tso).exec();
      return BigInt(res.header.revision);
    } catch (err) {
      throw unavailable('reading source etcd', err);
    }
  }

  async snapshot(): Promise<StandbySnapshot> {
    const revision = await this.currentRevision();
    const databases = await this.databasesAt(revision);
    const [collections, aliases, rbac] = await Promise.all([
      this.collectionsAt(revision, databases),
      this.aliasesAt(revision, databases),
      this.rbacAt(revision),
    ]);
    return { revision, databases: [...databases.values()], collections, aliases, rbac };
  }

  async databasesAt(revision: bigint): Promise<Map<bigint, DatabaseNaming>> {
    const out = new Map<bigint, DatabaseNaming>();
    for (const kv of await this.scan(this.keys.dbInfo, revision)) {
      const d = this.databaseOf(kv);
      if (d !== undefined) out.set(d.id, d);
    }
    return out;
  }

  databaseOf(kv: RawKv): DatabaseNaming | undefined {
    const d = decodeDatabaseInfo(kv.value);
    if (d.state !== 'Created') return undefined;
    return {
      id: d.id,
      name: d.name,
      properties: d.properties,
      source: { key: kv.key, revision: kv.revision },
    };
  }

  async collectionsAt(
    revision: bigint,
    dbs: ReadonlyMap<bigint, DatabaseNaming>,
  ): Promise<CollectionNaming[]> {
    const [modern, legacy] = await Promise.all([
      this.scan(this.keys.collectionInfo, revision),
      this.scan(this.keys.legacyCollection, revision),
    ]);
    const out: CollectionNaming[] = [];
    for (const kv of [...modern, ...legacy]) {
      const c = this.collectionOf(kv, dbs);
      if (c !== undefined) out.push(c);
    }
    return out;
  }

  /** A live collection's naming from its CollectionInfo kv; undefined while created, dropped or not a collection key. */
  collectionOf(kv: RawKv, dbs: ReadonlyMap<bigint, DatabaseNaming>): CollectionNaming | undefined {
    const modern = idsAfter(kv.key, this.keys.collectionInfo, 2);
    const legacy = idsAfter(kv.key, this.keys.legacyCollection, 1);
    if (modern === undefined && legacy === undefined) return undefined;
    const c = decodeCollectionInfo(kv.value);
    if (c.state !== 'Created') return undefined;
    const dbId = modern?.[0] ?? c.dbId;
    return {
      id: c.id,
      dbId,
      db: dbNameOf(dbId, dbs),
      name: c.name,
      properties: c.properties,
      physicalChannels: [...new Set(c.physicalChannels)],
      source: { key: kv.key, revision: kv.revision },
    };
  }

  async aliasesAt(
    revision: bigint,
    dbs: ReadonlyMap<bigint, DatabaseNaming>,
  ): Promise<AliasEntry[]> {
    const [modern, legacy] = await Promise.all([
      this.scan(this.keys.aliases, revision),
      this.scan(this.keys.legacyAliases, revision),
    ]);
    const out: AliasEntry[] = [];
    for (const kv of [...modern, ...legacy]) {
      const a = this.aliasOf(kv, dbs);
      if (a !== undefined) out.push(a);
    }
    return out;
  }

  /** The alias of an alias kv (modern `{dbId}/{alias}` or legacy `{alias}`); undefined when not live. */
  aliasOf(kv: RawKv, dbs: ReadonlyMap<bigint, DatabaseNaming>): AliasEntry | undefined {
    const a = decodeAliasInfo(kv.value);
    if (!a.created) return undefined;
    const dbId = this.aliasKeyParts(kv.key)?.dbId ?? a.dbId;
    return {
      dbId,
      db: dbNameOf(dbId, dbs),
      alias: a.alias,
      collectionId: a.collectionId,
      source: { key: kv.key, revision: kv.revision },
    };
  }

  /** (dbId, alias) from an alias key; legacy keys belong to the default database (id 1). */
  aliasKeyParts(key: string): { dbId: bigint; alias: string } | undefined {
    for (const [prefix, modern] of [
      [this.keys.aliases, true],
      [this.keys.legacyAliases, false],
    ] as const) {
      if (!key.startsWith(prefix)) continue;
      const rest = key.slice(prefix.length);
      if (!modern) return rest === '' || rest.includes('/') ? undefined : { dbId: 1n, alias: rest };
      const slash = rest.indexOf('/');
      const id = rest.slice(0, slash);
      const alias = rest.slice(slash + 1);
      if (slash < 0 || !/^\d{1,20}$/.test(id) || alias === '' || alias.includes('/'))
        return undefined;
      return { dbId: BigInt(id), alias };
    }
    return undefined;
  }

  async rbacAt(revision: bigint): Promise<RbacState> {
    const [creds, groups] = await Promise.all([
      this.scan(this.keys.credential, revision),
      this.scan(this.keys.privilegeGroup, revision),
    ]);
    const text = new TextDecoder();
    return rbacFromKvs(
      creds.map((kv) => ({
        key: kv.key.slice(this.keys.credential.length),
        value: text.decode(kv.value),
      })),
      groups.map((kv) => kv.key.slice(this.keys.privilegeGroup.length)),
    );
  }

  watch(opts: {
    readonly signal: AbortSignal;
    readonly afterRevision: bigint;
  }): AsyncIterable<StandbyEvent> {
    return watchStandbyEvents(this, this.client, opts, this.stop.signal);
  }

  async readTso(): Promise<bigint> {
    const kv = (await this.scan(this.keys.tso)).find((k) => k.key === this.keys.tso);
    if (kv === undefined)
      throw new CdcError('SOURCE_UNAVAILABLE', 'reading source tso: key absent', {
        retryable: true,
      });
    return decodeTsoValue(kv.value).hybridTs;
  }

  async timestampOf(source: MetaSource): Promise<bigint> {
    if (source.key.startsWith(this.keys.meta)) {
      const prefix = `${this.keys.snapshots}${source.key.slice(this.keys.meta.length)}_ts`;
      // Past its retention the snapshot key (or that revision) is gone: fall back to now, which is later.
      const kvs = await this.scan(prefix, source.revision, true).catch(() => []);
      for (const kv of kvs) {
        const ts = snapshotKeyTimestamp(kv.key, prefix);
        if (ts !== undefined && kv.revision === source.revision) return ts;
      }
    }
    return this.readTso();
  }

  async collectionNames(collectionId: bigint): Promise<{ db: string; name: string }[]> {
    const revision = await this.currentRevision();
    const dbs = await this.databasesAt(revision);
    const prefixes = [...new Set([1n, ...dbs.keys()])].map(
      (dbId) =>
        `${this.keys.snapshots}root-coord/database/collection-info/${dbId}/${collectionId}_ts`,
    );
    prefixes.push(`${this.keys.snapshots}root-coord/collection/${collectionId}_ts`);
    const seen: { ts: bigint; db: string; name: string }[] = [];
    for (const prefix of prefixes) {
      for (const kv of await this.scan(prefix, revision)) {
        const ts = snapshotKeyTimestamp(kv.key, prefix);
        if (ts === undefined) continue;
        const c = decodeCollectionInfo(kv.value);
        const dbId =
          idsAfter(
            kv.key.slice(0, kv.key.lastIndexOf('_ts')),
            `${this.keys.snapshots}root-coord/database/collection-info/`,
            2,
          )?.[0] ?? c.dbId;
        seen.push({ ts, db: dbNameOf(dbId, dbs), name: c.name });
      }
    }
    seen.sort((a, b) => (a.ts > b.ts ? -1 : a.ts < b.ts ? 1 : 0));
    const out: { db: string; name: string }[] = [];
    for (const s of seen)
      if (s.db !== '' && !out.some((o) => o.db === s.db && o.name === s.name))
        out.push({ db: s.db, name: s.name });
    return out;
  }

  close(): Promise<void> {
    this.stop.abort();
    return Promise.resolve();
  }
}

export function createEtcdStandbyMetadata(opts: EtcdStandbyMetadataOptions): EtcdStandbyMetadata {
  return new EtcdStandbyMetadata(opts);
}
