import { CdcError, errorMessage } from '@cdc/shared';
import type {
  AliasEntry,
  CollectionNaming,
  DatabaseNaming,
  KeyValue,
  Logger,
  SourceMetadata,
  StandbyMetadata,
} from '@cdc/shared';
import type { SourceProperties } from '../ports/source-properties.js';
import type { StandbyTarget } from '../ports/standby-target.js';
import type { TargetCollection } from '../ports/target-writer.js';
import type { CollectionCatalog } from '../replication/collection-catalog.js';
import { withRetry } from '../replication/retry.js';
import type { TaskScope } from '../replication/task-scope.js';
import { locateCollection, type Located } from './collection-locator.js';
import type { IssueSink } from './standby-issues.js';
import type { OrderVerdict, StandbyOrder } from './standby-order.js';

export interface CollectionSyncDeps {
  readonly standbyMetadata: StandbyMetadata;
  readonly sourceMetadata: SourceMetadata;
  readonly target: StandbyTarget;
  readonly catalog: CollectionCatalog;
  readonly scope: TaskScope;
  readonly order: StandbyOrder;
  readonly issues: IssueSink;
  readonly log: Logger;
  /** The source server, for the current properties on 2.3 (see SourceProperties); etcd's otherwise. */
  readonly sourceProperties?: SourceProperties;
}

const named = (t: TargetCollection): string => `${t.db}.${t.collection}`;
const same = (a: TargetCollection, b: TargetCollection): boolean =>
  a.db === b.db && a.collection === b.collection;

function isUnsupportedOrRejected(err: unknown): err is CdcError {
  return err instanceof CdcError && err.code === 'SINK_REJECTED';
}

/** The changes that turn `target` into `source` (set what differs, remove what the source lacks). */
export function propertyChanges(
  source: readonly KeyValue[],
  target: readonly KeyValue[],
): { set: KeyValue[]; remove: string[] } {
  const have = new Map(target.map((kv) => [kv.key, kv.value]));
  const want = new Set(source.map((kv) => kv.key));
  return {
    set: source.filter((kv) => have.get(kv.key) !== kv.value),
    remove: target.filter((kv) => !want.has(kv.key)).map((kv) => kv.key),
  };
}

/**
 * Aliases, collection names (renames, also into another database), collection properties and database properties:
 * brought in line with the source at the start of a lease, then kept there change by change, each applied in the
 * order StandbyOrder guarantees. A change the target refuses is recorded in StandbyIssues and following goes on.
 */
export class CollectionSync {
  /** Live source collections by id, as of the last snapshot and the changes since. */
  private readonly collections = new Map<bigint, CollectionNaming>();

  constructor(private readonly deps: CollectionSyncDeps) {}

  /** Brings every in-scope alias, name and property in line with the source snapshot. */
  async reconcile(
    snapshot: {
      readonly collections: readonly CollectionNaming[];
      readonly aliases: readonly AliasEntry[];
      readonly databases: readonly DatabaseNaming[];
    },
    signal: AbortSignal,
  ): Promise<OrderVerdict> {
    const { scope, standbyMetadata } = this.deps;
    this.collections.clear();
    for (const c of snapshot.collections) this.collections.set(c.id, c);
    for (const d of snapshot.databases) {
      if (
        (await this.database(d, await standbyMetadata.timestampOf(d.source), signal)) === 'paused'
      )
        return 'paused';
    }
    for (const c of snapshot.collections) {
      if (!scope.includesCollection(c.db, c.name)) continue;
      const ts = await standbyMetadata.timestampOf(c.source);
      if ((await this.collection(c, undefined, ts, signal)) === 'paused') return 'paused';
    }
    const dbs = new Set(
      snapshot.collections.filter((c) => scope.includesCollection(c.db, c.name)).map((c) => c.db),
    );
    const onTarget = new Map<string, Map<string, string>>();
    for (const a of snapshot.aliases) {
      dbs.add(a.db);
      if (!scope.includesDatabase(a.db)) continue;
      const db = scope.mapDatabase(a.db);
      let have = onTarget.get(db);
      if (have === undefined) {
        have = new Map(
          (await this.deps.target.listAliases(db)).map((t) => [t.alias, t.collection]),
        );
        onTarget.set(db, have);
      }
      const ts = await standbyMetadata.timestampOf(a.source);
      if ((await this.alias(a, ts, signal, have.get(a.alias))) === 'paused') return 'paused';
    }
    for (const db of dbs)
      if (db !== '' && scope.includesDatabase(db))
        await this.dropExtraAliases(db, snapshot.aliases);
    return 'apply';
  }

  /**
   * A rename (`before` names differ), an alter of properties, or both. Out-of-scope ends are reported: a collection
   * renamed out of scope stays on the target under its last name; one renamed into scope has only its later rows.
   */
  async collection(
    c: CollectionNaming,
    before: CollectionNaming | undefined,
    ts: bigint,
    signal: AbortSignal,
  ): Promise<OrderVerdict> {
    const { scope, issues, order, target } = this.deps;
    this.collections.set(c.id, c);
    const key = `collection:${c.id}`;
    const isIn = scope.includesCollection(c.db, c.name);
    const wasIn = before === undefined || scope.includesCollection(before.db, before.name);
    if (!isIn && !wasIn) return 'apply';
    if (before !== undefined && !isIn)
      // Still renamed on the target: its old name must be free for whatever the source creates under it next.
      issues.skip(
        key,
        `collection ${before.db}.${before.name} was renamed to ${c.db}.${c.name}, which is out of the task's scope: renamed on the target too, no longer replicated`,
      );
    else if (before !== undefined && !wasIn)
      issues.skip(
        key,
        `collection ${c.db}.${c.name} was renamed into the task's scope from ${before.db}.${before.name}: its rows from before are not on the target (VerifyTask with repair copies them)`,
      );
    else issues.skip(key, undefined);
    const mapped = scope.mapCollection(c.db, c.name);
    let located = await this.locate(c, before);
    if (located === undefined && before !== undefined && isIn)
      located = await this.create(c, signal);
    if (located === undefined) return 'apply'; // not on the target yet: created with its current settings later
    if (!same(located.at, mapped)) {
      const from = located.at;
      const what = `rename ${named(from)} -> ${named(mapped)}`;
      if ((await order.until(ts, c.physicalChannels, signal, what)) === 'paused') return 'paused';
      await this.applying(
        `rename:${c.id}`,
        what,
        () => target.renameCollection(from, mapped),
        signal,
      );
      this.deps.catalog.forget(c.id);
      located = { at: mapped, state: located.state };
    }
    if (!isIn) return 'apply';
    const wanted = (await this.currentProperties(c)) ?? c.properties;
    const { set, remove } = propertyChanges(wanted, located.state.properties);
    if (set.length + remove.length === 0) return 'apply';
    const what = `properties of ${named(mapped)}`;
    if ((await order.until(ts, c.physicalChannels, signal, what)) === 'paused') return 'paused';
    await this.applying(
      `properties:${c.id}`,
      what,
      () => target.alterCollectionProperties(mapped, set, remove),
      signal,
    );
    return 'apply';
  }

  /** `current`: the collection the target's alias of that name points at, when already known. */
  async alias(
    a: AliasEntry,
    ts: bigint,
    signal: AbortSignal,
    current?: string,
  ): Promise<OrderVerdict> {
    const { scope, issues, order, target } = this.deps;
    const key = `alias:${a.dbId}/${a.alias}`;
    const c = await this.sourceCollection(a.collectionId);
    if (c === undefined) return 'apply'; // the collection is gone: the alias goes with it
    if (!scope.includesCollection(c.db, c.name)) {
      if (scope.includesDatabase(a.db))
        issues.skip(
          key,
          `alias ${a.db}.${a.alias} points at ${c.db}.${c.name}, which is out of the task's scope: not replicated`,
        );
      return 'apply';
    }
    issues.skip(key, undefined);
    if (current !== undefined && current === scope.mapCollection(c.db, c.name).collection)
      return 'apply';
    const what = `alias ${a.db}.${a.alias} -> ${c.db}.${c.name}`;
    if ((await order.until(ts, c.physicalChannels, signal, what)) === 'paused') return 'paused';
    const located = (await this.locate(c)) ?? (await this.create(c, signal));
    if (located === undefined) return 'apply';
    await this.applying(key, what, () => target.setAlias(a.alias, located.at), signal);
    return 'apply';
  }

  async aliasDropped(
    db: string,
    dbId: bigint,
    alias: string,
    ts: bigint,
    signal: AbortSignal,
  ): Promise<OrderVerdict> {
    const { scope, issues, order, target } = this.deps;
    issues.skip(`alias:${dbId}/${alias}`, undefined);
    if (db === '' || !scope.includesDatabase(db)) return 'apply';
    if ((await order.until(ts, [], signal, `drop alias ${db}.${alias}`)) === 'paused')
      return 'paused';
    await this.applying(
      `alias:${dbId}/${alias}`,
      `drop alias ${db}.${alias}`,
      () => target.dropAlias(scope.mapDatabase(db), alias),
      signal,
    );
    return 'apply';
  }

  async database(d: DatabaseNaming, ts: bigint, signal: AbortSignal): Promise<OrderVerdict> {
    const { scope, issues, order, target } = this.deps;
    const key = `database:${d.id}`;
    if (!scope.includesDatabase(d.name)) return 'apply';
    const db = scope.mapDatabase(d.name);
    const current = d.properties.length === 0 ? [] : await target.databaseProperties(db);
    if (current === undefined) {
      issues.skip(
        key,
        `database ${d.name} properties: the target does not support database properties (Milvus < 2.4)`,
      );
      return 'apply';
    }
    const { set, remove } = propertyChanges(d.properties, current);
    if (set.length + remove.length === 0) return 'apply';
    if ((await order.until(ts, [], signal, `properties of database ${db}`)) === 'paused')
      return 'paused';
    await this.applying(
      key,
      `properties of database ${db}`,
      () => target.alterDatabaseProperties(db, set, remove),
      signal,
    );
    return 'apply';
  }

  /** Target aliases in a replicated database that the source lacks and that point at a collection of this task. */
  private async dropExtraAliases(db: string, source: readonly AliasEntry[]): Promise<void> {
    const { scope, target } = this.deps;
    const mine = new Set(
      [...this.collections.values()]
        .filter((c) => scope.includesCollection(c.db, c.name))
        .map((c) => String(c.id)),
    );
    for (const t of await target.listAliases(scope.mapDatabase(db))) {
      if (source.some((a) => a.db === db && a.alias === t.alias)) continue;
      const state = await target.describeCollection({
        db: scope.mapDatabase(db),
        collection: t.collection,
      });
      if (state?.sourceCollectionId === undefined || !mine.has(state.sourceCollectionId)) continue;
      this.deps.log.info(
        { db, alias: t.alias },
        'dropping a target alias the source no longer has',
      );
      await target.dropAlias(scope.mapDatabase(db), t.alias);
    }
  }

  private locate(c: CollectionNaming, before?: CollectionNaming): Promise<Located | undefined> {
    const { target, standbyMetadata, scope } = this.deps;
    const known = before === undefined ? [] : [before];
    return locateCollection({ target, metadata: standbyMetadata, scope }, c.id, c, known);
  }

  /** Creates the collection on the target the way its DML channel would (schema, partitions, properties). */
  private async create(c: CollectionNaming, signal: AbortSignal): Promise<Located | undefined> {
    const { catalog } = this.deps;
    const rc = await catalog.resolve(c.id);
    if (rc === undefined || !(await catalog.ensureOnTarget(rc, signal))) return undefined;
    return this.locate(c);
  }

  private async sourceCollection(id: bigint): Promise<CollectionNaming | undefined> {
    const known = this.collections.get(id);
    if (known !== undefined) return known;
    const info = await this.deps.sourceMetadata.getCollection(id);
    if (info === undefined || info.state !== 'Created') return undefined;
    return {
      id,
      dbId: info.dbId,
      db: info.dbName || 'default',
      name: info.name,
      properties: info.properties,
      physicalChannels: info.physicalChannels,
      source: { key: '', revision: 0n },
    };
  }

  private async currentProperties(c: CollectionNaming): Promise<readonly KeyValue[] | undefined> {
    const reader = this.deps.sourceProperties;
    if (reader === undefined) return undefined;
    return reader.properties({ db: c.db, collection: c.name }).catch((err: unknown) => {
      this.deps.log.debug({ err: errorMessage(err) }, 'source properties unreadable; using etcd');
      return undefined;
    });
  }

  /**
   * Runs a target change, retrying what is retryable; a refusal is recorded (and cleared by a later success) instead
   * of stopping the follower.
   */
  private async applying(
    key: string,
    what: string,
    fn: () => Promise<void>,
    signal: AbortSignal,
  ): Promise<void> {
    try {
      await withRetry(fn, { signal, log: this.deps.log, action: what });
      this.deps.issues.skip(key, undefined);
      this.deps.log.info({ change: what }, 'standby change applied');
    } catch (err) {
      if (!isUnsupportedOrRejected(err)) throw err;
      this.deps.issues.skip(key, `${what}: ${errorMessage(err)}`);
    }
  }
}
