import type { Etcd3, IKeyValue, Watcher } from 'etcd3';
import { CdcError } from '../errors.js';
import { etcdUnavailable } from './etcd-errors.js';
import { decodeMsgPosition } from '../wire/positions.js';
import { decodeFieldSchema, decodeFunctionSchema } from '../wire/schema.js';
import { decodeTsoValue } from '../wire/tso.js';
import type { FieldSchema } from '../wire/messages.js';
import {
  decodeCollectionInfo,
  decodeDatabaseInfo,
  decodePartitionInfo,
  isTombstone,
  legacyPartitions,
} from './etcd-codec.js';
import { idsAfter, sourceKeys } from './keys.js';
import type { SourceKeys } from './keys.js';
import type {
  CollectionInfo,
  DatabaseInfo,
  MetadataEvent,
  MsgPosition,
  PartitionInfo,
  SourceMetadata,
  SourceTso,
  WatchOptions,
} from './source-metadata.js';
import { scanPrefix } from './etcd-paging.js';
import { watchEvents } from './etcd-watch.js';

export interface EtcdSourceMetadataOptions {
  /**
   * A connected client; not closed by `close()`. Created with `grpcOptions: etcdGrpcOptions()`: reads page by
   * page, and a page of large values needs that receive limit.
   */
  readonly client: Etcd3;
  /** The source's `etcd.rootPath` (`by-dev` by default). */
  readonly rootPath: string;
}

export interface Kv {
  readonly key: string;
  readonly value: Uint8Array;
}

const DEFAULT_DB_NAME = 'default';
const DYNAMIC_FIELD = '$meta';

function unavailable(action: string, cause: unknown): CdcError {
  return etcdUnavailable(action, cause);
}

function toKv(kv: IKeyValue): Kv {
  return { key: kv.key.toString('utf8'), value: new Uint8Array(kv.value) };
}

/** `SourceMetadata` over the source's etcd (etcd3). See the port for the contract. */
export class EtcdSourceMetadata implements SourceMetadata {
  readonly keys: SourceKeys;
  private readonly client: Etcd3;
  private readonly watchers = new Set<Watcher>();
  private closed: Promise<void> | undefined;

  constructor(opts: EtcdSourceMetadataOptions) {
    this.client = opts.client;
    this.keys = sourceKeys(opts.rootPath);
  }

  /**
   * All live (non-tombstone) kvs under `prefix`, at one etcd revision (the given one, or that of the first page).
   * Read page by page (etcd-paging.ts): a source with many collections holds more metadata than one response.
   */
  async scan(
    prefix: string,
    revision?: bigint,
    opts: { readonly keysOnly?: boolean } = {},
  ): Promise<{ kvs: Kv[]; revision: bigint }> {
    try {
      const res = await scanPrefix(this.client.kv, prefix, {
        revision: revision ?? 'first',
        ...(opts.keysOnly === true ? { keysOnly: true } : {}),
      });
      return {
        kvs: res.kvs.map(toKv).filter((kv) => !isTombstone(kv.value)),
        revision: res.revision,
      };
    } catch (err) {
      throw unavailable('reading source etcd', err);
    }
  }

  /** One key's live value (not a tombstone), at a revision or the newest. */
  async getKv(key: string, revision?: bigint): Promise<{ kv: Kv | undefined; revision: bigint }> {
    try {
      const res = await this.client.kv.range({
        key: Buffer.from(key),
        ...(revision === undefined ? {} : { revision: revision.toString() }),
      });
      const found = res.kvs[0];
      const kv = found === undefined ? undefined : toKv(found);
      return {
        kv: kv === undefined || isTombstone(kv.value) ? undefined : kv,
        revision: BigInt(res.header.revision),
      };
    } catch (err) {
      throw unavailable('reading source etcd', err);
    }
  }

  async currentRevision(): Promise<bigint> {
    return (await this.getKv(this.keys.tso)).revision;
  }

  async listDatabases(revision?: bigint): Promise<DatabaseInfo[]> {
    const { kvs } = await this.scan(this.keys.dbInfo, revision);
    return kvs
      .map((kv) => decodeDatabaseInfo(kv.value))
      .filter((d) => d.state !== 'Dropped' && d.state !== 'Dropping');
  }

  async listCollections(opts: { readonly dbId?: bigint } = {}): Promise<CollectionInfo[]> {
    const prefix =
      opts.dbId === undefined
        ? this.keys.collectionInfo
        : `${this.keys.collectionInfo}${opts.dbId}/`;
    const [modern, legacy, dbs] = await Promise.all([
      this.scan(prefix),
      opts.dbId === undefined || opts.dbId === 0n
        ? this.scan(this.keys.legacyCollection)
        : Promise.resolve({ kvs: [] }),
      this.listDatabases(),
    ]);
    const out: CollectionInfo[] = [];
    for (const kv of [...modern.kvs, ...legacy.kvs]) {
      const c = decodeCollectionInfo(kv.value);
      if (c.state !== 'Created') continue;
      out.push(await this.complete(c, dbs));
    }
    return out;
  }

  async getCollection(
    collectionId: bigint,
    revision?: bigint,
  ): Promise<CollectionInfo | undefined> {
    // Find the key by listing keys only ("{dbId}/{collectionId}"): the values (schemas) of every collection of the
    // source are far more than the one needed.
    const modern = await this.scan(this.keys.collectionInfo, revision, { keysOnly: true });
    const at = modern.revision;
    // A collection renamed into another database has a key under each database id: the old one holds a tombstone
    // (which a keys-only listing cannot tell apart), so every candidate is read until a live one answers.
    const keys = [
      ...modern.kvs
        .filter((k) => idsAfter(k.key, this.keys.collectionInfo, 2)?.[1] === collectionId)
        .map((k) => k.key),
      `${this.keys.legacyCollection}${collectionId}`,
    ];
    for (const key of keys) {
      const { kv } = await this.getKv(key, at);
      if (kv === undefined) continue;
      const c = decodeCollectionInfo(kv.value);
      if (c.state === 'Dropped') return undefined;
      return this.complete(c, await this.listDatabases(at), at);
    }
    return undefined;
  }

  /** Adds fields, functions and the database name to a decoded CollectionInfo value. */
  async complete(
    c: CollectionInfo,
    dbs: readonly DatabaseInfo[],
    revision?: bigint,
  ): Promise<CollectionInfo> {
    const [fieldKvs, fnKvs] = await Promise.all([
      this.scan(`${this.keys.fields}${c.id}/`, revision),
      this.scan(`${this.keys.functions}${c.id}/`, revision),
    ]);
    const all: FieldSchema[] =
      fieldKvs.kvs.length > 0
        ? fieldKvs.kvs.map((kv) => decodeFieldSchema(kv.value))
        : [...c.schema.fields];
    const dynamic = all.some((f) => f.isDynamic || f.name === DYNAMIC_FIELD);
    const fields = all
      .filter((f) => f.fieldId >= 100n && !f.isDynamic && f.name !== DYNAMIC_FIELD)
      .sort((a, b) => (a.fieldId < b.fieldId ? -1 : a.fieldId > b.fieldId ? 1 : 0));
    const functions =
      fnKvs.kvs.length > 0
        ? fnKvs.kvs.map((kv) => decodeFunctionSchema(kv.value))
        : [...c.schema.functions];
    const db = dbs.find((d) => d.id === c.dbId);
    const dbName = db?.name ?? (c.dbId <= 1n ? DEFAULT_DB_NAME : '');
    return {
      ...c,
      dbName,
      schema: {
        ...c.schema,
        fields,
        functions,
        enableDynamicField: c.schema.enableDynamicField || dynamic,
        dbName: c.schema.dbName === '' ? dbName : c.schema.dbName,
      },
    };
  }

  async listPartitions(collectionId: bigint): Promise<PartitionInfo[]> {
    const { kvs } = await this.scan(`${this.keys.partitions}${collectionId}/`);
    if (kvs.length > 0) {
      return kvs
        .map((kv) => decodePartitionInfo(kv.value))
        .filter((p) => p.state === 'Created')
        .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    }
    const legacy = await this.scan(`${this.keys.legacyCollection}${collectionId}`);
    const kv = legacy.kvs[0];
    return kv === undefined ? [] : legacyPartitions(kv.value);
  }

  async getChannelCheckpoint(vchannel: string): Promise<MsgPosition | undefined> {
    const { kv } = await this.getKv(`${this.keys.channelCheckpoint}${vchannel}`);
    return kv === undefined ? undefined : decodeMsgPosition(kv.value);
  }

  async readTso(): Promise<SourceTso> {
    const { kv } = await this.getKv(this.keys.tso);
    if (kv === undefined) {
      throw new CdcError('SOURCE_UNAVAILABLE', 'reading source tso: key absent', {
        retryable: true,
        details: { key: this.keys.tso },
      });
    }
    return decodeTsoValue(kv.value);
  }

  watch(opts: WatchOptions): AsyncIterable<MetadataEvent> {
    if (this.closed !== undefined) {
      throw new CdcError('INTERNAL', 'watching source metadata after close', { retryable: false });
    }
    return watchEvents(this, this.client, opts, this.watchers);
  }

  close(): Promise<void> {
    this.closed ??= (async () => {
      const ws = [...this.watchers];
      this.watchers.clear();
      await Promise.allSettled(ws.map((w) => w.cancel()));
    })();
    return this.closed;
  }
}

export function createEtcdSourceMetadata(opts: EtcdSourceMetadataOptions): EtcdSourceMetadata {
  return new EtcdSourceMetadata(opts);
}
