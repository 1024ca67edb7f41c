import type { CollectionSchema, KeyValue, KnownMessage } from '../wire/messages.js';
import type { WalProperties } from './properties.js';

/** `messagespb.MessageType` (milvus `pkg/proto/messages.proto`). */
export const WalMessageType = {
  TimeTick: 1,
  Insert: 2,
  Delete: 3,
  Flush: 4,
  CreateCollection: 5,
  DropCollection: 6,
  CreatePartition: 7,
  DropPartition: 8,
  ManualFlush: 9,
  CreateSegment: 10,
  Import: 11,
  SchemaChange: 12,
  AlterCollection: 13,
  AlterLoadConfig: 14,
  DropLoadConfig: 15,
  CreateDatabase: 16,
  AlterDatabase: 17,
  DropDatabase: 18,
  AlterAlias: 19,
  DropAlias: 20,
  CreateIndex: 34,
  AlterIndex: 35,
  DropIndex: 36,
  FlushAll: 37,
  TruncateCollection: 38,
  AlterWAL: 700,
  AlterReplicateConfig: 800,
  BeginTxn: 900,
  CommitTxn: 901,
  RollbackTxn: 902,
  Txn: 999,
} as const;

/**
 * A 2.6 operation whose body names objects by id only (messagespb V2 bodies). The worker resolves the ids to names
 * (source etcd) and maps it onto the replicate-channel shapes the 2.3–2.5 path uses.
 */
export type WalOp =
  | {
      readonly type: 'CreateDatabase';
      readonly dbName: string;
      readonly dbId: bigint;
      readonly properties: readonly KeyValue[];
    }
  | { readonly type: 'DropDatabase'; readonly dbName: string; readonly dbId: bigint }
  | {
      readonly type: 'AlterDatabase';
      readonly dbName: string;
      readonly dbId: bigint;
      readonly properties: readonly KeyValue[];
    }
  | {
      readonly type: 'CreateIndex';
      readonly dbId: bigint;
      readonly collectionId: bigint;
      readonly fieldId: bigint;
      readonly indexId: bigint;
      readonly indexName: string;
      /** What the user asked for (`user_index_params`, else `index_params`): index_type, metric_type, params. */
      readonly indexParams: readonly KeyValue[];
    }
  | {
      readonly type: 'DropIndex';
      readonly collectionId: bigint;
      readonly indexIds: readonly bigint[];
    }
  | {
      readonly type: 'AlterIndex';
      readonly collectionId: bigint;
      readonly indexes: readonly {
        readonly indexId: bigint;
        readonly indexName: string;
        readonly params: readonly KeyValue[];
      }[];
    }
  | {
      readonly type: 'LoadCollection';
      readonly dbId: bigint;
      readonly collectionId: bigint;
      readonly partitionIds: readonly bigint[];
      readonly replicaNumber: number;
    }
  | { readonly type: 'ReleaseCollection'; readonly dbId: bigint; readonly collectionId: bigint }
  | { readonly type: 'Flush'; readonly collectionId: bigint }
  | {
      readonly type: 'AlterCollection';
      readonly dbId: bigint;
      readonly collectionId: bigint;
      /** The update mask: which of the updates apply ("schema", "properties", "collection_name", ...). */
      readonly paths: readonly string[];
      readonly schema: CollectionSchema | undefined;
      readonly properties: readonly KeyValue[];
    };

/** One decoded 2.6 WAL message (chunks already reassembled). */
export type WalMessage = { readonly props: WalProperties } & (
  | {
      /** Insert/Delete/CreateCollection/DropCollection/Create/DropPartition/TimeTick, in the msgstream shapes. */
      readonly kind: 'change';
      readonly message: KnownMessage;
    }
  | { readonly kind: 'txn'; readonly phase: 'begin' | 'commit' | 'rollback' }
  | { readonly kind: 'op'; readonly op: WalOp }
  | {
      readonly kind: 'skip';
      readonly reason: string;
      /** True when skipping it changes what the target holds (e.g. an import): the caller quarantines it. */
      readonly lossy: boolean;
    }
);
