/**
 * Whether a channel's topic exists, looked up once for every reader that asks within a short window. A lease whose
 * pchannel no collection has used yet opens its reader again every few seconds until the topic appears; on a source
 * with 12 such channels and 30 tasks that was ~70 metadata requests a second per worker (each failing inside KafkaJS
 * with a protocol error and its stack trace), now about one per missing topic a second, however many tasks wait.
 */

/** A topic found missing is looked up again after this; a lease waits up to this much longer for a new topic. */
export const MISSING_TOPIC_RECHECK_MS = 1_000;
/** A topic found is trusted this long (a deleted topic still fails the reads after it). */
export const FOUND_TOPIC_TTL_MS = 30_000;
/** Topics remembered; past this the oldest answers are forgotten (names come from task specs, already bounded). */
const MAX_TOPICS = 4_096;

interface Answer {
  readonly exists: boolean;
  readonly at: number;
}

/** A reader waiting for its topic to appear (`whenExists`). */
interface Waiter {
  readonly topic: string;
  readonly found: () => void;
}

export class TopicLookup {
  private readonly answers = new Map<string, Answer>();
  private readonly inFlight = new Map<string, Promise<boolean>>();
  private readonly waiters = new Set<Waiter>();
  private poll: ReturnType<typeof setTimeout> | undefined;

  constructor(
    private readonly lookUp: (topic: string) => Promise<boolean>,
    private readonly now: () => number = () => performance.now(),
    /** How often the topics that readers wait for are looked up again. */
    private readonly pollMs = MISSING_TOPIC_RECHECK_MS,
  ) {}

  exists(topic: string): Promise<boolean> {
    const pending = this.inFlight.get(topic);
    if (pending !== undefined) return pending;
    const known = this.answers.get(topic);
    const trustedFor = known?.exists === true ? FOUND_TOPIC_TTL_MS : MISSING_TOPIC_RECHECK_MS;
    if (known !== undefined && this.now() - known.at < trustedFor)
      return Promise.resolve(known.exists);
    return this.look(topic);
  }

  /**
   * Resolves once `topic` exists; rejects with the abort reason when `signal` aborts. Every waiting reader of a topic
   * is served by one look per `pollMs` (one timer for all of them), so a lease waiting for its topic costs nothing
   * while it waits. A failed look (broker unreachable) is retried at the next poll.
   */
  whenExists(topic: string, signal: AbortSignal): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      if (signal.aborted) {
        reject(abortReason(signal));
        return;
      }
      const onAbort = (): void => {
        this.waiters.delete(waiter);
        reject(abortReason(signal));
      };
      const waiter: Waiter = {
        topic,
        found: () => {
          signal.removeEventListener('abort', onAbort);
          this.waiters.delete(waiter);
          resolve();
        },
      };
      signal.addEventListener('abort', onAbort, { once: true });
      this.waiters.add(waiter);
      this.schedulePoll();
    });
  }

  private schedulePoll(): void {
    if (this.poll !== undefined || this.waiters.size === 0) return;
    this.poll = setTimeout(() => {
      void this.lookForWaited().finally(() => {
        this.poll = undefined;
        this.schedulePoll();
      });
    }, this.pollMs);
    this.poll.unref();
  }

  private async lookForWaited(): Promise<void> {
    const topics = new Set([...this.waiters].map((w) => w.topic));
    await Promise.all(
      [...topics].map(async (topic) => {
        const exists = await this.look(topic).catch(() => false);
        if (!exists) return;
        for (const waiter of [...this.waiters]) if (waiter.topic === topic) waiter.found();
      }),
    );
  }

  /** Asks the broker (one request for everyone asking meanwhile) and remembers the answer. */
  private look(topic: string): Promise<boolean> {
    const pending = this.inFlight.get(topic);
    if (pending !== undefined) return pending;
    const look = this.lookUp(topic).then(
      (exists) => {
        this.remember(topic, exists);
        return exists;
      },
      (err: unknown) => {
        // A failed look (broker unreachable) is not an answer: the next reader asks again.
        this.inFlight.delete(topic);
        throw err;
      },
    );
    this.inFlight.set(topic, look);
    return look;
  }

  private remember(topic: string, exists: boolean): void {
    this.inFlight.delete(topic);
    this.answers.delete(topic);
    this.answers.set(topic, { exists, at: this.now() });
    if (this.answers.size > MAX_TOPICS) this.answers.delete(this.answers.keys().next().value ?? '');
  }
}

function abortReason(signal: AbortSignal): Error {
  const reason: unknown = signal.reason;
  return reason instanceof Error ? reason : new Error('aborted');
}
