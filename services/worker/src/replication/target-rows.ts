import { DYNAMIC_FIELD_NAME, insertToRows } from '@cdc/shared';
import type { InsertMessage, Row } from '@cdc/shared';
import type { ReplicatedCollection } from './collection-catalog.js';

/**
 * Rows of an Insert as the target SDK wants them. The dynamic field's keys are spread into the row: the SDK gathers
 * keys that are not schema fields back into `$meta`, so passing `$meta` itself would nest it one level deeper.
 */
export function targetRows(msg: InsertMessage, collection: ReplicatedCollection): Row[] {
  return insertToRows(msg, collection.schema).map((row) => {
    const { [DYNAMIC_FIELD_NAME]: meta, ...fields } = row;
    if (
      meta !== null &&
      typeof meta === 'object' &&
      !Array.isArray(meta) &&
      !(meta instanceof Uint8Array)
    ) {
      for (const [k, v] of Object.entries(meta)) if (!(k in fields)) fields[k] = v;
    }
    return fields;
  });
}
