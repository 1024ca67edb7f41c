import type { KeyValue, RbacBinding, RbacGrant } from '@cdc/shared';
import type { TargetCollection } from './target-writer.js';

/** A target collection as the standby follower sees it. */
export interface TargetCollectionState {
  /** The source collection it replicates (SOURCE_COLLECTION_ID_PROPERTY); undefined without the marker. */
  readonly sourceCollectionId?: string;
  /** Its properties, the marker excluded. */
  readonly properties: readonly KeyValue[];
}

/** The target's RBAC, read through the API (passwords cannot be read). */
export interface TargetRbac {
  readonly users: readonly string[];
  readonly roles: readonly string[];
  readonly bindings: readonly RbacBinding[];
  readonly grants: readonly RbacGrant[];
}

/**
 * What the standby follower changes on a target besides the data: aliases, collection names and properties, database
 * properties and RBAC. Every method is idempotent (creating what exists, dropping what is gone succeed). Errors are
 * CdcErrors like TargetWriter's: SINK_UNAVAILABLE (retryable), SINK_REJECTED (this change is refused), with
 * `details.unsupported = true` when the target's version lacks the operation (e.g. AlterDatabase before Milvus 2.4).
 */
export interface StandbyTarget {
  /** Undefined when the collection or its database does not exist. */
  describeCollection(target: TargetCollection): Promise<TargetCollectionState | undefined>;
  /** Aliases of a database and the collection each points at; empty when the database does not exist. */
  listAliases(db: string): Promise<{ alias: string; collection: string }[]>;
  /** Creates the alias or re-points it at `target`. */
  setAlias(alias: string, target: TargetCollection): Promise<void>;
  dropAlias(db: string, alias: string): Promise<void>;
  /** Renames `from` to `to` (also into another database, created first if needed). */
  renameCollection(from: TargetCollection, to: TargetCollection): Promise<void>;
  /** Sets `set` and removes `remove` (removal needs Milvus 2.5 on the target). */
  alterCollectionProperties(
    target: TargetCollection,
    set: readonly KeyValue[],
    remove: readonly string[],
  ): Promise<void>;
  /** Database properties (Milvus 2.4+ targets); undefined when the target cannot say. */
  databaseProperties(db: string): Promise<readonly KeyValue[] | undefined>;
  alterDatabaseProperties(
    db: string,
    set: readonly KeyValue[],
    remove: readonly string[],
  ): Promise<void>;
  /** Users, roles, bindings, and the grants in each database of `dbs`. */
  rbac(dbs: readonly string[]): Promise<TargetRbac>;
  createUser(user: string, password: string): Promise<void>;
  deleteUser(user: string): Promise<void>;
  createRole(role: string): Promise<void>;
  /** Drops a role (the caller revokes its grants and bindings first, as Milvus requires). */
  dropRole(role: string): Promise<void>;
  addUserToRole(binding: RbacBinding): Promise<void>;
  removeUserFromRole(binding: RbacBinding): Promise<void>;
  grant(grant: RbacGrant): Promise<void>;
  revoke(grant: RbacGrant): Promise<void>;
}
