import { CdcError, isCdcError } from '../errors.js';
import protobuf from 'protobufjs';
import type {
  DecodedMessage,
  InsertMessage,
  KnownMessage,
  MsgBase,
  PrimaryKeys,
} from './messages.js';
import { MsgType } from './messages.js';
import { P, encodeProto } from './proto-root.js';
import { bigStrs, kvs, pruned } from './obj.js';
import { fieldColumnToObject } from './field-data.js';

/**
 * Encodes a decoded message back into msgstream payload bytes (the test harness and replicate mode).
 * Proto3 defaults are omitted and fields go in numeric order, as Go writes them; map fields (`MsgBase.properties`,
 * `load_params`) may differ in order from Go. `base.msgType` is taken from the message `type` (a mismatching
 * `base.msgType` is overwritten). Throws `CdcError('DECODE_FAILED')` for `Unknown` or unencodable columns.
 */
export function encodeMessage(msg: DecodedMessage): Uint8Array {
  if (msg.type === 'Unknown') {
    throw new CdcError('DECODE_FAILED', `encoding message of unknown type ${msg.msgType}`, {
      retryable: false,
    });
  }
  try {
    if (msg.type === 'Insert') return encodeInsert(msg);
    const [name, obj] = toProtoObject(msg);
    return encodeProto(name, obj);
  } catch (err) {
    if (isCdcError(err)) throw err;
    throw new CdcError('DECODE_FAILED', `encoding ${msg.type} message`, {
      retryable: false,
      cause: err,
    });
  }
}

/** The MsgType number of a known message type name. */
export function msgTypeOf(type: KnownMessage['type']): number {
  return MsgType[type];
}

export function baseToObject(b: MsgBase, msgType: number): Record<string, unknown> {
  const ri = b.replicateInfo;
  return {
    ...pruned({
      msgType,
      msgID: b.msgId,
      timestamp: b.timestamp,
      sourceID: b.sourceId,
      targetID: b.targetId,
    }),
    ...(Object.keys(b.properties).length > 0 ? { properties: { ...b.properties } } : {}),
    ...(ri === undefined
      ? {}
      : {
          replicateInfo: pruned({
            isReplicate: ri.isReplicate,
            msgTimestamp: ri.msgTimestamp,
            replicateID: ri.replicateId,
          }),
        }),
  };
}

/**
 * Go marshals a message's oneof members after its regular fields, so a Go `FieldData` is
 * `type, field_name, field_id, is_dynamic, valid_data, <scalars|vectors>`; protobufjs would write strictly by number.
 * To stay byte-identical with the source, each FieldData is written as two concatenated encodings (regular fields,
 * then the oneof), which protobuf parsers merge, inside an InsertRequest assembled in field order.
 */
function encodeInsert(msg: InsertMessage): Uint8Array {
  const [, obj] = toProtoObject(msg);
  const head = { ...obj };
  const { numRows, version } = obj;
  delete head['fieldsData'];
  delete head['numRows'];
  delete head['version'];
  const parts: Uint8Array[] = [encodeProto(P.InsertRequest, head)];
  for (const col of msg.fields) {
    const { scalars, vectors, ...regular } = fieldColumnToObject(col);
    const a = encodeProto(P.FieldData, regular);
    const b = encodeProto(P.FieldData, scalars === undefined ? { vectors } : { scalars });
    parts.push(
      protobuf.Writer.create()
        .uint32((13 << 3) | 2)
        .uint32(a.length + b.length)
        .finish(),
      a,
      b,
    );
  }
  parts.push(encodeProto(P.InsertRequest, { numRows, version }));
  return new Uint8Array(Buffer.concat(parts));
}

function primaryKeysToObject(pk: PrimaryKeys): Record<string, unknown> {
  return pk.type === 'Int64'
    ? { intId: { data: bigStrs(pk.values) } }
    : { strId: { data: [...pk.values] } };
}

function toProtoObject(msg: KnownMessage): [string, Record<string, unknown>] {
  const base = { base: baseToObject(msg.base, msgTypeOf(msg.type)) };
  switch (msg.type) {
    case 'Insert':
      return [
        P.InsertRequest,
        {
          ...base,
          ...pruned({
            shardName: msg.shardName,
            dbName: msg.dbName,
            collectionName: msg.collectionName,
            partitionName: msg.partitionName,
            dbID: msg.dbId,
            collectionID: msg.collectionId,
            partitionID: msg.partitionId,
            segmentID: msg.segmentId,
            timestamps: bigStrs(msg.timestamps),
            rowIDs: bigStrs(msg.rowIds),
          }),
          fieldsData: msg.fields.map(fieldColumnToObject),
          ...pruned({ numRows: msg.numRows, version: msg.version }),
        },
      ];
    case 'Delete':
      return [
        P.DeleteRequest,
        {
          ...base,
          ...pruned({
            shardName: msg.shardName,
            dbName: msg.dbName,
            collectionName: msg.collectionName,
            partitionName: msg.partitionName,
            dbID: msg.dbId,
            collectionID: msg.collectionId,
            partitionID: msg.partitionId,
            timestamps: bigStrs(msg.timestamps),
            numRows: msg.numRows,
          }),
          primaryKeys: primaryKeysToObject(msg.primaryKeys),
          ...pruned({ segmentId: msg.segmentId }),
        },
      ];
    case 'TimeTick':
      return [P.TimeTickMsg, base];
    case 'CreateCollection':
      return [
        P.CreateCollectionRequest,
        {
          ...base,
          ...pruned({
            dbName: msg.dbName,
            collectionName: msg.collectionName,
            partitionName: msg.partitionName,
            dbID: msg.dbId,
            collectionID: msg.collectionId,
            partitionID: msg.partitionId,
            schema: msg.schemaBytes,
            virtualChannelNames: msg.virtualChannelNames,
            physicalChannelNames: msg.physicalChannelNames,
            partitionIDs: bigStrs(msg.partitionIds),
            partitionNames: msg.partitionNames,
          }),
        },
      ];
    case 'DropCollection':
      return [
        P.DropCollectionRequest,
        {
          ...base,
          ...pruned({
            dbName: msg.dbName,
            collectionName: msg.collectionName,
            dbID: msg.dbId,
            collectionID: msg.collectionId,
          }),
        },
      ];
    case 'CreatePartition':
    case 'DropPartition':
      return [
        msg.type === 'CreatePartition' ? P.CreatePartitionRequest : P.DropPartitionRequest,
        {
          ...base,
          ...pruned({
            dbName: msg.dbName,
            collectionName: msg.collectionName,
            partitionName: msg.partitionName,
            dbID: msg.dbId,
            collectionID: msg.collectionId,
            partitionID: msg.partitionId,
          }),
        },
      ];
    case 'CreateIndex':
    case 'DropIndex':
    case 'AlterIndex':
    case 'LoadCollection':
    case 'LoadPartitions':
    case 'ReleaseCollection':
    case 'ReleasePartitions':
    case 'Flush':
    case 'CreateDatabase':
    case 'DropDatabase':
    case 'AlterDatabase':
      return replicateOpToObject(msg, base);
  }
}

type ReplicateOp = Exclude<
  KnownMessage,
  | { type: 'Insert' | 'Delete' | 'TimeTick' | 'CreateCollection' | 'DropCollection' }
  | { type: 'CreatePartition' | 'DropPartition' }
>;

function replicateOpToObject(
  msg: ReplicateOp,
  base: Record<string, unknown>,
): [string, Record<string, unknown>] {
  switch (msg.type) {
    case 'CreateIndex':
      return [
        P.CreateIndexRequest,
        {
          ...base,
          ...pruned({
            dbName: msg.dbName,
            collectionName: msg.collectionName,
            fieldName: msg.fieldName,
            extraParams: kvs(msg.extraParams),
            indexName: msg.indexName,
          }),
        },
      ];
    case 'DropIndex':
      return [
        P.DropIndexRequest,
        {
          ...base,
          ...pruned({
            dbName: msg.dbName,
            collectionName: msg.collectionName,
            fieldName: msg.fieldName,
            indexName: msg.indexName,
          }),
        },
      ];
    case 'AlterIndex':
      return [
        P.AlterIndexRequest,
        {
          ...base,
          ...pruned({
            dbName: msg.dbName,
            collectionName: msg.collectionName,
            indexName: msg.indexName,
            extraParams: kvs(msg.extraParams),
            deleteKeys: msg.deleteKeys,
          }),
        },
      ];
    case 'LoadCollection':
    case 'LoadPartitions':
      return [
        msg.type === 'LoadCollection' ? P.LoadCollectionRequest : P.LoadPartitionsRequest,
        {
          ...base,
          ...pruned({
            dbName: msg.dbName,
            collectionName: msg.collectionName,
            partitionNames: msg.type === 'LoadPartitions' ? msg.partitionNames : undefined,
            replicaNumber: msg.replicaNumber,
            resourceGroups: msg.resourceGroups,
            refresh: msg.refresh,
            loadFields: msg.loadFields,
            skipLoadDynamicField: msg.skipLoadDynamicField,
          }),
          ...(Object.keys(msg.loadParams).length > 0 ? { loadParams: { ...msg.loadParams } } : {}),
        },
      ];
    case 'ReleaseCollection':
    case 'ReleasePartitions':
      return [
        msg.type === 'ReleaseCollection' ? P.ReleaseCollectionRequest : P.ReleasePartitionsRequest,
        {
          ...base,
          ...pruned({
            dbName: msg.dbName,
            collectionName: msg.collectionName,
            partitionNames: msg.type === 'ReleasePartitions' ? msg.partitionNames : undefined,
          }),
        },
      ];
    case 'Flush':
      return [
        P.FlushRequest,
        { ...base, ...pruned({ dbName: msg.dbName, collectionNames: msg.collectionNames }) },
      ];
    case 'CreateDatabase':
      return [
        P.CreateDatabaseRequest,
        { ...base, ...pruned({ dbName: msg.dbName, properties: kvs(msg.properties) }) },
      ];
    case 'DropDatabase':
      return [P.DropDatabaseRequest, { ...base, ...pruned({ dbName: msg.dbName }) }];
    case 'AlterDatabase':
      return [
        P.AlterDatabaseRequest,
        {
          ...base,
          ...pruned({
            dbName: msg.dbName,
            dbId: msg.dbId,
            properties: kvs(msg.properties),
            deleteKeys: msg.deleteKeys,
          }),
        },
      ];
  }
}
