import { createHash, type Hash } from 'node:crypto';
import { canonicalJson } from '../domain/secrets.js';

/** A schema field as the comparison needs it: name and SDK type names ('Int64', 'FloatVector', 'Array', ...). */
export interface HashedField {
  readonly name: string;
  readonly type: string;
  /** Element type of an Array field ('Float', 'Int64', ...). */
  readonly elementType?: string;
}

/** The dynamic field: the SDK returns it as an object under this key (and may spread its keys into the row). */
export const DYNAMIC_FIELD = '$meta';

const BYTE_VECTORS = new Set(['BinaryVector']);
const FLOAT_VECTORS = new Set(['FloatVector', 'Float16Vector', 'BFloat16Vector']);

/**
 * A canonical content hash of one row (sha256, base64), so that equal rows hash equal whatever the field order or
 * number formatting of the reply: schema fields in name order, each as a length-prefixed canonical encoding; float
 * vectors as float32 bytes, binary vectors as bytes, Float as float32, Int64 as decimal text, JSON, arrays and sparse
 * vectors as canonical JSON (sorted keys); null is its own marker. The dynamic field is one JSON object: `$meta`
 * merged with any key the schema does not name.
 */
export function rowHasher(
  fields: readonly HashedField[],
): (row: Readonly<Record<string, unknown>>) => string {
  const ordered = [...fields]
    .filter((f) => f.name !== DYNAMIC_FIELD)
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const known = new Set(ordered.map((f) => f.name));
  return (row) => {
    const h = createHash('sha256');
    for (const f of ordered) put(h, f.name, encodeValue(f, row[f.name]));
    // Keys come from the rows: a null-prototype object keeps `__proto__` as an entry (assigned to `{}`, or merged
    // with Object.assign, it would set the prototype and drop out of the hash).
    const dynamic = Object.create(null) as Record<string, unknown>;
    for (const [k, v] of Object.entries(row)) {
      if (k === DYNAMIC_FIELD && v !== null && typeof v === 'object')
        for (const [dk, dv] of Object.entries(v)) dynamic[dk] = dv;
      else if (!known.has(k) && k !== DYNAMIC_FIELD) dynamic[k] = v;
    }
    if (Object.keys(dynamic).length > 0) put(h, DYNAMIC_FIELD, Buffer.from(canonicalJson(dynamic)));
    return h.digest('base64');
  };
}

function put(h: Hash, name: string, value: Buffer): void {
  h.update(`${name.length}:${name}${value.length}:`);
  h.update(value);
}

const NULL = Buffer.from([0]);

function numbers(value: unknown): number[] {
  return Array.isArray(value) ? value.map(Number) : [];
}

function encodeValue(f: HashedField, value: unknown): Buffer {
  if (value === null || value === undefined) return NULL;
  if (BYTE_VECTORS.has(f.type) || (FLOAT_VECTORS.has(f.type) && value instanceof Uint8Array)) {
    return value instanceof Uint8Array ? Buffer.from(value) : Buffer.from(numbers(value));
  }
  if (FLOAT_VECTORS.has(f.type)) {
    const floats = Float32Array.from(numbers(value));
    return Buffer.from(floats.buffer, floats.byteOffset, floats.byteLength);
  }
  if (f.type === 'Float') return Buffer.from(String(Math.fround(Number(value))));
  if (f.type === 'Array' && Array.isArray(value)) {
    const items: unknown[] = value.map((v) => scalar(f.elementType ?? '', v));
    return Buffer.from(canonicalJson(items));
  }
  return Buffer.from(canonicalJson(scalar(f.type, value)));
}

/** Scalars in one form: integers (Int64 arrives as text or number) as decimal text, Float as float32. */
function scalar(type: string, value: unknown): unknown {
  if (value === null || value === undefined) return null;
  switch (type) {
    case 'Int8':
    case 'Int16':
    case 'Int32':
    case 'Int64':
      return typeof value === 'bigint' || typeof value === 'number' || typeof value === 'string'
        ? String(value)
        : value;
    case 'Float':
      return Math.fround(Number(value));
    case 'Double':
      return Number(value);
    default:
      return value;
  }
}
