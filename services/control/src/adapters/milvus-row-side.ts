import {
  CdcError,
  classifyStatus,
  errorMessage,
  milvusTlsConfig,
  primaryKeyFilter,
  rowKey,
  scanRows,
  statusError,
  thrownError,
  tlsRejection,
  tlsRejectionMessage,
  type MilvusStatusLike,
  type PrimaryKeys,
  type ScannedRow,
  withSharedSdkProtos,
} from '@cdc/shared';
import {
  ConsistencyLevelEnum,
  MilvusClient,
  type ClientConfig,
  type RowData,
} from '@zilliz/milvus2-sdk-node';
import type { SourceMilvusSpec } from '../domain/model.js';
import { keyText, type RowKey } from '../verify/key-diff.js';
import type { CollectionLayout, CollectionRef, RowSide } from '../verify/ports.js';
import { SdkMetadataSide, sideCall } from './milvus-metadata-side.js';
import { hostPort } from './source-probes.js';

/** Keys per `pk in [...]` query or delete; rows per upsert. */
const KEY_BATCH = 1_000;
const UPSERT_BATCH = 500;
const PAGE_SIZE = 4_000;

async function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => {
          reject(new Error(`no answer within ${ms} ms`));
        }, ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

function chunks<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

function keysOf(layout: CollectionLayout, keys: readonly RowKey[]): PrimaryKeys {
  return layout.pkType === 'Int64'
    ? { type: 'Int64', values: keys.map((k) => BigInt(k)) }
    : { type: 'VarChar', values: keys.map(String) };
}

/**
 * `RowSide` over @zilliz/milvus2-sdk-node. Reads are Strong (they see every write acknowledged before them). Errors
 * name the side and the server's host:port, never the URI's credentials or the token.
 */
export class SdkRowSide implements RowSide {
  private constructor(
    private readonly client: MilvusClient,
    private readonly name: string,
    private readonly timeoutMs: number,
  ) {}

  /** Connects and lists databases (which also checks credentials); UNAVAILABLE naming the side when that fails. */
  static async open(
    side: 'source' | 'target',
    endpoint: SourceMilvusSpec,
    timeouts: { readonly connectTimeoutMs: number; readonly callTimeoutMs: number },
  ): Promise<SdkRowSide> {
    const { connectTimeoutMs, callTimeoutMs: timeoutMs } = timeouts;
    const { host, port } = hostPort(endpoint.uri, 19530);
    const name = `${side} Milvus ${host}:${port}`;
    const config: ClientConfig = {
      address: endpoint.uri,
      logLevel: 'error',
      timeout: timeoutMs,
      ...milvusTlsConfig(endpoint.tls, endpoint.uri),
    };
    if (endpoint.token !== '') config.token = endpoint.token;
    if (endpoint.username !== '') {
      config.username = endpoint.username;
      config.password = endpoint.password;
    }
    // The SDK connects from its constructor and leaves that promise unobserved; connect explicitly instead.
    const client = withSharedSdkProtos(
      () => new MilvusClient({ ...config, __SKIP_CONNECT__: true }),
    );
    const self = new SdkRowSide(client, name, timeoutMs);
    try {
      client.connect(MilvusClient.sdkInfo.version);
      await withTimeout(client.connectPromise, connectTimeoutMs);
      await self.call(
        'listing databases',
        () => withTimeout(client.listDatabases({ timeout: connectTimeoutMs }), connectTimeoutMs),
        (r) => r.status,
      );
    } catch (err) {
      await client.closeConnection().catch(() => undefined);
      const e = err instanceof CdcError ? err : thrownError('connecting', err);
      if (e.code === 'UNAUTHENTICATED' || e.code === 'PERMISSION_DENIED') throw e;
      const tls = tlsRejection(err);
      if (tls !== undefined)
        throw new CdcError('FAILED_PRECONDITION', tlsRejectionMessage(name, tls), {
          retryable: false,
          details: { side },
        });
      throw new CdcError('UNAVAILABLE', `${name} is unreachable: ${errorMessage(e)}`, {
        retryable: true,
        details: { side },
      });
    }
    return self;
  }

  /** Runs one SDK call; a failed status or a throw becomes a CdcError prefixed with the side. */
  private call<T>(
    action: string,
    fn: () => Promise<T>,
    statusOf: (res: T) => MilvusStatusLike | undefined,
  ): Promise<T> {
    return sideCall(`${this.name}: ${action}`, fn, statusOf);
  }

  async listCollections(): Promise<CollectionRef[]> {
    const dbs = await this.call(
      'listing databases',
      () => this.client.listDatabases({ timeout: this.timeoutMs }),
      (r) => r.status,
    );
    const out: CollectionRef[] = [];
    for (const db of dbs.db_names) {
      const res = await this.call(
        `listing collections of ${db}`,
        () => this.client.showCollections({ db_name: db, timeout: this.timeoutMs }),
        (r) => r.status,
      );
      for (const c of res.data) out.push({ db, collection: c.name });
    }
    return out;
  }

  async describe(ref: CollectionRef): Promise<CollectionLayout | undefined> {
    const req = { db_name: ref.db, collection_name: ref.collection, timeout: this.timeoutMs };
    const res = await this.client.describeCollection(req).catch((err: unknown) => {
      throw thrownError(`${this.name}: describing ${ref.db}.${ref.collection}`, err);
    });
    const cls = classifyStatus(res.status);
    if (cls.notFound === 'collection' || cls.notFound === 'database') return undefined;
    if (cls.kind !== 'ok')
      throw statusError(`${this.name}: describing ${ref.db}.${ref.collection}`, res.status);
    const fields = res.schema.fields;
    const pk = fields.find((f) => f.is_primary_key);
    if (pk === undefined || (pk.data_type !== 'Int64' && pk.data_type !== 'VarChar'))
      throw new CdcError(
        'SINK_REJECTED',
        `${this.name}: ${ref.db}.${ref.collection} has no Int64 or VarChar primary key`,
        {
          retryable: false,
        },
      );
    const parts = await this.call(
      `listing partitions of ${ref.db}.${ref.collection}`,
      () => this.client.showPartitions(req),
      (r) => r.status,
    );
    return {
      pkField: pk.name,
      pkType: pk.data_type,
      fields: fields.map((f) => ({
        name: f.name,
        type: f.data_type,
        elementType: f.element_type ?? '',
      })),
      partitions: [...parts.partition_names],
      partitionKey: fields.some((f) => f.is_partition_key === true),
      channels: [...res.physical_channel_names],
    };
  }

  private query(
    ref: CollectionRef,
    partition: string,
    expr: string,
    limit: number,
  ): Promise<ScannedRow[]> {
    return this.call(
      `querying ${ref.db}.${ref.collection}`,
      () =>
        this.client.query({
          db_name: ref.db,
          collection_name: ref.collection,
          partition_names: [partition],
          expr,
          limit,
          output_fields: ['*'],
          consistency_level: ConsistencyLevelEnum.Strong,
          timeout: this.timeoutMs,
        }),
      (r) => r.status,
    ).then((r) => r.data);
  }

  scan(
    ref: CollectionRef,
    layout: CollectionLayout,
    partition: string,
  ): AsyncIterable<readonly ScannedRow[]> {
    return scanRows((expr, limit) => this.query(ref, partition, expr, limit), {
      pkField: layout.pkField,
      pkType: layout.pkType,
      pageSize: PAGE_SIZE,
    });
  }

  /**
   * Rows of the given keys. A `pk in [...]` answer can be short on a 2.3 collection that holds a key more than once
   * (copies fill the limit, then merge), so keys not found are asked for again until an answer brings nothing new.
   */
  async rowsByKeys(
    ref: CollectionRef,
    layout: CollectionLayout,
    partition: string,
    keys: readonly RowKey[],
  ): Promise<ScannedRow[]> {
    const out: ScannedRow[] = [];
    const seen = new Set<string>();
    const textOf = (r: ScannedRow): string => keyText(rowKey(r, layout.pkField, layout.pkType));
    for (const batch of chunks(keys, KEY_BATCH)) {
      let pending = batch;
      while (pending.length > 0) {
        const filter = primaryKeyFilter(layout.pkField, keysOf(layout, pending));
        const fresh = (await this.query(ref, partition, filter, pending.length)).filter(
          (r) => !seen.has(textOf(r)),
        );
        if (fresh.length === 0) break;
        for (const r of fresh) seen.add(textOf(r));
        out.push(...fresh);
        pending = pending.filter((k) => !seen.has(keyText(k)));
      }
    }
    return out;
  }

  async upsert(
    ref: CollectionRef,
    partition: string | undefined,
    rows: readonly ScannedRow[],
  ): Promise<void> {
    for (const batch of chunks(rows, UPSERT_BATCH))
      await this.call(
        `upserting into ${ref.db}.${ref.collection}`,
        () =>
          this.client.upsert({
            db_name: ref.db,
            collection_name: ref.collection,
            ...(partition === undefined ? {} : { partition_name: partition }),
            data: batch as RowData[],
            timeout: this.timeoutMs,
          }),
        (r) => r.status,
      );
  }

  async delete(
    ref: CollectionRef,
    layout: CollectionLayout,
    partition: string | undefined,
    keys: readonly RowKey[],
  ): Promise<void> {
    for (const batch of chunks(keys, KEY_BATCH))
      await this.call(
        `deleting from ${ref.db}.${ref.collection}`,
        () =>
          this.client.delete({
            db_name: ref.db,
            collection_name: ref.collection,
            ...(partition === undefined ? {} : { partition_name: partition }),
            filter: primaryKeyFilter(layout.pkField, keysOf(layout, batch)),
            timeout: this.timeoutMs,
          }),
        (r) => r.status,
      );
  }

  /** Aliases, properties and RBAC over the same connection. */
  metadata(): SdkMetadataSide {
    return new SdkMetadataSide(this.client, this.name, this.timeoutMs);
  }

  async close(): Promise<void> {
    await this.client.closeConnection();
  }
}
