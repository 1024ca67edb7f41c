import {
  CdcError,
  DataType,
  type CollectionSchema,
  type FieldSchema,
  type KeyValue,
} from '@cdc/shared';
import {
  DataType as SdkDataType,
  FunctionType,
  type CreateCollectionWithFieldsReq,
  type DescribeCollectionResponse,
  type FieldType,
  type FunctionObject,
} from '@zilliz/milvus2-sdk-node';
import { SOURCE_COLLECTION_ID_PROPERTY } from '../ports/target-writer.js';
import type { CreateCollectionSpec } from '../ports/target-writer.js';

/**
 * Source schema (as read from etcd or a CreateCollection message) → SDK createCollection request, and the check that
 * an existing target collection can take the source's rows.
 */

const FIRST_USER_FIELD_ID = 100n;
const DYNAMIC_FIELD_NAME = '$meta';

/** User fields only: no RowID/Timestamp (IDs 0/1) and no `$meta` (the dynamic flag recreates it). */
export function userFields(schema: CollectionSchema): FieldSchema[] {
  return schema.fields.filter(
    (f) => f.fieldId >= FIRST_USER_FIELD_ID && !f.isDynamic && f.name !== DYNAMIC_FIELD_NAME,
  );
}

export function hasDynamicField(schema: CollectionSchema): boolean {
  return schema.enableDynamicField || schema.fields.some((f) => f.isDynamic);
}

export function kvRecord(kvs: readonly KeyValue[]): Record<string, string> {
  return Object.fromEntries(kvs.map((kv) => [kv.key, kv.value]));
}

function defaultValueOf(field: FieldSchema): string | number | boolean | undefined {
  const dv = field.defaultValue;
  if (dv === undefined) return undefined;
  switch (dv.kind) {
    case 'long':
      return dv.value.toString(); // decimal string: protobufjs encodes int64 strings exactly
    case 'bytes':
      return undefined; // no Milvus field type takes a bytes default
    case 'bool':
    case 'int':
    case 'float':
    case 'double':
    case 'string':
      return dv.value;
  }
}

/** The SDK enum member for a wire number; a type the SDK does not know cannot be created on the target. */
function sdkEnum<E extends number>(values: readonly (string | E)[], id: number, what: string): E {
  const found = values.find((v): v is E => v === id);
  if (found === undefined) {
    throw new CdcError('SINK_REJECTED', `creating collection: unsupported ${what} ${id}`, {
      retryable: false,
      details: { [what]: id },
    });
  }
  return found;
}

const sdkDataType = (id: number): SdkDataType =>
  sdkEnum<SdkDataType>(Object.values(SdkDataType), id, 'dataType');

export function toFieldType(field: FieldSchema): FieldType {
  // type_params carries every source type param verbatim (dim, max_length, max_capacity, analyzer settings, …); the SDK
  // forwards unknown keys as key/value pairs.
  const out: FieldType = {
    name: field.name,
    description: field.description,
    data_type: sdkDataType(field.dataType),
    type_params: kvRecord(field.typeParams) as NonNullable<FieldType['type_params']>,
    is_primary_key: field.isPrimaryKey,
    // The target's primary key always carries the source's values (including those the source generated with autoID),
    // so the same entity has the same key on both sides and upsert/delete by key stay exact.
    autoID: false,
  };
  if (field.dataType === DataType.Array) out.element_type = sdkDataType(field.elementType);
  if (field.isPartitionKey) out.is_partition_key = true;
  if (field.isClusteringKey) out.is_clustering_key = true;
  if (field.isFunctionOutput) out.is_function_output = true;
  if (field.nullable) out.nullable = true;
  const dv = defaultValueOf(field);
  // The SDK types default_value as number | string but forwards booleans unchanged into bool_data.
  if (dv !== undefined) out.default_value = dv as number | string;
  return out;
}

function toFunctionObject(fn: CollectionSchema['functions'][number]): FunctionObject {
  return {
    name: fn.name,
    description: fn.description,
    type: sdkEnum<FunctionType>(Object.values(FunctionType), fn.type, 'functionType'),
    input_field_names: [...fn.inputFieldNames],
    output_field_names: [...fn.outputFieldNames],
    params: kvRecord(fn.params),
  };
}

/** The createCollection request for `spec` (partitions are created separately). */
export function toCreateCollectionRequest(
  spec: CreateCollectionSpec,
): CreateCollectionWithFieldsReq {
  const req: CreateCollectionWithFieldsReq = {
    db_name: spec.db,
    collection_name: spec.collection,
    description: spec.schema.description,
    fields: userFields(spec.schema).map(toFieldType),
    shards_num: spec.shardsNum,
    consistency_level: spec.consistencyLevel,
    enable_dynamic_field: hasDynamicField(spec.schema),
    properties: {
      ...kvRecord(spec.properties),
      ...(spec.sourceCollectionId === undefined
        ? {}
        : { [SOURCE_COLLECTION_ID_PROPERTY]: spec.sourceCollectionId }),
    },
  };
  if (spec.schema.functions.length > 0) req.functions = spec.schema.functions.map(toFunctionObject);
  return req;
}

/* ---- compatibility of an existing target collection ---- */

type TargetSchema = DescribeCollectionResponse['schema'];
type TargetField = TargetSchema['fields'][number];

const TYPE_NAMES = new Map<number, string>(
  Object.entries(DataType).map(([name, id]) => [id, name]),
);
const typeName = (id: number): string => TYPE_NAMES.get(id) ?? `DataType(${id})`;

function targetTypeId(name: string | number | undefined): number {
  if (typeof name === 'number') return name;
  if (name === undefined || name === '') return DataType.None;
  return (DataType as Readonly<Record<string, number>>)[name] ?? -1;
}

function targetParam(field: TargetField, key: string): string | undefined {
  const kv = field.type_params.find((p) => p.key === key);
  if (kv === undefined) return undefined;
  return typeof kv.value === 'object' ? JSON.stringify(kv.value) : String(kv.value);
}

/** Type params that decide whether a source row fits: a smaller target limit would reject rows later. */
const COMPARED_PARAMS = ['dim', 'max_length', 'max_capacity'] as const;

function fieldDifferences(src: FieldSchema, dst: TargetField): string[] {
  const diffs: string[] = [];
  const name = src.name;
  const dstType = targetTypeId(dst.dataType ?? dst.data_type);
  if (dstType !== src.dataType) {
    diffs.push(`${name}: type ${typeName(src.dataType)} on source, ${typeName(dstType)} on target`);
    return diffs;
  }
  if (src.dataType === DataType.Array) {
    const dstElem = targetTypeId(dst.element_type);
    if (dstElem !== src.elementType) {
      diffs.push(
        `${name}: element type ${typeName(src.elementType)} on source, ${typeName(dstElem)} on target`,
      );
    }
  }
  const srcParams = kvRecord(src.typeParams);
  for (const key of COMPARED_PARAMS) {
    const want = srcParams[key];
    const have = targetParam(dst, key);
    if (want !== undefined && want !== have) {
      diffs.push(`${name}: ${key} ${want} on source, ${have ?? 'unset'} on target`);
    }
  }
  if (src.isPrimaryKey !== dst.is_primary_key) diffs.push(`${name}: primary key differs`);
  if (src.isPrimaryKey && dst.autoID) diffs.push(`${name}: target primary key has autoID on`);
  if (src.isPartitionKey !== (dst.is_partition_key ?? false))
    diffs.push(`${name}: partition key differs`);
  if (src.nullable !== (dst.nullable ?? false)) diffs.push(`${name}: nullable differs`);
  return diffs;
}

/**
 * Why the existing `target` collection cannot take rows of `source` (empty = compatible). Compared: field names, data
 * and element types, dim / max_length / max_capacity, primary key (and autoID off), partition key, nullable and the
 * dynamic field. Not compared (they do not decide whether a write fits): descriptions, defaults, clustering key,
 * shards, consistency level, properties, functions.
 */
export function schemaDifferences(source: CollectionSchema, target: TargetSchema): string[] {
  const diffs: string[] = [];
  const targetFields = new Map(
    target.fields
      .filter(
        (f) => Number(f.fieldID) >= 100 && f.is_dynamic !== true && f.name !== DYNAMIC_FIELD_NAME,
      )
      .map((f) => [f.name, f]),
  );
  for (const src of userFields(source)) {
    const dst = targetFields.get(src.name);
    if (dst === undefined) diffs.push(`${src.name}: missing on target`);
    else diffs.push(...fieldDifferences(src, dst));
    targetFields.delete(src.name);
  }
  for (const extra of targetFields.keys()) diffs.push(`${extra}: only on target`);
  if (hasDynamicField(source) !== target.enable_dynamic_field) {
    diffs.push(`dynamic field ${hasDynamicField(source) ? 'on' : 'off'} on source, not on target`);
  }
  return diffs;
}
