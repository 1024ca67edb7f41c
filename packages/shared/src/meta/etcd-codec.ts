import type {
  CollectionInfo,
  CollectionState,
  ConsistencyLevel,
  DatabaseInfo,
  DatabaseState,
  PartitionInfo,
  PartitionState,
} from './source-metadata.js';
import { P, decodeProto, encodeProto } from '../wire/proto-root.js';
import { big, bytes, kvs, num, objs, pruned, str, strs, sub } from '../wire/obj.js';
import {
  collectionSchemaFromObject,
  collectionSchemaToObject,
  keyValuesFromObjects,
} from '../wire/schema.js';

/**
 * etcd values of the source's rootcoord metadata (`etcdpb.*`, reference §1.4) ↔ domain types, and the tombstone marker.
 */

/** The value rootcoord's SuffixSnapshot writes instead of deleting (UTF-8 of U+26FC), ≤ 2.6.14. */
export const TOMBSTONE = new Uint8Array([0xe2, 0x9b, 0xbc]);

export function isTombstone(value: Uint8Array): boolean {
  return value.length === 3 && value[0] === 0xe2 && value[1] === 0x9b && value[2] === 0xbc;
}

const DATABASE_STATES: readonly DatabaseState[] = [
  'Unknown',
  'Created',
  'Creating',
  'Dropping',
  'Dropped',
];
const COLLECTION_STATES: readonly CollectionState[] = [
  'Created',
  'Creating',
  'Dropping',
  'Dropped',
];
const PARTITION_STATES: readonly PartitionState[] = ['Created', 'Creating', 'Dropping', 'Dropped'];
const CONSISTENCY: readonly ConsistencyLevel[] = [
  'Strong',
  'Session',
  'Bounded',
  'Eventually',
  'Customized',
];

function pick<T>(table: readonly T[], n: number, fallback: T): T {
  return table[n] ?? fallback;
}

export function decodeDatabaseInfo(value: Uint8Array): DatabaseInfo {
  const o = decodeProto(P.DatabaseInfo, value);
  return {
    id: big(o, 'id'),
    name: str(o, 'name'),
    tenantId: str(o, 'tenantId'),
    state: pick(DATABASE_STATES, num(o, 'state'), 'Unknown'),
    createdTimeNanos: big(o, 'createdTime'),
    properties: keyValuesFromObjects(objs(o, 'properties')),
  };
}

export function encodeDatabaseInfo(d: DatabaseInfo): Uint8Array {
  return encodeProto(
    P.DatabaseInfo,
    pruned({
      tenantId: d.tenantId,
      name: d.name,
      id: d.id,
      state: DATABASE_STATES.indexOf(d.state),
      createdTime: d.createdTimeNanos,
      properties: kvs(d.properties),
    }),
  );
}

/**
 * Decodes a `CollectionInfo` value. The schema is the stub rootcoord stores (no fields: they live under
 * `root-coord/fields/`, unless the collection predates 2.1); `dbName` is left '' for the caller to resolve.
 */
export function decodeCollectionInfo(value: Uint8Array): CollectionInfo {
  const o = decodeProto(P.CollectionInfo, value);
  const vchannels = strs(o, 'virtualChannelNames');
  return {
    id: big(o, 'ID'),
    dbId: big(o, 'dbId'),
    dbName: '',
    name: str(sub(o, 'schema') ?? {}, 'name'),
    schema: collectionSchemaFromObject(sub(o, 'schema')),
    shardsNum: num(o, 'shardsNum') || vchannels.length,
    consistencyLevel: pick(CONSISTENCY, num(o, 'consistencyLevel'), 'Strong'),
    properties: keyValuesFromObjects(objs(o, 'properties')),
    virtualChannels: vchannels,
    physicalChannels: strs(o, 'physicalChannelNames'),
    startPositions: objs(o, 'startPositions').map((kd) => ({
      channel: str(kd, 'key'),
      msgId: bytes(kd, 'data'),
    })),
    state: pick(COLLECTION_STATES, num(o, 'state'), 'Created'),
    createTime: big(o, 'createTime'),
    updateTimestamp: big(o, 'UpdateTimestamp'),
  };
}

/** Encodes like `MarshalCollectionModel`: the schema as given (pass a stub without fields to mimic rootcoord). */
export function encodeCollectionInfo(c: CollectionInfo): Uint8Array {
  return encodeProto(
    P.CollectionInfo,
    pruned({
      ID: c.id,
      schema: collectionSchemaToObject(c.schema),
      createTime: c.createTime,
      virtualChannelNames: c.virtualChannels,
      physicalChannelNames: c.physicalChannels,
      shardsNum: c.shardsNum,
      startPositions: c.startPositions.map((p) => pruned({ key: p.channel, data: p.msgId })),
      consistencyLevel: CONSISTENCY.indexOf(c.consistencyLevel),
      state: COLLECTION_STATES.indexOf(c.state),
      properties: kvs(c.properties),
      dbId: c.dbId,
      UpdateTimestamp: c.updateTimestamp,
    }),
  );
}

export function decodePartitionInfo(value: Uint8Array): PartitionInfo {
  const o = decodeProto(P.PartitionInfo, value);
  return {
    id: big(o, 'partitionID'),
    name: str(o, 'partitionName'),
    collectionId: big(o, 'collectionId'),
    createdTimestamp: big(o, 'partitionCreatedTimestamp'),
    state: pick(PARTITION_STATES, num(o, 'state'), 'Created'),
  };
}

export function encodePartitionInfo(p: PartitionInfo): Uint8Array {
  return encodeProto(
    P.PartitionInfo,
    pruned({
      partitionID: p.id,
      partitionName: p.name,
      partitionCreatedTimestamp: p.createdTimestamp,
      collectionId: p.collectionId,
      state: PARTITION_STATES.indexOf(p.state),
    }),
  );
}

/** Legacy (pre-2.1) inline partitions of a CollectionInfo value (fields 4/5/9). */
export function legacyPartitions(value: Uint8Array): PartitionInfo[] {
  const o = decodeProto(P.CollectionInfo, value);
  const pids = strs(o, 'partitionIDs');
  const names = strs(o, 'partitionNames');
  const created = strs(o, 'partitionCreatedTimestamps');
  return pids.map((id, i) => ({
    id: BigInt(id),
    name: names[i] ?? '',
    collectionId: big(o, 'ID'),
    createdTimestamp: BigInt(created[i] ?? '0'),
    state: 'Created',
  }));
}
