import { createRequire } from 'node:module';
import Long from 'long';
import protobuf from 'protobufjs';
import type { INamespace, IConversionOptions, Type } from 'protobufjs';
import { CdcError } from '../errors.js';
import { EXTRA_DESCRIPTORS } from '../proto/extra-descriptors.js';

/**
 * One protobufjs Root with the SDK's compiled descriptors (`milvus.proto.{common,schema,msg,milvus}`) plus our own
 * (`milvus.proto.etcd`, `pulsar.proto`). Loaded once, lazily.
 */

const SDK_BASE_DESCRIPTORS = '@zilliz/milvus2-sdk-node/dist/milvus/proto-json/milvus.base.js';

protobuf.util.Long = Long;
protobuf.configure();

let root: protobuf.Root | undefined;
const typeCache = new Map<string, Type>();

export function protoRoot(): protobuf.Root {
  if (root !== undefined) return root;
  const require = createRequire(import.meta.url);
  const sdk = require(SDK_BASE_DESCRIPTORS) as { default: INamespace };
  const r = protobuf.Root.fromJSON(sdk.default);
  r.addJSON(EXTRA_DESCRIPTORS.nested ?? {});
  r.resolveAll();
  root = r;
  return r;
}

/** A message type by its full name, e.g. `milvus.proto.msg.InsertRequest`. */
export function protoType(fullName: string): Type {
  const cached = typeCache.get(fullName);
  if (cached !== undefined) return cached;
  const t = protoRoot().lookupType(fullName);
  typeCache.set(fullName, t);
  return t;
}

/** Values of a proto enum, name → number. */
export function protoEnum(fullName: string): Readonly<Record<string, number>> {
  return protoRoot().lookupEnum(fullName).values;
}

const TO_OBJECT: IConversionOptions = {
  longs: String,
  enums: Number,
  defaults: true,
  arrays: true,
  objects: true,
  oneofs: true,
};

export function decodeError(what: string, cause?: unknown): CdcError {
  return new CdcError('DECODE_FAILED', `decoding ${what}`, {
    retryable: false,
    ...(cause === undefined ? {} : { cause }),
  });
}

/**
 * Decodes bytes as `fullName` into a plain object (int64 as decimal strings, enums as numbers, bytes as Uint8Array,
 * defaults filled in, oneof names set). Any failure becomes `CdcError('DECODE_FAILED')`.
 */
export function decodeProto(fullName: string, bytes: Uint8Array): Record<string, unknown> {
  try {
    const t = protoType(fullName);
    return t.toObject(t.decode(bytes), TO_OBJECT);
  } catch (err) {
    throw decodeError(fullName, err);
  }
}

/** Encodes a plain object (int64 as decimal strings) as `fullName`. Failures are `CdcError('DECODE_FAILED')`. */
export function encodeProto(fullName: string, obj: Record<string, unknown>): Uint8Array {
  try {
    const t = protoType(fullName);
    const out = t.encode(t.fromObject(obj)).finish();
    return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
  } catch (err) {
    throw new CdcError('DECODE_FAILED', `encoding ${fullName}`, { retryable: false, cause: err });
  }
}

export const P = {
  MsgHeader: 'milvus.proto.common.MsgHeader',
  MsgBase: 'milvus.proto.common.MsgBase',
  InsertRequest: 'milvus.proto.msg.InsertRequest',
  DeleteRequest: 'milvus.proto.msg.DeleteRequest',
  TimeTickMsg: 'milvus.proto.msg.TimeTickMsg',
  MsgPosition: 'milvus.proto.msg.MsgPosition',
  CreateCollectionRequest: 'milvus.proto.msg.CreateCollectionRequest',
  DropCollectionRequest: 'milvus.proto.msg.DropCollectionRequest',
  CreatePartitionRequest: 'milvus.proto.msg.CreatePartitionRequest',
  DropPartitionRequest: 'milvus.proto.msg.DropPartitionRequest',
  CollectionSchema: 'milvus.proto.schema.CollectionSchema',
  FieldSchema: 'milvus.proto.schema.FieldSchema',
  FieldData: 'milvus.proto.schema.FieldData',
  FunctionSchema: 'milvus.proto.schema.FunctionSchema',
  CreateIndexRequest: 'milvus.proto.milvus.CreateIndexRequest',
  DropIndexRequest: 'milvus.proto.milvus.DropIndexRequest',
  AlterIndexRequest: 'milvus.proto.milvus.AlterIndexRequest',
  LoadCollectionRequest: 'milvus.proto.milvus.LoadCollectionRequest',
  ReleaseCollectionRequest: 'milvus.proto.milvus.ReleaseCollectionRequest',
  LoadPartitionsRequest: 'milvus.proto.milvus.LoadPartitionsRequest',
  ReleasePartitionsRequest: 'milvus.proto.milvus.ReleasePartitionsRequest',
  FlushRequest: 'milvus.proto.milvus.FlushRequest',
  CreateDatabaseRequest: 'milvus.proto.milvus.CreateDatabaseRequest',
  DropDatabaseRequest: 'milvus.proto.milvus.DropDatabaseRequest',
  AlterDatabaseRequest: 'milvus.proto.milvus.AlterDatabaseRequest',
  CollectionInfo: 'milvus.proto.etcd.CollectionInfo',
  PartitionInfo: 'milvus.proto.etcd.PartitionInfo',
  DatabaseInfo: 'milvus.proto.etcd.DatabaseInfo',
  AliasInfo: 'milvus.proto.etcd.AliasInfo',
  MessageIdData: 'pulsar.proto.MessageIdData',
} as const;

/**
 * Loads the root and has protobufjs generate the decoder, encoder and converters of every message type the codec
 * reads or writes (it generates each on first use), so that work is done at start-up, not in the first lease's time
 * to its first row (~150 ms of one core). Returns how many types it prepared.
 */
export function warmWireCodecs(): number {
  const names = Object.values(P);
  for (const name of names) {
    const t = protoType(name);
    t.toObject(t.decode(t.encode(t.fromObject({})).finish()), TO_OBJECT);
  }
  return names.length;
}
