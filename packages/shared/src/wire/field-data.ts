import { DataType } from './messages.js';
import type { ColumnValues, DataTypeId, FieldColumn } from './messages.js';
import { asU8, big, bigStrs, bool, bytes, keep, list, num, objs, pruned, str, sub } from './obj.js';
import type { Obj } from './obj.js';

/** `schemapb.FieldData` (protobufjs object form) ↔ `FieldColumn`. */

function numbers(o: Obj | undefined): number[] {
  if (o === undefined) return [];
  const data = list(o, 'data');
  // Float columns (vectors above all) arrive as numbers already: reuse the decoded array instead of copying it.
  if (data.every((x) => typeof x === 'number')) return data as number[];
  return data.map((x) => Number(x));
}

function u8s(o: Obj | undefined): Uint8Array[] {
  if (o === undefined) return [];
  return list(o, 'data').map(asU8);
}

/** Empty values of the storage kind a data type uses (for a column whose oneof is unset). */
export function emptyValues(dataType: DataTypeId, elementType: DataTypeId = 0): ColumnValues {
  switch (dataType) {
    case DataType.Bool:
      return { kind: 'bool', data: [] };
    case DataType.Int8:
    case DataType.Int16:
    case DataType.Int32:
      return { kind: 'int', data: [] };
    case DataType.Int64:
      return { kind: 'long', data: [] };
    case DataType.Float:
      return { kind: 'float', data: [] };
    case DataType.Double:
      return { kind: 'double', data: [] };
    case DataType.String:
    case DataType.VarChar:
      return { kind: 'string', data: [] };
    case DataType.JSON:
      return { kind: 'json', data: [] };
    case DataType.Array:
      return { kind: 'array', elementType, data: [] };
    case DataType.FloatVector:
      return { kind: 'floatVector', dim: 0, data: [] };
    case DataType.BinaryVector:
      return { kind: 'binaryVector', dim: 0, data: new Uint8Array(0) };
    case DataType.Float16Vector:
      return { kind: 'float16Vector', dim: 0, data: new Uint8Array(0) };
    case DataType.BFloat16Vector:
      return { kind: 'bfloat16Vector', dim: 0, data: new Uint8Array(0) };
    case DataType.Int8Vector:
      return { kind: 'int8Vector', dim: 0, data: new Uint8Array(0) };
    case DataType.SparseFloatVector:
      return { kind: 'sparseFloatVector', dim: 0, data: [] };
    default:
      return { kind: 'unsupported', detail: `empty column of data type ${dataType}` };
  }
}

export function scalarValuesFromObject(o: Obj, dataType: DataTypeId): ColumnValues {
  const which = o['data'];
  switch (which) {
    case 'boolData':
      return { kind: 'bool', data: list(sub(o, 'boolData') ?? {}, 'data').map((x) => x === true) };
    case 'intData':
      return { kind: 'int', data: numbers(sub(o, 'intData')) };
    case 'longData':
      return {
        kind: 'long',
        data: list(sub(o, 'longData') ?? {}, 'data').map((x) => BigInt(x as string)),
      };
    case 'floatData':
      return { kind: 'float', data: numbers(sub(o, 'floatData')) };
    case 'doubleData':
      return { kind: 'double', data: numbers(sub(o, 'doubleData')) };
    case 'stringData':
      return { kind: 'string', data: list(sub(o, 'stringData') ?? {}, 'data').map(String) };
    case 'bytesData':
      return { kind: 'bytes', data: u8s(sub(o, 'bytesData')) };
    case 'jsonData':
      return { kind: 'json', data: u8s(sub(o, 'jsonData')) };
    case 'arrayData': {
      const a = sub(o, 'arrayData') ?? {};
      const elementType = num(a, 'elementType');
      return {
        kind: 'array',
        elementType,
        data: objs(a, 'data').map((e) => scalarValuesFromObject(e, elementType)),
      };
    }
    case undefined:
    case null:
      return emptyValues(dataType);
    default:
      return { kind: 'unsupported', detail: `scalar ${String(which)}` };
  }
}

function vectorValuesFromObject(o: Obj, dataType: DataTypeId): ColumnValues {
  const dim = num(o, 'dim');
  const which = o['data'];
  switch (which) {
    case 'floatVector':
      return { kind: 'floatVector', dim, data: numbers(sub(o, 'floatVector')) };
    case 'binaryVector':
      return { kind: 'binaryVector', dim, data: bytes(o, 'binaryVector') };
    case 'float16Vector':
      return { kind: 'float16Vector', dim, data: bytes(o, 'float16Vector') };
    case 'bfloat16Vector':
      return { kind: 'bfloat16Vector', dim, data: bytes(o, 'bfloat16Vector') };
    case 'int8Vector':
      return { kind: 'int8Vector', dim, data: bytes(o, 'int8Vector') };
    case 'sparseFloatVector': {
      const s = sub(o, 'sparseFloatVector') ?? {};
      return { kind: 'sparseFloatVector', dim: num(s, 'dim'), data: u8s({ data: s['contents'] }) };
    }
    case undefined:
    case null: {
      const empty = emptyValues(dataType);
      return 'dim' in empty ? { ...empty, dim } : empty;
    }
    default:
      return { kind: 'unsupported', detail: `vector ${String(which)}` };
  }
}

export function fieldColumnFromObject(o: Obj): FieldColumn {
  const dataType = num(o, 'type');
  const field = o['field'];
  let values: ColumnValues;
  if (field === 'scalars') values = scalarValuesFromObject(sub(o, 'scalars') ?? {}, dataType);
  else if (field === 'vectors') values = vectorValuesFromObject(sub(o, 'vectors') ?? {}, dataType);
  else if (field === undefined || field === null) values = emptyValues(dataType);
  else values = { kind: 'unsupported', detail: typeof field === 'string' ? field : 'field' };
  return {
    fieldId: big(o, 'fieldId'),
    fieldName: str(o, 'fieldName'),
    dataType,
    isDynamic: bool(o, 'isDynamic'),
    validData: list(o, 'validData').map((x) => x === true),
    values,
  };
}

/* ---- encoding ---- */

export function scalarValuesToObject(v: ColumnValues): Record<string, unknown> {
  switch (v.kind) {
    case 'bool':
      return { boolData: { data: [...v.data] } };
    case 'int':
      return { intData: { data: [...v.data] } };
    case 'long':
      return { longData: { data: bigStrs(v.data) } };
    case 'float':
      return { floatData: { data: [...v.data] } };
    case 'double':
      return { doubleData: { data: [...v.data] } };
    case 'string':
      return { stringData: { data: [...v.data] } };
    case 'bytes':
      return { bytesData: { data: [...v.data] } };
    case 'json':
      return { jsonData: { data: [...v.data] } };
    case 'array':
      return {
        arrayData: pruned({
          data: v.data.map(scalarValuesToObject),
          elementType: v.elementType,
        }),
      };
    case 'floatVector':
    case 'binaryVector':
    case 'float16Vector':
    case 'bfloat16Vector':
    case 'int8Vector':
    case 'sparseFloatVector':
    case 'unsupported':
      throw new Error(`column kind ${v.kind} is not scalar`);
  }
}

function vectorValuesToObject(v: ColumnValues): Record<string, unknown> {
  switch (v.kind) {
    case 'floatVector':
      return { ...pruned({ dim: v.dim }), floatVector: { data: [...v.data] } };
    case 'binaryVector':
    case 'float16Vector':
    case 'bfloat16Vector':
    case 'int8Vector':
      return { ...pruned({ dim: v.dim }), [v.kind]: keep(v.data) };
    case 'sparseFloatVector':
      return {
        ...pruned({ dim: v.dim }),
        sparseFloatVector: pruned({ contents: [...v.data], dim: v.dim }),
      };
    case 'bool':
    case 'int':
    case 'long':
    case 'float':
    case 'double':
    case 'string':
    case 'bytes':
    case 'json':
    case 'array':
    case 'unsupported':
      throw new Error(`column kind ${v.kind} is not a vector`);
  }
}

const VECTOR_KINDS = new Set([
  'floatVector',
  'binaryVector',
  'float16Vector',
  'bfloat16Vector',
  'int8Vector',
  'sparseFloatVector',
]);

export function fieldColumnToObject(c: FieldColumn): Record<string, unknown> {
  if (c.values.kind === 'unsupported') throw new Error(`cannot encode column ${c.fieldName}`);
  const isVector = VECTOR_KINDS.has(c.values.kind);
  return {
    ...pruned({ type: c.dataType, fieldName: c.fieldName }),
    ...(isVector
      ? { vectors: vectorValuesToObject(c.values) }
      : { scalars: scalarValuesToObject(c.values) }),
    ...pruned({ fieldId: c.fieldId, isDynamic: c.isDynamic, validData: [...c.validData] }),
  };
}
