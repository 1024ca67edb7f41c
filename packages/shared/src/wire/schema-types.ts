/** Schema domain types (`schemapb.*`), shared by decoded CreateCollection messages and the etcd metadata reader. */

/** `schemapb.DataType` numbers (milvus-proto `schema.proto`). */
export const DataType = {
  None: 0,
  Bool: 1,
  Int8: 2,
  Int16: 3,
  Int32: 4,
  Int64: 5,
  Float: 10,
  Double: 11,
  String: 20,
  VarChar: 21,
  Array: 22,
  JSON: 23,
  Geometry: 24,
  BinaryVector: 100,
  FloatVector: 101,
  Float16Vector: 102,
  BFloat16Vector: 103,
  SparseFloatVector: 104,
  Int8Vector: 105,
} as const;
export type DataTypeName = keyof typeof DataType;
/** A `schemapb.DataType` value; may be a number this table does not name (newer servers). */
export type DataTypeId = number;

export interface KeyValue {
  readonly key: string;
  readonly value: string;
}

/** `schemapb.FunctionSchema` (2.5+). */
export interface FunctionSchema {
  readonly id: bigint;
  readonly name: string;
  readonly description: string;
  readonly type: number;
  readonly inputFieldNames: readonly string[];
  readonly inputFieldIds: readonly bigint[];
  readonly outputFieldNames: readonly string[];
  readonly outputFieldIds: readonly bigint[];
  readonly params: readonly KeyValue[];
}

/** Default value of a field (`schemapb.ValueField`). */
export type FieldDefaultValue =
  | { readonly kind: 'bool'; readonly value: boolean }
  | { readonly kind: 'int'; readonly value: number }
  | { readonly kind: 'long'; readonly value: bigint }
  | { readonly kind: 'float'; readonly value: number }
  | { readonly kind: 'double'; readonly value: number }
  | { readonly kind: 'string'; readonly value: string }
  | { readonly kind: 'bytes'; readonly value: Uint8Array };

/** `schemapb.FieldSchema`. */
export interface FieldSchema {
  readonly fieldId: bigint;
  readonly name: string;
  readonly description: string;
  readonly dataType: DataTypeId;
  readonly elementType: DataTypeId;
  /** e.g. `dim`, `max_length`, `max_capacity`. */
  readonly typeParams: readonly KeyValue[];
  readonly indexParams: readonly KeyValue[];
  readonly isPrimaryKey: boolean;
  readonly autoId: boolean;
  readonly isDynamic: boolean;
  readonly isPartitionKey: boolean;
  readonly isClusteringKey: boolean;
  readonly nullable: boolean;
  readonly isFunctionOutput: boolean;
  readonly state: number;
  readonly defaultValue?: FieldDefaultValue;
}

/**
 * `schemapb.CollectionSchema`. From etcd, `fields` holds user fields only (IDs ≥ 100) without `$meta`;
 * `enableDynamicField` is true when `$meta` exists. From a CreateCollection message, fields are as sent
 * (system fields 0/1 and `$meta` included).
 */
export interface CollectionSchema {
  readonly name: string;
  readonly description: string;
  readonly autoId: boolean;
  readonly enableDynamicField: boolean;
  readonly fields: readonly FieldSchema[];
  readonly properties: readonly KeyValue[];
  readonly functions: readonly FunctionSchema[];
  readonly dbName: string;
}
