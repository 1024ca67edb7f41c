import { mapCollectionName, mapDatabaseName, type RbacGrant } from '@cdc/shared';
import type { NameMappingSpec, TaskSpec } from '../domain/model.js';
import type { CollectionRef, MetadataSide, SideRbac } from './ports.js';

/** One alias, collection property or RBAC entry that differs between source and target (proto MetadataDifference). */
export interface MetadataDifference {
  readonly kind: 'alias' | 'collection_property' | 'role' | 'user_role' | 'grant';
  readonly name: string;
  /** '' when the source lacks it. */
  readonly source: string;
  /** '' when the target lacks it. */
  readonly target: string;
}

const BUILT_IN_ROLES = new Set(['admin', 'public']);

function rules(mappings: readonly NameMappingSpec[]) {
  return mappings.map((m) => ({
    sourceDatabase: m.source_database,
    targetDatabase: m.target_database,
    collections: m.collections,
  }));
}

const grantName = (g: RbacGrant): string =>
  `${g.role}/${g.objectType}/${g.db}.${g.objectName}/${g.privilege}`;

/** A source grant in target names (the same mapping the worker applies). */
function mapGrant(g: RbacGrant, mappings: readonly NameMappingSpec[]): RbacGrant {
  if (g.db === '*') return g;
  if (g.objectType === 'Collection' && g.objectName !== '*') {
    const t = mapCollectionName(rules(mappings), g.db, g.objectName);
    return { ...g, db: t.db, objectName: t.collection };
  }
  return { ...g, db: mapDatabaseName(rules(mappings), g.db) };
}

/** Entries of `a` missing from `b` and of `b` missing from `a`, as differences of `kind`. */
function setDifferences(
  kind: MetadataDifference['kind'],
  source: readonly string[],
  target: readonly string[],
): MetadataDifference[] {
  const s = new Set(source);
  const t = new Set(target);
  return [
    ...[...s].filter((x) => !t.has(x)).map((x) => ({ kind, name: x, source: x, target: '' })),
    ...[...t].filter((x) => !s.has(x)).map((x) => ({ kind, name: x, source: '', target: x })),
  ];
}

/**
 * Compares what a standby needs besides the rows, for the verified collections: their aliases (by target name; a
 * target alias of a verified collection the source lacks counts too) and properties, and, with RBAC replication,
 * roles, grants and bindings (built-in roles' grants and target-only users' bindings are not compared: they are each
 * cluster's own). Sorted by kind and name.
 */
export async function metadataDifferences(
  source: MetadataSide,
  target: MetadataSide,
  spec: TaskSpec,
  collections: readonly CollectionRef[],
): Promise<MetadataDifference[]> {
  const out: MetadataDifference[] = [];
  const mapped = (ref: CollectionRef): CollectionRef =>
    mapCollectionName(rules(spec.name_mapping), ref.db, ref.collection);
  const qualified = (ref: CollectionRef): string => `${ref.db}.${ref.collection}`;

  for (const db of [...new Set(collections.map((c) => c.db))]) {
    const verified = collections.filter((c) => c.db === db);
    const targetDb = mapDatabaseName(rules(spec.name_mapping), db);
    const ours = new Set(verified.map((c) => mapped(c).collection));
    const want = new Map(
      (await source.aliases(db))
        .filter((a) => verified.some((c) => c.collection === a.collection))
        .map((a) => [a.alias, mapped({ db, collection: a.collection }).collection]),
    );
    const have = new Map(
      (await target.aliases(targetDb))
        .filter((a) => ours.has(a.collection) || want.has(a.alias))
        .map((a) => [a.alias, a.collection]),
    );
    for (const alias of new Set([...want.keys(), ...have.keys()])) {
      const s = want.get(alias);
      const t = have.get(alias);
      if (s !== t)
        out.push({
          kind: 'alias',
          name: `${targetDb}.${alias}`,
          source: s === undefined ? '' : `${targetDb}.${s}`,
          target: t === undefined ? '' : `${targetDb}.${t}`,
        });
    }
  }

  for (const ref of collections) {
    const to = mapped(ref);
    const [s, t] = await Promise.all([source.properties(ref), target.properties(to)]);
    if (s === undefined || t === undefined) continue; // a missing collection is the row comparison's error
    const sm = new Map(s.map((kv) => [kv.key, kv.value]));
    const tm = new Map(t.map((kv) => [kv.key, kv.value]));
    for (const key of new Set([...sm.keys(), ...tm.keys()]))
      if (sm.get(key) !== tm.get(key))
        out.push({
          kind: 'collection_property',
          name: `${qualified(to)}/${key}`,
          source: sm.get(key) ?? '',
          target: tm.get(key) ?? '',
        });
  }

  if (spec.replicate_rbac?.enabled === true)
    out.push(...rbacDifferences(await source.rbac(), await target.rbac(), spec));
  const order = (d: MetadataDifference): string => `${d.kind}\u0000${d.name}`;
  return out.sort((a, b) => (order(a) < order(b) ? -1 : order(a) > order(b) ? 1 : 0));
}

export function rbacDifferences(
  source: SideRbac,
  target: SideRbac,
  spec: TaskSpec,
): MetadataDifference[] {
  const custom = (roles: readonly string[]): string[] =>
    roles.filter((r) => !BUILT_IN_ROLES.has(r));
  const sourceUsers = new Set(source.users);
  const binding = (b: { user: string; role: string }): string => `${b.user}/${b.role}`;
  return [
    ...setDifferences('role', custom(source.roles), custom(target.roles)),
    ...setDifferences(
      'user_role',
      source.bindings.map(binding),
      target.bindings.filter((b) => sourceUsers.has(b.user)).map(binding),
    ),
    ...setDifferences(
      'grant',
      source.grants.map((g) => grantName(mapGrant(g, spec.name_mapping))),
      target.grants.map(grantName),
    ),
  ];
}
