import type { TaskSpec } from './model.js';

/** Dotted paths of the secret fields every TaskSpec has (fan-out targets add theirs: see `secretPaths`). */
export const SECRET_PATHS = [
  'source.etcd.password',
  'source.etcd.tls.key_pem',
  'source.mq.sasl.password',
  'source.mq.token',
  'source.mq.tls.key_pem',
  'source.milvus.token',
  'source.milvus.password',
  'source.milvus.tls.key_pem',
  'target.token',
  'target.password',
  'target.tls.key_pem',
] as const;

type Obj = Record<string, unknown>;

const TARGET_SECRETS = ['token', 'password', 'tls.key_pem'] as const;

/**
 * Dotted paths of every secret field of this spec: fan-out targets (`fan_out.0.token`, ...) and the initial passwords
 * of RBAC replication (`replicate_rbac.initial_passwords.0.password`, ...) included.
 */
export function secretPaths(spec: TaskSpec): string[] {
  const fanOut = (spec.fan_out ?? []).flatMap((_, i) =>
    TARGET_SECRETS.map((field) => `fan_out.${i}.${field}`),
  );
  const passwords = (spec.replicate_rbac?.initial_passwords ?? []).map(
    (_, i) => `replicate_rbac.initial_passwords.${i}.password`,
  );
  return [...SECRET_PATHS, ...fanOut, ...passwords];
}

function walk(root: Obj, path: string): { parent: Obj; key: string } {
  const parts = path.split('.');
  const key = parts.pop() ?? '';
  let parent: Obj = root;
  for (const part of parts) parent = parent[part] as Obj;
  return { parent, key };
}

/** Splits a spec into a copy with every secret blanked and a {path: value} map of the non-empty secrets. */
export function splitSecrets(spec: TaskSpec): {
  redacted: TaskSpec;
  secrets: Record<string, string>;
} {
  const redacted = structuredClone(spec);
  const secrets: Record<string, string> = {};
  for (const path of secretPaths(spec)) {
    const { parent, key } = walk(redacted, path);
    const value = parent[key];
    if (typeof value === 'string' && value !== '') secrets[path] = value;
    parent[key] = '';
  }
  return { redacted, secrets };
}

/** Puts secrets back into a redacted spec (a copy). */
export function mergeSecrets(redacted: TaskSpec, secrets: Record<string, string>): TaskSpec {
  const full = structuredClone(redacted);
  for (const [path, value] of Object.entries(secrets)) {
    const { parent, key } = walk(full, path);
    parent[key] = value;
  }
  return full;
}

/** Stable JSON (sorted keys) for digests. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Obj)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}
