import { MsgType } from './messages.js';
import { malformed, walk } from './proto-walk.js';

/**
 * Bounds checked on a record's bytes before protobufjs decodes it.
 *
 * protobufjs materializes every int64 of a repeated field as a decimal string (and the codec then as a bigint):
 * about 120 bytes of heap and 0.5 µs per value, from as little as one byte on the wire. A 10 MiB record of packed
 * zeros therefore needs over 1 GiB of heap. So the int64 values of an Insert or Delete are counted on the wire
 * first (a varint ends at a byte below 0x80), and every other message, which Milvus keeps small, has a size cap.
 */

/** More int64 values than a 10 MiB Insert can legitimately hold (a row costs ≥ 16 bytes of timestamp + row id). */
export const MAX_INT64_VALUES_PER_RECORD = 2_000_000;
/** DDL, ops and time ticks are small (a schema, a few names); 1 MiB is far above any real one. */
export const MAX_NON_DML_RECORD_BYTES = 1024 * 1024;

type Spec = { readonly [field: number]: 'int64s' | Spec };

const LONG_ARRAY: Spec = { 1: 'int64s' };
const SCALAR_FIELD: Spec = { 3: LONG_ARRAY, 8: { 1: { 3: LONG_ARRAY } } }; // long_data, array_data.data[].long_data
/** InsertRequest: timestamps 10, rowIDs 11, fields_data 13 → FieldData.scalars 3. */
const INSERT: Spec = { 10: 'int64s', 11: 'int64s', 13: { 3: SCALAR_FIELD } };
/** DeleteRequest: int64_primary_keys 9, timestamps 10, primary_keys 12 → IDs.int_id 1. */
const DELETE: Spec = { 9: 'int64s', 10: 'int64s', 12: { 1: LONG_ARRAY } };

/** Counts the int64 values the fields named by `spec` hold in b[start, end), packed or not; skips everything else. */
function countInt64s(b: Uint8Array, start: number, end: number, spec: Spec): number {
  let count = 0;
  walk(b, start, end, (f) => {
    const want = spec[f.number];
    if (want === undefined) return;
    if (f.wireType === 0) {
      if (want === 'int64s') count++;
    } else if (f.wireType === 2) {
      if (want === 'int64s') {
        for (let i = f.valueStart; i < f.end; i++) if ((b[i] ?? 0) < 0x80) count++;
      } else {
        count += countInt64s(b, f.valueStart, f.end, want);
      }
    }
  });
  return count;
}

/** Throws `DECODE_FAILED` when decoding `value` as `msgType` would cost more than the bounds above allow. */
export function checkRecordBounds(msgType: number, value: Uint8Array): void {
  const spec =
    msgType === MsgType.Insert ? INSERT : msgType === MsgType.Delete ? DELETE : undefined;
  if (spec === undefined) {
    if (value.length > MAX_NON_DML_RECORD_BYTES) {
      throw malformed(
        `a message of type ${msgType} has ${value.length} bytes, more than the ${MAX_NON_DML_RECORD_BYTES} allowed`,
      );
    }
    return;
  }
  const values = countInt64s(value, 0, value.length, spec);
  if (values > MAX_INT64_VALUES_PER_RECORD) {
    throw malformed(
      `record holds ${values} int64 values, more than the ${MAX_INT64_VALUES_PER_RECORD} allowed per message`,
    );
  }
}
