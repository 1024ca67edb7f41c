import type { TaskRecord, TaskSpec } from '../domain/model.js';
import { mergeSecrets, splitSecrets } from '../domain/secrets.js';
import type { SecretBox } from './ports.js';

/** What a task record stores of a spec: the spec with secrets blanked, and each secret sealed on its own. */
export interface SealedSpec {
  readonly redacted: TaskSpec;
  readonly sealedFields: Record<string, string>;
  readonly secretFieldsSet: string[];
}

/**
 * A task's secrets at rest: every secret field sealed on its own, bound to the task id and the field's path, so a
 * sealed value moved to another task or field does not open. Records from before per-field sealing keep one legacy
 * blob until `reseal` rewrites them.
 */
export class TaskSecrets {
  constructor(private readonly box: SecretBox) {}

  seal(taskId: string, spec: TaskSpec): SealedSpec {
    const { redacted, secrets } = splitSecrets(spec);
    const sealedFields = Object.create(null) as Record<string, string>;
    for (const [field, value] of Object.entries(secrets))
      sealedFields[field] = this.box.seal(value, { taskId, field });
    return { redacted, sealedFields, secretFieldsSet: Object.keys(secrets) };
  }

  /** The spec with its secrets opened. Only for workers, probes and verification. */
  open(task: TaskRecord): TaskSpec {
    return mergeSecrets(task.spec, this.secretsOf(task));
  }

  /** The record with every secret sealed under the current key and format; undefined when it already is. */
  reseal(task: TaskRecord): TaskRecord | undefined {
    const fields = Object.values(task.sealedFields ?? {});
    if (task.sealedSecrets === '' && fields.every((s) => this.box.isCurrent(s))) return undefined;
    const { sealedFields } = this.seal(task.taskId, this.open(task));
    const next: TaskRecord = { ...task, sealedFields, sealedSecrets: '' };
    delete next.specDigest;
    return next;
  }

  private secretsOf(task: TaskRecord): Record<string, string> {
    const secrets = Object.create(null) as Record<string, string>;
    if (task.sealedSecrets !== '')
      Object.assign(
        secrets,
        JSON.parse(this.box.open(task.sealedSecrets)) as Record<string, string>,
      );
    for (const [field, sealed] of Object.entries(task.sealedFields ?? {}))
      secrets[field] = this.box.open(sealed, { taskId: task.taskId, field });
    return secrets;
  }
}
