import type { ChannelStore, Clock } from './ports.js';

interface View {
  readonly atMs: number;
  /** workerId → lease keys ("taskId/channel"), sorted. */
  readonly held: Map<string, string[]>;
  readonly live: Set<string>;
}

const VIEW_TTL_MS = 2_000;
/**
 * A live worker that holds no lease counts toward the fair share only this long after this replica first saw it: a
 * real new worker takes the channels given up for it within seconds; an id that only sends heartbeats (an idle
 * surplus worker, or a caller inventing ids) stops making others give their leases up.
 */
export const IDLE_WORKER_GRACE_MS = 30_000;

/**
 * Rebalancing rule: fair share = ceil(active leases / live workers). A worker above its share gives up the leases
 * past its share (in key order) when another live worker is below the share. Workers are live when they reported
 * a checkpoint or a heartbeat within the window; one holding no lease counts only within IDLE_WORKER_GRACE_MS of
 * its first heartbeat seen here. The view is cached for ~2 s per replica.
 */
export class FairShare {
  private view: View | undefined;
  private refreshing: Promise<View> | undefined;
  /** Worker id → when this replica first saw its heartbeat (forgotten once its heartbeat key expired). */
  private readonly firstSeen = new Map<string, number>();
  /**
   * Worker id → when another worker took one of its leases over because it went silent (crashed): it is not live
   * until it is seen again after that, so the survivors do not give channels up for a dead worker during the rest of
   * its live window.
   */
  private readonly silentSince = new Map<string, number>();

  constructor(
    private readonly channels: ChannelStore,
    private readonly clock: Clock,
    private readonly liveWindowMs: number,
    /** A lease counts as held while it reported within this window (longer than `liveWindowMs` with idle reports). */
    private readonly leaseLiveWindowMs = liveWindowMs,
  ) {}

  /** `workerId` took the lease of `key`; `takenFrom`: the holder that went silent, whose lease it took over. */
  noteLease(key: string, workerId: string, takenFrom?: string): void {
    if (takenFrom !== undefined && takenFrom !== '' && takenFrom !== workerId) {
      this.silentSince.set(takenFrom, this.clock.now());
      this.view?.live.delete(takenFrom);
      this.view?.held.delete(takenFrom);
    }
    if (this.view === undefined) return;
    for (const keys of this.view.held.values()) {
      const i = keys.indexOf(key);
      if (i >= 0) keys.splice(i, 1);
    }
    const mine = this.view.held.get(workerId) ?? [];
    mine.push(key);
    mine.sort();
    this.view.held.set(workerId, mine);
    this.view.live.add(workerId);
  }

  async shouldRelease(key: string, workerId: string): Promise<boolean> {
    const view = await this.current();
    const held = view.held.get(workerId) ?? [];
    const total = [...view.held.values()].reduce((n, keys) => n + keys.length, 0);
    if (view.live.size <= 1 || total === 0) return false;
    const share = Math.ceil(total / view.live.size);
    if (held.length <= share) return false;
    const someoneBelow = [...view.live].some(
      (w) => w !== workerId && (view.held.get(w)?.length ?? 0) < share,
    );
    if (!someoneBelow) return false;
    const index = held.indexOf(key);
    if (index < share) return false;
    held.splice(index, 1);
    return true;
  }

  private current(): Promise<View> {
    if (this.view !== undefined && this.clock.now() - this.view.atMs < VIEW_TTL_MS)
      return Promise.resolve(this.view);
    // One refresh at a time: every report judged while the view is stale waits for the same one. Each refresh reads
    // and parses every channel record, and a refresh per waiting report grew with the delay it caused (30 tasks:
    // 13 a second, the control service saturated and reports timed out).
    this.refreshing ??= this.refresh().finally(() => {
      this.refreshing = undefined;
    });
    return this.refreshing;
  }

  private async refresh(): Promise<View> {
    const now = this.clock.now();
    const held = new Map<string, string[]>();
    const live = new Set<string>();
    for (const [id, since] of this.silentSince)
      if (now - since > this.liveWindowMs) this.silentSince.delete(id); // all it said before is out of the window
    const silent = (workerId: string, seenMs: number): boolean =>
      seenMs <= (this.silentSince.get(workerId) ?? -Infinity);
    for (const [key, rec] of await this.channels.listAll()) {
      if (
        rec.released === true ||
        rec.endRequested !== undefined ||
        rec.workerId === '' ||
        now - rec.updateTimeMs > this.leaseLiveWindowMs ||
        silent(rec.workerId, rec.updateTimeMs)
      )
        continue;
      live.add(rec.workerId);
      held.set(rec.workerId, [...(held.get(rec.workerId) ?? []), key]);
    }
    const heartbeats = await this.channels.listWorkers();
    for (const id of this.firstSeen.keys()) if (!heartbeats.has(id)) this.firstSeen.delete(id);
    for (const [workerId, seen] of heartbeats) {
      const first = this.firstSeen.get(workerId) ?? now;
      this.firstSeen.set(workerId, first);
      const holds = held.has(workerId);
      if (silent(workerId, seen)) continue;
      if (now - seen <= this.liveWindowMs && (holds || now - first <= IDLE_WORKER_GRACE_MS))
        live.add(workerId);
    }
    for (const keys of held.values()) keys.sort();
    this.view = { atMs: now, held, live };
    return this.view;
  }
}
