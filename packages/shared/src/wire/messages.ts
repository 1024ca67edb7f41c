/**
 * Public types of the Milvus wire codec: decoded msgstream messages (2.3–2.5, Kafka/Pulsar payloads), schemas and
 * SDK-ready rows. Source of truth for layouts: `reference/milvus-wire-format.md` §3–§4.
 *
 * Numbers: every int64/uint64 on the wire (IDs, timestamps, Int64 column values) is a `bigint` here, never a JS number.
 * Rows handed to the Milvus SDK carry Int64 values as decimal strings (the SDK's proto-loader encodes strings exactly).
 *
 * Entry points (see `decode.ts`, `encode.ts`, `columns.ts`):
 * - `decodeMessage(value, headers): DecodedMessage` throws only `CdcError('DECODE_FAILED')`; unknown types → `Unknown`.
 * - `encodeMessage(msg): Uint8Array` (test harness and replicate mode).
 * - `insertToRows(msg, schema): Row[]` for `client.upsert({ collection_name, partition_name, data: rows })`.
 * - `deletePrimaryKeys(msg): PrimaryKeys`.
 */

export { DataType } from './schema-types.js';
export type {
  DataTypeName,
  DataTypeId,
  KeyValue,
  FunctionSchema,
  FieldDefaultValue,
  FieldSchema,
  CollectionSchema,
} from './schema-types.js';
import type { CollectionSchema, DataTypeId, KeyValue } from './schema-types.js';

/** `commonpb.MsgType` numbers this codec understands (reference §4.1). */
export const MsgType = {
  Undefined: 0,
  CreateCollection: 100,
  DropCollection: 101,
  LoadCollection: 106,
  ReleaseCollection: 107,
  CreatePartition: 200,
  DropPartition: 201,
  LoadPartitions: 205,
  ReleasePartitions: 206,
  CreateIndex: 300,
  DropIndex: 302,
  AlterIndex: 304,
  Insert: 400,
  Delete: 401,
  Flush: 402,
  TimeTick: 1200,
  CreateDatabase: 1801,
  DropDatabase: 1802,
  AlterDatabase: 1804,
} as const;
export type KnownMsgTypeName = keyof typeof MsgType;

/** `commonpb.ReplicateInfo` (2.3.2+). */
export interface ReplicateInfo {
  readonly isReplicate: boolean;
  readonly msgTimestamp: bigint;
  /** 2.4+; '' when absent. */
  readonly replicateId: string;
}

/** `commonpb.MsgBase`, field 1 of every msgstream payload. */
export interface MsgBase {
  readonly msgType: number;
  readonly msgId: bigint;
  /** Hybrid timestamp (TSO) of the message. */
  readonly timestamp: bigint;
  readonly sourceId: bigint;
  readonly targetId: bigint;
  readonly properties: Readonly<Record<string, string>>;
  readonly replicateInfo?: ReplicateInfo;
}

/** Column values of one `schemapb.FieldData` (or one element of an Array column), typed by storage kind. */
export type ColumnValues =
  | { readonly kind: 'bool'; readonly data: readonly boolean[] }
  /** Int8, Int16, Int32 (proto IntArray). */
  | { readonly kind: 'int'; readonly data: readonly number[] }
  /** Int64 (proto LongArray); exact. */
  | { readonly kind: 'long'; readonly data: readonly bigint[] }
  | { readonly kind: 'float'; readonly data: readonly number[] }
  | { readonly kind: 'double'; readonly data: readonly number[] }
  /** VarChar / String. */
  | { readonly kind: 'string'; readonly data: readonly string[] }
  /** JSON documents as the raw UTF-8 bytes stored by Milvus (parse with `parseJsonBytes`). */
  | { readonly kind: 'json'; readonly data: readonly Uint8Array[] }
  | { readonly kind: 'bytes'; readonly data: readonly Uint8Array[] }
  /** Array columns: one element list per row. */
  | {
      readonly kind: 'array';
      readonly elementType: DataTypeId;
      readonly data: readonly ColumnValues[];
    }
  /** FloatVector: `dim` floats per row, flattened. */
  | { readonly kind: 'floatVector'; readonly dim: number; readonly data: readonly number[] }
  /** BinaryVector (dim/8 bytes per row), Float16/BFloat16 (2·dim bytes per row), Int8Vector (dim bytes per row). */
  | {
      readonly kind: 'binaryVector' | 'float16Vector' | 'bfloat16Vector' | 'int8Vector';
      readonly dim: number;
      readonly data: Uint8Array;
    }
  /** SparseFloatVector: one row = concatenated (uint32 LE index, float32 LE value) pairs. */
  | {
      readonly kind: 'sparseFloatVector';
      readonly dim: number;
      readonly data: readonly Uint8Array[];
    }
  /** A oneof this codec does not know (e.g. 2.6 struct arrays); kept so a caller can quarantine the message. */
  | { readonly kind: 'unsupported'; readonly detail: string };

export type ColumnKind = ColumnValues['kind'];

/** One decoded `schemapb.FieldData`. */
export interface FieldColumn {
  readonly fieldId: bigint;
  readonly fieldName: string;
  readonly dataType: DataTypeId;
  readonly isDynamic: boolean;
  /**
   * Nullable fields (2.5+): one flag per row, `[]` when the field is not nullable. Values of invalid rows are
   * placeholders (Milvus writes full-length data); `columns.ts` also accepts compact data (only valid rows).
   */
  readonly validData: readonly boolean[];
  readonly values: ColumnValues;
}

export type PrimaryKeys =
  | { readonly type: 'Int64'; readonly values: readonly bigint[] }
  | { readonly type: 'VarChar'; readonly values: readonly string[] };

interface WithBase {
  readonly base: MsgBase;
}

/** `msgpb.InsertRequest` (column-based). */
export interface InsertMessage extends WithBase {
  readonly type: 'Insert';
  /** The vchannel. */
  readonly shardName: string;
  readonly dbName: string;
  readonly collectionName: string;
  readonly partitionName: string;
  readonly dbId: bigint;
  readonly collectionId: bigint;
  readonly partitionId: bigint;
  readonly segmentId: bigint;
  readonly timestamps: readonly bigint[];
  readonly rowIds: readonly bigint[];
  readonly numRows: bigint;
  /** 0 = RowBased (never produced since 2.2; not decodable into rows), 1 = ColumnBased. */
  readonly version: number;
  readonly fields: readonly FieldColumn[];
}

/** `msgpb.DeleteRequest`. `partitionId` −1 = all partitions. */
export interface DeleteMessage extends WithBase {
  readonly type: 'Delete';
  readonly shardName: string;
  readonly dbName: string;
  readonly collectionName: string;
  readonly partitionName: string;
  readonly dbId: bigint;
  readonly collectionId: bigint;
  readonly partitionId: bigint;
  readonly timestamps: readonly bigint[];
  readonly numRows: bigint;
  /** From `primary_keys` (field 12), or from the deprecated `int64_primary_keys` (field 9) when 12 is empty. */
  readonly primaryKeys: PrimaryKeys;
  readonly segmentId: bigint;
}

export interface TimeTickMessage extends WithBase {
  readonly type: 'TimeTick';
}

/** `msgpb.CreateCollectionRequest`. In 2.3–2.5 names and dbID are empty: resolve them through etcd. */
export interface CreateCollectionMessage extends WithBase {
  readonly type: 'CreateCollection';
  readonly dbName: string;
  readonly collectionName: string;
  readonly partitionName: string;
  readonly dbId: bigint;
  readonly collectionId: bigint;
  readonly partitionId: bigint;
  /** The marshaled `schemapb.CollectionSchema` exactly as on the wire. */
  readonly schemaBytes: Uint8Array;
  readonly schema: CollectionSchema;
  readonly virtualChannelNames: readonly string[];
  readonly physicalChannelNames: readonly string[];
  readonly partitionIds: readonly bigint[];
  readonly partitionNames: readonly string[];
}

export interface DropCollectionMessage extends WithBase {
  readonly type: 'DropCollection';
  readonly dbName: string;
  readonly collectionName: string;
  readonly dbId: bigint;
  readonly collectionId: bigint;
}

export interface PartitionMessage extends WithBase {
  readonly type: 'CreatePartition' | 'DropPartition';
  readonly dbName: string;
  readonly collectionName: string;
  readonly partitionName: string;
  readonly dbId: bigint;
  readonly collectionId: bigint;
  readonly partitionId: bigint;
}

/* ---- replicate-channel ops (`by-dev-replicate-msg`, milvuspb requests) ---- */

export interface CreateIndexMessage extends WithBase {
  readonly type: 'CreateIndex';
  readonly dbName: string;
  readonly collectionName: string;
  readonly fieldName: string;
  readonly indexName: string;
  readonly extraParams: readonly KeyValue[];
}

export interface DropIndexMessage extends WithBase {
  readonly type: 'DropIndex';
  readonly dbName: string;
  readonly collectionName: string;
  readonly fieldName: string;
  readonly indexName: string;
}

export interface AlterIndexMessage extends WithBase {
  readonly type: 'AlterIndex';
  readonly dbName: string;
  readonly collectionName: string;
  readonly indexName: string;
  readonly extraParams: readonly KeyValue[];
  readonly deleteKeys: readonly string[];
}

export interface LoadCollectionMessage extends WithBase {
  readonly type: 'LoadCollection';
  readonly dbName: string;
  readonly collectionName: string;
  readonly replicaNumber: number;
  readonly resourceGroups: readonly string[];
  readonly refresh: boolean;
  readonly loadFields: readonly string[];
  readonly skipLoadDynamicField: boolean;
  readonly loadParams: Readonly<Record<string, string>>;
}

export interface ReleaseCollectionMessage extends WithBase {
  readonly type: 'ReleaseCollection';
  readonly dbName: string;
  readonly collectionName: string;
}

export interface LoadPartitionsMessage extends WithBase {
  readonly type: 'LoadPartitions';
  readonly dbName: string;
  readonly collectionName: string;
  readonly partitionNames: readonly string[];
  readonly replicaNumber: number;
  readonly resourceGroups: readonly string[];
  readonly refresh: boolean;
  readonly loadFields: readonly string[];
  readonly skipLoadDynamicField: boolean;
  readonly loadParams: Readonly<Record<string, string>>;
}

export interface ReleasePartitionsMessage extends WithBase {
  readonly type: 'ReleasePartitions';
  readonly dbName: string;
  readonly collectionName: string;
  readonly partitionNames: readonly string[];
}

export interface FlushMessage extends WithBase {
  readonly type: 'Flush';
  readonly dbName: string;
  readonly collectionNames: readonly string[];
}

export interface CreateDatabaseMessage extends WithBase {
  readonly type: 'CreateDatabase';
  readonly dbName: string;
  readonly properties: readonly KeyValue[];
}

export interface DropDatabaseMessage extends WithBase {
  readonly type: 'DropDatabase';
  readonly dbName: string;
}

export interface AlterDatabaseMessage extends WithBase {
  readonly type: 'AlterDatabase';
  readonly dbName: string;
  readonly dbId: string;
  readonly properties: readonly KeyValue[];
  readonly deleteKeys: readonly string[];
}

/** A payload whose MsgType this codec does not handle. Never an error: callers skip or quarantine it. */
export interface UnknownMessage {
  readonly type: 'Unknown';
  /** The numeric `commonpb.MsgType` (0 when neither header nor MsgBase named one). */
  readonly msgType: number;
  /** The enum name when the SDK protos know it (e.g. 'CreateAlias'), else ''. */
  readonly msgTypeName: string;
  readonly base?: MsgBase;
}

export type DecodedMessage =
  | InsertMessage
  | DeleteMessage
  | TimeTickMessage
  | CreateCollectionMessage
  | DropCollectionMessage
  | PartitionMessage
  | CreateIndexMessage
  | DropIndexMessage
  | AlterIndexMessage
  | LoadCollectionMessage
  | ReleaseCollectionMessage
  | LoadPartitionsMessage
  | ReleasePartitionsMessage
  | FlushMessage
  | CreateDatabaseMessage
  | DropDatabaseMessage
  | AlterDatabaseMessage
  | UnknownMessage;

export type DecodedMessageType = DecodedMessage['type'];
/** A decoded message with a known MsgBase (everything but `Unknown`). */
export type KnownMessage = Exclude<DecodedMessage, UnknownMessage>;

/** Kafka headers / Pulsar properties as the MQ client gives them. */
export type HeaderValue = Buffer | Uint8Array | string;
/** Kafka headers (KafkaJS `IHeaders`, arrays allowed: the first value counts) or Pulsar properties. */
export type MessageHeaders = Readonly<
  Record<string, HeaderValue | readonly HeaderValue[] | undefined>
>;

/* ---- rows for the SDK ---- */

/** A JSON value as parsed from a Milvus JSON column. */
export type JsonValue =
  null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

/**
 * One value of a row given to `MilvusClient.upsert/insert({ data: rows })` (SDK 2.6.17):
 * - Int64 → decimal `string` (exact; the SDK's proto-loader encodes strings without loss), Int8..Int32/Float/Double → number.
 * - VarChar → string; Bool → boolean; JSON → parsed value; Array → element list (Int64 elements as strings).
 * - FloatVector → number[]; BinaryVector → number[] of bytes (dim/8 long); Float16/BFloat16 → raw bytes (`Uint8Array`,
 *   passed through unchanged); SparseFloatVector → `{ [index]: value }`; Int8Vector → number[].
 * - `null` for an invalid row of a nullable field.
 */
export type RowValue = JsonValue | Uint8Array | readonly RowValue[];

/** One entity; the dynamic `$meta` keys are spread into the row (the SDK regroups unknown keys into `$meta`). */
export type Row = Record<string, RowValue>;
