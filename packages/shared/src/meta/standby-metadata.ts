import type { KeyValue } from '../wire/messages.js';

/**
 * What a standby needs beyond the data (`reference/milvus-wire-format.md` §1.2): aliases, collection names and
 * properties, database properties and RBAC, read from the source etcd. Milvus 2.3 writes none of these to the message
 * queue (2.4/2.5 also write some to the replicate channel; etcd is the one source followed for every version).
 *
 * Every alias, collection and database change is saved by rootcoord through its snapshot store, which writes
 * `snapshots/{key}_ts{T}` in the same etcd transaction: T is the change's source timestamp (TSO), so these changes can
 * be ordered against the data. RBAC keys are written without it; their changes carry the source's TSO as read when the
 * change was seen (no earlier than the change).
 */

/** Where an entry was read: its etcd key and mod revision (to find its source timestamp, see `timestampOf`). */
export interface MetaSource {
  readonly key: string;
  readonly revision: bigint;
}

export interface AliasEntry {
  readonly dbId: bigint;
  /** '' when the database is unknown (dropped). */
  readonly db: string;
  readonly alias: string;
  readonly collectionId: bigint;
  readonly source: MetaSource;
}

/** A live collection's name, database and properties (what a rename or AlterCollection changes). */
export interface CollectionNaming {
  readonly id: bigint;
  readonly dbId: bigint;
  readonly db: string;
  readonly name: string;
  readonly properties: readonly KeyValue[];
  /** The collection's pchannels: its changes are ordered after every one of them passed the change. */
  readonly physicalChannels: readonly string[];
  readonly source: MetaSource;
}

export interface DatabaseNaming {
  readonly id: bigint;
  readonly name: string;
  /** 2.4+; always empty on 2.3. */
  readonly properties: readonly KeyValue[];
  readonly source: MetaSource;
}

/** A privilege granted to a role on an object (`Collection`, `Global`, `User`, 2.4+ also `Database`). */
export interface RbacGrant {
  readonly role: string;
  readonly objectType: string;
  /** Database of the grant; 'default' for grants written before databases existed. */
  readonly db: string;
  /** Object name, `*` for all. */
  readonly objectName: string;
  /** Privilege name as the API takes it (`Search`, `CreateCollection`, ...; a privilege group name on 2.5). */
  readonly privilege: string;
}

export interface RbacBinding {
  readonly user: string;
  readonly role: string;
}

/** The source's RBAC: sorted, without passwords (etcd keeps only their hashes). */
export interface RbacState {
  readonly users: readonly string[];
  readonly roles: readonly string[];
  readonly bindings: readonly RbacBinding[];
  readonly grants: readonly RbacGrant[];
  /** 2.5 privilege groups (not replicated; reported). */
  readonly privilegeGroups: readonly string[];
}

export interface StandbySnapshot {
  /** The etcd revision everything was read at; a watch continues after it. */
  readonly revision: bigint;
  readonly databases: readonly DatabaseNaming[];
  readonly collections: readonly CollectionNaming[];
  readonly aliases: readonly AliasEntry[];
  readonly rbac: RbacState;
}

/**
 * A change, in etcd revision order (rootcoord's order). `ts` is the source timestamp of the change (see above).
 * A collection counts as altered whenever rootcoord rewrites it while it is live (rename, AlterCollection; creates,
 * drops and state changes are the DML channels' business and are not reported). The properties in the event are what
 * etcd holds: Milvus 2.3 saves the previous properties on AlterCollection (measured on 2.3.5; the new ones reach etcd
 * with the collection's next rewrite), so read them from the source server where it can be reached.
 */
export type StandbyEvent =
  | {
      readonly type: 'AliasSet';
      readonly revision: bigint;
      readonly ts: bigint;
      readonly alias: AliasEntry;
      /** The collection it pointed at before; undefined for a new alias. */
      readonly previousCollectionId?: bigint;
    }
  | {
      readonly type: 'AliasDropped';
      readonly revision: bigint;
      readonly ts: bigint;
      readonly dbId: bigint;
      readonly db: string;
      readonly alias: string;
    }
  | {
      readonly type: 'CollectionAltered';
      readonly revision: bigint;
      readonly ts: bigint;
      readonly before: CollectionNaming;
      readonly after: CollectionNaming;
    }
  | {
      readonly type: 'DatabaseAltered';
      readonly revision: bigint;
      readonly ts: bigint;
      readonly before: DatabaseNaming;
      readonly after: DatabaseNaming;
    }
  | {
      readonly type: 'RbacChanged';
      readonly revision: bigint;
      readonly ts: bigint;
      readonly rbac: RbacState;
    };

/**
 * Port: the source's standby metadata. Errors: store failures reject with `CdcError('SOURCE_UNAVAILABLE', retryable)`,
 * undecodable values with `CdcError('DECODE_FAILED')`; a watch whose start revision was compacted away rejects with
 * SOURCE_UNAVAILABLE too (take a new snapshot). Never writes to the source.
 */
export interface StandbyMetadata {
  snapshot(): Promise<StandbySnapshot>;
  /** Changes after `afterRevision` (exclusive), against the state of that revision. Ends when `signal` aborts. */
  watch(opts: {
    readonly signal: AbortSignal;
    readonly afterRevision: bigint;
  }): AsyncIterable<StandbyEvent>;
  /** The source timestamp of an entry's last change; the source's current TSO when the store did not record it. */
  timestampOf(source: MetaSource): Promise<bigint>;
  /**
   * Every (database, name) the collection had in the source's recent history (rootcoord keeps its snapshots for a
   * while), newest first, the current one included. Finds where a renamed collection still sits on a target.
   */
  collectionNames(collectionId: bigint): Promise<{ db: string; name: string }[]>;
  close(): Promise<void>;
}
