import { DYNAMIC_FIELD_NAME, insertToRows } from '@cdc/shared';
import type { ColumnSlice, InsertMessage, Row } from '@cdc/shared';
import type { ReplicatedCollection } from './collection-catalog.js';

function isJsonObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v) && !(v instanceof Uint8Array);
}

/**
 * A source row (decoded from an Insert, or read by a copy) as the target SDK wants it: the schema fields, and the
 * dynamic field whole under `$meta`. The SDK (2.6.17) keeps a `$meta` object as the dynamic field; spreading its keys
 * into the row instead lets the SDK regroup them with `obj[key] = value`, which drops a key named `__proto__`, and
 * merging them with an `in` check dropped `constructor`, `toString` and every other Object.prototype name. The row
 * is a null-prototype object, so field names from the source are ordinary entries too. A `$meta` that is not an
 * object (an empty cell) is left out, as the SDK writes `{}` for a missing one.
 */
export function sdkRow(row: Readonly<Record<string, unknown>>): Row {
  const out = Object.create(null) as Row;
  for (const [k, v] of Object.entries(row)) {
    if (k === DYNAMIC_FIELD_NAME && !isJsonObject(v)) continue;
    out[k] = v as Row[string];
  }
  return out;
}

/** Rows of an Insert as the target SDK wants them (see `sdkRow`). */
export function targetRows(msg: InsertMessage, collection: ReplicatedCollection): Row[] {
  return insertToRows(msg, collection.schema).map(sdkRow);
}

/**
 * Which of an Insert's columns the target gets, as `insertToRows` decides for rows: not system fields (ids below 100)
 * and not function outputs (e.g. BM25 sparse vectors, which the target computes itself).
 */
export function keptColumns(collection: ReplicatedCollection): (c: ColumnSlice) => boolean {
  const outputs = new Set(
    collection.schema.fields.filter((f) => f.isFunctionOutput).map((f) => f.name),
  );
  return (c) => !((c.fieldId > 0n && c.fieldId < 100n) || outputs.has(c.name));
}
