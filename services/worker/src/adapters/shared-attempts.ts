/**
 * Concurrent identical attempts share one: the leases of a task share its target writer, and the channels of a new
 * collection all reach its CreateCollection at once, each about to make the same round trips. A follower takes the
 * shared attempt's success as its own; a failure it does not take (it may be the other lease's own, say its write
 * validity ended), it makes its own attempt instead. Nothing is remembered once an attempt settles.
 */
export class SharedAttempts {
  private readonly running = new Map<string, Promise<void>>();

  async run(key: string, attempt: () => Promise<void>): Promise<void> {
    let failed: Promise<void> | undefined;
    for (;;) {
      const shared = this.running.get(key);
      // The failed attempt may still be listed: its owner takes it off only after this follower heard of it.
      if (shared === undefined || shared === failed) break;
      if (await succeeds(shared)) return;
      failed = shared;
    }
    const own = attempt();
    this.running.set(key, own);
    try {
      await own;
    } finally {
      if (this.running.get(key) === own) this.running.delete(key);
    }
  }
}

function succeeds(p: Promise<void>): Promise<boolean> {
  return p.then(
    () => true,
    () => false,
  );
}
