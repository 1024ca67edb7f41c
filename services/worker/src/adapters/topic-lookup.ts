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

export class TopicLookup {
  private readonly answers = new Map<string, Answer>();
  private readonly inFlight = new Map<string, Promise<boolean>>();

  constructor(
    private readonly lookUp: (topic: string) => Promise<boolean>,
    private readonly now: () => number = () => performance.now(),
  ) {}

  exists(topic: string): Promise<boolean> {
    const pending = this.inFlight.get(topic);
    if (pending !== undefined) return pending;
    const known = this.answers.get(topic);
    const trustedFor = known?.exists === true ? FOUND_TOPIC_TTL_MS : MISSING_TOPIC_RECHECK_MS;
    if (known !== undefined && this.now() - known.at < trustedFor)
      return Promise.resolve(known.exists);
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
