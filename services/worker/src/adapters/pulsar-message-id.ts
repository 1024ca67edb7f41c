/**
 * The part of Pulsar's `MessageIdData` (proto2, reference §3.4) a reader needs to order ids: ledgerId (1),
 * entryId (2) and batch_index (4), compared as Milvus does (`pulsar_id.go`). `@cdc/shared` has a full codec in
 * its wire module but does not export it yet, and this tiny varint walk avoids a protobuf dependency here.
 */
import { CdcError } from '@cdc/shared';

export interface PulsarIdOrder {
  readonly ledgerId: bigint;
  readonly entryId: bigint;
  /** -1 when absent (a message that is not part of a batch). */
  readonly batchIndex: bigint;
}

const U64 = 1n << 64n;

function malformed(why: string): CdcError {
  return new CdcError('INVALID_ARGUMENT', `decoding pulsar message id: ${why}`, {
    retryable: false,
  });
}

export function pulsarIdOrder(bytes: Uint8Array): PulsarIdOrder {
  let i = 0;
  const varint = (): bigint => {
    let v = 0n;
    for (let shift = 0n; shift < 70n; shift += 7n) {
      const b = bytes[i++];
      if (b === undefined) throw malformed('truncated varint');
      v |= BigInt(b & 0x7f) << shift;
      if ((b & 0x80) === 0) return v;
    }
    throw malformed('varint too long');
  };
  // int32/int64 fields carry negatives as 10-byte two's complement varints (the earliest id is all -1).
  const signed = (v: bigint): bigint => (v >= U64 / 2n ? v - U64 : v);
  let ledgerId: bigint | undefined;
  let entryId: bigint | undefined;
  let batchIndex = -1n;
  while (i < bytes.length) {
    const key = Number(varint());
    const field = key >>> 3;
    const wire = key & 7;
    if (wire === 0) {
      const v = varint();
      if (field === 1) ledgerId = signed(v);
      else if (field === 2) entryId = signed(v);
      else if (field === 4) batchIndex = signed(v);
    } else if (wire === 2) {
      i += Number(varint());
    } else if (wire === 1 || wire === 5) {
      i += wire === 1 ? 8 : 4;
    } else {
      throw malformed(`unsupported wire type ${wire}`);
    }
  }
  if (ledgerId === undefined || entryId === undefined || i > bytes.length) {
    throw malformed('ledgerId and entryId are required');
  }
  return { ledgerId, entryId, batchIndex };
}

/** Negative, zero or positive as `a` is before, at or after `b`. */
export function comparePulsarIds(a: PulsarIdOrder, b: PulsarIdOrder): number {
  const d =
    a.ledgerId !== b.ledgerId
      ? a.ledgerId - b.ledgerId
      : a.entryId !== b.entryId
        ? a.entryId - b.entryId
        : a.batchIndex - b.batchIndex;
  return d < 0n ? -1 : d > 0n ? 1 : 0;
}
