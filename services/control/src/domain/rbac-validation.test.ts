import { CdcError } from '@cdc/shared';
import { describe, expect, it } from 'vitest';
import { checkRbacReplication } from './rbac-validation.js';

const invalid = (fn: () => unknown): string => {
  try {
    fn();
  } catch (err) {
    if (err instanceof CdcError && err.code === 'INVALID_ARGUMENT') return err.message;
    throw err;
  }
  throw new Error('accepted');
};

describe('spec.replicate_rbac', () => {
  it('is absent unless enabled', () => {
    expect(checkRbacReplication(null)).toBeUndefined();
    expect(checkRbacReplication({ enabled: false, initial_passwords: [] })).toBeUndefined();
    expect(checkRbacReplication({ enabled: true, initial_passwords: [] })).toEqual({
      enabled: true,
      initial_passwords: [],
    });
  });

  it('refuses malformed users and passwords, naming the field and never the password', () => {
    const one = (user: string, password: string) => ({
      enabled: true,
      initial_passwords: [{ user, password }],
    });
    expect(invalid(() => checkRbacReplication(one('1abc', 'secret-1')))).toContain(
      'spec.replicate_rbac.initial_passwords[0].user',
    );
    expect(invalid(() => checkRbacReplication(one('a'.repeat(33), 'secret-1')))).toContain('.user');
    const short = invalid(() => checkRbacReplication(one('alice', 'abc12')));
    expect(short).toContain('initial_passwords[0].password');
    expect(short).not.toContain('abc12');
    expect(invalid(() => checkRbacReplication(one('alice', 'x'.repeat(257))))).toContain(
      'password',
    );
    expect(
      invalid(() =>
        checkRbacReplication({
          enabled: true,
          initial_passwords: [
            { user: 'alice', password: 'secret-1' },
            { user: 'alice', password: 'secret-2' },
          ],
        }),
      ),
    ).toContain('initial_passwords[1].user');
    expect(
      invalid(() =>
        checkRbacReplication({
          enabled: false,
          initial_passwords: [{ user: 'alice', password: 'secret-1' }],
        }),
      ),
    ).toContain('enabled=true');
  });
});
