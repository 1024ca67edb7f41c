/**
 * Typed accessors over protobufjs `toObject` output (int64 as decimal strings, defaults filled in) and builders of
 * `fromObject` input that omit proto3 defaults, so encoded bytes match what Go writes (reference §8).
 */

export type Obj = Readonly<Record<string, unknown>>;

export function str(o: Obj, k: string): string {
  const v = o[k];
  return typeof v === 'string' ? v : '';
}

export function num(o: Obj, k: string): number {
  const v = o[k];
  if (typeof v === 'number') return v;
  if (typeof v === 'string' && v !== '') return Number(v);
  return 0;
}

export function big(o: Obj, k: string): bigint {
  const v = o[k];
  if (typeof v === 'string' && v !== '') return BigInt(v);
  if (typeof v === 'number') return BigInt(v);
  return 0n;
}

export function bool(o: Obj, k: string): boolean {
  return o[k] === true;
}

/** A plain `Uint8Array` view (protobufjs hands out Node `Buffer`s; callers compare and copy plain arrays). */
export function asU8(v: unknown): Uint8Array {
  if (!(v instanceof Uint8Array)) return new Uint8Array(0);
  return Object.getPrototypeOf(v) === Uint8Array.prototype
    ? v
    : new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
}

export function bytes(o: Obj, k: string): Uint8Array {
  return asU8(o[k]);
}

export function sub(o: Obj, k: string): Obj | undefined {
  const v = o[k];
  return typeof v === 'object' && v !== null && !(v instanceof Uint8Array) && !Array.isArray(v)
    ? (v as Obj)
    : undefined;
}

export function list(o: Obj, k: string): readonly unknown[] {
  const v = o[k];
  return Array.isArray(v) ? (v as unknown[]) : [];
}

export function strs(o: Obj, k: string): string[] {
  return list(o, k).map((x) => (typeof x === 'string' ? x : String(x)));
}

export function bigs(o: Obj, k: string): bigint[] {
  return list(o, k).map((x) => BigInt(x as string | number));
}

export function objs(o: Obj, k: string): Obj[] {
  return list(o, k).filter((x): x is Obj => typeof x === 'object' && x !== null);
}

/**
 * A map whose keys come from input (the MQ, etcd, a request): a null-prototype object, so a key such as `__proto__`
 * is an ordinary own entry (assigned to a plain `{}` it would set the prototype and vanish) and a lookup of
 * `constructor` or `toString` finds only what the input holds. Test membership with `Object.hasOwn`.
 */
export function inputMap<V>(): Record<string, V> {
  return Object.create(null) as Record<string, V>;
}

export function strMap(o: Obj, k: string): Record<string, string> {
  const m = sub(o, k);
  const out = inputMap<string>();
  if (m === undefined) return out;
  for (const [key, v] of Object.entries(m)) out[key] = typeof v === 'string' ? v : String(v);
  return out;
}

/* ---- builders ---- */

/** Object for `fromObject`: drops proto3 default scalars (0, 0n, '', false, empty bytes, empty lists, undefined). */
export function pruned(fields: Readonly<Record<string, unknown>>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(fields)) {
    if (v === undefined || v === null || v === 0 || v === 0n || v === '' || v === false) continue;
    if (v instanceof Uint8Array) {
      if (v.length > 0) out[k] = v;
      continue;
    }
    if (Array.isArray(v)) {
      if (v.length > 0) out[k] = v;
      continue;
    }
    if (typeof v === 'object' && !isPlainObjectWithKeys(v)) {
      continue;
    }
    out[k] = typeof v === 'bigint' ? v.toString() : v;
  }
  return out;
}

function isPlainObjectWithKeys(v: object): boolean {
  return Object.keys(v).length > 0;
}

/** Always set (oneof members, which Go writes even when zero). */
export function keep(v: unknown): unknown {
  return typeof v === 'bigint' ? v.toString() : v;
}

export function bigStrs(values: readonly bigint[]): string[] {
  return values.map((v) => v.toString());
}

export function kvs(pairs: readonly { key: string; value: string }[]): Record<string, unknown>[] {
  return pairs.map((p) => pruned({ key: p.key, value: p.value }));
}
