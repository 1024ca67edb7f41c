import { CdcError, errorMessage, grantName } from '@cdc/shared';
import type { Logger, RbacBinding, RbacGrant, RbacState } from '@cdc/shared';
import type { StandbyTarget, TargetRbac } from '../ports/standby-target.js';
import { withRetry } from '../replication/retry.js';
import type { TaskScope } from '../replication/task-scope.js';
import type { IssueSink } from './standby-issues.js';

/** Never created, dropped or granted to by the CDC: every Milvus has them, managed on each cluster. */
export const BUILT_IN_ROLES: ReadonlySet<string> = new Set(['admin', 'public']);
export const BUILT_IN_USERS: ReadonlySet<string> = new Set(['root']);

export interface RbacSyncDeps {
  readonly target: StandbyTarget;
  readonly scope: TaskScope;
  /** Initial target passwords by source user (spec.replicate_rbac.initial_passwords). Never logged. */
  readonly initialPasswords: ReadonlyMap<string, string>;
  readonly issues: IssueSink;
  readonly log: Logger;
}

const bindingName = (b: RbacBinding): string => `${b.user}/${b.role}`;

/**
 * A source grant as the target names it: the grant's database through the task's name mapping, and a collection
 * object through its collection mapping.
 */
export function mapGrant(g: RbacGrant, scope: TaskScope): RbacGrant {
  if (g.db === '*') return g;
  if (g.objectType === 'Collection' && g.objectName !== '*') {
    const t = scope.mapCollection(g.db, g.objectName);
    return { ...g, db: t.db, objectName: t.collection };
  }
  return { ...g, db: scope.mapDatabase(g.db) };
}

/**
 * RBAC replication (spec.replicate_rbac): roles, their grants and user-role bindings follow the source, removals too;
 * a user the target lacks is created with the task's initial password for it, or reported as needing a person (its
 * bindings follow once someone created it). Built-in roles and root are left alone. A refused change is reported and
 * following goes on.
 */
export class RbacSync {
  private last: RbacState | undefined;

  constructor(private readonly deps: RbacSyncDeps) {}

  /** Adds what the target lacks (nothing is removed: the source's earlier removals are not known here). */
  async reconcile(source: RbacState, signal: AbortSignal): Promise<void> {
    const { target, scope, issues } = this.deps;
    this.last = source;
    const grants = source.grants
      .filter((g) => !BUILT_IN_ROLES.has(g.role))
      .map((g) => mapGrant(g, scope));
    const dbs = [...new Set(['default', ...grants.map((g) => g.db).filter((d) => d !== '*')])];
    const have: TargetRbac = await this.retry(
      'reading target RBAC',
      () => target.rbac(dbs),
      signal,
    );
    const users = new Set(have.users);
    issues.clearUsers();
    for (const user of source.users) {
      if (BUILT_IN_USERS.has(user) || users.has(user)) continue;
      const password = this.deps.initialPasswords.get(user);
      if (password === undefined) {
        issues.needsPerson(user, true);
        continue;
      }
      if (
        await this.change(
          `user:${user}`,
          `create user ${user}`,
          () => target.createUser(user, password),
          signal,
        )
      )
        users.add(user);
    }
    const roles = new Set(have.roles);
    for (const role of source.roles) {
      if (roles.has(role)) continue;
      if (
        await this.change(
          `role:${role}`,
          `create role ${role}`,
          () => target.createRole(role),
          signal,
        )
      )
        roles.add(role);
    }
    const bound = new Set(have.bindings.map(bindingName));
    for (const b of source.bindings) {
      // A user that needs a person gets its bindings once it exists (the next pass).
      if (bound.has(bindingName(b)) || !users.has(b.user) || !roles.has(b.role)) continue;
      await this.change(
        `binding:${bindingName(b)}`,
        `bind ${bindingName(b)}`,
        () => target.addUserToRole(b),
        signal,
      );
    }
    const granted = new Set(have.grants.map(grantName));
    for (const g of grants) {
      if (granted.has(grantName(g)) || !roles.has(g.role)) continue;
      await this.change(
        `grant:${grantName(g)}`,
        `grant ${grantName(g)}`,
        () => target.grant(g),
        signal,
      );
    }
  }

  /** The source changed from the last state to `next`: removals first, then everything `next` adds. */
  async changed(next: RbacState, signal: AbortSignal): Promise<void> {
    const { target, scope, issues } = this.deps;
    const last = this.last;
    if (last !== undefined) {
      const keep = new Set(next.grants.map(grantName));
      for (const g of last.grants)
        if (!keep.has(grantName(g)) && !BUILT_IN_ROLES.has(g.role)) {
          const m = mapGrant(g, scope);
          await this.change(
            `grant:${grantName(m)}`,
            `revoke ${grantName(m)}`,
            () => target.revoke(m),
            signal,
          );
        }
      const bindings = new Set(next.bindings.map(bindingName));
      for (const b of last.bindings)
        if (!bindings.has(bindingName(b)))
          await this.change(
            `binding:${bindingName(b)}`,
            `unbind ${bindingName(b)}`,
            () => target.removeUserFromRole(b),
            signal,
          );
      for (const role of last.roles)
        if (!next.roles.includes(role) && !BUILT_IN_ROLES.has(role))
          await this.change(
            `role:${role}`,
            `drop role ${role}`,
            () => target.dropRole(role),
            signal,
          );
      for (const user of last.users)
        if (!next.users.includes(user) && !BUILT_IN_USERS.has(user)) {
          issues.needsPerson(user, false);
          await this.change(
            `user:${user}`,
            `delete user ${user}`,
            () => target.deleteUser(user),
            signal,
          );
        }
    }
    await this.reconcile(next, signal);
  }

  private retry<T>(action: string, fn: () => Promise<T>, signal: AbortSignal): Promise<T> {
    return withRetry(fn, { signal, log: this.deps.log, action });
  }

  /** True when applied; a refusal is reported under `key` instead (and cleared by a later success). */
  private async change(
    key: string,
    what: string,
    fn: () => Promise<void>,
    signal: AbortSignal,
  ): Promise<boolean> {
    try {
      await this.retry(what, fn, signal);
      this.deps.issues.skip(`rbac:${key}`, undefined);
      this.deps.log.info({ change: what }, 'RBAC change applied');
      return true;
    } catch (err) {
      if (!(err instanceof CdcError) || err.code !== 'SINK_REJECTED') throw err;
      this.deps.issues.skip(`rbac:${key}`, `${what}: ${errorMessage(err)}`);
      return false;
    }
  }
}
