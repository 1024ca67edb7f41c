import type { CollectionSchema, KeyValue } from '../wire/messages.js';

/**
 * Read-only view of a source Milvus's metadata (rootcoord/datacoord keys in its etcd, `reference/milvus-wire-format.md` §1).
 * IDs and timestamps are `bigint` (Milvus IDs are ~4.4e17, beyond JS number precision).
 */

/** `etcdpb.DatabaseState`. */
export type DatabaseState = 'Unknown' | 'Created' | 'Creating' | 'Dropping' | 'Dropped';
/** `etcdpb.CollectionState` (Created = 0 is omitted on the wire). */
export type CollectionState = 'Created' | 'Creating' | 'Dropping' | 'Dropped';
/** `etcdpb.PartitionState`. */
export type PartitionState = 'Created' | 'Creating' | 'Dropping' | 'Dropped';
/** `commonpb.ConsistencyLevel`. */
export type ConsistencyLevel = 'Strong' | 'Session' | 'Bounded' | 'Eventually' | 'Customized';

export interface DatabaseInfo {
  readonly id: bigint;
  readonly name: string;
  readonly tenantId: string;
  readonly state: DatabaseState;
  /** `time.Now().UnixNano()` at creation, NOT a TSO. */
  readonly createdTimeNanos: bigint;
  readonly properties: readonly KeyValue[];
}

/** `msgpb.MsgPosition`: an MQ position of a channel. `msgId` bytes: Kafka = 8-byte LE offset, Pulsar = MessageIdData. */
export interface MsgPosition {
  readonly channelName: string;
  readonly msgId: Uint8Array;
  readonly msgGroup: string;
  /** Hybrid timestamp. */
  readonly timestamp: bigint;
  /** `commonpb.WALName` (2.6); 0 when absent. */
  readonly walName: number;
}

export interface StartPosition {
  /** The pchannel. */
  readonly channel: string;
  /** Serialized MQ MessageID of the CreateCollection record on that pchannel. */
  readonly msgId: Uint8Array;
}

export interface CollectionInfo {
  readonly id: bigint;
  /** 0 for legacy (pre-2.2.9) collections stored under `root-coord/collection/`. */
  readonly dbId: bigint;
  /** Resolved from `db-info`; 'default' for dbId 0/1; '' if the database is unknown. */
  readonly dbName: string;
  readonly name: string;
  /** Fields from `root-coord/fields/{collId}/` (user fields ≥ 100, in fieldID order, no `$meta`) and functions. */
  readonly schema: CollectionSchema;
  readonly shardsNum: number;
  readonly consistencyLevel: ConsistencyLevel;
  readonly properties: readonly KeyValue[];
  /** vchannels in shard order (index = shard). */
  readonly virtualChannels: readonly string[];
  /** pchannels in shard order. */
  readonly physicalChannels: readonly string[];
  readonly startPositions: readonly StartPosition[];
  readonly state: CollectionState;
  /** Hybrid timestamp of creation. */
  readonly createTime: bigint;
  /** 2.4+, 0n when absent. */
  readonly updateTimestamp: bigint;
}

export interface PartitionInfo {
  readonly id: bigint;
  readonly name: string;
  readonly collectionId: bigint;
  /** Hybrid timestamp. */
  readonly createdTimestamp: bigint;
  readonly state: PartitionState;
}

/** The source "now": `kv/gid/timestamp` (8-byte big-endian UnixNano). */
export interface SourceTso {
  readonly unixNanos: bigint;
  /** `(unixNanos / 1e6) << 18`: comparable with message timestamps. */
  readonly hybridTs: bigint;
}

/**
 * A metadata change seen by `watch`, in etcd revision order. Only transitions a CDC acts on are reported:
 * a collection counts as created when it is PUT with state Created (the second PUT of a create), dropped on
 * state Dropping/Dropped, a tombstone (`E2 9B BC`) or a real DELETE. Tombstone/DELETE events carry only ids from the key.
 */
export type MetadataEvent =
  | { readonly type: 'DatabaseCreated'; readonly revision: bigint; readonly database: DatabaseInfo }
  | { readonly type: 'DatabaseDropped'; readonly revision: bigint; readonly dbId: bigint }
  | {
      readonly type: 'CollectionCreated';
      readonly revision: bigint;
      readonly collection: CollectionInfo;
    }
  | {
      readonly type: 'CollectionDropped';
      readonly revision: bigint;
      readonly dbId: bigint;
      readonly collectionId: bigint;
      /** Present when the drop was a state change (the value still readable). */
      readonly collection?: CollectionInfo;
    }
  | {
      readonly type: 'PartitionCreated';
      readonly revision: bigint;
      readonly partition: PartitionInfo;
    }
  | {
      readonly type: 'PartitionDropped';
      readonly revision: bigint;
      readonly collectionId: bigint;
      readonly partitionId: bigint;
    };

export interface WatchOptions {
  /** Aborting ends the iteration (the iterator returns) and cancels the etcd watch. */
  readonly signal: AbortSignal;
  /** Start after this etcd revision (exclusive); default: now. */
  readonly afterRevision?: bigint;
}

/**
 * Port: the source Milvus metadata.
 *
 * Lifecycle: construct with a connected store; every method may be called at any time until `close()`.
 * Reads are point-in-time snapshots (no cross-call consistency). Errors: store failures reject with
 * `CdcError('SOURCE_UNAVAILABLE', retryable: true)`; undecodable values with `CdcError('DECODE_FAILED')`.
 * Deleted entities (tombstones, real deletes, Dropped state) are not listed. It never writes to the source.
 * `close()` is idempotent and ends running watches; it does not close a client it did not create.
 */
export interface SourceMetadata {
  listDatabases(): Promise<DatabaseInfo[]>;
  /** Collections of every database (or one), excluding dropped ones. Both key layouts are read. */
  listCollections(opts?: { readonly dbId?: bigint }): Promise<CollectionInfo[]>;
  /** `undefined` when absent or deleted. */
  getCollection(collectionId: bigint): Promise<CollectionInfo | undefined>;
  listPartitions(collectionId: bigint): Promise<PartitionInfo[]>;
  /** datacoord `channel-cp/{vchannel}`; `undefined` when absent. */
  getChannelCheckpoint(vchannel: string): Promise<MsgPosition | undefined>;
  readTso(): Promise<SourceTso>;
  /** Current etcd revision, to start a `watch` right after a consistent listing. */
  currentRevision(): Promise<bigint>;
  watch(opts: WatchOptions): AsyncIterable<MetadataEvent>;
  close(): Promise<void>;
}
