import type { KeyValue, ScannedRow } from '@cdc/shared';

/** A collection on the source server, by its source names. */
export interface SourceCollectionRef {
  readonly db: string;
  readonly collection: string;
}

export interface SourceIndex {
  readonly fieldName: string;
  readonly indexName: string;
  /** index_type, metric_type, params… as the server describes them. */
  readonly params: readonly KeyValue[];
}

/**
 * Reads rows and collection state from the source Milvus server (initial sync). Reads are at Strong consistency: they
 * see every write acknowledged before the call. Errors are CdcErrors; `retryable` says whether to try again.
 */
export interface SourceRows {
  /** count(*) of the collection. */
  count(c: SourceCollectionRef): Promise<number>;
  /**
   * Rows matching `expr` (all fields, dynamic ones included, or only `fields`), at most `limit`; partition
   * undefined = all.
   */
  query(
    c: SourceCollectionRef,
    partition: string | undefined,
    expr: string,
    limit: number,
    fields?: readonly string[],
  ): Promise<readonly ScannedRow[]>;
  indexes(c: SourceCollectionRef): Promise<SourceIndex[]>;
  /** Whether the collection is loaded (queries need it). */
  isLoaded(c: SourceCollectionRef): Promise<boolean>;
  close(): Promise<void>;
}
