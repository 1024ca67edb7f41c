import { CdcError } from '../errors.js';

/**
 * Bounded reading of protobuf wire format, one message level at a time: keys, varints and field extents, each checked
 * against the end of its message before use. For the header-only DML view and its rewrite, and the record bounds
 * checked before a full decode.
 */

/** A record that is not well-formed protobuf: DECODE_FAILED (the caller quarantines it). */
export function malformed(problem: string): CdcError {
  return new CdcError('DECODE_FAILED', `decoding milvus message: ${problem}`, {
    retryable: false,
  });
}

/** A varint that must fit 32 bits (keys, lengths); returns the value, `next` holds where it ended. */
export function varint32(b: Uint8Array, at: number, end: number, next: { at: number }): number {
  let value = 0;
  for (let i = 0; i < 5; i++) {
    if (at + i >= end) throw malformed('truncated varint');
    const byte = b[at + i] as number;
    value += (byte & 0x7f) * 2 ** (7 * i);
    if (byte < 0x80) {
      if (value > 0xffffffff) break;
      next.at = at + i + 1;
      return value;
    }
  }
  throw malformed('key or length does not fit 32 bits');
}

/** A 64-bit varint as an unsigned bigint (what Go wrote; callers reinterpret int64). */
export function varint64(b: Uint8Array, at: number, end: number, next: { at: number }): bigint {
  let lo = 0;
  let hi = 0;
  for (let i = 0; i < 10; i++) {
    if (at + i >= end) throw malformed('truncated varint');
    const byte = b[at + i] as number;
    if (i < 4) lo += (byte & 0x7f) * 2 ** (7 * i);
    else hi += (byte & 0x7f) * 2 ** (7 * (i - 4));
    if (byte < 0x80) {
      next.at = at + i + 1;
      return BigInt.asUintN(64, (BigInt(hi) << 28n) | BigInt(lo));
    }
  }
  throw malformed('varint longer than 10 bytes');
}

/** Where the field starting at `at` ends (`next.at` is set past its key); throws on a bad wire type or length. */
function fieldEnd(
  b: Uint8Array,
  wireType: number,
  at: number,
  end: number,
  next: { at: number },
): number {
  switch (wireType) {
    case 0:
      for (let i = at; i < end && i < at + 10; i++) if ((b[i] as number) < 0x80) return i + 1;
      throw malformed('truncated or overlong varint');
    case 1:
    case 5: {
      const stop = at + (wireType === 1 ? 8 : 4);
      if (stop > end) throw malformed('truncated fixed-size field');
      return stop;
    }
    case 2: {
      const length = varint32(b, at, end, next);
      if (length > end - next.at)
        throw malformed(`a field of ${length} bytes runs past its message`);
      return next.at + length;
    }
    default:
      throw malformed(`unsupported wire type ${wireType}`);
  }
}

/** One top-level field: its number, where its key starts, where its value starts and ends. */
export interface Field {
  number: number;
  wireType: number;
  keyStart: number;
  valueStart: number;
  end: number;
}

/** Walks the top-level fields of b[start, end), calling `visit` with a reused `Field`. */
export function walk(b: Uint8Array, start: number, end: number, visit: (f: Field) => void): void {
  const next = { at: 0 };
  const f: Field = { number: 0, wireType: 0, keyStart: 0, valueStart: 0, end: 0 };
  let at = start;
  while (at < end) {
    const key = varint32(b, at, end, next);
    f.number = Math.floor(key / 8);
    f.wireType = key % 8;
    if (f.number === 0) throw malformed('field number 0');
    f.keyStart = at;
    const afterKey = next.at;
    f.end = fieldEnd(b, f.wireType, afterKey, end, next);
    f.valueStart = f.wireType === 2 ? next.at : afterKey;
    visit(f);
    at = f.end;
  }
}
