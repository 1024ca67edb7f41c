import { CdcError } from '@cdc/shared';
import type { Logger } from '@cdc/shared';
import type { DropBarrier } from '../ports/drop-barrier.js';
import { sleep } from './retry.js';
import type { RetryStep } from './retry-step.js';

export interface DropBarrierStepsDeps {
  readonly channel: string;
  readonly barrier: DropBarrier;
  readonly log: Logger;
  readonly retry: RetryStep;
}

/** One channel's part in the drop barriers (see DropBarrier for why a drop waits for every pchannel). */
export class DropBarrierSteps {
  constructor(private readonly deps: DropBarrierStepsDeps) {}

  /** Records that this channel reached the drop; returns the channels that have so far. */
  join(key: string, signal: AbortSignal): Promise<ReadonlySet<string>> {
    const { barrier, channel, retry } = this.deps;
    return retry('joining drop barrier', () => barrier.arrive(key, channel), signal);
  }

  isDone(key: string): Promise<boolean> {
    return this.deps.barrier.isDone(key);
  }

  complete(key: string, signal: AbortSignal): Promise<void> {
    const { barrier, retry } = this.deps;
    return retry('completing drop barrier', () => barrier.markDone(key), signal);
  }

  /**
   * A channel that cannot resolve the collection (out of scope, or its metadata already garbage-collected after a
   * restart) still reports that it reached the drop, so channels that did resolve it are not left waiting for it.
   */
  async pass(key: string, signal: AbortSignal): Promise<void> {
    await this.join(key, signal);
  }

  /**
   * Waits until every pchannel of the collection reached the drop, applies it once, and only then lets this channel
   * continue.
   */
  async at(
    key: string,
    channels: readonly string[],
    signal: AbortSignal,
    apply: () => Promise<void>,
  ): Promise<void> {
    const { channel, log } = this.deps;
    const expected = channels.length > 0 ? channels : [channel];
    for (;;) {
      const arrived = await this.join(key, signal);
      if (await this.isDone(key)) return;
      if (expected.every((ch) => arrived.has(ch))) {
        await apply();
        await this.complete(key, signal);
        log.info({ barrier: key }, 'drop applied after every channel reached it');
        return;
      }
      await sleep(250, signal);
      if (signal.aborted)
        throw new CdcError('LEASE_LOST', 'lease ended at a drop barrier', { retryable: false });
    }
  }
}
