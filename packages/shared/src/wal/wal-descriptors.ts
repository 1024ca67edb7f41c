import type { INamespace } from 'protobufjs';

/**
 * protobufjs descriptors for the Milvus 2.6 streaming WAL (milvus `pkg/proto/messages.proto`, package
 * `milvus.proto.messages`, and the `index.FieldIndex` a CreateIndex body carries, `pkg/proto/index_coord.proto`):
 * only the headers and bodies a CDC reads. The SDK ships none of them. Field names are camelCase like the SDK's
 * compiled descriptors; `common.*`/`schema.*` come from the SDK descriptors loaded into the same Root.
 */
const C = 'milvus.proto.common';
const rep = (type: string, id: number) => ({ rule: 'repeated', type, id });
const one = (type: string, id: number) => ({ type, id });

export const WAL_DESCRIPTORS: INamespace = {
  nested: {
    milvus: {
      nested: {
        proto: {
          nested: {
            index: {
              nested: {
                IndexInfo: {
                  fields: {
                    collectionID: one('int64', 1),
                    fieldID: one('int64', 2),
                    indexName: one('string', 3),
                    indexID: one('int64', 4),
                    typeParams: rep(`${C}.KeyValuePair`, 5),
                    indexParams: rep(`${C}.KeyValuePair`, 6),
                    isAutoIndex: one('bool', 11),
                    userIndexParams: rep(`${C}.KeyValuePair`, 12),
                  },
                },
                FieldIndex: {
                  fields: {
                    indexInfo: one('IndexInfo', 1),
                    deleted: one('bool', 2),
                    createTime: one('uint64', 3),
                  },
                },
              },
            },
            streaming: {
              nested: {
                CChannelMeta: { fields: { pchannel: one('string', 1) } },
                StreamingVersion: { fields: { version: one('int64', 1) } },
              },
            },
            messages: {
              nested: {
                TxnContext: {
                  fields: { txnId: one('int64', 1), keepaliveMilliseconds: one('int64', 2) },
                },
                BroadcastHeader: {
                  fields: { broadcastId: one('uint64', 1), vchannels: rep('string', 2) },
                },
                CipherHeader: {
                  fields: {
                    ezId: one('int64', 1),
                    collectionId: one('int64', 2),
                    payloadBytes: one('int64', 4),
                  },
                },
                SegmentAssignment: { fields: { segmentId: one('int64', 1) } },
                PartitionSegmentAssignment: {
                  fields: {
                    partitionId: one('int64', 1),
                    rows: one('uint64', 2),
                    binarySize: one('uint64', 3),
                    segmentAssignment: one('SegmentAssignment', 4),
                  },
                },
                InsertMessageHeader: {
                  fields: {
                    collectionId: one('int64', 1),
                    partitions: rep('PartitionSegmentAssignment', 2),
                  },
                },
                DeleteMessageHeader: {
                  fields: { collectionId: one('int64', 1), rows: one('uint64', 2) },
                },
                CreateCollectionMessageHeader: {
                  fields: {
                    collectionId: one('int64', 1),
                    partitionIds: rep('int64', 2),
                    dbId: one('int64', 3),
                  },
                },
                DropCollectionMessageHeader: {
                  fields: { collectionId: one('int64', 1), dbId: one('int64', 2) },
                },
                PartitionMessageHeader: {
                  fields: { collectionId: one('int64', 1), partitionId: one('int64', 2) },
                },
                BeginTxnMessageHeader: { fields: { keepaliveMilliseconds: one('int64', 1) } },
                ManualFlushMessageHeader: {
                  fields: {
                    collectionId: one('int64', 1),
                    flushTs: one('uint64', 2),
                    segmentIds: rep('int64', 3),
                  },
                },
                DatabaseMessageHeader: {
                  fields: { dbName: one('string', 1), dbId: one('int64', 2) },
                },
                CreateDatabaseMessageBody: { fields: { properties: rep(`${C}.KeyValuePair`, 1) } },
                AlterDatabaseMessageBody: { fields: { properties: rep(`${C}.KeyValuePair`, 1) } },
                CreateIndexMessageHeader: {
                  fields: {
                    dbId: one('int64', 1),
                    collectionId: one('int64', 2),
                    fieldId: one('int64', 3),
                    indexId: one('int64', 4),
                    indexName: one('string', 5),
                  },
                },
                CreateIndexMessageBody: {
                  fields: { fieldIndex: one('milvus.proto.index.FieldIndex', 1) },
                },
                IndexIdsMessageHeader: {
                  fields: { collectionId: one('int64', 1), indexIds: rep('int64', 2) },
                },
                AlterIndexMessageBody: {
                  fields: { fieldIndexes: rep('milvus.proto.index.FieldIndex', 1) },
                },
                LoadReplicaConfig: {
                  fields: { replicaId: one('int64', 1), resourceGroupName: one('string', 2) },
                },
                AlterLoadConfigMessageHeader: {
                  fields: {
                    dbId: one('int64', 1),
                    collectionId: one('int64', 2),
                    partitionIds: rep('int64', 3),
                    replicas: rep('LoadReplicaConfig', 5),
                  },
                },
                DropLoadConfigMessageHeader: {
                  fields: { dbId: one('int64', 1), collectionId: one('int64', 2) },
                },
                FieldMask: { fields: { paths: rep('string', 1) } },
                AlterCollectionMessageHeader: {
                  fields: {
                    dbId: one('int64', 1),
                    collectionId: one('int64', 2),
                    updateMask: one('FieldMask', 3),
                  },
                },
                AlterCollectionMessageUpdates: {
                  fields: {
                    dbId: one('int64', 1),
                    dbName: one('string', 2),
                    collectionName: one('string', 3),
                    description: one('string', 4),
                    schema: one('milvus.proto.schema.CollectionSchema', 5),
                    consistencyLevel: one(`${C}.ConsistencyLevel`, 6),
                    properties: rep(`${C}.KeyValuePair`, 7),
                  },
                },
                SchemaChangeMessageBody: {
                  fields: { schema: one('milvus.proto.schema.CollectionSchema', 1) },
                },
                AlterCollectionMessageBody: {
                  fields: { updates: one('AlterCollectionMessageUpdates', 1) },
                },
              },
            },
          },
        },
      },
    },
  },
};

/** Full names of the types above (shared headers reuse one descriptor where the layouts are identical). */
export const W = {
  TxnContext: 'milvus.proto.messages.TxnContext',
  BroadcastHeader: 'milvus.proto.messages.BroadcastHeader',
  CipherHeader: 'milvus.proto.messages.CipherHeader',
  InsertHeader: 'milvus.proto.messages.InsertMessageHeader',
  DeleteHeader: 'milvus.proto.messages.DeleteMessageHeader',
  CreateCollectionHeader: 'milvus.proto.messages.CreateCollectionMessageHeader',
  DropCollectionHeader: 'milvus.proto.messages.DropCollectionMessageHeader',
  PartitionHeader: 'milvus.proto.messages.PartitionMessageHeader',
  BeginTxnHeader: 'milvus.proto.messages.BeginTxnMessageHeader',
  ManualFlushHeader: 'milvus.proto.messages.ManualFlushMessageHeader',
  DatabaseHeader: 'milvus.proto.messages.DatabaseMessageHeader',
  CreateDatabaseBody: 'milvus.proto.messages.CreateDatabaseMessageBody',
  AlterDatabaseBody: 'milvus.proto.messages.AlterDatabaseMessageBody',
  CreateIndexHeader: 'milvus.proto.messages.CreateIndexMessageHeader',
  CreateIndexBody: 'milvus.proto.messages.CreateIndexMessageBody',
  IndexIdsHeader: 'milvus.proto.messages.IndexIdsMessageHeader',
  AlterIndexBody: 'milvus.proto.messages.AlterIndexMessageBody',
  AlterLoadConfigHeader: 'milvus.proto.messages.AlterLoadConfigMessageHeader',
  DropLoadConfigHeader: 'milvus.proto.messages.DropLoadConfigMessageHeader',
  AlterCollectionHeader: 'milvus.proto.messages.AlterCollectionMessageHeader',
  AlterCollectionBody: 'milvus.proto.messages.AlterCollectionMessageBody',
  SchemaChangeBody: 'milvus.proto.messages.SchemaChangeMessageBody',
  FieldIndex: 'milvus.proto.index.FieldIndex',
  CChannelMeta: 'milvus.proto.streaming.CChannelMeta',
  StreamingVersion: 'milvus.proto.streaming.StreamingVersion',
  ImmutableMessage: 'milvus.proto.common.ImmutableMessage',
  MessageID: 'milvus.proto.common.MessageID',
} as const;
