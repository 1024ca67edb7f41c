import type { Logger } from '@cdc/shared';
import type { Campaign, Etcd3 } from 'etcd3';

export type LeadershipListener = (leader: boolean) => void;

/**
 * One scheduler leader among control replicas, through etcd's election API. The leader holds an etcd lease of
 * `ttlSeconds`; if it dies, another replica is elected within about one TTL. A failed campaign (lost lease,
 * etcd unreachable) reports leader=false and campaigns again after `retryMs`.
 */
export class LeaderElection {
  private campaign: Campaign | undefined;
  private leader = false;
  private stopped = false;
  private retryTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly client: Etcd3,
    private readonly name: string,
    private readonly instanceId: string,
    private readonly ttlSeconds: number,
    private readonly onChange: LeadershipListener,
    private readonly log: Logger,
    private readonly retryMs = 1000,
  ) {}

  get isLeader(): boolean {
    return this.leader;
  }

  start(): void {
    if (this.stopped) return;
    const campaign = this.client.election(this.name, this.ttlSeconds).campaign(this.instanceId);
    this.campaign = campaign;
    campaign.on('elected', () => {
      if (this.campaign !== campaign || this.stopped) return;
      this.log.info({ instanceId: this.instanceId }, 'elected scheduler leader');
      this.set(true);
    });
    campaign.on('error', (err: Error) => {
      if (this.campaign !== campaign) return;
      this.log.warn({ err }, 'leader campaign failed; campaigning again');
      this.set(false);
      this.campaign = undefined;
      if (!this.stopped)
        this.retryTimer = setTimeout(() => {
          this.start();
        }, this.retryMs);
    });
  }

  /** Resigns (so another replica takes over at once) and stops campaigning. Idempotent. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    const campaign = this.campaign;
    this.campaign = undefined;
    this.set(false);
    if (campaign !== undefined) await campaign.resign().catch(() => undefined);
  }

  private set(leader: boolean): void {
    if (this.leader === leader) return;
    this.leader = leader;
    this.onChange(leader);
  }
}
