import { invalidArgument } from '@cdc/shared';
import type { RbacReplicationSpec } from './model.js';

const MAX_INITIAL_PASSWORDS = 1_000;
/** Milvus' own rules (proxy ValidateUsername, Min/MaxPasswordLength). */
const USER_NAME = /^[A-Za-z][A-Za-z0-9_]{0,31}$/;
const MIN_PASSWORD = 6;
const MAX_PASSWORD = 256;

/** `spec.replicate_rbac`: absent unless enabled; initial passwords well-formed and one per user. */
export function checkRbacReplication(
  rbac: RbacReplicationSpec | null | undefined,
): RbacReplicationSpec | undefined {
  if (rbac === null || rbac === undefined) return undefined;
  const field = 'spec.replicate_rbac';
  if (!rbac.enabled) {
    if (rbac.initial_passwords.length > 0)
      throw invalidArgument(`${field}.initial_passwords`, 'are only used with enabled=true');
    return undefined;
  }
  if (rbac.initial_passwords.length > MAX_INITIAL_PASSWORDS)
    throw invalidArgument(
      `${field}.initial_passwords`,
      `has ${rbac.initial_passwords.length} entries; at most ${MAX_INITIAL_PASSWORDS} allowed`,
    );
  const seen = new Set<string>();
  rbac.initial_passwords.forEach((p, i) => {
    const at = `${field}.initial_passwords[${i}]`;
    // The user name is echoed only when it is well-formed (bounded and plain); the password never is.
    if (!USER_NAME.test(p.user))
      throw invalidArgument(
        `${at}.user`,
        'must be 1 to 32 characters of [A-Za-z0-9_] starting with a letter (a Milvus user name)',
      );
    if (seen.has(p.user)) throw invalidArgument(`${at}.user`, `"${p.user}" is listed twice`);
    seen.add(p.user);
    if (p.password.length < MIN_PASSWORD || p.password.length > MAX_PASSWORD)
      throw invalidArgument(
        `${at}.password`,
        `must be ${MIN_PASSWORD} to ${MAX_PASSWORD} characters long`,
      );
  });
  return {
    enabled: true,
    initial_passwords: rbac.initial_passwords.map((p) => ({ user: p.user, password: p.password })),
  };
}
