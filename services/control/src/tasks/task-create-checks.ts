import { CdcError } from '@cdc/shared';
import type { TaskRecord, TaskSpec } from '../domain/model.js';
import { targetsOf } from '../domain/model.js';
import { patternText, scopeOverlap } from '../domain/scope.js';
import { canonicalJson } from '../domain/secrets.js';
import { targetKey } from '../domain/target-validation.js';
import type { TaskStore } from './ports.js';
import type { SealedSpec } from './task-secrets.js';

/**
 * The existing task of this id when it has the same spec, for an idempotent create. Specs are compared without
 * their secret values (only which secret fields are set counts), so CreateTask never tells whether a guessed
 * secret matches the stored one.
 */
export async function existingWithSameSpec(
  tasks: TaskStore,
  taskId: string,
  sealed: SealedSpec,
): Promise<TaskRecord | undefined> {
  const found = await tasks.get(taskId);
  if (found === undefined) return undefined;
  const same =
    canonicalJson(found.value.spec) === canonicalJson(sealed.redacted) &&
    canonicalJson([...found.value.secretFieldsSet].sort()) ===
      canonicalJson([...sealed.secretFieldsSet].sort());
  if (same && found.value.state !== 'TASK_STATE_DELETING') return found.value;
  throw new CdcError(
    'ALREADY_EXISTS',
    `task_id: task ${taskId} already exists with a different spec`,
    { retryable: false, details: { taskId } },
  );
}

/** No two live tasks replicate overlapping scopes into the same target server. */
export async function assertNoOverlap(
  tasks: TaskStore,
  taskId: string,
  spec: TaskSpec,
): Promise<void> {
  const mine = new Set(targetsOf(spec).map((t) => targetKey(t.uri)));
  for (const other of await tasks.list()) {
    if (other.taskId === taskId || other.state === 'TASK_STATE_DELETING') continue;
    const target = targetsOf(other.spec)
      .map((t) => targetKey(t.uri))
      .find((k) => mine.has(k));
    if (target === undefined) continue;
    const hit = scopeOverlap(spec.scope, other.spec.scope);
    if (hit !== undefined)
      throw new CdcError(
        'ALREADY_EXISTS',
        `spec.scope: ${patternText(hit.a)} overlaps ${patternText(hit.b)} of task ${other.taskId} on the same target ${target}`,
        { retryable: false, details: { conflictingTaskId: other.taskId } },
      );
  }
}
