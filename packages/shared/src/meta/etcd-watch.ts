import type { Etcd3, IKeyValue, Watcher } from 'etcd3';
import { etcdUnavailable } from './etcd-errors.js';
import {
  decodeCollectionInfo,
  decodeDatabaseInfo,
  decodePartitionInfo,
  isTombstone,
} from './etcd-codec.js';
import { idsAfter, type SourceKeys } from './keys.js';
import type {
  CollectionInfo,
  DatabaseInfo,
  MetadataEvent,
  WatchOptions,
} from './source-metadata.js';

/**
 * What the watch reads from the metadata it follows (EtcdSourceMetadata implements it), declared here so that the
 * watch does not import its caller (no import cycle).
 */
export interface WatchedMetadata {
  readonly keys: SourceKeys;
  currentRevision(): Promise<bigint>;
  listDatabases(revision?: bigint): Promise<DatabaseInfo[]>;
  scan(
    prefix: string,
    revision?: bigint,
  ): Promise<{ readonly kvs: readonly { value: Uint8Array }[] }>;
  complete(
    c: CollectionInfo,
    dbs: readonly DatabaseInfo[],
    revision?: bigint,
  ): Promise<CollectionInfo>;
}

/**
 * The metadata watch: one etcd watch on `{root}/meta/root-coord/` from a start revision, turned into ordered
 * create/drop events. State at the start revision seeds what is already known, so re-PUTs of a live entity (alter,
 * the Creating→Created pair) produce one `*Created`, and Dropping + tombstone produce one `*Dropped`.
 */

interface RawEvent {
  readonly type: 'put' | 'delete';
  readonly key: string;
  readonly value: Uint8Array;
  readonly revision: bigint;
}

type Pending = { kind: 'event'; ev: RawEvent } | { kind: 'error'; err: unknown } | { kind: 'end' };

export async function* watchEvents(
  meta: WatchedMetadata,
  client: Etcd3,
  opts: WatchOptions,
  registry: Set<Watcher>,
): AsyncGenerator<MetadataEvent> {
  const k = meta.keys;
  const start = opts.afterRevision ?? (await meta.currentRevision());
  const knownDbs = new Set((await meta.listDatabases(start)).map((d) => d.id));
  const knownColls = new Set<bigint>();
  for (const prefix of [k.collectionInfo, k.legacyCollection]) {
    for (const kv of (await meta.scan(prefix, start)).kvs) {
      const c = decodeCollectionInfo(kv.value);
      if (c.state === 'Created') knownColls.add(c.id);
    }
  }
  const knownParts = new Set<bigint>();
  for (const kv of (await meta.scan(k.partitions, start)).kvs) {
    const p = decodePartitionInfo(kv.value);
    if (p.state === 'Created') knownParts.add(p.id);
  }

  const queue: Pending[] = [];
  let wake: (() => void) | undefined;
  const push = (p: Pending): void => {
    queue.push(p);
    wake?.();
  };
  let watcher: Watcher;
  try {
    watcher = await client
      .watch()
      .prefix(`${k.meta}root-coord/`)
      .startRevision((start + 1n).toString())
      .create();
  } catch (err) {
    throw etcdUnavailable('watching source etcd', err);
  }
  registry.add(watcher);
  watcher.on('data', (res) => {
    for (const e of res.events) {
      const kv: IKeyValue = e.kv;
      push({
        kind: 'event',
        ev: {
          type: e.type === 'Delete' ? 'delete' : 'put',
          key: kv.key.toString('utf8'),
          value: new Uint8Array(kv.value),
          revision: BigInt(kv.mod_revision),
        },
      });
    }
  });
  watcher.on('error', (err) => {
    push({ kind: 'error', err });
  });
  watcher.on('end', () => {
    push({ kind: 'end' });
  });
  const onAbort = (): void => {
    push({ kind: 'end' });
  };
  opts.signal.addEventListener('abort', onAbort);

  try {
    for (;;) {
      if (opts.signal.aborted) return;
      const next = queue.shift();
      if (next === undefined) {
        await new Promise<void>((resolve) => (wake = resolve));
        wake = undefined;
        continue;
      }
      if (next.kind === 'end') return;
      if (next.kind === 'error') {
        throw etcdUnavailable('watching source etcd', next.err);
      }
      const ev = next.ev;
      const deleted = ev.type === 'delete' || isTombstone(ev.value);
      const rev = ev.revision;

      const dbIds = idsAfter(ev.key, k.dbInfo, 1);
      if (dbIds?.[0] !== undefined) {
        const dbId = dbIds[0];
        const d = deleted ? undefined : decodeDatabaseInfo(ev.value);
        if (d !== undefined && d.state === 'Created' && !knownDbs.has(dbId)) {
          knownDbs.add(dbId);
          yield { type: 'DatabaseCreated', revision: rev, database: d };
        } else if (
          (deleted || d?.state === 'Dropping' || d?.state === 'Dropped') &&
          knownDbs.delete(dbId)
        ) {
          yield { type: 'DatabaseDropped', revision: rev, dbId };
        }
        continue;
      }

      const modern = idsAfter(ev.key, k.collectionInfo, 2);
      const legacy = idsAfter(ev.key, k.legacyCollection, 1);
      const collIds = modern ?? (legacy === undefined ? undefined : [0n, ...legacy]);
      if (collIds?.[0] !== undefined && collIds[1] !== undefined) {
        const [dbId, collectionId] = [collIds[0], collIds[1]];
        const c = deleted ? undefined : decodeCollectionInfo(ev.value);
        if (c !== undefined && c.state === 'Created' && !knownColls.has(collectionId)) {
          knownColls.add(collectionId);
          const full = await meta.complete(c, await meta.listDatabases(rev), rev);
          yield { type: 'CollectionCreated', revision: rev, collection: full };
        } else if (
          (deleted || c?.state === 'Dropping' || c?.state === 'Dropped') &&
          knownColls.delete(collectionId)
        ) {
          yield {
            type: 'CollectionDropped',
            revision: rev,
            dbId,
            collectionId,
            ...(c === undefined ? {} : { collection: c }),
          };
        }
        continue;
      }

      const partIds = idsAfter(ev.key, k.partitions, 2);
      if (partIds?.[0] !== undefined && partIds[1] !== undefined) {
        const [collectionId, partitionId] = [partIds[0], partIds[1]];
        const p = deleted ? undefined : decodePartitionInfo(ev.value);
        if (p !== undefined && p.state === 'Created' && !knownParts.has(partitionId)) {
          knownParts.add(partitionId);
          yield { type: 'PartitionCreated', revision: rev, partition: p };
        } else if (
          (deleted || p?.state === 'Dropping' || p?.state === 'Dropped') &&
          knownParts.delete(partitionId)
        ) {
          yield { type: 'PartitionDropped', revision: rev, collectionId, partitionId };
        }
      }
    }
  } finally {
    opts.signal.removeEventListener('abort', onAbort);
    registry.delete(watcher);
    await watcher.cancel().catch(() => undefined);
  }
}
