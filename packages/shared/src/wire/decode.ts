import { isCdcError } from '../errors.js';
import { MsgType } from './messages.js';
import type { DecodedMessage, MessageHeaders, PrimaryKeys } from './messages.js';
import { baseFromObject, msgTypeName, resolveMsgType, streamingVersion } from './msg-type.js';
import { P, decodeError, decodeProto } from './proto-root.js';
import { big, bigs, bool, bytes, list, num, objs, str, strMap, strs, sub } from './obj.js';
import type { Obj } from './obj.js';
import { checkRecordBounds } from './bounds.js';
import { readDmlView } from './dml-view.js';
import type { DmlView } from './dml-view.js';
import { fieldColumnFromObject } from './field-data.js';
import { decodeCollectionSchema, keyValuesFromObjects } from './schema.js';

/**
 * Decodes one MQ record of the 2.3–2.5 msgstream format into a `DecodedMessage`.
 *
 * Never throws anything but `CdcError('DECODE_FAILED', retryable: false)`. A record whose MsgType this codec does
 * not handle, or a streaming-format record (`_v` header, 2.5 streaming / 2.6), is `{ type: 'Unknown' }`.
 */
export function decodeMessage(value: Uint8Array, headers: MessageHeaders = {}): DecodedMessage {
  try {
    const v = streamingVersion(headers);
    if (v !== undefined) {
      return { type: 'Unknown', msgType: 0, msgTypeName: `streaming-v${v}` };
    }
    const msgType = resolveMsgType(value, headers);
    return decodeByType(msgType, value);
  } catch (err) {
    if (isCdcError(err)) throw err;
    throw decodeError('milvus message', err);
  }
}

/**
 * Replicate mode's decode: Insert and Delete become header-only views (their columns are forwarded as bytes, never
 * decoded); every other record decodes as with `decodeMessage`. Throws only `CdcError('DECODE_FAILED')`.
 */
export function decodeForPassThrough(
  value: Uint8Array,
  headers: MessageHeaders = {},
): DecodedMessage | DmlView {
  try {
    if (streamingVersion(headers) !== undefined) return decodeMessage(value, headers);
    const msgType = resolveMsgType(value, headers);
    if (msgType === MsgType.Insert || msgType === MsgType.Delete)
      return readDmlView(msgType, value);
    return decodeByType(msgType, value);
  } catch (err) {
    if (isCdcError(err)) throw err;
    throw decodeError('milvus message', err);
  }
}

function primaryKeysFromObject(o: Obj): PrimaryKeys {
  const ids = sub(o, 'primaryKeys');
  if (ids !== undefined && ids['idField'] === 'strId') {
    return { type: 'VarChar', values: list(sub(ids, 'strId') ?? {}, 'data').map(String) };
  }
  if (ids !== undefined && ids['idField'] === 'intId') {
    return { type: 'Int64', values: bigs(sub(ids, 'intId') ?? {}, 'data') };
  }
  return { type: 'Int64', values: bigs(o, 'int64PrimaryKeys') };
}

/** Decodes `value` as the message for `msgType` (already resolved). */
export function decodeByType(msgType: number, value: Uint8Array): DecodedMessage {
  checkRecordBounds(msgType, value);
  const d = (name: string): Obj => decodeProto(name, value);
  const baseOf = (o: Obj) => baseFromObject(sub(o, 'base'));
  switch (msgType) {
    case MsgType.Insert: {
      const o = d(P.InsertRequest);
      return {
        type: 'Insert',
        base: baseOf(o),
        shardName: str(o, 'shardName'),
        dbName: str(o, 'dbName'),
        collectionName: str(o, 'collectionName'),
        partitionName: str(o, 'partitionName'),
        dbId: big(o, 'dbID'),
        collectionId: big(o, 'collectionID'),
        partitionId: big(o, 'partitionID'),
        segmentId: big(o, 'segmentID'),
        timestamps: bigs(o, 'timestamps'),
        rowIds: bigs(o, 'rowIDs'),
        numRows: big(o, 'numRows'),
        version: num(o, 'version'),
        fields: objs(o, 'fieldsData').map(fieldColumnFromObject),
      };
    }
    case MsgType.Delete: {
      const o = d(P.DeleteRequest);
      return {
        type: 'Delete',
        base: baseOf(o),
        shardName: str(o, 'shardName'),
        dbName: str(o, 'dbName'),
        collectionName: str(o, 'collectionName'),
        partitionName: str(o, 'partitionName'),
        dbId: big(o, 'dbID'),
        collectionId: big(o, 'collectionID'),
        partitionId: big(o, 'partitionID'),
        timestamps: bigs(o, 'timestamps'),
        numRows: big(o, 'numRows'),
        primaryKeys: primaryKeysFromObject(o),
        segmentId: big(o, 'segmentId'),
      };
    }
    case MsgType.TimeTick:
      return { type: 'TimeTick', base: baseOf(d(P.TimeTickMsg)) };
    case MsgType.CreateCollection: {
      const o = d(P.CreateCollectionRequest);
      const schemaBytes = bytes(o, 'schema');
      return {
        type: 'CreateCollection',
        base: baseOf(o),
        dbName: str(o, 'dbName'),
        collectionName: str(o, 'collectionName'),
        partitionName: str(o, 'partitionName'),
        dbId: big(o, 'dbID'),
        collectionId: big(o, 'collectionID'),
        partitionId: big(o, 'partitionID'),
        schemaBytes,
        schema: decodeCollectionSchema(schemaBytes),
        virtualChannelNames: strs(o, 'virtualChannelNames'),
        physicalChannelNames: strs(o, 'physicalChannelNames'),
        partitionIds: bigs(o, 'partitionIDs'),
        partitionNames: strs(o, 'partitionNames'),
      };
    }
    case MsgType.DropCollection: {
      const o = d(P.DropCollectionRequest);
      return {
        type: 'DropCollection',
        base: baseOf(o),
        dbName: str(o, 'dbName'),
        collectionName: str(o, 'collectionName'),
        dbId: big(o, 'dbID'),
        collectionId: big(o, 'collectionID'),
      };
    }
    case MsgType.CreatePartition:
    case MsgType.DropPartition: {
      const o = d(
        msgType === MsgType.CreatePartition ? P.CreatePartitionRequest : P.DropPartitionRequest,
      );
      return {
        type: msgType === MsgType.CreatePartition ? 'CreatePartition' : 'DropPartition',
        base: baseOf(o),
        dbName: str(o, 'dbName'),
        collectionName: str(o, 'collectionName'),
        partitionName: str(o, 'partitionName'),
        dbId: big(o, 'dbID'),
        collectionId: big(o, 'collectionID'),
        partitionId: big(o, 'partitionID'),
      };
    }
    default:
      return decodeReplicateOp(msgType, value);
  }
}

function decodeReplicateOp(msgType: number, value: Uint8Array): DecodedMessage {
  const d = (name: string): Obj => decodeProto(name, value);
  const common = (o: Obj) => ({
    base: baseFromObject(sub(o, 'base')),
    dbName: str(o, 'dbName'),
  });
  switch (msgType) {
    case MsgType.CreateIndex: {
      const o = d(P.CreateIndexRequest);
      return {
        type: 'CreateIndex',
        ...common(o),
        collectionName: str(o, 'collectionName'),
        fieldName: str(o, 'fieldName'),
        indexName: str(o, 'indexName'),
        extraParams: keyValuesFromObjects(objs(o, 'extraParams')),
      };
    }
    case MsgType.DropIndex: {
      const o = d(P.DropIndexRequest);
      return {
        type: 'DropIndex',
        ...common(o),
        collectionName: str(o, 'collectionName'),
        fieldName: str(o, 'fieldName'),
        indexName: str(o, 'indexName'),
      };
    }
    case MsgType.AlterIndex: {
      const o = d(P.AlterIndexRequest);
      return {
        type: 'AlterIndex',
        ...common(o),
        collectionName: str(o, 'collectionName'),
        indexName: str(o, 'indexName'),
        extraParams: keyValuesFromObjects(objs(o, 'extraParams')),
        deleteKeys: strs(o, 'deleteKeys'),
      };
    }
    case MsgType.LoadCollection: {
      const o = d(P.LoadCollectionRequest);
      return {
        type: 'LoadCollection',
        ...common(o),
        collectionName: str(o, 'collectionName'),
        replicaNumber: num(o, 'replicaNumber'),
        resourceGroups: strs(o, 'resourceGroups'),
        refresh: bool(o, 'refresh'),
        loadFields: strs(o, 'loadFields'),
        skipLoadDynamicField: bool(o, 'skipLoadDynamicField'),
        loadParams: strMap(o, 'loadParams'),
      };
    }
    case MsgType.ReleaseCollection: {
      const o = d(P.ReleaseCollectionRequest);
      return { type: 'ReleaseCollection', ...common(o), collectionName: str(o, 'collectionName') };
    }
    case MsgType.LoadPartitions: {
      const o = d(P.LoadPartitionsRequest);
      return {
        type: 'LoadPartitions',
        ...common(o),
        collectionName: str(o, 'collectionName'),
        partitionNames: strs(o, 'partitionNames'),
        replicaNumber: num(o, 'replicaNumber'),
        resourceGroups: strs(o, 'resourceGroups'),
        refresh: bool(o, 'refresh'),
        loadFields: strs(o, 'loadFields'),
        skipLoadDynamicField: bool(o, 'skipLoadDynamicField'),
        loadParams: strMap(o, 'loadParams'),
      };
    }
    case MsgType.ReleasePartitions: {
      const o = d(P.ReleasePartitionsRequest);
      return {
        type: 'ReleasePartitions',
        ...common(o),
        collectionName: str(o, 'collectionName'),
        partitionNames: strs(o, 'partitionNames'),
      };
    }
    case MsgType.Flush: {
      const o = d(P.FlushRequest);
      return { type: 'Flush', ...common(o), collectionNames: strs(o, 'collectionNames') };
    }
    case MsgType.CreateDatabase: {
      const o = d(P.CreateDatabaseRequest);
      return {
        type: 'CreateDatabase',
        ...common(o),
        properties: keyValuesFromObjects(objs(o, 'properties')),
      };
    }
    case MsgType.DropDatabase:
      return { type: 'DropDatabase', ...common(d(P.DropDatabaseRequest)) };
    case MsgType.AlterDatabase: {
      const o = d(P.AlterDatabaseRequest);
      return {
        type: 'AlterDatabase',
        ...common(o),
        dbId: str(o, 'dbId'),
        properties: keyValuesFromObjects(objs(o, 'properties')),
        deleteKeys: strs(o, 'deleteKeys'),
      };
    }
    default: {
      const base = baseFromObject(sub(d(P.MsgHeader), 'base'));
      return { type: 'Unknown', msgType, msgTypeName: msgTypeName(msgType), base };
    }
  }
}

/**
 * `TsMsg.BeginTs/EndTs` (reference §5): Insert/Delete use min/max of the per-row `timestamps` (`base.timestamp` may be
 * 0, as in the Insert half of an upsert on 2.3); every other message uses `base.timestamp`. Unknown → 0n.
 */
export function messageTimeRange(msg: DecodedMessage): { beginTs: bigint; endTs: bigint } {
  if (msg.type === 'Insert' || msg.type === 'Delete') {
    if (msg.timestamps.length === 0)
      return { beginTs: msg.base.timestamp, endTs: msg.base.timestamp };
    let lo = msg.timestamps[0] ?? 0n;
    let hi = lo;
    for (const t of msg.timestamps) {
      if (t < lo) lo = t;
      if (t > hi) hi = t;
    }
    return { beginTs: lo, endTs: hi };
  }
  const ts = msg.type === 'Unknown' ? (msg.base?.timestamp ?? 0n) : msg.base.timestamp;
  return { beginTs: ts, endTs: ts };
}
