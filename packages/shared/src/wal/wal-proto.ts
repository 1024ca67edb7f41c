import { createRequire } from 'node:module';
import Long from 'long';
import protobuf from 'protobufjs';
import type { IConversionOptions, INamespace, Type } from 'protobufjs';
import { decodeError } from '../wire/proto-root.js';
import { WAL_DESCRIPTORS } from './wal-descriptors.js';

/** A Root of its own: the SDK's descriptors plus the 2.6 WAL ones, so the msgstream codec's Root stays untouched. */
let root: protobuf.Root | undefined;
const types = new Map<string, Type>();

function walRoot(): protobuf.Root {
  if (root !== undefined) return root;
  const require = createRequire(import.meta.url);
  const sdk = require('@zilliz/milvus2-sdk-node/dist/milvus/proto-json/milvus.base.js') as {
    default: INamespace;
  };
  protobuf.util.Long = Long;
  const r = protobuf.Root.fromJSON(sdk.default);
  r.addJSON(WAL_DESCRIPTORS.nested ?? {});
  r.resolveAll();
  root = r;
  return r;
}

function walType(name: string): Type {
  let t = types.get(name);
  if (t === undefined) {
    t = walRoot().lookupType(name);
    types.set(name, t);
  }
  return t;
}

const TO_OBJECT: IConversionOptions = {
  longs: String,
  enums: Number,
  defaults: true,
  arrays: true,
  objects: true,
  oneofs: true,
};

/**
 * Decodes `bytes` as `name` into a plain object (int64 as decimal strings). protobufjs checks every length prefix
 * against the bytes present before it reads, so hostile lengths fail here instead of allocating.
 */
export function decodeWalProto(name: string, bytes: Uint8Array): Record<string, unknown> {
  try {
    const t = walType(name);
    return t.toObject(t.decode(bytes), TO_OBJECT);
  } catch (err) {
    throw decodeError(name, err);
  }
}

export function encodeWalProto(name: string, obj: Record<string, unknown>): Uint8Array {
  const t = walType(name);
  const out = t.encode(t.fromObject(obj)).finish();
  return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
}
