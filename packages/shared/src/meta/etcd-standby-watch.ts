import type { Etcd3, Watcher } from 'etcd3';
import { CdcError } from '../errors.js';
import type { KeyValue } from '../wire/messages.js';
import { isTombstone } from './etcd-codec.js';
import type { EtcdStandbyMetadata, RawKv } from './etcd-standby-metadata.js';
import { idsAfter } from './keys.js';
import { dbNameOf } from './standby-codec.js';
import type { RbacState, StandbyEvent } from './standby-metadata.js';

interface RawEvent extends RawKv {
  readonly deleted: boolean;
}

type Pending =
  { kind: 'events'; events: RawEvent[] } | { kind: 'error'; err: unknown } | { kind: 'end' };

/** Same pairs whatever their order. */
export function sameProperties(a: readonly KeyValue[], b: readonly KeyValue[]): boolean {
  if (a.length !== b.length) return false;
  const m = new Map(a.map((kv) => [kv.key, kv.value]));
  return b.every((kv) => m.get(kv.key) === kv.value);
}

function sameRbac(a: RbacState, b: RbacState): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/**
 * The standby watch: one etcd watch on `{meta}root-coord/` after a revision, turned into alias, collection naming,
 * database and RBAC changes against the state at that revision. Events of one revision (one rootcoord transaction)
 * are handled together, puts before deletes, so a rename into another database (a put of the collection under the new
 * database and a tombstone under the old one, in one transaction) is a rename and not a drop.
 */
export async function* watchStandbyEvents(
  meta: EtcdStandbyMetadata,
  client: Etcd3,
  opts: { readonly signal: AbortSignal; readonly afterRevision: bigint },
  closed: AbortSignal,
): AsyncGenerator<StandbyEvent> {
  const k = meta.keys;
  const start = opts.afterRevision;
  const dbs = await meta.databasesAt(start);
  const colls = new Map((await meta.collectionsAt(start, dbs)).map((c) => [c.id, c]));
  const aliasKey = (dbId: bigint, alias: string): string => `${dbId}/${alias}`;
  const aliases = new Map(
    (await meta.aliasesAt(start, dbs)).map((a) => [aliasKey(a.dbId, a.alias), a]),
  );
  let rbac = await meta.rbacAt(start);

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
      .prefix(k.rootCoord)
      .startRevision((start + 1n).toString())
      .create();
  } catch (err) {
    throw new CdcError('SOURCE_UNAVAILABLE', 'watching source etcd', {
      retryable: true,
      cause: err,
    });
  }
  watcher.on('data', (res) => {
    push({
      kind: 'events',
      events: res.events.map((e) => ({
        key: e.kv.key.toString('utf8'),
        value: new Uint8Array(e.kv.value),
        revision: BigInt(e.kv.mod_revision),
        deleted: e.type === 'Delete' || isTombstone(new Uint8Array(e.kv.value)),
      })),
    });
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
  closed.addEventListener('abort', onAbort);

  /** The events of one revision, in the order of the module comment. */
  async function* revisionEvents(group: readonly RawEvent[]): AsyncGenerator<StandbyEvent> {
    const revision = group[0]?.revision ?? 0n;
    const ts = (key: string): Promise<bigint> => meta.timestampOf({ key, revision });
    let rbacTouched = false;
    for (const ev of [...group.filter((e) => !e.deleted), ...group.filter((e) => e.deleted)]) {
      if (ev.key.startsWith(k.credential) || ev.key.startsWith(k.privilegeGroup)) {
        rbacTouched = true;
        continue;
      }
      const dbId = idsAfter(ev.key, k.dbInfo, 1)?.[0];
      if (dbId !== undefined) {
        const before = dbs.get(dbId);
        const after = ev.deleted ? undefined : meta.databaseOf(ev);
        if (after === undefined) dbs.delete(dbId);
        else dbs.set(dbId, after);
        if (
          before !== undefined &&
          after !== undefined &&
          !sameProperties(before.properties, after.properties)
        )
          yield { type: 'DatabaseAltered', revision, ts: await ts(ev.key), before, after };
        continue;
      }
      const alias = meta.aliasKeyParts(ev.key);
      if (alias !== undefined) {
        const key = aliasKey(alias.dbId, alias.alias);
        const before = aliases.get(key);
        const after = ev.deleted ? undefined : meta.aliasOf(ev, dbs);
        if (after === undefined) {
          aliases.delete(key);
          if (before !== undefined)
            yield {
              type: 'AliasDropped',
              revision,
              ts: await ts(ev.key),
              dbId: alias.dbId,
              db: before.db || dbNameOf(alias.dbId, dbs),
              alias: alias.alias,
            };
        } else {
          aliases.set(key, after);
          if (before?.collectionId !== after.collectionId)
            yield {
              type: 'AliasSet',
              revision,
              ts: await ts(ev.key),
              alias: after,
              ...(before === undefined ? {} : { previousCollectionId: before.collectionId }),
            };
        }
        continue;
      }
      const modern = idsAfter(ev.key, k.collectionInfo, 2);
      const legacy = idsAfter(ev.key, k.legacyCollection, 1);
      const collectionId = modern?.[1] ?? legacy?.[0];
      if (collectionId === undefined) continue; // partitions, fields, ...: not standby metadata
      const before = colls.get(collectionId);
      if (ev.deleted) {
        // Under another database now: the other half of a rename; else the drop's garbage collection.
        const keyDb = modern?.[0] ?? before?.dbId;
        if (before !== undefined && before.dbId === keyDb) colls.delete(collectionId);
        continue;
      }
      const after = meta.collectionOf(ev, dbs);
      if (after === undefined) {
        if (before !== undefined && before.dbId === (modern?.[0] ?? before.dbId)) {
          // Dropping/Dropped (a Creating put never follows a live one).
          colls.delete(collectionId);
        }
        continue;
      }
      colls.set(collectionId, after);
      // Every rewrite of a live collection is reported, changed or not: Milvus 2.3 saves the collection's previous
      // properties on AlterCollection (the new ones reach etcd only with its next rewrite), so the rewrite itself is
      // the signal to read them from the source server.
      if (before !== undefined)
        yield { type: 'CollectionAltered', revision, ts: await ts(ev.key), before, after };
    }
    if (rbacTouched) {
      const next = await meta.rbacAt(revision);
      if (!sameRbac(rbac, next)) {
        rbac = next;
        yield { type: 'RbacChanged', revision, ts: await meta.readTso(), rbac };
      }
    }
  }

  try {
    for (;;) {
      if (opts.signal.aborted || closed.aborted) return;
      const next = queue.shift();
      if (next === undefined) {
        await new Promise<void>((resolve) => (wake = resolve));
        wake = undefined;
        continue;
      }
      if (next.kind === 'end') return;
      if (next.kind === 'error')
        throw new CdcError('SOURCE_UNAVAILABLE', 'watching source etcd', {
          retryable: true,
          cause: next.err,
        });
      // One response holds whole revisions; group them (etcd delivers them in revision order).
      let group: RawEvent[] = [];
      for (const ev of next.events) {
        if (group.length > 0 && group[0]?.revision !== ev.revision) {
          yield* revisionEvents(group);
          group = [];
        }
        group.push(ev);
      }
      if (group.length > 0) yield* revisionEvents(group);
    }
  } finally {
    opts.signal.removeEventListener('abort', onAbort);
    closed.removeEventListener('abort', onAbort);
    await watcher.cancel().catch(() => undefined);
  }
}
