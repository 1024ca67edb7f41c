import type { KeyValue } from '@cdc/shared';

/** An index as `describeIndex` reports it (the fields this module reads). */
export interface TargetIndex {
  readonly index_name: string;
  readonly field_name: string;
  readonly params: readonly { readonly key: string; readonly value: string | number }[];
}

/** Values Milvus normalises to upper case (a source may send `l2`, the target reports `L2`). */
const CASE_INSENSITIVE = new Set(['index_type', 'metric_type']);

function stringify(value: unknown): string {
  return typeof value === 'object' && value !== null ? JSON.stringify(value) : String(value);
}

/**
 * Index params as one flat map: the JSON `params` entry (`{"nlist":128}`) is spread into its keys, so a request that
 * sent `nlist` on its own and a description that nests it compare equal.
 */
export function flattenIndexParams(
  params: readonly { readonly key: string; readonly value: string | number }[],
): Map<string, string> {
  const out = new Map<string, string>();
  for (const { key, value } of params) {
    if (key === 'params' && typeof value === 'string') {
      try {
        const parsed: unknown = JSON.parse(value);
        if (typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)) {
          for (const [k, v] of Object.entries(parsed)) out.set(k, stringify(v));
          continue;
        }
      } catch {
        // not JSON: compare it verbatim below
      }
    }
    out.set(key, CASE_INSENSITIVE.has(key) ? String(value).toUpperCase() : String(value));
  }
  return out;
}

/**
 * Why the target's existing index on the field differs from the requested one (empty = the same index). Every
 * requested param must be on the target with the same value; params the target adds itself (defaults) are ignored.
 */
export function indexDifferences(
  indexName: string,
  params: readonly KeyValue[],
  existing: TargetIndex,
): string[] {
  const diffs: string[] = [];
  if (indexName !== '' && existing.index_name !== indexName) {
    diffs.push(`field ${existing.field_name} already has index ${existing.index_name}`);
  }
  const want = flattenIndexParams(params);
  const have = flattenIndexParams(existing.params);
  for (const [key, value] of want) {
    const actual = have.get(key);
    if (actual !== value) diffs.push(`${key}: ${value} requested, ${actual ?? 'unset'} on target`);
  }
  return diffs;
}
