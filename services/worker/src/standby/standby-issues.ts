import { errorMessage } from '@cdc/shared';
import type { Logger } from '@cdc/shared';
import type { StandbyReport } from '../ports/worker-control.js';

const MAX_ITEMS = 100;

/** Where the followers of one lease put their open items (one per target: see `StandbyIssues.forTarget`). */
export interface IssueSink {
  needsPerson(user: string, needs: boolean): void;
  /** `why` undefined clears the item. */
  skip(about: string, why: string | undefined): void;
  /** Forgets the users needing a person (before a pass that finds them again). */
  clearUsers(): void;
  /** Users waiting for a person or refused RBAC changes: worth another pass (bindings follow once a user exists). */
  hasRbacItems(): boolean;
  /** Sends the items if they changed since the last successful send; a failure is retried at the next flush. */
  flush(): Promise<void>;
}

/**
 * The standby followers' open items (`Task.standby`): users that need a person, and changes left unapplied with why.
 * Keyed by what they are about, so a later change that settles one (the alias re-pointed into scope, the user created
 * by hand) clears it. Sent to the control service whenever they change.
 */
export class StandbyIssues {
  private readonly users = new Map<string, string>();
  private readonly skipped = new Map<string, string>();
  private sent: string | undefined;

  constructor(
    private readonly send: (report: StandbyReport) => Promise<void>,
    private readonly log: Logger,
  ) {}

  /** The items of one target; a fan-out target's say which target they are about. */
  forTarget(uri: string | undefined): IssueSink {
    const key = (k: string): string => `${uri ?? ''}|${k}`;
    const text = (t: string): string => (uri === undefined ? t : `${t} (target ${uri})`);
    return {
      needsPerson: (user, needs) => {
        if (needs) this.users.set(key(user), text(user));
        else this.users.delete(key(user));
      },
      skip: (about, why) => {
        if (why === undefined) {
          this.skipped.delete(key(about));
          return;
        }
        if (this.skipped.get(key(about)) !== text(why))
          this.log.warn({ about, why, target: uri }, 'standby change not applied');
        this.skipped.set(key(about), text(why));
      },
      clearUsers: () => {
        for (const k of [...this.users.keys()]) if (k.startsWith(key(''))) this.users.delete(k);
      },
      hasRbacItems: () =>
        [...this.users.keys()].some((k) => k.startsWith(key(''))) ||
        [...this.skipped.keys()].some((k) => k.startsWith(key('rbac:'))),
      flush: () => this.flush(),
    };
  }

  report(): StandbyReport {
    return {
      usersNeedingPerson: [...this.users.values()].sort().slice(0, MAX_ITEMS),
      skipped: [...this.skipped.values()].sort().slice(0, MAX_ITEMS),
    };
  }

  async flush(): Promise<void> {
    const report = this.report();
    const text = JSON.stringify(report);
    if (text === this.sent) return;
    try {
      await this.send(report);
      this.sent = text;
    } catch (err) {
      this.log.warn({ err: errorMessage(err) }, 'reporting standby status failed');
    }
  }
}
