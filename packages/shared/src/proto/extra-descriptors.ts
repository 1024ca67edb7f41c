import type { INamespace } from 'protobufjs';

/**
 * protobufjs descriptors for what `@zilliz/milvus2-sdk-node` does not ship (reference `milvus-wire-format.md` §1.4, §3.4):
 * - `milvus.proto.etcd` (milvus `pkg/proto/etcd_meta.proto`): DatabaseInfo, CollectionInfo, PartitionInfo, AliasInfo.
 * - `pulsar.proto.MessageIdData` (proto2, `PulsarApi.proto`), the serialized Pulsar MessageID.
 * Field names are camelCase, like the SDK's compiled descriptors. Types from the SDK (`schema.*`, `common.*`) are
 * referenced by their full names, so both are loaded into one Root.
 */
export const EXTRA_DESCRIPTORS: INamespace = {
  nested: {
    milvus: {
      nested: {
        proto: {
          nested: {
            etcd: {
              nested: {
                DatabaseState: {
                  values: {
                    DatabaseUnknown: 0,
                    DatabaseCreated: 1,
                    DatabaseCreating: 2,
                    DatabaseDropping: 3,
                    DatabaseDropped: 4,
                  },
                },
                CollectionState: {
                  values: {
                    CollectionCreated: 0,
                    CollectionCreating: 1,
                    CollectionDropping: 2,
                    CollectionDropped: 3,
                  },
                },
                PartitionState: {
                  values: {
                    PartitionCreated: 0,
                    PartitionCreating: 1,
                    PartitionDropping: 2,
                    PartitionDropped: 3,
                  },
                },
                AliasState: {
                  values: { AliasCreated: 0, AliasCreating: 1, AliasDropping: 2, AliasDropped: 3 },
                },
                FieldIndexInfo: {
                  fields: {
                    filedID: { type: 'int64', id: 1 },
                    indexID: { type: 'int64', id: 2 },
                  },
                },
                CollectionShardInfo: {
                  fields: { lastTruncateTimeTick: { type: 'uint64', id: 1 } },
                },
                CollectionInfo: {
                  fields: {
                    ID: { type: 'int64', id: 1 },
                    schema: { type: 'milvus.proto.schema.CollectionSchema', id: 2 },
                    createTime: { type: 'uint64', id: 3 },
                    partitionIDs: { rule: 'repeated', type: 'int64', id: 4 },
                    partitionNames: { rule: 'repeated', type: 'string', id: 5 },
                    fieldIndexes: { rule: 'repeated', type: 'FieldIndexInfo', id: 6 },
                    virtualChannelNames: { rule: 'repeated', type: 'string', id: 7 },
                    physicalChannelNames: { rule: 'repeated', type: 'string', id: 8 },
                    partitionCreatedTimestamps: { rule: 'repeated', type: 'uint64', id: 9 },
                    shardsNum: { type: 'int32', id: 10 },
                    startPositions: {
                      rule: 'repeated',
                      type: 'milvus.proto.common.KeyDataPair',
                      id: 11,
                    },
                    consistencyLevel: { type: 'milvus.proto.common.ConsistencyLevel', id: 12 },
                    state: { type: 'CollectionState', id: 13 },
                    properties: {
                      rule: 'repeated',
                      type: 'milvus.proto.common.KeyValuePair',
                      id: 14,
                    },
                    dbId: { type: 'int64', id: 15 },
                    UpdateTimestamp: { type: 'uint64', id: 16 },
                    shardInfos: { rule: 'repeated', type: 'CollectionShardInfo', id: 17 },
                  },
                },
                PartitionInfo: {
                  fields: {
                    partitionID: { type: 'int64', id: 1 },
                    partitionName: { type: 'string', id: 2 },
                    partitionCreatedTimestamp: { type: 'uint64', id: 3 },
                    collectionId: { type: 'int64', id: 4 },
                    state: { type: 'PartitionState', id: 5 },
                  },
                },
                AliasInfo: {
                  fields: {
                    aliasName: { type: 'string', id: 1 },
                    collectionId: { type: 'int64', id: 2 },
                    createdTime: { type: 'uint64', id: 3 },
                    state: { type: 'AliasState', id: 4 },
                    dbId: { type: 'int64', id: 5 },
                  },
                },
                DatabaseInfo: {
                  fields: {
                    tenantId: { type: 'string', id: 1 },
                    name: { type: 'string', id: 2 },
                    id: { type: 'int64', id: 3 },
                    state: { type: 'DatabaseState', id: 4 },
                    createdTime: { type: 'uint64', id: 5 },
                    properties: {
                      rule: 'repeated',
                      type: 'milvus.proto.common.KeyValuePair',
                      id: 6,
                    },
                  },
                },
              },
            },
          },
        },
      },
    },
    pulsar: {
      nested: {
        proto: {
          nested: {
            MessageIdData: {
              fields: {
                ledgerId: { rule: 'required', type: 'uint64', id: 1 },
                entryId: { rule: 'required', type: 'uint64', id: 2 },
                partition: { type: 'int32', id: 3, options: { default: -1 } },
                batchIndex: { type: 'int32', id: 4, options: { default: -1 } },
                ackSet: { rule: 'repeated', type: 'int64', id: 5, options: { packed: false } },
                batchSize: { type: 'int32', id: 6 },
                firstChunkMessageId: { type: 'MessageIdData', id: 7 },
              },
            },
          },
        },
      },
    },
  },
};
