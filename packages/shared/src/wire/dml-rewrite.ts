import { DML_FIELDS } from './dml-view.js';
import type { DmlHeaderChanges, DmlView } from './dml-view.js';
import { walk } from './proto-walk.js';
import { concat, key, varint } from './proto-write.js';

/**
 * Replicate mode's rewrite of an Insert or Delete: the payload with the header fields in `changes` replaced and every
 * other field (MsgBase, timestamps, row ids, field data, primary keys, fields this codec does not know) copied as
 * bytes, in their order. A replaced field is written where Go's numeric order puts it (before the first copied field
 * with a higher number), once, and left out when it has its default value (proto3), so for what Milvus writes the
 * result is byte-identical to decoding, changing and re-encoding the message.
 */
export function rewriteDml(view: DmlView, changes: DmlHeaderChanges): Uint8Array {
  const replaced = replacements(changes);
  const b = view.payload;
  const pieces: Uint8Array[] = [];
  let next = 0;
  const flushBelow = (n: number): void => {
    while (next < replaced.length && (replaced[next]?.number ?? 0) < n) {
      const r = replaced[next++];
      if (r?.bytes !== undefined) pieces.push(r.bytes);
    }
  };
  walk(b, 0, b.length, (f) => {
    if (replaced.some((r) => r.number === f.number)) return; // every occurrence: the replacement stands for them
    flushBelow(f.number);
    pieces.push(b.subarray(f.keyStart, f.end));
  });
  flushBelow(Infinity);
  let size = 0;
  for (const p of pieces) size += p.length;
  const out = new Uint8Array(size);
  let at = 0;
  for (const p of pieces) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

interface Replacement {
  readonly number: number;
  /** Undefined: the default value, written as nothing. */
  readonly bytes: Uint8Array | undefined;
}

const utf8 = new TextEncoder();

/** The changed fields, in field-number order, with their encodings. */
function replacements(c: DmlHeaderChanges): Replacement[] {
  const out: Replacement[] = [];
  const text = (number: number, v: string | undefined): void => {
    if (v === undefined) return;
    const body = utf8.encode(v);
    out.push({
      number,
      bytes:
        body.length === 0 ? undefined : concat(key(number, 2), varint(BigInt(body.length)), body),
    });
  };
  const int64 = (number: number, v: bigint | undefined): void => {
    if (v === undefined) return;
    out.push({
      number,
      bytes: v === 0n ? undefined : concat(key(number, 0), varint(BigInt.asUintN(64, v))),
    });
  };
  text(DML_FIELDS.shardName, c.shardName);
  text(DML_FIELDS.dbName, c.dbName);
  text(DML_FIELDS.collectionName, c.collectionName);
  text(DML_FIELDS.partitionName, c.partitionName);
  int64(DML_FIELDS.dbId, c.dbId);
  int64(DML_FIELDS.collectionId, c.collectionId);
  int64(DML_FIELDS.partitionId, c.partitionId);
  return out;
}
