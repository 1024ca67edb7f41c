import { CdcError, type KeyValue, type Logger, type ScannedRow } from '@cdc/shared';
import { ConsistencyLevelEnum } from '@zilliz/milvus2-sdk-node';
import type { SourceProperties } from '../ports/source-properties.js';
import type { SourceCollectionRef, SourceIndex, SourceRows } from '../ports/source-rows.js';
import { failure, MilvusCalls, nestedStatus } from './milvus-calls.js';
import {
  targetMilvusClient,
  type TargetMilvusClient,
  milvusClientConfig,
  type MilvusEndpointOptions,
} from './milvus-client.js';

export interface MilvusSourceRowsOptions extends MilvusEndpointOptions {
  /** Deadline of each RPC (default 60 s: a Strong query waits for the server's time tick). */
  readonly timeoutMs?: number;
  readonly logger: Logger;
}

/**
 * `SourceRows` over the SDK. The same client class as the target writer (explicit connect, per-database schema cache)
 * and the same status classification; it only reads.
 */
export class MilvusSourceRows implements SourceRows, SourceProperties {
  private readonly client: TargetMilvusClient;
  private readonly calls: MilvusCalls;
  private closing: Promise<void> | undefined;

  constructor(private readonly opts: MilvusSourceRowsOptions) {
    this.client = targetMilvusClient(milvusClientConfig(opts));
    this.calls = new MilvusCalls(this.client, opts.timeoutMs ?? 60_000);
  }

  async count(c: SourceCollectionRef): Promise<number> {
    const res = await this.calls.must(
      'counting source rows',
      { ...c },
      () =>
        this.client.query({
          ...this.req(c),
          expr: '',
          output_fields: ['count(*)'],
          consistency_level: ConsistencyLevelEnum.Strong,
        }),
      nestedStatus,
    );
    return Number(res?.data[0]?.['count(*)'] ?? 0);
  }

  async query(
    c: SourceCollectionRef,
    partition: string | undefined,
    expr: string,
    limit: number,
    fields?: readonly string[],
  ): Promise<readonly ScannedRow[]> {
    const res = await this.calls.must(
      'reading source rows',
      { ...c, partition },
      () =>
        this.client.query({
          ...this.req(c),
          expr,
          limit,
          output_fields: fields === undefined ? ['*'] : [...fields],
          consistency_level: ConsistencyLevelEnum.Strong,
          ...(partition === undefined ? {} : { partition_names: [partition] }),
        }),
      nestedStatus,
    );
    return res?.data ?? [];
  }

  async indexes(c: SourceCollectionRef): Promise<SourceIndex[]> {
    const o = await this.calls.attempt(() => this.client.describeIndex(this.req(c)), nestedStatus);
    if (o.cls.kind !== 'ok') {
      if (o.cls.notFound === 'index') return [];
      throw failure('describing source indexes', o, { ...c });
    }
    return (o.res?.index_descriptions ?? []).map((d) => ({
      fieldName: d.field_name,
      indexName: d.index_name,
      params: d.params.map((kv) => ({ key: kv.key, value: String(kv.value) })),
    }));
  }

  async isLoaded(c: SourceCollectionRef): Promise<boolean> {
    const res = await this.calls.must(
      'reading source load state',
      { ...c },
      () => this.client.getLoadState(this.req(c)),
      nestedStatus,
    );
    return String(res?.state) === 'LoadStateLoaded';
  }

  async properties(c: SourceCollectionRef): Promise<readonly KeyValue[] | undefined> {
    const o = await this.calls.attempt(
      () => this.client.describeCollection({ ...this.req(c), cache: false }),
      nestedStatus,
    );
    if (o.cls.notFound === 'collection' || o.cls.notFound === 'database') return undefined;
    if (o.cls.kind !== 'ok' || o.res === undefined)
      throw failure('describing source collection', o, { ...c });
    return o.res.properties.map((p) => ({ key: p.key, value: String(p.value) }));
  }

  close(): Promise<void> {
    this.calls.markClosed();
    this.closing ??= this.client.closeConnection().then(
      () => undefined,
      (err: unknown) => {
        this.opts.logger.warn({ err }, 'closing source milvus connection failed');
      },
    );
    return this.closing;
  }

  private req(c: SourceCollectionRef): {
    db_name: string;
    collection_name: string;
    timeout: number;
  } {
    return { db_name: c.db, collection_name: c.collection, timeout: this.calls.timeout };
  }
}

/** The source server is required for initial sync (validated at create); this guards a spec without it. */
export function missingSourceMilvus(): CdcError {
  return new CdcError('FAILED_PRECONDITION', 'initial sync needs spec.source.milvus.uri', {
    retryable: false,
  });
}
