import type {
  CollectionSchema,
  FieldDefaultValue,
  FieldSchema,
  FunctionSchema,
  KeyValue,
} from './messages.js';
import { P, decodeProto, encodeProto } from './proto-root.js';
import {
  big,
  bigs,
  bigStrs,
  bool,
  bytes,
  keep,
  kvs,
  num,
  objs,
  pruned,
  str,
  strs,
  sub,
} from './obj.js';
import type { Obj } from './obj.js';

/** `schemapb.CollectionSchema` / `FieldSchema` / `FunctionSchema` ↔ domain types. */

export function keyValuesFromObjects(list: readonly Obj[]): KeyValue[] {
  return list.map((kv) => ({ key: str(kv, 'key'), value: str(kv, 'value') }));
}

function defaultValueFromObject(o: Obj | undefined): FieldDefaultValue | undefined {
  if (o === undefined) return undefined;
  switch (o['data']) {
    case 'boolData':
      return { kind: 'bool', value: bool(o, 'boolData') };
    case 'intData':
      return { kind: 'int', value: num(o, 'intData') };
    case 'longData':
      return { kind: 'long', value: big(o, 'longData') };
    case 'floatData':
      return { kind: 'float', value: num(o, 'floatData') };
    case 'doubleData':
      return { kind: 'double', value: num(o, 'doubleData') };
    case 'stringData':
      return { kind: 'string', value: str(o, 'stringData') };
    case 'bytesData':
      return { kind: 'bytes', value: bytes(o, 'bytesData') };
    default:
      return undefined;
  }
}

function defaultValueToObject(v: FieldDefaultValue): Record<string, unknown> {
  const key = `${v.kind}Data`;
  return { [key]: keep(v.value) };
}

export function fieldSchemaFromObject(o: Obj): FieldSchema {
  const defaultValue = defaultValueFromObject(sub(o, 'defaultValue'));
  return {
    fieldId: big(o, 'fieldID'),
    name: str(o, 'name'),
    description: str(o, 'description'),
    dataType: num(o, 'dataType'),
    elementType: num(o, 'elementType'),
    typeParams: keyValuesFromObjects(objs(o, 'typeParams')),
    indexParams: keyValuesFromObjects(objs(o, 'indexParams')),
    isPrimaryKey: bool(o, 'isPrimaryKey'),
    autoId: bool(o, 'autoID'),
    isDynamic: bool(o, 'isDynamic'),
    isPartitionKey: bool(o, 'isPartitionKey'),
    isClusteringKey: bool(o, 'isClusteringKey'),
    nullable: bool(o, 'nullable'),
    isFunctionOutput: bool(o, 'isFunctionOutput'),
    state: num(o, 'state'),
    ...(defaultValue === undefined ? {} : { defaultValue }),
  };
}

export function fieldSchemaToObject(f: FieldSchema): Record<string, unknown> {
  return pruned({
    fieldID: f.fieldId,
    name: f.name,
    isPrimaryKey: f.isPrimaryKey,
    description: f.description,
    dataType: f.dataType,
    typeParams: kvs(f.typeParams),
    indexParams: kvs(f.indexParams),
    autoID: f.autoId,
    state: f.state,
    elementType: f.elementType,
    defaultValue: f.defaultValue === undefined ? undefined : defaultValueToObject(f.defaultValue),
    isDynamic: f.isDynamic,
    isPartitionKey: f.isPartitionKey,
    isClusteringKey: f.isClusteringKey,
    nullable: f.nullable,
    isFunctionOutput: f.isFunctionOutput,
  });
}

export function functionSchemaFromObject(o: Obj): FunctionSchema {
  return {
    id: big(o, 'id'),
    name: str(o, 'name'),
    description: str(o, 'description'),
    type: num(o, 'type'),
    inputFieldNames: strs(o, 'inputFieldNames'),
    inputFieldIds: bigs(o, 'inputFieldIds'),
    outputFieldNames: strs(o, 'outputFieldNames'),
    outputFieldIds: bigs(o, 'outputFieldIds'),
    params: keyValuesFromObjects(objs(o, 'params')),
  };
}

export function functionSchemaToObject(f: FunctionSchema): Record<string, unknown> {
  return pruned({
    name: f.name,
    id: f.id,
    description: f.description,
    type: f.type,
    inputFieldNames: f.inputFieldNames,
    inputFieldIds: bigStrs(f.inputFieldIds),
    outputFieldNames: f.outputFieldNames,
    outputFieldIds: bigStrs(f.outputFieldIds),
    params: kvs(f.params),
  });
}

export function collectionSchemaFromObject(o: Obj | undefined): CollectionSchema {
  const s = o ?? {};
  return {
    name: str(s, 'name'),
    description: str(s, 'description'),
    autoId: bool(s, 'autoID'),
    enableDynamicField: bool(s, 'enableDynamicField'),
    fields: objs(s, 'fields').map(fieldSchemaFromObject),
    properties: keyValuesFromObjects(objs(s, 'properties')),
    functions: objs(s, 'functions').map(functionSchemaFromObject),
    dbName: str(s, 'dbName'),
  };
}

export function collectionSchemaToObject(s: CollectionSchema): Record<string, unknown> {
  return pruned({
    name: s.name,
    description: s.description,
    autoID: s.autoId,
    fields: s.fields.map(fieldSchemaToObject),
    enableDynamicField: s.enableDynamicField,
    properties: kvs(s.properties),
    functions: s.functions.map(functionSchemaToObject),
    dbName: s.dbName,
  });
}

export function decodeCollectionSchema(b: Uint8Array): CollectionSchema {
  return collectionSchemaFromObject(decodeProto(P.CollectionSchema, b));
}

export function encodeCollectionSchema(s: CollectionSchema): Uint8Array {
  return encodeProto(P.CollectionSchema, collectionSchemaToObject(s));
}

export function decodeFieldSchema(b: Uint8Array): FieldSchema {
  return fieldSchemaFromObject(decodeProto(P.FieldSchema, b));
}

export function encodeFieldSchema(f: FieldSchema): Uint8Array {
  return encodeProto(P.FieldSchema, fieldSchemaToObject(f));
}

export function decodeFunctionSchema(b: Uint8Array): FunctionSchema {
  return functionSchemaFromObject(decodeProto(P.FunctionSchema, b));
}

export function encodeFunctionSchema(f: FunctionSchema): Uint8Array {
  return encodeProto(P.FunctionSchema, functionSchemaToObject(f));
}

/** The value of a type param (e.g. `dim`, `max_length`), or `undefined`. */
export function typeParam(f: FieldSchema, key: string): string | undefined {
  return f.typeParams.find((kv) => kv.key === key)?.value;
}
