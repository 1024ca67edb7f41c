import { describe, expect, it } from 'vitest';
import { CdcError } from '../errors.js';
import { deletePrimaryKeys, halfToNumber, insertToRows, sparseRowToObject } from './columns.js';
import { decodeMessage } from './decode.js';
import { encodeMessage } from './encode.js';
import { DataType } from './messages.js';
import type { DeleteMessage, FieldColumn, InsertMessage } from './messages.js';

const col = (
  fieldId: bigint,
  fieldName: string,
  dataType: number,
  values: FieldColumn['values'],
  extra: Partial<FieldColumn> = {},
): FieldColumn => ({
  fieldId,
  fieldName,
  dataType,
  isDynamic: false,
  validData: [],
  values,
  ...extra,
});

const enc = new TextEncoder();

function insert(fields: FieldColumn[], numRows: bigint): InsertMessage {
  return {
    type: 'Insert',
    base: { msgType: 400, msgId: 1n, timestamp: 2n, sourceId: 3n, targetId: 0n, properties: {} },
    shardName: 'v0',
    dbName: 'default',
    collectionName: 'c',
    partitionName: '_default',
    dbId: 0n,
    collectionId: 9n,
    partitionId: 10n,
    segmentId: 11n,
    timestamps: Array.from({ length: Number(numRows) }, () => 2n),
    rowIds: [],
    numRows,
    version: 1,
    fields,
  };
}

describe('insertToRows', () => {
  it('converts every column type losslessly, through the wire', () => {
    const f16 = new Uint8Array([0x00, 0x3c, 0x00, 0xc0, 0x00, 0x00, 0x01, 0x00]); // 1, -2 | 0, 2^-24
    const bf16 = new Uint8Array([0x80, 0x3f, 0x00, 0x40, 0x00, 0x00, 0x80, 0xbf]); // 1, 2 | 0, -1
    const sparse = new Uint8Array(16);
    new DataView(sparse.buffer).setUint32(0, 3, true);
    new DataView(sparse.buffer).setFloat32(4, 0.5, true);
    new DataView(sparse.buffer).setUint32(8, 4000000000, true);
    new DataView(sparse.buffer).setFloat32(12, -1.5, true);
    const msg = insert(
      [
        col(100n, 'id', DataType.Int64, {
          kind: 'long',
          data: [9223372036854775807n, -9007199254740993n],
        }),
        col(101n, 'b', DataType.Bool, { kind: 'bool', data: [true, false] }),
        col(102n, 'i8', DataType.Int8, { kind: 'int', data: [-128, 127] }),
        col(103n, 'f', DataType.Float, { kind: 'float', data: [0.5, -1] }),
        col(104n, 'd', DataType.Double, { kind: 'double', data: [0.1, 1e300] }),
        col(105n, 's', DataType.VarChar, { kind: 'string', data: ['a', 'ü€'] }),
        col(106n, 'j', DataType.JSON, {
          kind: 'json',
          data: [enc.encode('{"x":[1,2]}'), enc.encode('"str"')],
        }),
        col(107n, 'arr', DataType.Array, {
          kind: 'array',
          elementType: DataType.Int64,
          data: [
            { kind: 'long', data: [1n, 2n] },
            { kind: 'long', data: [] },
          ],
        }),
        col(108n, 'fv', DataType.FloatVector, { kind: 'floatVector', dim: 2, data: [1, 2, 3, 4] }),
        col(109n, 'bv', DataType.BinaryVector, {
          kind: 'binaryVector',
          dim: 16,
          data: new Uint8Array([1, 2, 3, 4]),
        }),
        col(110n, 'h', DataType.Float16Vector, { kind: 'float16Vector', dim: 2, data: f16 }),
        col(111n, 'bf', DataType.BFloat16Vector, { kind: 'bfloat16Vector', dim: 2, data: bf16 }),
        col(112n, 'sp', DataType.SparseFloatVector, {
          kind: 'sparseFloatVector',
          dim: 4000000001,
          data: [sparse.subarray(0, 8), sparse],
        }),
        col(113n, 'n', DataType.Int32, { kind: 'int', data: [0, 7] }, { validData: [false, true] }),
        col(
          114n,
          '$meta',
          DataType.JSON,
          { kind: 'json', data: [enc.encode('{"extra":1}'), enc.encode('{}')] },
          { isDynamic: true },
        ),
      ],
      2n,
    );
    const decoded = decodeMessage(encodeMessage(msg));
    expect(decoded).toEqual(msg);
    const rows = insertToRows(decoded as InsertMessage);
    expect(rows).toEqual([
      {
        id: '9223372036854775807',
        b: true,
        i8: -128,
        f: 0.5,
        d: 0.1,
        s: 'a',
        j: { x: [1, 2] },
        arr: ['1', '2'],
        fv: [1, 2],
        bv: [1, 2],
        h: [1, -2],
        bf: [1, 2],
        sp: { '3': 0.5 },
        n: null,
        $meta: { extra: 1 },
      },
      {
        id: '-9007199254740993',
        b: false,
        i8: 127,
        f: -1,
        d: 1e300,
        s: 'ü€',
        j: 'str',
        arr: [],
        fv: [3, 4],
        bv: [3, 4],
        h: [0, 2 ** -24],
        bf: [0, -1],
        sp: { '3': 0.5, '4000000000': -1.5 },
        n: 7,
        $meta: {},
      },
    ]);
  });

  it('accepts compact nullable data and skips function outputs', () => {
    const msg = insert(
      [
        col(100n, 'id', DataType.Int64, { kind: 'long', data: [1n, 2n, 3n] }),
        col(
          101n,
          'n',
          DataType.VarChar,
          { kind: 'string', data: ['x'] },
          { validData: [false, true, false] },
        ),
        col(102n, 'sparse', DataType.SparseFloatVector, {
          kind: 'sparseFloatVector',
          dim: 0,
          data: [],
        }),
      ],
      3n,
    );
    const schema = {
      name: 'c',
      description: '',
      autoId: false,
      enableDynamicField: false,
      properties: [],
      functions: [],
      dbName: '',
      fields: [
        {
          fieldId: 102n,
          name: 'sparse',
          description: '',
          dataType: DataType.SparseFloatVector,
          elementType: 0,
          typeParams: [],
          indexParams: [],
          isPrimaryKey: false,
          autoId: false,
          isDynamic: false,
          isPartitionKey: false,
          isClusteringKey: false,
          nullable: false,
          isFunctionOutput: true,
          state: 0,
        },
      ],
    };
    expect(insertToRows(msg, schema)).toEqual([
      { id: '1', n: null },
      { id: '2', n: 'x' },
      { id: '3', n: null },
    ]);
  });

  it('keeps fields and dynamic keys named like Object.prototype members, through the wire', () => {
    const meta =
      '{"__proto__":1,"constructor":"c","toString":"t","valueOf":[2],"hasOwnProperty":{"x":3}}';
    const msg = insert(
      [
        col(100n, '__proto__', DataType.Int64, { kind: 'long', data: [7n] }),
        col(101n, 'constructor', DataType.VarChar, { kind: 'string', data: ['k'] }),
        col(
          102n,
          '$meta',
          DataType.JSON,
          { kind: 'json', data: [enc.encode(meta)] },
          { isDynamic: true },
        ),
      ],
      1n,
    );
    const [row] = insertToRows(decodeMessage(encodeMessage(msg)) as InsertMessage);
    if (row === undefined) throw new Error('no row');
    expect(Object.keys(row).sort()).toEqual(['$meta', '__proto__', 'constructor']);
    expect(row['__proto__']).toBe('7');
    expect(row['constructor']).toBe('k');
    const dynamic = row['$meta'] as Record<string, unknown>;
    expect(Object.keys(dynamic)).toEqual([
      '__proto__',
      'constructor',
      'toString',
      'valueOf',
      'hasOwnProperty',
    ]);
    expect(JSON.stringify(dynamic)).toBe(meta);
  });

  it('rejects inconsistent columns with CdcError', () => {
    const msg = insert([col(100n, 'id', DataType.Int64, { kind: 'long', data: [1n] })], 2n);
    expect(() => insertToRows(msg)).toThrow(CdcError);
  });
});

describe('delete keys', () => {
  const del = (primaryKeys: DeleteMessage['primaryKeys']): DeleteMessage => ({
    type: 'Delete',
    base: { msgType: 401, msgId: 1n, timestamp: 2n, sourceId: 3n, targetId: 0n, properties: {} },
    shardName: 'v0',
    dbName: '',
    collectionName: 'c',
    partitionName: '',
    dbId: 0n,
    collectionId: 1n,
    partitionId: -1n,
    timestamps: [2n],
    numRows: 1n,
    primaryKeys,
    segmentId: 0n,
  });
  it('keeps int64 keys exact and quotes varchar keys', () => {
    const k = deletePrimaryKeys(del({ type: 'Int64', values: [9007199254740993n, -1n] }));
    expect(k).toEqual({ type: 'Int64', ids: ['9007199254740993', '-1'] });
    const s = deletePrimaryKeys(del({ type: 'VarChar', values: ['a"b', 'c'] }));
    expect(s).toEqual({ type: 'VarChar', ids: ['a"b', 'c'] });
  });
});

describe('helpers', () => {
  it('decodes halves and sparse rows', () => {
    expect(halfToNumber(0x7c00)).toBe(Infinity);
    expect(halfToNumber(0x3555)).toBeCloseTo(0.333, 3);
    expect(() => sparseRowToObject(new Uint8Array(3))).toThrow(CdcError);
  });
});

describe('why Int64 row values are decimal strings', () => {
  it('protobufjs (the SDK encoder) keeps strings exact; JS numbers lose precision', async () => {
    const { protoType } = await import('./proto-root.js');
    const t = protoType('milvus.proto.schema.LongArray');
    const roundTrip = (data: unknown[]): unknown =>
      t.toObject(t.decode(t.encode(t.fromObject({ data })).finish()), { longs: String })['data'];
    expect(roundTrip(['9223372036854775807', '-9007199254740993'])).toEqual([
      '9223372036854775807',
      '-9007199254740993',
    ]);
    // eslint-disable-next-line no-loss-of-precision -- the point: a JS number cannot hold this value
    expect(roundTrip([9007199254740993])).toEqual(['9007199254740992']);
    // bigint is not JSON-serializable, and the SDK JSON-clones rows of dynamic-field collections
    expect(() => JSON.stringify({ id: 1n })).toThrow(TypeError);
  });
});
