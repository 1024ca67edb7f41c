/**
 * Writing protobuf wire format from pieces that are already bytes (copied fields, column bodies): keys, varints and
 * length-delimited fields, for the DML rewrite and the column pass-through, which never build message objects.
 */

export function key(number: number, wireType: number): Uint8Array {
  return varint(BigInt(number * 8 + wireType));
}

/** Unsigned varint of a value in [0, 2^64). */
export function varint(v: bigint): Uint8Array {
  const bytes: number[] = [];
  let rest = v;
  while (rest >= 0x80n) {
    bytes.push(Number(rest & 0x7fn) | 0x80);
    rest >>= 7n;
  }
  bytes.push(Number(rest));
  return Uint8Array.from(bytes);
}

export function byteLength(parts: readonly Uint8Array[]): number {
  let n = 0;
  for (const p of parts) n += p.length;
  return n;
}

export function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(byteLength(parts));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** Field `number` (wire type 2) whose value is `parts` in order: the key and length, then the parts (not copied). */
export function delimited(number: number, parts: readonly Uint8Array[]): Uint8Array[] {
  return [key(number, 2), varint(BigInt(byteLength(parts))), ...parts];
}
