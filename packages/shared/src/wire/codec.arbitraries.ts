import fc from 'fast-check';
import { MsgType } from './messages.js';
import type {
  ColumnValues,
  DeleteMessage,
  FieldColumn,
  InsertMessage,
  MsgBase,
} from './messages.js';

/** fast-check generators of codec values, shared by the codec's property tests. */

export const i64 = fc.bigInt(-(1n << 63n), (1n << 63n) - 1n);
export const u64 = fc.bigInt(0n, (1n << 64n) - 1n);
export const text = fc.string({ unit: 'grapheme', maxLength: 12 });
export const names = fc.array(text, { maxLength: 4 });
export const u8 = fc.uint8Array({ maxLength: 24 });
export const i32 = fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 });
export const f32 = fc
  .float({ noNaN: true, noDefaultInfinity: true })
  .filter((x) => !Object.is(x, -0));
export const f64 = fc
  .double({ noNaN: true, noDefaultInfinity: true })
  .filter((x) => !Object.is(x, -0));
export const kv = fc.record({ key: text, value: text });
export const kvs = fc.array(kv, { maxLength: 3 });
export const dict = fc.dictionary(text, text, { maxKeys: 3 });

export const base = (msgType: number): fc.Arbitrary<MsgBase> =>
  fc.record(
    {
      msgType: fc.constant(msgType),
      msgId: i64,
      timestamp: u64,
      sourceId: i64,
      targetId: i64,
      properties: dict,
      replicateInfo: fc.record({ isReplicate: fc.boolean(), msgTimestamp: u64, replicateId: text }),
    },
    { requiredKeys: ['msgType', 'msgId', 'timestamp', 'sourceId', 'targetId', 'properties'] },
  );

export const scalar: fc.Arbitrary<ColumnValues> = fc.oneof(
  fc.record({ kind: fc.constant('bool' as const), data: fc.array(fc.boolean(), { maxLength: 5 }) }),
  fc.record({ kind: fc.constant('int' as const), data: fc.array(i32, { maxLength: 5 }) }),
  fc.record({ kind: fc.constant('long' as const), data: fc.array(i64, { maxLength: 5 }) }),
  fc.record({ kind: fc.constant('float' as const), data: fc.array(f32, { maxLength: 5 }) }),
  fc.record({ kind: fc.constant('double' as const), data: fc.array(f64, { maxLength: 5 }) }),
  fc.record({ kind: fc.constant('string' as const), data: fc.array(text, { maxLength: 5 }) }),
  fc.record({ kind: fc.constant('json' as const), data: fc.array(u8, { maxLength: 3 }) }),
  fc.record({ kind: fc.constant('bytes' as const), data: fc.array(u8, { maxLength: 3 }) }),
);

export const dim = fc.integer({ min: 1, max: 64 });
export const column: fc.Arbitrary<ColumnValues> = fc.oneof(
  scalar,
  fc.record({
    kind: fc.constant('array' as const),
    elementType: fc.integer({ min: 1, max: 21 }),
    data: fc.array(scalar, { maxLength: 3 }),
  }),
  fc.record({
    kind: fc.constant('floatVector' as const),
    dim,
    data: fc.array(f32, { maxLength: 8 }),
  }),
  fc.record({
    kind: fc.constantFrom(
      'binaryVector' as const,
      'float16Vector' as const,
      'bfloat16Vector' as const,
      'int8Vector' as const,
    ),
    dim,
    data: u8,
  }),
  fc.record({
    kind: fc.constant('sparseFloatVector' as const),
    dim,
    data: fc.array(u8, { maxLength: 3 }),
  }),
);

export const fieldColumn: fc.Arbitrary<FieldColumn> = fc.record({
  fieldId: i64,
  fieldName: text,
  dataType: fc.integer({ min: 0, max: 300 }),
  isDynamic: fc.boolean(),
  validData: fc.array(fc.boolean(), { maxLength: 5 }),
  values: column,
});

export const insertMessage: fc.Arbitrary<InsertMessage> = fc.record({
  type: fc.constant('Insert' as const),
  base: base(MsgType.Insert),
  shardName: text,
  dbName: text,
  collectionName: text,
  partitionName: text,
  dbId: i64,
  collectionId: i64,
  partitionId: i64,
  segmentId: i64,
  timestamps: fc.array(u64, { maxLength: 6 }),
  rowIds: fc.array(i64, { maxLength: 4 }),
  numRows: u64,
  version: fc.integer({ min: 0, max: 1 }),
  fields: fc.array(fieldColumn, { maxLength: 4 }),
});

export const deleteMessage: fc.Arbitrary<DeleteMessage> = fc.record({
  type: fc.constant('Delete' as const),
  base: base(MsgType.Delete),
  shardName: text,
  dbName: text,
  collectionName: text,
  partitionName: text,
  dbId: i64,
  collectionId: i64,
  partitionId: i64,
  timestamps: fc.array(u64, { maxLength: 6 }),
  numRows: i64,
  primaryKeys: fc.oneof(
    fc.record({ type: fc.constant('Int64' as const), values: fc.array(i64, { maxLength: 4 }) }),
    fc.record({ type: fc.constant('VarChar' as const), values: fc.array(text, { maxLength: 4 }) }),
  ),
  segmentId: i64,
});
