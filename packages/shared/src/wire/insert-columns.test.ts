import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isCdcError } from '../errors.js';
import { base, f32, f64, i32, i64, text, u8 } from './codec.arbitraries.js';
import { encodeMessage } from './encode.js';
import { primaryKeyValues, readInsertColumns, sameColumns } from './insert-columns.js';
import type { InsertColumns } from './insert-columns.js';
import { MsgType } from './messages.js';
import {
  decodeMutationStatus,
  encodeUpsertColumns,
  upsertRequestAsInsert,
} from './upsert-columns.js';
import type { ColumnValues, FieldColumn, InsertMessage } from './messages.js';
import { concat } from './proto-write.js';
import { protoType } from './proto-root.js';
import { DataType } from './schema-types.js';

/** A column type with a value generator for exactly `n` rows. */
interface ColumnKind {
  readonly type: number;
  readonly dim: number;
  readonly values: (n: number) => fc.Arbitrary<ColumnValues>;
}

const exactly = <T>(a: fc.Arbitrary<T>, n: number) => fc.array(a, { minLength: n, maxLength: n });
const bytes = (n: number) => fc.uint8Array({ minLength: n, maxLength: n });

const kinds: fc.Arbitrary<ColumnKind> = fc.oneof(
  fc.constantFrom<ColumnKind>(
    {
      type: DataType.Bool,
      dim: 0,
      values: (n) => exactly(fc.boolean(), n).map((data) => ({ kind: 'bool', data })),
    },
    {
      type: DataType.Int8,
      dim: 0,
      values: (n) =>
        exactly(fc.integer({ min: -128, max: 127 }), n).map((data) => ({ kind: 'int', data })),
    },
    {
      type: DataType.Int32,
      dim: 0,
      values: (n) => exactly(i32, n).map((data) => ({ kind: 'int', data })),
    },
    {
      type: DataType.Int64,
      dim: 0,
      values: (n) => exactly(i64, n).map((data) => ({ kind: 'long', data })),
    },
    {
      type: DataType.Float,
      dim: 0,
      values: (n) => exactly(f32, n).map((data) => ({ kind: 'float', data })),
    },
    {
      type: DataType.Double,
      dim: 0,
      values: (n) => exactly(f64, n).map((data) => ({ kind: 'double', data })),
    },
    {
      type: DataType.VarChar,
      dim: 0,
      values: (n) => exactly(text, n).map((data) => ({ kind: 'string', data })),
    },
    {
      type: DataType.JSON,
      dim: 0,
      values: (n) => exactly(u8, n).map((data) => ({ kind: 'json', data })),
    },
    {
      type: DataType.Array,
      dim: 0,
      values: (n) =>
        exactly(fc.array(i64, { maxLength: 3 }), n).map((rows) => ({
          kind: 'array',
          elementType: DataType.Int64,
          data: rows.map((data) => ({ kind: 'long', data })),
        })),
    },
    {
      type: DataType.SparseFloatVector,
      dim: 0,
      values: (n) => exactly(u8, n).map((data) => ({ kind: 'sparseFloatVector', dim: 0, data })),
    },
  ),
  fc.integer({ min: 1, max: 8 }).map<ColumnKind>((d) => ({
    type: DataType.FloatVector,
    dim: d,
    values: (n) => exactly(f32, n * d).map((data) => ({ kind: 'floatVector', dim: d, data })),
  })),
  fc.integer({ min: 1, max: 4 }).map<ColumnKind>((k) => ({
    type: DataType.BinaryVector,
    dim: 8 * k,
    values: (n) => bytes(n * k).map((data) => ({ kind: 'binaryVector', dim: 8 * k, data })),
  })),
  fc.integer({ min: 1, max: 8 }).map<ColumnKind>((d) => ({
    type: DataType.Float16Vector,
    dim: d,
    values: (n) => bytes(n * d * 2).map((data) => ({ kind: 'float16Vector', dim: d, data })),
  })),
  fc.integer({ min: 1, max: 8 }).map<ColumnKind>((d) => ({
    type: DataType.Int8Vector,
    dim: d,
    values: (n) => bytes(n * d).map((data) => ({ kind: 'int8Vector', dim: d, data })),
  })),
);

/** A schema (pk first) and 1–4 Inserts of 1–5 rows each, as Milvus writes them. */
const inserts: fc.Arbitrary<InsertMessage[]> = fc
  .array(kinds, { minLength: 0, maxLength: 5 })
  .chain((schema) =>
    fc.array(
      fc.integer({ min: 1, max: 5 }).chain((n) =>
        fc
          .record({
            base: base(MsgType.Insert),
            pk: exactly(i64, n),
            columns: fc.tuple(...schema.map((k) => k.values(n))),
            dynamic: fc.boolean(),
          })
          .map(({ base: b, pk, columns }): InsertMessage => {
            const fields: FieldColumn[] = [
              {
                fieldId: 100n,
                fieldName: 'pk',
                dataType: DataType.Int64,
                isDynamic: false,
                validData: [],
                values: { kind: 'long', data: pk },
              },
              ...schema.map((k, i) => ({
                fieldId: BigInt(101 + i),
                fieldName: `f${i}`,
                dataType: k.type,
                isDynamic: false,
                validData: [],
                values: columns[i] as ColumnValues,
              })),
            ];
            return {
              type: 'Insert',
              base: { ...b, msgType: MsgType.Insert },
              shardName: 'ch_0v0',
              dbName: 'db',
              collectionName: 'c',
              partitionName: '_default',
              dbId: 1n,
              collectionId: 2n,
              partitionId: 3n,
              segmentId: 0n,
              timestamps: pk.map(() => 5n),
              rowIds: [],
              numRows: BigInt(n),
              version: 1,
              fields,
            };
          }),
      ),
      { minLength: 1, maxLength: 4 },
    ),
  );

type WithData = Extract<ColumnValues, { data: unknown }>;

function dataOf(v: ColumnValues): WithData['data'] {
  if (!('data' in v)) throw new Error(`no data in a ${v.kind} column`);
  return v.data;
}

function appendValues(a: ColumnValues, b: ColumnValues): ColumnValues {
  if (a.kind !== b.kind) throw new Error('kinds differ');
  const x = dataOf(a);
  const y = dataOf(b);
  if (x instanceof Uint8Array) return { ...a, data: concat(x, y as Uint8Array) } as ColumnValues;
  return { ...a, data: [...(x as unknown[]), ...(y as unknown[])] } as ColumnValues;
}

/** The fields of one Insert holding every row of `ms` in order. */
function mergedFields(ms: readonly InsertMessage[]): FieldColumn[] {
  const [first, ...rest] = ms;
  if (first === undefined) return [];
  return first.fields.map((f, i) =>
    rest.reduce(
      (acc, m) => ({
        ...acc,
        values: appendValues(acc.values, (m.fields[i] as FieldColumn).values),
      }),
      f,
    ),
  );
}

/** An UpsertRequest's fields_data read back by the msgstream decoder. */
function upsertFields(req: Uint8Array, rows: number): FieldColumn[] {
  const m = upsertRequestAsInsert(req);
  expect(m.numRows).toBe(BigInt(rows));
  return [...m.fields];
}

function columnsOf(m: InsertMessage): InsertColumns {
  const c = readInsertColumns(encodeMessage(m));
  if (c === undefined) throw new Error('not carried');
  return c;
}

describe('insert column pass-through', () => {
  it('merges Inserts into one Upsert whose columns are the rows of all of them, in order', () => {
    fc.assert(
      fc.property(inserts, (ms) => {
        const cols = ms.map(columnsOf);
        for (const c of cols)
          expect(sameColumns(c.columns, (cols[0] as InsertColumns).columns)).toBe(true);
        const req = concat(
          ...encodeUpsertColumns({
            dbName: 'tdb',
            collectionName: 'tc',
            partitionName: 'p1',
            inserts: cols,
            keep: () => true,
          }),
        );
        const rows = ms.reduce((n, m) => n + Number(m.numRows), 0);
        const o = protoType('milvus.proto.milvus.UpsertRequest').toObject(
          protoType('milvus.proto.milvus.UpsertRequest').decode(req),
        ) as { dbName: string; collectionName: string; partitionName: string; numRows: number };
        expect([o.dbName, o.collectionName, o.partitionName, o.numRows]).toEqual([
          'tdb',
          'tc',
          'p1',
          rows,
        ]);
        // No field ids: the target matches columns by name, as for the SDK's requests.
        expect(upsertFields(req, rows)).toEqual(
          mergedFields(ms).map((f) => ({ ...f, fieldId: 0n })),
        );
      }),
      { numRuns: 300 },
    );
  });

  it('leaves out the columns `keep` refuses, and the partition when it is empty', () => {
    fc.assert(
      fc.property(inserts, (ms) => {
        const cols = ms.map(columnsOf);
        const req = concat(
          ...encodeUpsertColumns({
            dbName: 'tdb',
            collectionName: 'tc',
            partitionName: '',
            inserts: cols,
            keep: (c) => c.name !== 'pk',
          }),
        );
        const o = protoType('milvus.proto.milvus.UpsertRequest').decode(req) as unknown as {
          partitionName: string;
        };
        expect(o.partitionName).toBe('');
        const rows = ms.reduce((n, m) => n + Number(m.numRows), 0);
        expect(upsertFields(req, rows).map((f) => f.fieldName)).toEqual(
          mergedFields(ms)
            .filter((f) => f.fieldName !== 'pk')
            .map((f) => f.fieldName),
        );
      }),
      { numRuns: 50 },
    );
  });

  it('reads the primary keys exactly (Int64 past 2^53 as strings) and VarChar keys', () => {
    fc.assert(
      fc.property(inserts, (ms) => {
        for (const m of ms) {
          const c = columnsOf(m);
          const pk = dataOf((m.fields[0] as FieldColumn).values) as bigint[];
          expect(primaryKeyValues(c, 'pk')).toEqual(
            pk.map((v) => (v >= -(2n ** 53n) && v <= 2n ** 53n ? Number(v) : v.toString())),
          );
        }
      }),
      { numRuns: 100 },
    );
    const m = fc.sample(inserts, { numRuns: 1, seed: 7 })[0]![0]!;
    const withText: InsertMessage = {
      ...m,
      fields: [
        {
          fieldId: 100n,
          fieldName: 'pk',
          dataType: DataType.VarChar,
          isDynamic: false,
          validData: [],
          values: { kind: 'string', data: m.timestamps.map((_, i) => `k'${i}"`) },
        },
      ],
    };
    const c = columnsOf(withText);
    expect(primaryKeyValues(c, 'pk')).toEqual(m.timestamps.map((_, i) => `k'${i}"`));
    expect(primaryKeyValues(c, 'no such field')).toBeUndefined();
  });

  it('does not carry what it cannot check or the target would take differently: those are decoded as rows', () => {
    const m = fc.sample(inserts, { numRuns: 1, seed: 3 })[0]![0]!;
    const n = Number(m.numRows);
    const pk = m.fields[0] as FieldColumn;
    // A column one row short, which merged with another Insert would shift values between rows.
    const short = {
      ...m,
      fields: [
        {
          ...pk,
          values: { kind: 'long' as const, data: (dataOf(pk.values) as bigint[]).slice(1) },
        },
      ],
    };
    expect(readInsertColumns(encodeMessage(short))).toBeUndefined();
    // Nullable columns (the target wants only the valid values).
    const nullable = {
      ...m,
      fields: [{ ...pk, validData: Array.from({ length: n }, (_, i) => i > 0) }],
    };
    expect(readInsertColumns(encodeMessage(nullable))).toBeUndefined();
    // A type whose layout is not the one its container holds.
    const odd = { ...m, fields: [{ ...pk, dataType: DataType.FloatVector }] };
    expect(readInsertColumns(encodeMessage(odd))).toBeUndefined();
  });

  it('never throws anything but DECODE_FAILED on hostile bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (b) => {
        try {
          readInsertColumns(b);
        } catch (err) {
          expect(isCdcError(err) && err.code === 'DECODE_FAILED').toBe(true);
        }
      }),
      { numRuns: 2000 },
    );
  });

  it('reads the status of an Upsert answer', () => {
    const t = protoType('milvus.proto.milvus.MutationResult');
    const ok = t.encode(t.fromObject({ status: { code: 0, reason: '' }, upsertCnt: 3 })).finish();
    expect(decodeMutationStatus(ok)).toMatchObject({ error_code: 'Success', code: 0 });
    const refused = t
      .encode(
        t.fromObject({
          status: { errorCode: 'UnexpectedError', code: 1100, reason: 'field f0 not exist' },
        }),
      )
      .finish();
    expect(decodeMutationStatus(refused)).toMatchObject({
      error_code: 'UnexpectedError',
      code: 1100,
      reason: 'field f0 not exist',
    });
  });
});
