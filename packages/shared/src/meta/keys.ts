/**
 * Source etcd key layout (reference §1.1–1.2, §1.6). `root` is the etcd root path (`by-dev` by default; `source`
 * for the local stack). Meta keys live under `{root}/meta/`, the TSO under `{root}/kv/gid/timestamp`.
 */
export interface SourceKeys {
  readonly meta: string;
  readonly dbInfo: string;
  readonly collectionInfo: string;
  readonly legacyCollection: string;
  readonly partitions: string;
  readonly fields: string;
  readonly functions: string;
  readonly channelCheckpoint: string;
  readonly tso: string;
}

export function sourceKeys(rootPath: string): SourceKeys {
  const root = rootPath.replace(/\/+$/, '');
  const meta = `${root}/meta/`;
  return {
    meta,
    dbInfo: `${meta}root-coord/database/db-info/`,
    collectionInfo: `${meta}root-coord/database/collection-info/`,
    legacyCollection: `${meta}root-coord/collection/`,
    partitions: `${meta}root-coord/partitions/`,
    fields: `${meta}root-coord/fields/`,
    functions: `${meta}root-coord/functions/`,
    channelCheckpoint: `${meta}datacoord-meta/channel-cp/`,
    tso: `${root}/kv/gid/timestamp`,
  };
}

/** Parses the decimal ID path segments after `prefix` (`{a}/{b}` → [a, b]); `undefined` if malformed. */
export function idsAfter(key: string, prefix: string, count: number): bigint[] | undefined {
  if (!key.startsWith(prefix)) return undefined;
  const parts = key.slice(prefix.length).split('/');
  if (parts.length !== count || !parts.every((p) => /^-?\d+$/.test(p))) return undefined;
  return parts.map((p) => BigInt(p));
}
