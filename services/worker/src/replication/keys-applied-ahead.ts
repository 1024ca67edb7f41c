import { compareApplyOrder } from './pack-buffer.js';
import type { ApplyOrder } from './pack-buffer.js';

/** A primary key as the replicator meets it: Int64 as bigint, number or decimal text; VarChar as text. */
export type KeyValue = bigint | number | string;

/**
 * The primary keys written by changes applied ahead of their closing tick, each with the latest place in the apply
 * order that wrote it, until a tick covers them.
 *
 * Why: a change applied ahead of its tick may be followed on the channel by one that Milvus orders before it (another
 * proxy's write stamped earlier, or the Delete of an upsert whose Insert went first). For one primary key the state
 * after both is that of the later one in the apply order (writes go to the target as upserts), so the earlier change
 * must skip that key: applying it now would undo the later one. Keys of other collections never conflict. After
 * TimeTick(T) nothing stamped at or before T follows, so entries the tick covers are dropped.
 */
export class KeysAppliedAhead {
  private readonly byCollection = new Map<bigint, Map<string, ApplyOrder>>();

  get empty(): boolean {
    return this.byCollection.size === 0;
  }

  /** Records that a change at `order` wrote `keys` of `collectionId`. */
  note(collectionId: bigint, keys: Iterable<KeyValue>, order: ApplyOrder): void {
    let byKey = this.byCollection.get(collectionId);
    if (byKey === undefined) {
      byKey = new Map();
      this.byCollection.set(collectionId, byKey);
    }
    for (const key of keys) {
      const k = String(key);
      const known = byKey.get(k);
      if (known === undefined || compareApplyOrder(known, order) < 0) byKey.set(k, order);
    }
  }

  /** True when a change later than `order` in the apply order already wrote `key`: the change at `order` skips it. */
  superseded(collectionId: bigint, key: KeyValue, order: ApplyOrder): boolean {
    const known = this.byCollection.get(collectionId)?.get(String(key));
    return known !== undefined && compareApplyOrder(known, order) > 0;
  }

  /** Drops what TimeTick(`tickTs`) covers: no change stamped at or before it can follow. */
  forgetThrough(tickTs: bigint): void {
    for (const [collectionId, byKey] of this.byCollection) {
      for (const [key, order] of byKey) if (order.ts <= tickTs) byKey.delete(key);
      if (byKey.size === 0) this.byCollection.delete(collectionId);
    }
  }
}
