import fc from 'fast-check';
import protobuf from 'protobufjs';
import { describe, expect, it } from 'vitest';
import { CdcError } from '../errors.js';
import { MAX_INT64_VALUES_PER_RECORD, MAX_NON_DML_RECORD_BYTES } from './bounds.js';
import { insertToRows } from './columns.js';
import { decodeMessage } from './decode.js';
import { encodeMessage } from './encode.js';
import { DataType, MsgType } from './messages.js';
import type { ColumnValues, FieldColumn, InsertMessage } from './messages.js';

/** Declared counts that disagree with the bytes present must fail as the codec's own error, before allocating. */

function insert(fields: FieldColumn[], numRows: bigint, timestamps: number): InsertMessage {
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
    timestamps: Array.from({ length: timestamps }, () => 2n),
    rowIds: [],
    numRows,
    version: 1,
    fields,
  };
}

const column = (values: ColumnValues, validData: boolean[] = []): FieldColumn => ({
  fieldId: 100n,
  fieldName: 'f',
  dataType: DataType.Int64,
  isDynamic: false,
  validData,
  values,
});

function decodeFailure(run: () => unknown): CdcError {
  try {
    run();
  } catch (err) {
    expect(err).toBeInstanceOf(CdcError);
    expect((err as CdcError).code).toBe('DECODE_FAILED');
    return err as CdcError;
  }
  throw new Error('expected a DECODE_FAILED error');
}

describe('declared counts against the bytes present', () => {
  it('a ~100-byte Insert declaring num_rows = 1e8 fails at once instead of allocating 1e8 rows', () => {
    const bytes = encodeMessage(insert([column({ kind: 'long', data: [7n] })], 100_000_000n, 1));
    expect(bytes.length).toBeLessThan(120);
    const msg = decodeMessage(bytes);
    if (msg.type !== 'Insert') throw new Error('not an insert');
    const started = performance.now();
    const err = decodeFailure(() => insertToRows(msg));
    expect(err.message).toContain('num_rows 100000000 differs from the 1 row timestamps');
    expect(performance.now() - started).toBeLessThan(1_000); // allocating 1e8 rows takes far longer, or runs out of heap
  });

  it('num_rows matching forged timestamps still has to match every column', () => {
    const msg = insert([column({ kind: 'long', data: [1n] })], 3n, 3);
    expect(decodeFailure(() => insertToRows(msg)).message).toContain(
      'column length 1 differs from num_rows 3',
    );
  });

  it('rows without columns, vector data that is not whole rows, and a zero dim are refused', () => {
    decodeFailure(() => insertToRows(insert([], 5n, 5)));
    const vec = (dim: number, n: number): FieldColumn => ({
      ...column({ kind: 'floatVector', dim, data: Array.from({ length: n }, () => 0.5) }),
      dataType: DataType.FloatVector,
    });
    expect(decodeFailure(() => insertToRows(insert([vec(4, 6)], 1n, 1))).message).toContain(
      'not a whole number of rows',
    );
    decodeFailure(() => insertToRows(insert([vec(0, 0)], 1n, 1)));
    // dim × rows far beyond the bytes: 1 row of dim 2^40 with 8 floats.
    decodeFailure(() => insertToRows(insert([vec(2 ** 40, 8)], 1n, 1)));
  });

  it('valid_data longer than the rows is refused before cells are expanded', () => {
    const msg = insert([column({ kind: 'long', data: [1n] }, [true, false, true])], 1n, 1);
    expect(decodeFailure(() => insertToRows(msg)).message).toContain('valid_data length');
  });

  it('random declared counts never produce more rows than the record has bytes', () => {
    const values: fc.Arbitrary<ColumnValues> = fc.oneof(
      fc.record({
        kind: fc.constant('long' as const),
        data: fc.array(fc.bigInt(0n, 9n), { maxLength: 6 }),
      }),
      fc.record({
        kind: fc.constant('floatVector' as const),
        dim: fc.integer({ min: 0, max: 2 ** 31 }),
        data: fc.array(fc.constant(0.25), { maxLength: 12 }),
      }),
      fc.record({
        kind: fc.constantFrom('binaryVector' as const, 'float16Vector' as const),
        dim: fc.integer({ min: 0, max: 2 ** 31 }),
        data: fc.uint8Array({ maxLength: 16 }),
      }),
      fc.record({
        kind: fc.constant('sparseFloatVector' as const),
        dim: fc.nat(),
        data: fc.array(fc.constant(new Uint8Array(8)), { maxLength: 4 }),
      }),
    );
    const columns = fc.array(
      fc.record({
        values,
        validData: fc.array(fc.boolean(), { maxLength: 6 }),
      }),
      { maxLength: 3 },
    );
    fc.assert(
      fc.property(
        columns,
        fc.bigInt(0n, (1n << 64n) - 1n),
        fc.nat(8),
        (cols, numRows, timestamps) => {
          const fields = cols.map((c, i) => ({
            ...column(c.values, c.validData),
            fieldId: 100n + BigInt(i),
            fieldName: `f${i}`,
          }));
          const bytes = encodeMessage(insert(fields, numRows, timestamps));
          const msg = decodeMessage(bytes);
          if (msg.type !== 'Insert') return;
          try {
            const rows = insertToRows(msg);
            expect(rows.length).toBeLessThanOrEqual(bytes.length);
          } catch (err) {
            expect(err).toBeInstanceOf(CdcError);
            expect((err as CdcError).code).toBe('DECODE_FAILED');
          }
        },
      ),
      { numRuns: 1000 },
    );
  }, 30_000);
});

describe('record bounds checked on the wire before decoding', () => {
  /** An InsertRequest whose field 10 (timestamps) is `count` packed zero varints: one byte each. */
  function packedZeros(field: number, count: number, msgType: number = MsgType.Insert): Uint8Array {
    const head = protobuf.Writer.create();
    head
      .uint32((1 << 3) | 2)
      .fork()
      .uint32(8)
      .uint32(msgType)
      .ldelim();
    head.uint32((field << 3) | 2).uint32(count);
    const h = head.finish();
    const out = new Uint8Array(h.length + count);
    out.set(h, 0);
    return out;
  }

  it('an Insert with more int64 values than allowed is refused without decoding them', () => {
    const bytes = packedZeros(10, MAX_INT64_VALUES_PER_RECORD + 1);
    // The message comes from the wire count, which runs before protobufjs materializes any value.
    expect(decodeFailure(() => decodeMessage(bytes)).message).toContain('int64 values');
  });

  it(
    'counts int64s nested in fields_data and in a Delete, packed or not',
    { timeout: 30_000 },
    () => {
      // fields_data (13) → scalars (3) → long_data (3) → data (1), written unpacked: tag + varint per value.
      const values = MAX_INT64_VALUES_PER_RECORD + 1;
      const longArray = protobuf.Writer.create();
      for (let i = 0; i < values; i++) longArray.uint32(1 << 3).uint32(0);
      const la = longArray.finish();
      const w = protobuf.Writer.create();
      w.uint32((1 << 3) | 2)
        .fork()
        .uint32(8)
        .uint32(MsgType.Insert)
        .ldelim();
      w.uint32((13 << 3) | 2)
        .fork()
        .uint32((3 << 3) | 2)
        .fork()
        .uint32((3 << 3) | 2)
        .bytes(la);
      w.ldelim().ldelim();
      expect(decodeFailure(() => decodeMessage(w.finish())).message).toContain('int64 values');
      expect(
        decodeFailure(() => decodeMessage(packedZeros(9, values, MsgType.Delete))).message,
      ).toContain('int64 values');
    },
  );

  it('an Insert within the bound still decodes', () => {
    const msg = decodeMessage(packedZeros(10, 1000));
    expect(msg.type === 'Insert' && msg.timestamps.length).toBe(1000);
  });

  it('a non-DML message over its size cap is refused', () => {
    const bytes = packedZeros(11, MAX_NON_DML_RECORD_BYTES, MsgType.CreateCollection);
    expect(decodeFailure(() => decodeMessage(bytes)).message).toContain('more than the');
  });
});
