import { CdcError, isCdcError } from '../errors.js';
import { decodeByType } from '../wire/decode.js';
import { MsgType } from '../wire/messages.js';
import type { KeyValue, KnownMessage, MsgBase } from '../wire/messages.js';
import { decodeError } from '../wire/proto-root.js';
import { decodeCollectionSchema, keyValuesFromObjects } from '../wire/schema.js';
import type { Obj } from '../wire/obj.js';
import type { WalProperties } from './properties.js';
import { W } from './wal-descriptors.js';
import { WalMessageType as T } from './wal-message.js';
import type { WalMessage, WalOp } from './wal-message.js';
import { decodeWalProto, encodeWalProto } from './wal-proto.js';

const scalar = (v: unknown): string =>
  typeof v === 'string' || typeof v === 'number' ? String(v) : '';
const int = (o: Obj, k: string): bigint => BigInt(scalar(o[k]) || '0');
const ints = (o: Obj, k: string): bigint[] =>
  ((o[k] as unknown[] | undefined) ?? []).map((v) => BigInt(String(v)));
const text = (o: Obj, k: string): string => scalar(o[k]);
const sub = (o: Obj, k: string): Obj => (o[k] as Obj | null | undefined) ?? {};
const SCHEMA = 'milvus.proto.schema.CollectionSchema';
const kvs = (o: Obj, k: string): KeyValue[] =>
  keyValuesFromObjects((o[k] as Obj[] | undefined) ?? []);

/** Message types that carry no change a replica applies (segment bookkeeping, RBAC, resource groups, WAL admin). */
const QUIET = new Set<number>([
  T.Flush,
  T.CreateSegment,
  T.AlterAlias,
  T.DropAlias,
  T.AlterWAL,
  T.AlterReplicateConfig,
  ...Array.from({ length: 12 }, (_, i) => 21 + i), // RestoreRBAC … DropResourceGroup
]);

function withTick(base: MsgBase, tt: bigint): MsgBase {
  return { ...base, timestamp: tt };
}

/** The V1 body as the msgstream codec decodes it, then what the 2.6 adaptor rebuilds from `_tt`, `_vc` and `_h`. */
function change(p: WalProperties, payload: Uint8Array): KnownMessage {
  const tt = p.timeTick;
  switch (p.messageType) {
    case T.Insert: {
      const m = decodeByType(MsgType.Insert, payload);
      if (m.type !== 'Insert') throw decodeError('insert body');
      const h = decodeWalProto(W.InsertHeader, p.header);
      const assignment = ((h['partitions'] as Obj[] | undefined) ?? []).find(
        (a) => int(a, 'partitionId') === m.partitionId,
      );
      const rows = Number(m.numRows);
      if (!Number.isSafeInteger(rows) || rows < 0 || rows > payload.length)
        throw decodeError('insert row count');
      return {
        ...m,
        base: withTick(m.base, tt),
        shardName: p.vchannel || m.shardName,
        collectionId: m.collectionId || int(h, 'collectionId'),
        segmentId:
          assignment === undefined
            ? m.segmentId
            : int(sub(assignment, 'segmentAssignment'), 'segmentId'),
        timestamps: new Array<bigint>(rows).fill(tt),
      };
    }
    case T.Delete: {
      const m = decodeByType(MsgType.Delete, payload);
      if (m.type !== 'Delete') throw decodeError('delete body');
      const h = decodeWalProto(W.DeleteHeader, p.header);
      const n = m.timestamps.length > 0 ? m.timestamps.length : Number(m.numRows);
      if (!Number.isSafeInteger(n) || n < 0 || n > payload.length)
        throw decodeError('delete row count');
      return {
        ...m,
        base: withTick(m.base, tt),
        shardName: p.vchannel || m.shardName,
        collectionId: m.collectionId || int(h, 'collectionId'),
        timestamps: new Array<bigint>(n).fill(tt),
      };
    }
    case T.TimeTick:
      return {
        type: 'TimeTick',
        base: {
          msgType: MsgType.TimeTick,
          msgId: 0n,
          timestamp: tt,
          sourceId: 0n,
          targetId: 0n,
          properties: {},
        },
      };
    case T.CreateCollection: {
      const m = decodeByType(MsgType.CreateCollection, payload);
      if (m.type !== 'CreateCollection') throw decodeError('create collection body');
      const h = decodeWalProto(W.CreateCollectionHeader, p.header);
      let { schema, schemaBytes } = m;
      if (schemaBytes.length === 0) {
        // 2.6 writes the schema as a message (field 13) rather than bytes (field 8).
        const body = decodeWalProto('milvus.proto.msg.CreateCollectionRequest', payload);
        schemaBytes = encodeWalProto(SCHEMA, sub(body, 'collectionSchema'));
        schema = decodeCollectionSchema(schemaBytes);
      }
      return {
        ...m,
        base: withTick(m.base, tt),
        schema,
        schemaBytes,
        collectionId: m.collectionId || int(h, 'collectionId'),
        dbId: m.dbId || int(h, 'dbId'),
        partitionIds: m.partitionIds.length > 0 ? m.partitionIds : ints(h, 'partitionIds'),
      };
    }
    case T.DropCollection: {
      const m = decodeByType(MsgType.DropCollection, payload);
      if (m.type !== 'DropCollection') throw decodeError('drop collection body');
      const h = decodeWalProto(W.DropCollectionHeader, p.header);
      return {
        ...m,
        base: withTick(m.base, tt),
        collectionId: m.collectionId || int(h, 'collectionId'),
      };
    }
    default: {
      const create = p.messageType === T.CreatePartition;
      const m = decodeByType(create ? MsgType.CreatePartition : MsgType.DropPartition, payload);
      if (m.type !== 'CreatePartition' && m.type !== 'DropPartition')
        throw decodeError('partition body');
      const h = decodeWalProto(W.PartitionHeader, p.header);
      return {
        ...m,
        base: withTick(m.base, tt),
        collectionId: m.collectionId || int(h, 'collectionId'),
        partitionId: m.partitionId || int(h, 'partitionId'),
      };
    }
  }
}

function indexParams(fieldIndex: Obj): KeyValue[] {
  const info = sub(fieldIndex, 'indexInfo');
  const user = kvs(info, 'userIndexParams');
  return user.length > 0 ? user : kvs(info, 'indexParams');
}

function op(p: WalProperties, payload: Uint8Array): WalOp | undefined {
  const h = (name: string): Obj => decodeWalProto(name, p.header);
  const b = (name: string): Obj => decodeWalProto(name, payload);
  switch (p.messageType) {
    case T.CreateDatabase: {
      const hd = h(W.DatabaseHeader);
      return {
        type: 'CreateDatabase',
        dbName: text(hd, 'dbName'),
        dbId: int(hd, 'dbId'),
        properties: kvs(b(W.CreateDatabaseBody), 'properties'),
      };
    }
    case T.DropDatabase: {
      const hd = h(W.DatabaseHeader);
      return { type: 'DropDatabase', dbName: text(hd, 'dbName'), dbId: int(hd, 'dbId') };
    }
    case T.AlterDatabase: {
      const hd = h(W.DatabaseHeader);
      return {
        type: 'AlterDatabase',
        dbName: text(hd, 'dbName'),
        dbId: int(hd, 'dbId'),
        properties: kvs(b(W.AlterDatabaseBody), 'properties'),
      };
    }
    case T.CreateIndex: {
      const hd = h(W.CreateIndexHeader);
      return {
        type: 'CreateIndex',
        dbId: int(hd, 'dbId'),
        collectionId: int(hd, 'collectionId'),
        fieldId: int(hd, 'fieldId'),
        indexId: int(hd, 'indexId'),
        indexName: text(hd, 'indexName'),
        indexParams: indexParams(sub(b(W.CreateIndexBody), 'fieldIndex')),
      };
    }
    case T.DropIndex: {
      const hd = h(W.IndexIdsHeader);
      return {
        type: 'DropIndex',
        collectionId: int(hd, 'collectionId'),
        indexIds: ints(hd, 'indexIds'),
      };
    }
    case T.AlterIndex: {
      const hd = h(W.IndexIdsHeader);
      const indexes = ((b(W.AlterIndexBody)['fieldIndexes'] as Obj[] | undefined) ?? []).map(
        (fi) => ({
          indexId: int(sub(fi, 'indexInfo'), 'indexID'),
          indexName: text(sub(fi, 'indexInfo'), 'indexName'),
          params: indexParams(fi),
        }),
      );
      return { type: 'AlterIndex', collectionId: int(hd, 'collectionId'), indexes };
    }
    case T.AlterLoadConfig: {
      const hd = h(W.AlterLoadConfigHeader);
      const replicas = (hd['replicas'] as unknown[] | undefined) ?? [];
      return {
        type: 'LoadCollection',
        dbId: int(hd, 'dbId'),
        collectionId: int(hd, 'collectionId'),
        partitionIds: ints(hd, 'partitionIds'),
        replicaNumber: Math.max(1, replicas.length),
      };
    }
    case T.DropLoadConfig: {
      const hd = h(W.DropLoadConfigHeader);
      return {
        type: 'ReleaseCollection',
        dbId: int(hd, 'dbId'),
        collectionId: int(hd, 'collectionId'),
      };
    }
    case T.ManualFlush:
      return { type: 'Flush', collectionId: int(h(W.ManualFlushHeader), 'collectionId') };
    case T.SchemaChange: {
      // Deprecated, merged into AlterCollection: header { collection_id = 1 }, body { schema = 1 }.
      const schema = sub(b(W.SchemaChangeBody), 'schema');
      return {
        type: 'AlterCollection',
        dbId: 0n,
        collectionId: int(h(W.IndexIdsHeader), 'collectionId'),
        paths: ['schema'],
        schema: decodeCollectionSchema(encodeWalProto(SCHEMA, schema)),
        properties: [],
      };
    }
    case T.AlterCollection: {
      const hd = h(W.AlterCollectionHeader);
      const updates = sub(b(W.AlterCollectionBody), 'updates');
      const paths = ((sub(hd, 'updateMask')['paths'] as unknown[] | undefined) ?? []).map(String);
      return {
        type: 'AlterCollection',
        dbId: int(hd, 'dbId'),
        collectionId: int(hd, 'collectionId'),
        paths,
        schema: paths.includes('schema')
          ? decodeCollectionSchema(encodeWalProto(SCHEMA, sub(updates, 'schema')))
          : undefined,
        properties: kvs(updates, 'properties'),
      };
    }
    default:
      return undefined;
  }
}

/**
 * Decodes one (reassembled) 2.6 WAL message. Throws `CdcError('DECODE_FAILED')` for bytes that do not parse and
 * `CdcError('FAILED_PRECONDITION')` for an encrypted payload (`_ch`): only the cluster's cipher plugin can read it, so
 * the source needs a person, not a guess.
 */
export function decodeWalMessage(payload: Uint8Array, props: WalProperties): WalMessage {
  if (props.cipher !== undefined) {
    throw new CdcError(
      'FAILED_PRECONDITION',
      `the source encrypts its WAL (message with _ch, encryption zone ${props.cipher.ezId}, collection ${props.cipher.collectionId}): reading it needs the cluster's cipher plugin, which this CDC does not have; replicate an unencrypted collection or disable WAL encryption`,
      {
        retryable: false,
        details: {
          ezId: props.cipher.ezId.toString(),
          collectionId: props.cipher.collectionId.toString(),
        },
      },
    );
  }
  const t = props.messageType;
  try {
    switch (t) {
      case T.TimeTick:
      case T.Insert:
      case T.Delete:
      case T.CreateCollection:
      case T.DropCollection:
      case T.CreatePartition:
      case T.DropPartition:
        return { props, kind: 'change', message: change(props, payload) };
      case T.BeginTxn:
      case T.CommitTxn:
      case T.RollbackTxn:
        if (props.txn === undefined) throw decodeError(`transaction message ${t} without _tx`);
        return {
          props,
          kind: 'txn',
          phase: t === T.BeginTxn ? 'begin' : t === T.CommitTxn ? 'commit' : 'rollback',
        };
      case T.Import:
        return {
          props,
          kind: 'skip',
          lossy: true,
          reason: 'an Import references files in object storage: its rows are not in the WAL',
        };
      case T.Txn:
        return {
          props,
          kind: 'skip',
          lossy: true,
          reason: 'a Txn message (999) is built by readers in memory and never persisted',
        };
      default: {
        if (QUIET.has(t))
          return {
            props,
            kind: 'skip',
            lossy: false,
            reason: `message type ${t} carries nothing to replicate`,
          };
        const o = op(props, payload);
        if (o !== undefined) return { props, kind: 'op', op: o };
        return {
          props,
          kind: 'skip',
          lossy: true,
          reason: `message type ${t} is unknown to this decoder`,
        };
      }
    }
  } catch (err) {
    if (isCdcError(err)) throw err;
    throw decodeError(`WAL message of type ${t}`, err);
  }
}
