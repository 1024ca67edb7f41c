/**
 * A strict structural check of request bytes against the message descriptor, run before protobufjs decodes them.
 * protobufjs reads a known field by its declared type whatever the wire type says, and clips a length prefix that
 * runs past the end: `page_size` sent length-delimited became 50, a string claiming 100 bytes with 2 present became
 * those 2. Such bytes are not the message the client meant; they must be INVALID_ARGUMENT, not guessed at.
 * Unknown fields are allowed (skipped), as protobuf requires for compatibility.
 */

/** The part of a proto-loader DescriptorProto (object form) this check reads. */
export interface MessageDescriptor {
  readonly name: string;
  readonly field: readonly FieldDescriptor[];
  readonly nestedType: readonly MessageDescriptor[];
}

interface FieldDescriptor {
  readonly name: string;
  readonly number: number;
  readonly label: string;
  readonly type: string;
  readonly typeName: string;
}

/** Finds a message type by its name as written in a field (unqualified, in the same package). */
export type TypeLookup = (typeName: string) => MessageDescriptor | undefined;

const VARINT = 0;
const FIXED64 = 1;
const LENGTH_DELIMITED = 2;
const FIXED32 = 5;
const MAX_DEPTH = 32;

const WIRE_TYPE_OF: Readonly<Record<string, number>> = {
  TYPE_INT32: VARINT,
  TYPE_INT64: VARINT,
  TYPE_UINT32: VARINT,
  TYPE_UINT64: VARINT,
  TYPE_SINT32: VARINT,
  TYPE_SINT64: VARINT,
  TYPE_BOOL: VARINT,
  TYPE_ENUM: VARINT,
  TYPE_FIXED64: FIXED64,
  TYPE_SFIXED64: FIXED64,
  TYPE_DOUBLE: FIXED64,
  TYPE_FIXED32: FIXED32,
  TYPE_SFIXED32: FIXED32,
  TYPE_FLOAT: FIXED32,
  TYPE_STRING: LENGTH_DELIMITED,
  TYPE_BYTES: LENGTH_DELIMITED,
  TYPE_MESSAGE: LENGTH_DELIMITED,
};

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Throws an Error naming the first problem; returns when `bytes` is a well-formed `desc` message. */
export function checkWire(bytes: Uint8Array, desc: MessageDescriptor, lookup: TypeLookup): void {
  walk(bytes, 0, bytes.length, desc, lookup, desc.name, 0);
}

function walk(
  b: Uint8Array,
  start: number,
  end: number,
  desc: MessageDescriptor,
  lookup: TypeLookup,
  path: string,
  depth: number,
): void {
  if (depth > MAX_DEPTH) throw new Error(`${path}: nested deeper than ${MAX_DEPTH}`);
  let pos = start;
  const varint = (): number => {
    let value = 0;
    for (let i = 0; i < 10; i++) {
      if (pos >= end) throw new Error(`${path}: truncated varint`);
      const byte = b[pos++] ?? 0;
      value += (byte & 0x7f) * 2 ** (7 * i);
      if ((byte & 0x80) === 0) return value;
    }
    throw new Error(`${path}: varint longer than 10 bytes`);
  };
  while (pos < end) {
    const key = varint();
    const number = Math.floor(key / 8);
    const wireType = key % 8;
    if (number === 0) throw new Error(`${path}: field number 0`);
    const field = desc.field.find((f) => f.number === number);
    const where = field === undefined ? `${path}.#${number}` : `${path}.${field.name}`;
    let length = 0;
    if (wireType === VARINT) varint();
    else if (wireType === FIXED64) length = 8;
    else if (wireType === FIXED32) length = 4;
    else if (wireType === LENGTH_DELIMITED) length = varint();
    else throw new Error(`${where}: invalid wire type ${wireType}`);
    if (length > end - pos)
      throw new Error(`${where}: ${length} bytes announced, ${end - pos} left`);
    const bodyStart = pos;
    pos += length;
    if (field === undefined) continue;
    const expected = WIRE_TYPE_OF[field.type];
    if (expected === undefined) continue;
    const packed =
      wireType === LENGTH_DELIMITED &&
      field.label === 'LABEL_REPEATED' &&
      expected !== LENGTH_DELIMITED;
    if (wireType !== expected && !packed)
      throw new Error(`${where}: wire type ${wireType} where ${field.type} needs ${expected}`);
    if (field.type === 'TYPE_STRING') {
      try {
        utf8.decode(b.subarray(bodyStart, pos));
      } catch {
        throw new Error(`${where}: not valid UTF-8`);
      }
    }
    if (field.type === 'TYPE_MESSAGE') {
      const nested =
        desc.nestedType.find((n) => n.name === field.typeName) ?? lookup(field.typeName);
      if (nested !== undefined) walk(b, bodyStart, pos, nested, lookup, where, depth + 1);
    }
  }
}
