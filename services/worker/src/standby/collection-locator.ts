import type { StandbyMetadata } from '@cdc/shared';
import type { StandbyTarget, TargetCollectionState } from '../ports/standby-target.js';
import type { TargetCollection } from '../ports/target-writer.js';
import type { TaskScope } from '../replication/task-scope.js';

export interface Located {
  readonly at: TargetCollection;
  readonly state: TargetCollectionState;
}

/**
 * Where a source collection sits on the target: under its current (mapped) name, or, while a rename has not reached
 * the target yet, under a name it had before (from the source's recent history). A target collection is the source
 * collection's when it carries its id (SOURCE_COLLECTION_ID_PROPERTY); one without the marker counts only under the
 * current name. Undefined when it is not on the target.
 */
export async function locateCollection(
  deps: {
    readonly target: Pick<StandbyTarget, 'describeCollection'>;
    readonly metadata: Pick<StandbyMetadata, 'collectionNames'>;
    readonly scope: TaskScope;
  },
  id: bigint,
  current: { readonly db: string; readonly name: string },
  /** Names it is known to have had (e.g. the one before a rename event), looked at before the source's history. */
  known: readonly { readonly db: string; readonly name: string }[] = [],
): Promise<Located | undefined> {
  const mine = (s: TargetCollectionState | undefined): s is TargetCollectionState =>
    s !== undefined && (s.sourceCollectionId === undefined || s.sourceCollectionId === String(id));
  const mapped = deps.scope.mapCollection(current.db, current.name);
  const here = await deps.target.describeCollection(mapped);
  if (here !== undefined && (here.sourceCollectionId ?? String(id)) === String(id))
    return { at: mapped, state: here };
  const looked = new Set([`${mapped.db}.${mapped.collection}`]);
  const candidates = async function* () {
    yield* known;
    yield* await deps.metadata.collectionNames(id);
  };
  for await (const past of candidates()) {
    const at = deps.scope.mapCollection(past.db, past.name);
    if (looked.has(`${at.db}.${at.collection}`)) continue;
    looked.add(`${at.db}.${at.collection}`);
    const state = await deps.target.describeCollection(at);
    if (mine(state) && state.sourceCollectionId !== undefined) return { at, state };
  }
  return undefined;
}
