import type { KeyValue, RbacGrant, ScannedRow } from '@cdc/shared';
import type { SourceMilvusSpec } from '../domain/model.js';
import type { RowKey } from './key-diff.js';
import type { HashedField } from './row-hash.js';

export interface CollectionRef {
  readonly db: string;
  readonly collection: string;
}

/** What verification needs to know about one collection on one side. */
export interface CollectionLayout {
  readonly pkField: string;
  readonly pkType: 'Int64' | 'VarChar';
  readonly fields: readonly HashedField[];
  readonly partitions: readonly string[];
  /** Partition-key collections route rows themselves: writes name no partition. */
  readonly partitionKey: boolean;
  /** The source pchannels the collection's changes travel on (checkpoints are per pchannel). */
  readonly channels: readonly string[];
}

/**
 * Port: one Milvus server (source or target) as verification and repair use it. Every failure is a CdcError whose
 * message names the side: SINK_UNAVAILABLE when the server does not answer, SINK_REJECTED when it refuses (e.g. a
 * collection that is not loaded).
 */
export interface RowSide {
  listCollections(): Promise<CollectionRef[]>;
  /** Undefined when the collection does not exist. */
  describe(ref: CollectionRef): Promise<CollectionLayout | undefined>;
  /** Every row of one partition, page by page in ascending key order, all fields (vectors and `$meta` included). */
  scan(
    ref: CollectionRef,
    layout: CollectionLayout,
    partition: string,
  ): AsyncIterable<readonly ScannedRow[]>;
  /** The rows of one partition with these keys (absent keys are simply not returned). */
  rowsByKeys(
    ref: CollectionRef,
    layout: CollectionLayout,
    partition: string,
    keys: readonly RowKey[],
  ): Promise<ScannedRow[]>;
  /** Upserts rows; `partition` undefined lets the server route them (partition-key collections). */
  upsert(
    ref: CollectionRef,
    partition: string | undefined,
    rows: readonly ScannedRow[],
  ): Promise<void>;
  delete(
    ref: CollectionRef,
    layout: CollectionLayout,
    partition: string | undefined,
    keys: readonly RowKey[],
  ): Promise<void>;
  close(): Promise<void>;
  /** Its aliases, properties and RBAC (optional: a side without it is not compared for them). */
  metadata?(): MetadataSide;
}

/** Port: opens a side. Rejects with CdcError('UNAVAILABLE') naming the side when the server does not answer. */
export type RowSideFactory = (
  side: 'source' | 'target',
  endpoint: SourceMilvusSpec,
) => Promise<RowSide>;

/** Port: how far the task has applied: the smallest checkpoint time (physical ms) over `channels`; 0 if any has none. */
export type AppliedCheckpoints = (taskId: string, channels: readonly string[]) => Promise<number>;

/** An alias and the collection it points at. */
export interface AliasTarget {
  readonly alias: string;
  readonly collection: string;
}

/** A server's RBAC as its API shows it (built-in roles' grants excluded). */
export interface SideRbac {
  readonly users: readonly string[];
  readonly roles: readonly string[];
  readonly bindings: readonly { readonly user: string; readonly role: string }[];
  readonly grants: readonly RbacGrant[];
}

/**
 * Port: aliases, collection properties and RBAC of one side, for VerifyTask. Errors are CdcErrors naming the side,
 * like RowSide's.
 */
export interface MetadataSide {
  aliases(db: string): Promise<AliasTarget[]>;
  /** Properties of a collection (the CDC's own marker excluded); undefined when it does not exist. */
  properties(ref: CollectionRef): Promise<KeyValue[] | undefined>;
  /** Users, roles, bindings and every grant of the non-built-in roles. */
  rbac(): Promise<SideRbac>;
}
