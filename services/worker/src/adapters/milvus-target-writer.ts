import {
  CdcError,
  type ColumnSlice,
  type InsertColumns,
  type KeyValue,
  type Logger,
  type MilvusStatusLike,
  type PrimaryKeys,
  type Row,
} from '@cdc/shared';
import type { CreateIndexParam, DescribeCollectionResponse } from '@zilliz/milvus2-sdk-node';
import { SOURCE_COLLECTION_ID_PROPERTY } from '../ports/target-writer.js';
import type {
  CreateCollectionSpec,
  TargetCollection,
  TargetWriter,
  WriteResult,
} from '../ports/target-writer.js';
import {
  doneOrGone,
  looked,
  failure,
  MilvusCalls,
  nestedStatus,
  plainStatus,
  type Outcome,
} from './milvus-calls.js';
import {
  targetMilvusClient,
  type TargetMilvusClient,
  milvusClientConfig,
  type MilvusEndpointOptions,
} from './milvus-client.js';
import { deleteRows, upsertColumns, upsertRows } from './milvus-dml.js';
import { MilvusStandbyTarget } from './milvus-standby.js';
import { SharedAttempts } from './shared-attempts.js';
import { indexDifferences } from './milvus-index.js';
import { kvRecord, schemaDifferences, toCreateCollectionRequest } from './milvus-schema.js';

/** Drops of a partition refused because a load raced in (see `dropPartition`). */
const DROP_LOADED_ATTEMPTS = 4;

/** Milvus (2.3–2.5) answers a drop of a loaded partition with a parameter error whose reason says so. */
function refusedAsLoaded(o: Outcome<unknown>): boolean {
  const reason = o.details['reason'];
  return typeof reason === 'string' && /partition is loaded/i.test(reason);
}

export interface MilvusTargetWriterOptions extends MilvusEndpointOptions {
  /** Deadline of each RPC (default 30 s). */
  readonly timeoutMs?: number;
  /**
   * The target runs in replicate mode (`common.ttMsgEnabled=false`): collections are created as replicated, at the
   * source's creation timestamp (`MsgBase.replicateInfo`).
   */
  readonly replicateMode?: boolean;
  readonly logger: Logger;
}

const DEFAULT_TIMEOUT_MS = 30_000;
const DEFAULT_PARTITION = '_default';

/**
 * `TargetWriter` over `@zilliz/milvus2-sdk-node` (API mode). One writer serves every database of the target: each
 * request names its `db_name`, nothing switches shared client state.
 *
 * Idempotency without parsing messages: creates look before or after they act (describe / list / hasPartition /
 * describeIndex), drops and releases treat a not-found code as done. Collections and databases that are already gone
 * also make drop*, release*, dropIndex and flush succeed: replicate-channel ops can arrive after the DML channel
 * dropped the collection. Creates, loads and writes on a missing collection are `SINK_REJECTED` with
 * `details.notFound` ('collection' | 'partition' | 'database' | 'index') so the caller can tell them apart.
 * Status mapping: see `milvus-status.ts`.
 */
export class MilvusTargetWriter implements TargetWriter {
  private readonly client: TargetMilvusClient;
  private readonly calls: MilvusCalls;
  private readonly log: Logger;
  private readonly replicateMode: boolean;
  /** The channel leases of a new collection create it (and its database) at once: one set of round trips serves all. */
  private readonly creates = new SharedAttempts();
  private closing: Promise<void> | undefined;

  constructor(opts: MilvusTargetWriterOptions) {
    this.client = targetMilvusClient(milvusClientConfig(opts));
    this.calls = new MilvusCalls(this.client, opts.timeoutMs ?? DEFAULT_TIMEOUT_MS);
    this.log = opts.logger.child({ component: 'milvus-target-writer' });
    this.replicateMode = opts.replicateMode ?? false;
  }

  createDatabase(db: string, properties: readonly KeyValue[]): Promise<void> {
    return this.creates.run(JSON.stringify(['database', db, properties]), () =>
      this.createDatabaseNow(db, properties),
    );
  }

  private async createDatabaseNow(db: string, properties: readonly KeyValue[]): Promise<void> {
    const req = { db_name: db, properties: kvRecord(properties), timeout: this.calls.timeout };
    const o = await this.calls.attempt(() => this.client.createDatabase(req), plainStatus);
    if (o.cls.kind === 'ok') return;
    // 2.3 reports "already exists" only as UnexpectedError text: look instead of parsing it.
    if (o.cls.kind === 'rejected' && (await this.databaseExists(db))) return;
    throw failure('creating database', o, { db });
  }

  async dropDatabase(db: string): Promise<void> {
    const req = { db_name: db, timeout: this.calls.timeout };
    const o = await this.calls.attempt(() => this.client.dropDatabase(req), plainStatus);
    if (!doneOrGone(o)) throw failure('dropping database', o, { db });
  }

  async collectionSourceIds(db: string): Promise<(string | undefined)[]> {
    const o = await this.calls.attempt(
      () => this.client.showCollections({ db_name: db, timeout: this.calls.timeout }),
      nestedStatus,
    );
    if (o.cls.kind !== 'ok') {
      if (o.cls.notFound === 'database') return [];
      throw failure('listing collections', o, { db });
    }
    const ids: (string | undefined)[] = [];
    for (const c of o.res?.data ?? []) {
      const d = await this.describeFresh({ db, collection: c.name });
      if (d !== undefined) ids.push(sourceIdOf(d));
    }
    return ids;
  }

  createCollection(spec: CreateCollectionSpec): Promise<void> {
    return this.creates.run(JSON.stringify(['collection', spec], jsonBigInt), () =>
      this.createCollectionNow(spec),
    );
  }

  private async createCollectionNow(spec: CreateCollectionSpec): Promise<void> {
    const where = { db: spec.db, collection: spec.collection };
    this.client.forgetSchema(spec.db, spec.collection);
    let existing = await this.describeFresh(spec);
    if (existing === undefined) {
      const req = {
        ...toCreateCollectionRequest(spec),
        ...this.replicatedCreate(spec),
        timeout: this.calls.timeout,
      };
      const o = await this.calls.attempt(() => this.client.createCollection(req), plainStatus);
      if (o.cls.kind !== 'ok') {
        // Lost a race with another writer, or 2.3's "duplicate collection with different parameters": look again.
        existing = o.cls.kind === 'rejected' ? await this.describeFresh(spec) : undefined;
        if (existing === undefined) throw failure('creating collection', o, where);
      }
    }
    if (existing !== undefined) {
      const owner = sourceIdOf(existing);
      if (
        spec.sourceCollectionId !== undefined &&
        owner !== undefined &&
        owner !== spec.sourceCollectionId
      ) {
        throw new CdcError(
          'CONFLICT',
          'creating collection: target holds an earlier incarnation of this name',
          {
            retryable: false,
            details: { ...where, targetSourceId: owner, sourceId: spec.sourceCollectionId },
          },
        );
      }
      const differences = schemaDifferences(spec.schema, existing.schema);
      if (differences.length > 0) {
        throw new CdcError(
          'SCHEMA_MISMATCH',
          'creating collection: target has a different schema',
          {
            retryable: false,
            details: { ...where, differences },
          },
        );
      }
      this.log.debug(where, 'collection exists with a compatible schema');
    }
    // Also after a skip: a crash between the collection and its partitions must not leave them missing.
    for (const partition of spec.partitions) await this.createPartition(spec, partition);
  }

  /** Replicate mode: `base.replicateInfo` makes the target take the source's creation time (the SDK passes `base`). */
  private replicatedCreate(spec: CreateCollectionSpec): { base?: unknown } {
    if (!this.replicateMode || spec.sourceCreateTimestamp === undefined) return {};
    return {
      base: {
        replicateInfo: { isReplicate: true, msgTimestamp: spec.sourceCreateTimestamp.toString() },
      },
    };
  }

  async dropCollection(target: TargetCollection, sourceCollectionId?: string): Promise<void> {
    if (sourceCollectionId !== undefined) {
      const existing = await this.describeFresh(target);
      const owner = existing === undefined ? undefined : sourceIdOf(existing);
      if (existing === undefined || (owner !== undefined && owner !== sourceCollectionId)) {
        this.log.debug(
          { ...target, owner, sourceCollectionId },
          'drop skipped: gone or a newer incarnation',
        );
        return;
      }
    }
    const o = await this.calls.attempt(
      () => this.client.dropCollection(this.calls.req(target)),
      plainStatus,
    );
    this.client.forgetSchema(target.db, target.collection);
    if (!doneOrGone(o)) throw failure('dropping collection', o, { ...target });
  }

  async hasCollection(target: TargetCollection): Promise<boolean> {
    const o = await this.calls.attempt(
      () => this.client.hasCollection(this.calls.req(target)),
      nestedStatus,
    );
    if (o.cls.kind === 'ok') return o.res?.value === true;
    if (o.cls.notFound !== undefined) return false;
    throw failure('checking collection', o, { ...target });
  }

  async createPartition(target: TargetCollection, partition: string): Promise<void> {
    if (partition === DEFAULT_PARTITION) return;
    const req = { ...this.calls.req(target), partition_name: partition };
    const o = await this.calls.attempt(() => this.client.createPartition(req), plainStatus);
    if (o.cls.kind === 'ok') return;
    if (o.cls.kind === 'rejected' && o.cls.notFound === undefined) {
      const has = looked(
        'checking partition',
        await this.calls.attempt(() => this.client.hasPartition(req), nestedStatus),
        { ...target, partition },
      );
      if (has.cls.kind === 'ok' && has.res?.value === true) return;
    }
    throw failure('creating partition', o, { ...target, partition });
  }

  /**
   * The caller releases the partition first (Milvus refuses to drop a loaded one), but a load of the collection can
   * land in between: loads travel on the replicate channel, which is not ordered with the DML channel that carries
   * the drop. Such a refusal releases the partition again and retries, a few times.
   */
  async dropPartition(target: TargetCollection, partition: string): Promise<void> {
    const req = { ...this.calls.req(target), partition_name: partition };
    for (let attempt = 1; ; attempt++) {
      const o = await this.calls.attempt(() => this.client.dropPartition(req), plainStatus);
      if (doneOrGone(o)) return;
      if (attempt >= DROP_LOADED_ATTEMPTS || !refusedAsLoaded(o))
        throw failure('dropping partition', o, { ...target, partition });
      await this.releasePartitions(target, [partition]);
      await new Promise((r) => setTimeout(r, 200 * attempt));
    }
  }

  async createIndex(
    target: TargetCollection,
    fieldName: string,
    indexName: string,
    params: readonly KeyValue[],
  ): Promise<void> {
    const where = { ...target, fieldName, indexName };
    // The source's params go through verbatim (index_type, metric_type, params JSON, …): the SDK turns whatever
    // keys extra_params has into key/value pairs, CreateIndexParam only names the common ones.
    const extra = kvRecord(params) as unknown as CreateIndexParam;
    const req = {
      ...this.calls.req(target),
      field_name: fieldName,
      index_name: indexName,
      extra_params: extra,
    };
    const o = await this.calls.attempt(() => this.client.createIndex(req), plainStatus);
    if (o.cls.kind === 'ok') return;
    if (o.cls.kind === 'rejected' && o.cls.notFound === undefined) {
      // 2.3 answers an existing different index with UnexpectedError text: compare with what is there instead.
      const described = looked(
        'describing index',
        await this.calls.attempt(
          () => this.client.describeIndex(this.calls.req(target)),
          nestedStatus,
        ),
        where,
      );
      const existing = described.res?.index_descriptions.find((d) => d.field_name === fieldName);
      if (described.cls.kind === 'ok' && existing !== undefined) {
        const differences = indexDifferences(indexName, params, existing);
        if (differences.length === 0) return;
        throw new CdcError(
          'SCHEMA_MISMATCH',
          'creating index: target field has a different index',
          {
            retryable: false,
            details: { ...where, differences },
          },
        );
      }
    }
    throw failure('creating index', o, where);
  }

  async dropIndex(target: TargetCollection, fieldName: string, indexName: string): Promise<void> {
    const req = { ...this.calls.req(target), field_name: fieldName, index_name: indexName };
    const o = await this.calls.attempt(() => this.client.dropIndex(req), plainStatus);
    if (!doneOrGone(o)) throw failure('dropping index', o, { ...target, fieldName, indexName });
  }

  async alterIndex(
    target: TargetCollection,
    indexName: string,
    params: readonly KeyValue[],
    deleteKeys: readonly string[],
  ): Promise<void> {
    const where = { ...target, indexName };
    const base = { ...this.calls.req(target), index_name: indexName };
    if (params.length > 0) {
      const req = { ...base, params: kvRecord(params) };
      await this.must('altering index', where, () => this.client.alterIndexProperties(req));
    }
    if (deleteKeys.length > 0) {
      const req = { ...base, properties: [...deleteKeys] };
      await this.must('altering index', where, () => this.client.dropIndexProperties(req));
    }
  }

  async loadCollection(target: TargetCollection, replicaNumber: number): Promise<void> {
    // The request only: the target loads the segments in the background, as the source did. (The SDK's
    // loadCollection polls the progress until 100%: a big collection, or a target short of memory, would hold every
    // later op of the replicate channel that long, and its failures arrive as plain Errors, unclassified.)
    const base = this.calls.req(target);
    const req = replicaNumber > 0 ? { ...base, replica_number: replicaNumber } : base;
    await this.must('loading collection', { ...target }, () =>
      this.client.loadCollectionAsync(req),
    );
  }

  async releaseCollection(target: TargetCollection): Promise<void> {
    const o = await this.calls.attempt(
      () => this.client.releaseCollection(this.calls.req(target)),
      plainStatus,
    );
    if (!doneOrGone(o)) throw failure('releasing collection', o, { ...target });
  }

  async loadPartitions(
    target: TargetCollection,
    partitions: readonly string[],
    replicaNumber: number,
  ): Promise<void> {
    if (partitions.length === 0) return;
    const base = { ...this.calls.req(target), partition_names: [...partitions] };
    const req = replicaNumber > 0 ? { ...base, replica_number: replicaNumber } : base;
    const where = { ...target, partitions };
    await this.must('loading partitions', where, () => this.client.loadPartitions(req));
  }

  async releasePartitions(target: TargetCollection, partitions: readonly string[]): Promise<void> {
    if (partitions.length === 0) return;
    const req = { ...this.calls.req(target), partition_names: [...partitions] };
    const o = await this.calls.attempt(() => this.client.releasePartitions(req), plainStatus);
    if (!doneOrGone(o)) throw failure('releasing partitions', o, { ...target, partitions });
  }

  async flush(db: string, collections: readonly string[]): Promise<void> {
    if (collections.length === 0) return;
    const flushSome = (names: readonly string[]): Promise<Outcome<unknown>> => {
      const req = { db_name: db, collection_names: [...names], timeout: this.calls.timeout };
      return this.calls.attempt(() => this.client.flush(req), nestedStatus);
    };
    const o = await flushSome(collections);
    if (o.cls.kind === 'ok') return;
    if (doneOrGone(o) && (collections.length === 1 || o.cls.notFound === 'database')) return;
    if (o.cls.notFound !== 'collection') throw failure('flushing', o, { db, collections });
    // One dropped collection fails the whole call: flush the others one by one.
    for (const name of collections) {
      const one = await flushSome([name]);
      if (!doneOrGone(one)) throw failure('flushing', one, { db, collection: name });
    }
  }

  upsert(target: TargetCollection, partition: string, rows: readonly Row[]): Promise<WriteResult> {
    return upsertRows(this.calls, target, partition, rows);
  }

  upsertColumns(
    target: TargetCollection,
    partition: string,
    inserts: readonly InsertColumns[],
    keep: (c: ColumnSlice) => boolean,
  ): Promise<WriteResult> {
    return upsertColumns(this.calls, target, partition, inserts, keep);
  }

  delete(
    target: TargetCollection,
    partition: string | undefined,
    keys: PrimaryKeys,
  ): Promise<WriteResult> {
    return deleteRows(this.calls, target, partition, keys);
  }

  /** Aliases, names, properties and RBAC on the same connection (and write fence). */
  standby(): MilvusStandbyTarget {
    return new MilvusStandbyTarget(this.calls);
  }

  close(): Promise<void> {
    this.calls.markClosed();
    this.closing ??= this.client.closeConnection().then(
      () => undefined,
      (err: unknown) => {
        this.log.warn({ err }, 'closing milvus connection failed');
      },
    );
    return this.closing;
  }

  private async must(
    action: string,
    where: Record<string, unknown>,
    call: () => Promise<MilvusStatusLike>,
  ): Promise<void> {
    await this.calls.must(action, where, call, plainStatus);
  }

  private async databaseExists(db: string): Promise<boolean> {
    const o = looked(
      'listing databases',
      await this.calls.attempt(
        () => this.client.listDatabases({ timeout: this.calls.timeout }),
        nestedStatus,
      ),
      { db },
    );
    return o.cls.kind === 'ok' && (o.res?.db_names.includes(db) ?? false);
  }

  /** The target collection as it is now; undefined when it (or its database) does not exist. */
  private async describeFresh(
    target: TargetCollection,
  ): Promise<DescribeCollectionResponse | undefined> {
    const o = await this.calls.attempt(
      () => this.client.describeCollection({ ...this.calls.req(target), cache: false }),
      nestedStatus,
    );
    if (o.cls.kind === 'ok') return o.res;
    if (o.cls.notFound === 'collection' || o.cls.notFound === 'database') return undefined;
    throw failure('describing collection', o, { ...target });
  }
}

/** Specs carry bigints (field ids, timestamps): keyed as their decimal text. */
function jsonBigInt(_key: string, value: unknown): unknown {
  return typeof value === 'bigint' ? value.toString() : value;
}

/** The source collection id recorded on a target collection, if any. */
function sourceIdOf(d: DescribeCollectionResponse): string | undefined {
  const value = d.properties.find((p) => p.key === SOURCE_COLLECTION_ID_PROPERTY)?.value;
  return value === undefined ? undefined : String(value);
}

export function createMilvusTargetWriter(opts: MilvusTargetWriterOptions): MilvusTargetWriter {
  return new MilvusTargetWriter(opts);
}
