import { errorMessage } from '@cdc/shared';
import type { Logger, RbacState, StandbyEvent, StandbyMetadata } from '@cdc/shared';
import { sleep } from '../replication/retry.js';
import type { CollectionSync } from './collection-sync.js';
import type { RbacSync } from './rbac-sync.js';
import type { IssueSink } from './standby-issues.js';
import type { OrderVerdict, StandbyOrder } from './standby-order.js';

export interface StandbyFollowerDeps {
  readonly metadata: StandbyMetadata;
  readonly collections: CollectionSync;
  /** Undefined: RBAC is not replicated (spec.replicate_rbac off). */
  readonly rbac?: RbacSync;
  readonly order: StandbyOrder;
  readonly issues: IssueSink;
  readonly log: Logger;
  /** How often items waiting for a person (users, refused grants) are looked at again. */
  readonly recheckMs?: number;
}

/**
 * Follows what the message queue does not carry (Milvus 2.3–2.5): aliases, renames, collection and database properties
 * and, opted in, RBAC, from the source etcd. Runs beside the replicate channel's lease, one per task and target.
 *
 * State-based, so nothing needs a checkpoint: when the lease starts it reads the source's current state and brings the
 * target in line (reconcile), then applies each change in source order (see StandbyOrder for the order against the
 * data). After an error it starts over from a fresh read. Stops, applying nothing newer, at the task's pause point.
 */
export class StandbyFollower {
  constructor(private readonly deps: StandbyFollowerDeps) {}

  async run(signal: AbortSignal): Promise<void> {
    const { log, issues } = this.deps;
    while (!signal.aborted) {
      try {
        if ((await this.follow(signal)) === 'paused') {
          log.info('standby follower reached the pause point');
          return;
        }
      } catch (err) {
        if (signal.aborted) return;
        log.warn({ err: errorMessage(err) }, 'standby follower failed; starting over');
        await issues.flush();
        await sleep(2_000, signal).catch(() => undefined);
      }
    }
  }

  private async follow(signal: AbortSignal): Promise<OrderVerdict> {
    const { metadata, collections, rbac, issues } = this.deps;
    const snapshot = await metadata.snapshot();
    if ((await collections.reconcile(snapshot, signal)) === 'paused') return 'paused';
    let rbacState: RbacState = snapshot.rbac;
    if (rbac !== undefined) await rbac.reconcile(rbacState, signal);
    await issues.flush();
    const recheckMs = this.deps.recheckMs ?? 30_000;
    let recheckAt = Date.now() + recheckMs;
    const events = metadata
      .watch({ signal, afterRevision: snapshot.revision })
      [Symbol.asyncIterator]();
    let pending = events.next();
    for (;;) {
      // Wake up for the next change, or to look again at what waits for a person.
      let timeout: NodeJS.Timeout | undefined;
      const timer = new Promise<'recheck'>((resolve) => {
        timeout = setTimeout(
          () => {
            resolve('recheck');
          },
          Math.max(0, recheckAt - Date.now()),
        );
      });
      const next = await Promise.race([pending, timer]).finally(() => {
        clearTimeout(timeout);
      });
      if (signal.aborted) return 'apply';
      if (next === 'recheck') {
        recheckAt = Date.now() + recheckMs;
        if (rbac !== undefined && issues.hasRbacItems()) {
          await rbac.reconcile(rbacState, signal);
          await issues.flush();
        }
        continue;
      }
      if (next.done === true) return 'apply';
      pending = events.next();
      const event = next.value;
      if (event.type === 'RbacChanged') rbacState = event.rbac;
      if ((await this.apply(event, signal)) === 'paused') {
        await events.return?.();
        return 'paused';
      }
      await issues.flush();
    }
  }

  private async apply(e: StandbyEvent, signal: AbortSignal): Promise<OrderVerdict> {
    const { collections, rbac, order } = this.deps;
    switch (e.type) {
      case 'AliasSet':
        return collections.alias(e.alias, e.ts, signal);
      case 'AliasDropped':
        return collections.aliasDropped(e.db, e.dbId, e.alias, e.ts, signal);
      case 'CollectionAltered':
        return collections.collection(e.after, e.before, e.ts, signal);
      case 'DatabaseAltered':
        return collections.database(e.after, e.ts, signal);
      case 'RbacChanged':
        if (rbac === undefined) return 'apply';
        if ((await order.until(e.ts, [], signal, 'RBAC change')) === 'paused') return 'paused';
        await rbac.changed(e.rbac, signal);
        return 'apply';
    }
  }
}
