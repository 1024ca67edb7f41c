import { randomBytes } from 'node:crypto';
import { CdcError } from '@cdc/shared';
import { describe, expect, it } from 'vitest';
import { AesSecretBox } from '../adapters/aes-secret-box.js';
import { MemoryStores, spec } from '../testing/memory-stores.js';
import { TaskService } from './task-service.js';
import type { SecretBox } from './ports.js';

function service(stores: MemoryStores, box: SecretBox): TaskService {
  return new TaskService({
    tasks: stores,
    channels: stores.channelStore(),
    secrets: box,
    reachability: { check: () => Promise.resolve() },
    discovery: { discover: () => Promise.resolve(['by-dev-rootcoord-dml_0']) },
    clock: { now: () => 1_000 },
    staleReportMs: 5_000,
    pauseLeadMs: 2_500,
  });
}

const withPassword = (password: string, uri = '127.0.0.1:19540') =>
  spec({
    initial_sync: { enabled: false, batch_rows: 0 },
    target: { ...spec().target, uri, username: 'root', password },
  });

describe('task secrets', () => {
  it('stores each secret sealed and bound to its task and field, never in clear', async () => {
    const stores = new MemoryStores();
    const tasks = service(stores, new AesSecretBox([randomBytes(32)]));
    await tasks.create({ taskId: 't1', spec: withPassword('Pa55word-1'), startPaused: true });
    const stored = stores.taskRows.get('t1')?.value;
    expect(JSON.stringify(stored)).not.toContain('Pa55word-1');
    expect(Object.keys(stored?.sealedFields ?? {})).toEqual(['target.password']);
    expect(tasks.fullSpec(stored!).target.password).toBe('Pa55word-1');
  });

  it('answers an idempotent CreateTask the same whatever secret it carries: no oracle for a guess', async () => {
    const stores = new MemoryStores();
    const tasks = service(stores, new AesSecretBox([randomBytes(32)]));
    await tasks.create({ taskId: 't1', spec: withPassword('Pa55word-1'), startPaused: true });
    const right = await tasks.create({
      taskId: 't1',
      spec: withPassword('Pa55word-1'),
      startPaused: true,
    });
    const wrong = await tasks.create({
      taskId: 't1',
      spec: withPassword('guess-guess-1'),
      startPaused: true,
    });
    expect(right.created).toBe(false);
    expect(wrong.created).toBe(false);
    // The stored secret is not replaced by a create of an existing task.
    expect(tasks.fullSpec(wrong.task).target.password).toBe('Pa55word-1');
    // A different non-secret field is a different spec.
    const other = await tasks
      .create({
        taskId: 't1',
        spec: withPassword('Pa55word-1', '127.0.0.1:19541'),
        startPaused: true,
      })
      .catch((e: unknown) => e);
    expect(other instanceof CdcError && other.code).toBe('ALREADY_EXISTS');
  });

  it('reseals every task under a new key; the old key can then go', async () => {
    const stores = new MemoryStores();
    const oldKey = randomBytes(32);
    const newKey = randomBytes(32);
    await service(stores, new AesSecretBox([oldKey])).create({
      taskId: 't1',
      spec: withPassword('Pa55word-1'),
      startPaused: true,
    });
    const rotating = service(stores, new AesSecretBox([newKey, oldKey]));
    expect(rotating.fullSpec(await rotating.get('t1')).target.password).toBe('Pa55word-1');
    expect(await rotating.resealAll()).toEqual({ tasks: 1, resealed: 1 });
    expect(await rotating.resealAll()).toEqual({ tasks: 1, resealed: 0 });
    const rotated = service(stores, new AesSecretBox([newKey]));
    expect(rotated.fullSpec(await rotated.get('t1')).target.password).toBe('Pa55word-1');
  });

  it('seals RBAC initial passwords like other secrets: per field, never in clear, not returned', async () => {
    const stores = new MemoryStores();
    const tasks = service(stores, new AesSecretBox([randomBytes(32)]));
    const rbac = {
      enabled: true,
      initial_passwords: [
        { user: 'alice', password: 'alice-Secret-1' },
        { user: 'bob', password: 'bob-Secret-2' },
      ],
    };
    await tasks.create({
      taskId: 't1',
      spec: { ...withPassword('Pa55word-1'), replicate_rbac: rbac },
      startPaused: true,
    });
    const stored = stores.taskRows.get('t1')?.value;
    expect(JSON.stringify(stored)).not.toContain('Secret-');
    expect(stored?.secretFieldsSet).toEqual([
      'target.password',
      'replicate_rbac.initial_passwords.0.password',
      'replicate_rbac.initial_passwords.1.password',
    ]);
    expect(stored?.spec.replicate_rbac?.initial_passwords.map((p) => p.user)).toEqual([
      'alice',
      'bob',
    ]);
    expect(tasks.fullSpec(stored!).replicate_rbac?.initial_passwords).toEqual(
      rbac.initial_passwords,
    );
    // A sealed password moved to another user's field does not open.
    const fields = stored!.sealedFields!;
    const swapped = {
      ...stored!,
      sealedFields: {
        'replicate_rbac.initial_passwords.0.password':
          fields['replicate_rbac.initial_passwords.1.password']!,
        'replicate_rbac.initial_passwords.1.password':
          fields['replicate_rbac.initial_passwords.0.password']!,
      },
    };
    expect(() => tasks.fullSpec(swapped)).toThrow();
  });
});
