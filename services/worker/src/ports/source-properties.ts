import type { KeyValue } from '@cdc/shared';
import type { SourceCollectionRef } from './source-rows.js';

/**
 * A collection's properties as the source server holds them. Milvus 2.3 saves a collection's previous properties to
 * etcd on AlterCollection, so after an alter only the server knows the current ones. Errors are CdcErrors.
 */
export interface SourceProperties {
  /** Undefined when the collection does not exist (any more). */
  properties(c: SourceCollectionRef): Promise<readonly KeyValue[] | undefined>;
}
