import { CdcError } from '../errors.js';
import { P, decodeProto } from '../wire/proto-root.js';
import { big, num, str } from '../wire/obj.js';
import type { DatabaseNaming, RbacBinding, RbacGrant, RbacState } from './standby-metadata.js';

/**
 * etcd values and keys of the standby metadata (reference §1.2): `etcdpb.AliasInfo`, the RBAC keys under
 * `root-coord/credential/`, and the timestamp in a snapshot key (`snapshots/{key}_ts{T}`).
 */

/** The name of a database id; 'default' for 0 (pre-database) and 1; '' when unknown (dropped). */
export function dbNameOf(dbId: bigint, dbs: ReadonlyMap<bigint, DatabaseNaming>): string {
  return dbs.get(dbId)?.name ?? (dbId <= 1n ? 'default' : '');
}

export interface DecodedAlias {
  readonly alias: string;
  readonly collectionId: bigint;
  readonly dbId: bigint;
  /** `etcdpb.AliasState`: only Created (0) aliases are live. */
  readonly created: boolean;
}

export function decodeAliasInfo(value: Uint8Array): DecodedAlias {
  const o = decodeProto(P.AliasInfo, value);
  return {
    alias: str(o, 'aliasName'),
    collectionId: big(o, 'collectionId'),
    dbId: big(o, 'dbId'),
    created: num(o, 'state') === 0,
  };
}

/** The T of `{prefix}{T}` (a snapshot key of the key `prefix` minus `_ts`), or undefined for any other key. */
export function snapshotKeyTimestamp(snapshotKey: string, prefix: string): bigint | undefined {
  if (!snapshotKey.startsWith(prefix)) return undefined;
  const rest = snapshotKey.slice(prefix.length);
  return /^\d{1,20}$/.test(rest) ? BigInt(rest) : undefined;
}

/** Bound on every RBAC list: more than this is not a cluster but a hostile store. */
export const MAX_RBAC_ENTRIES = 100_000;

/** Splits `db.object` (how grants name objects since databases exist); older grants have no database. */
function splitObject(dbAndName: string): { db: string; objectName: string } {
  const dot = dbAndName.indexOf('.');
  return dot < 0
    ? { db: 'default', objectName: dbAndName }
    : { db: dbAndName.slice(0, dot), objectName: dbAndName.slice(dot + 1) };
}

const byText = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);
const grantText = (g: RbacGrant): string =>
  `${g.role}\u0000${g.objectType}\u0000${g.db}\u0000${g.objectName}\u0000${g.privilege}`;

/**
 * The RBAC state from the kvs under `{meta}root-coord/credential/` (keys relative to that prefix) and the names under
 * `root-coord/privilege-group/`. Keys with a tenant segment (never written by open-source Milvus) are ignored.
 */
export function rbacFromKvs(
  credentials: readonly { readonly key: string; readonly value: string }[],
  privilegeGroups: readonly string[] = [],
): RbacState {
  if (credentials.length > MAX_RBAC_ENTRIES * 4)
    throw new CdcError('DECODE_FAILED', `source RBAC: ${credentials.length} keys is too many`, {
      retryable: false,
    });
  const users: string[] = [];
  const roles: string[] = [];
  const bindings: RbacBinding[] = [];
  /** granteeId → (role, object). */
  const grantees = new Map<string, { role: string; objectType: string; dbAndName: string }>();
  const privileges: { granteeId: string; privilege: string }[] = [];
  for (const { key, value } of credentials) {
    const parts = key.split('/');
    const [kind, a, b, c] = parts;
    if (kind === 'users' && parts.length === 2 && a) users.push(a);
    else if (kind === 'roles' && parts.length === 2 && a) roles.push(a);
    else if (kind === 'user-role-mapping' && parts.length === 3 && a && b)
      bindings.push({ user: a, role: b });
    else if (kind === 'grantee-privileges' && parts.length >= 4 && a && b && c)
      // The object part may itself hold '/' in theory; keep everything after the type.
      grantees.set(value, { role: a, objectType: b, dbAndName: parts.slice(3).join('/') });
    else if (kind === 'grantee-id' && parts.length === 3 && a && b)
      privileges.push({ granteeId: a, privilege: b.startsWith('Privilege') ? b.slice(9) : b });
  }
  const grants: RbacGrant[] = [];
  for (const p of privileges) {
    const g = grantees.get(p.granteeId);
    if (g === undefined) continue; // a grantee id whose grant entry is gone
    grants.push({
      role: g.role,
      objectType: g.objectType,
      ...splitObject(g.dbAndName),
      privilege: p.privilege,
    });
  }
  grants.sort((x, y) => byText(grantText(x), grantText(y)));
  bindings.sort((x, y) => byText(`${x.user}/${x.role}`, `${y.user}/${y.role}`));
  return {
    users: users.sort(byText),
    roles: roles.sort(byText),
    bindings,
    grants,
    privilegeGroups: [...privilegeGroups].sort(byText),
  };
}

/** Text form of a grant, for reports and comparisons: `role/ObjectType/db.object/Privilege`. */
export function grantName(g: RbacGrant): string {
  return `${g.role}/${g.objectType}/${g.db}.${g.objectName}/${g.privilege}`;
}
