import { CdcError } from '@cdc/shared';
import type {
  CollectionInfo,
  CollectionSchema,
  CreateCollectionMessage,
  SourceMetadata,
} from '@cdc/shared';
import type { TargetCollection, TargetWriter } from '../ports/target-writer.js';
import { sleep } from './retry.js';
import type { TaskScope } from './task-scope.js';

/** A source collection the task replicates, with its target name and what is needed to write rows. */
export interface ReplicatedCollection {
  readonly id: bigint;
  readonly sourceDb: string;
  readonly sourceName: string;
  readonly target: TargetCollection;
  readonly schema: CollectionSchema;
  readonly primaryKeyField: string;
  /** The source pchannels of the collection: a drop is applied once every one of them reached it. */
  readonly physicalChannels: readonly string[];
  readonly info: CollectionInfo;
}

/** User fields only: system fields (< 100) and `$meta` are not created explicitly on the target. */
function userSchema(schema: CollectionSchema): CollectionSchema {
  const hasMeta = schema.fields.some((f) => f.isDynamic);
  return {
    ...schema,
    enableDynamicField: schema.enableDynamicField || hasMeta,
    fields: schema.fields.filter((f) => f.fieldId >= 100n && !f.isDynamic),
  };
}

/**
 * Resolves source collection ids to target collections and makes sure they exist on the target before rows are
 * written. Metadata comes from the source etcd; a CreateCollection message's schema is preferred when available since
 * it is exactly what the stream was written with.
 *
 * A collection that is gone from the source etcd resolves to `undefined`: its messages are history whose net effect
 * is nothing (its DropCollection follows in the stream), so they are skipped rather than replayed into a collection
 * whose database and settings can no longer be known.
 */
export class CollectionCatalog {
  private readonly byId = new Map<bigint, ReplicatedCollection | null>();
  private readonly ensured = new Set<bigint>();
  private readonly partitions = new Set<string>();

  constructor(
    private readonly metadata: SourceMetadata,
    private readonly scope: TaskScope,
    private readonly writer: TargetWriter,
    private readonly incarnationWaitMs = 120_000,
    /**
     * Where the collection sits on the target when that is not its current name: a rename the target has not
     * followed yet (the standby follower applies it in order). Writes go there until then, never into a new
     * collection under the new name.
     */
    private readonly locate?: (c: ReplicatedCollection) => Promise<TargetCollection | undefined>,
  ) {}

  /** `undefined` when the collection is out of scope or no longer exists in the source. */
  async resolve(
    collectionId: bigint,
    created?: CreateCollectionMessage,
  ): Promise<ReplicatedCollection | undefined> {
    const cached = this.byId.get(collectionId);
    if (cached !== undefined) return cached ?? undefined;
    const info = await this.metadata.getCollection(collectionId);
    let resolved = info === undefined ? undefined : this.fromInfo(info, created);
    const at = resolved === undefined ? undefined : await this.locate?.(resolved);
    if (resolved !== undefined && at !== undefined) resolved = { ...resolved, target: at };
    this.byId.set(collectionId, resolved ?? null);
    return resolved;
  }

  /** True when the collection is known to be out of scope, gone from the source, or replaced by a later incarnation. */
  skips(collectionId: bigint): boolean {
    return this.byId.get(collectionId) === null;
  }

  /**
   * True when the collection is out of scope for sure: known so, or the source etcd holds it under a name the scope
   * excludes. A collection etcd does not show (yet: Milvus saves a new collection after it broadcasts the create) is
   * not: nothing is cached then, and neither is an in-scope answer, so the create's own schema still wins later.
   */
  async excludes(collectionId: bigint): Promise<boolean> {
    const cached = this.byId.get(collectionId);
    if (cached !== undefined) return cached === null;
    const info = await this.metadata.getCollection(collectionId);
    if (info === undefined || this.fromInfo(info) !== undefined) return false;
    this.byId.set(collectionId, null);
    return true;
  }

  /**
   * The collection again, from the source and the target as they are now; undefined when it did not move (or is
   * gone). For a write refused because its target collection is no longer there: a rename took it elsewhere.
   */
  async relocate(c: ReplicatedCollection): Promise<ReplicatedCollection | undefined> {
    this.forget(c.id);
    const now = await this.resolve(c.id);
    if (now === undefined) return undefined;
    const moved = now.target.db !== c.target.db || now.target.collection !== c.target.collection;
    return moved ? now : undefined;
  }

  /** Names of the collection's partitions the source holds now. */
  async sourcePartitions(collectionId: bigint): Promise<Set<string>> {
    const partitions = await this.metadata.listPartitions(collectionId);
    return new Set(partitions.filter((p) => p.state === 'Created').map((p) => p.name));
  }

  /** Looks a collection up by its source names (replicate-channel ops carry names, not ids). */
  async resolveByName(db: string, name: string): Promise<ReplicatedCollection | undefined> {
    // Always ask the source: the name may belong to a newer incarnation than a cached entry (ops on this channel
    // never see the DropCollection that would evict it). Ops are rare, so the listing is cheap enough.
    const all = await this.metadata.listCollections();
    const info = all.find((c) => (c.dbName || 'default') === db && c.name === name);
    if (info === undefined) return undefined;
    return this.resolve(info.id);
  }

  /**
   * True when `sourceCollectionId` names a collection the source holds now, in scope, under a name that maps into
   * target database `targetDb`: a collection that belongs there.
   */
  async belongsIn(sourceCollectionId: string, targetDb: string): Promise<boolean> {
    if (!/^\d{1,20}$/.test(sourceCollectionId)) return false;
    const info = await this.metadata.getCollection(BigInt(sourceCollectionId));
    if (info === undefined || info.state !== 'Created') return false;
    const db = info.dbName || 'default';
    return (
      this.scope.includesCollection(db, info.name) &&
      this.scope.mapCollection(db, info.name).db === targetDb
    );
  }

  /**
   * True when the source collection is live under a name that maps to another target collection than `target`: the
   * target still has it under an older name because its rename has not been applied there yet. Not a drop.
   */
  async renamedAway(collectionId: bigint, target: TargetCollection): Promise<boolean> {
    const info = await this.metadata.getCollection(collectionId);
    if (info === undefined || info.state !== 'Created') return false;
    const now = this.scope.mapCollection(info.dbName || 'default', info.name);
    return now.db !== target.db || now.collection !== target.collection;
  }

  /**
   * For a CreateCollection message: Milvus broadcasts the message before it saves the collection in etcd, so wait
   * (bounded) until etcd shows it Created. Still absent afterwards means it was dropped since: skip it.
   */
  async resolveCreated(
    msg: CreateCollectionMessage,
    signal: AbortSignal,
    waitMs = 15_000,
  ): Promise<ReplicatedCollection | undefined> {
    this.forget(msg.collectionId);
    const deadline = Date.now() + waitMs;
    for (;;) {
      const info = await this.metadata.getCollection(msg.collectionId);
      if (info !== undefined && info.state === 'Created') {
        const resolved = this.fromInfo(info, msg);
        this.byId.set(msg.collectionId, resolved ?? null);
        return resolved;
      }
      if (Date.now() > deadline) return undefined;
      await sleep(250, signal);
    }
  }

  private fromInfo(
    info: CollectionInfo,
    created?: CreateCollectionMessage,
  ): ReplicatedCollection | undefined {
    const sourceDb = info.dbName || 'default';
    if (!this.scope.includesCollection(sourceDb, info.name)) return undefined;
    const schema = userSchema(created?.schema ?? info.schema);
    const pk = schema.fields.find((f) => f.isPrimaryKey);
    return {
      id: info.id,
      sourceDb,
      sourceName: info.name,
      target: this.scope.mapCollection(sourceDb, info.name),
      schema,
      primaryKeyField: pk?.name ?? '',
      physicalChannels: [...new Set(created?.physicalChannelNames ?? info.physicalChannels)],
      info,
    };
  }

  /**
   * Creates the target database and collection (with the source's partitions) once per lease; idempotent.
   *
   * If the target still holds an earlier incarnation of the name (dropped on the source, but that drop is not applied
   * yet because another channel has not reached it), wait for it to go: writing into it now would put this
   * incarnation's rows into the old collection, to be dropped with it. `whileWaiting` is called with the earlier
   * incarnation's source id on every round, so the caller can help that drop along (see DmlChannelReplicator).
   * Waits at most `incarnationWaitMs`, then reports a schema mismatch for a person to look at.
   *
   * False when the target already holds a *later* incarnation (Milvus allocates collection ids in increasing order):
   * this one was dropped on the source and replaced, so its remaining messages are history to skip.
   */
  async ensureOnTarget(
    c: ReplicatedCollection,
    signal?: AbortSignal,
    whileWaiting?: (earlierSourceId: string) => Promise<void>,
  ): Promise<boolean> {
    if (this.ensured.has(c.id)) return true;
    const deadline = Date.now() + this.incarnationWaitMs;
    for (;;) {
      try {
        await this.createOnTarget(c);
        return true;
      } catch (err) {
        if (!(err instanceof CdcError) || err.code !== 'CONFLICT') throw err;
        const held = err.details['targetSourceId'];
        const heldId = typeof held === 'string' && /^\d+$/.test(held) ? BigInt(held) : undefined;
        if (heldId !== undefined && heldId > c.id) {
          this.byId.set(c.id, null);
          return false;
        }
        if (Date.now() > deadline) {
          throw new CdcError('SCHEMA_MISMATCH', `${err.message} and its drop never arrived`, {
            retryable: false,
            cause: err,
          });
        }
        if (whileWaiting && heldId !== undefined) await whileWaiting(heldId.toString());
        await sleep(500, signal);
      }
    }
  }

  private async createOnTarget(c: ReplicatedCollection): Promise<void> {
    // The target database and the source's partition list are independent round trips.
    const [, partitions] = await Promise.all([
      this.writer.createDatabase(c.target.db, []),
      this.partitionsToCreate(c),
    ]);
    await this.writer.createCollection({
      ...c.target,
      sourceCollectionId: c.id.toString(),
      sourceCreateTimestamp: c.info.createTime,
      schema: c.schema,
      shardsNum: c.info.shardsNum,
      consistencyLevel: c.info.consistencyLevel,
      properties: c.info.properties,
      partitions,
    });
    for (const p of partitions) this.partitions.add(`${c.id}/${p}`);
    this.ensured.add(c.id);
  }

  private async partitionsToCreate(c: ReplicatedCollection): Promise<string[]> {
    if (c.schema.fields.some((f) => f.isPartitionKey)) return [];
    const partitions = await this.metadata.listPartitions(c.id);
    return partitions.map((p) => p.name).filter((n) => n !== '_default');
  }

  /** Partitions are created in 2.3–2.5 without an MQ message, so the first row written to one creates it. */
  async ensurePartition(c: ReplicatedCollection, partition: string): Promise<void> {
    if (!this.needsPartition(c, partition)) return;
    await this.writer.createPartition(c.target, partition);
    this.partitions.add(`${c.id}/${partition}`);
  }

  /** True when `ensurePartition` would create the partition: not known on the target in this lease yet. */
  needsPartition(c: ReplicatedCollection, partition: string): boolean {
    if (partition === '' || partition === '_default') return false;
    if (c.schema.fields.some((f) => f.isPartitionKey)) return false;
    return !this.partitions.has(`${c.id}/${partition}`);
  }

  /** True once this lease created (or found) the collection on the target. */
  isOnTarget(collectionId: bigint): boolean {
    return this.ensured.has(collectionId);
  }

  /** From now on the collection's messages are skipped (see `skips`). */
  skip(collectionId: bigint): void {
    this.forget(collectionId);
    this.byId.set(collectionId, null);
  }

  forgetPartition(c: ReplicatedCollection, partition: string): void {
    this.partitions.delete(`${c.id}/${partition}`);
  }

  forget(collectionId: bigint): void {
    this.byId.delete(collectionId);
    this.ensured.delete(collectionId);
    for (const key of [...this.partitions])
      if (key.startsWith(`${collectionId}/`)) this.partitions.delete(key);
  }
}
