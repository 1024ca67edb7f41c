import type { Redis } from 'ioredis';
import { CdcError } from '@cdc/shared';
import type { DropBarrier } from '../ports/drop-barrier.js';

const BARRIER_TTL_S = 7 * 24 * 3600;

/** DropBarrier in Redis (the workers' BullMQ Redis): a set of arrived channels and a done flag per barrier. */
export class RedisDropBarrier implements DropBarrier {
  constructor(
    private readonly redis: Redis,
    /** Namespaces the keys per task (`taskKeyPrefix`) and fan-out target. */
    private readonly keyPrefix: string,
  ) {}

  private key(key: string, suffix: string): string {
    return `${this.keyPrefix}:barrier:${key}:${suffix}`;
  }

  async arrive(key: string, channel: string): Promise<ReadonlySet<string>> {
    try {
      const k = this.key(key, 'arrived');
      const [, , members] = (await this.redis
        .multi()
        .sadd(k, channel)
        .expire(k, BARRIER_TTL_S)
        .smembers(k)
        .exec()) ?? [
        [null, 0],
        [null, 0],
        [null, []],
      ];
      return new Set((members?.[1] as string[] | undefined) ?? []);
    } catch (cause) {
      throw new CdcError('UNAVAILABLE', 'joining drop barrier in redis', {
        retryable: true,
        cause,
      });
    }
  }

  async isDone(key: string): Promise<boolean> {
    try {
      return (await this.redis.exists(this.key(key, 'done'))) === 1;
    } catch (cause) {
      throw new CdcError('UNAVAILABLE', 'reading drop barrier in redis', {
        retryable: true,
        cause,
      });
    }
  }

  async markDone(key: string): Promise<void> {
    try {
      await this.redis.set(this.key(key, 'done'), '1', 'EX', BARRIER_TTL_S);
    } catch (cause) {
      throw new CdcError('UNAVAILABLE', 'completing drop barrier in redis', {
        retryable: true,
        cause,
      });
    }
  }
}
