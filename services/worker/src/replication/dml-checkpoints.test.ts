/** Where a DML channel checkpoints, resumes, pauses and holds back: positions, floors, pause points, apply bounds. */
import { describe, expect, it } from 'vitest';
import { decodeKafkaMessageId } from '@cdc/shared';
import type { Row } from '@cdc/shared';
import type { PausePoint } from '../ports/lease-progress.js';
import type { ChannelRecord, SourceReader } from '../ports/source-reader.js';
import { booksReplicator } from '../testing/dml-replicator.js';
import {
  FakeLeaseProgress,
  FakeSourceReader,
  FakeTargetWriter,
  RecordLog,
  insertMsg,
  timeTickMsg,
} from '../testing/fakes.js';

interface RunOptions {
  /** Read from this record index on, as a reader resumed after the record before it. */
  readonly from?: number;
  readonly floor?: bigint;
  readonly pause?: PausePoint;
  readonly applyUntil?: bigint;
  /** The bound a report answer raises to after the third read that finds nothing new (the source went quiet). */
  readonly raiseBoundTo?: bigint;
  readonly writer?: FakeTargetWriter;
}

/** Replicates `log` until the reader is drained (or the channel pauses); returns what it wrote and reported. */
async function run(log: RecordLog, opts: RunOptions = {}) {
  const writer = opts.writer ?? new FakeTargetWriter();
  const progress = new FakeLeaseProgress();
  progress.pause = opts.pause;
  progress.applyUntil = opts.applyUntil;
  const lease = new AbortController();
  const from = opts.from ?? 0;
  const resumeAfter = from > 0 ? log.records[from - 1]?.msgId : undefined;
  let drainedReads = 0;
  const replicator = booksReplicator({
    reader: new FakeSourceReader(log.records.slice(from), () => {
      drainedReads++;
      if (drainedReads === 3 && opts.raiseBoundTo !== undefined)
        progress.applyUntil = opts.raiseBoundTo;
      // A drained reader ends the lease (well after a raised bound); one awaiting a pause ends only if it never comes.
      const lastRead = opts.pause !== undefined ? 400 : opts.raiseBoundTo === undefined ? 1 : 20;
      if (drainedReads >= lastRead) lease.abort(new Error('drained'));
    }),
    writer,
    progress,
    readBatchSize: 4,
    ...(resumeAfter === undefined ? {} : { resumeAfter }),
    ...(opts.floor === undefined ? {} : { floor: opts.floor }),
  });
  await replicator.run(lease.signal);
  const upserted = writer
    .callsOf('upsert')
    .flatMap((args) => (args[2] as Row[]).map((r) => String(r['id'])));
  const checkpoints = progress.checkpoints.map((c) => [decodeKafkaMessageId(c.msgId), c.timestamp]);
  return { writer, progress, upserted, checkpoints };
}

/** #0 tick 10, #1 insert 7@60 (ahead of the next tick), #2 insert 1@40, #3 tick 50, #4 insert 9@65, #5 tick 70. */
function channelLog(): RecordLog {
  return new RecordLog('dml_0').add(
    timeTickMsg(10n),
    insertMsg({ collectionId: 10n, ids: [7n], ts: 60n }),
    insertMsg({ collectionId: 10n, ids: [1n], ts: 40n }),
    timeTickMsg(50n),
    insertMsg({ collectionId: 10n, ids: [9n], ts: 65n }),
    timeTickMsg(70n),
  );
}

describe('DML checkpoints', () => {
  it('checkpoints at every tick, before a message read ahead of it', async () => {
    const { upserted, checkpoints } = await run(channelLog());
    expect(upserted).toEqual(['1', '7', '9']);
    // After tick 50 message #1 (ts 60) is still buffered: resume after #0, with everything ≤ 50 applied.
    expect(checkpoints).toEqual([
      [0n, 10n],
      [0n, 50n],
      [5n, 70n],
    ]);
  });

  it('a lease resumed at that checkpoint applies every change once: the floor skips what is applied', async () => {
    const { upserted, checkpoints } = await run(channelLog(), { from: 1, floor: 50n });
    expect(upserted).toEqual(['7', '9']);
    expect(checkpoints.at(-1)).toEqual([5n, 70n]);
  });

  it('stops at a pause point after applying exactly the changes at or before it', async () => {
    const paused = await run(channelLog(), { pause: { timestamp: 45n, immediate: false } });
    expect(paused.upserted).toEqual(['1']);
    expect(paused.checkpoints.at(-1)).toEqual([0n, 45n]);
    expect(paused.progress.pausedAt).toBe(paused.progress.checkpoints.length);

    const resumed = await run(channelLog(), { from: 1, floor: 45n });
    expect(resumed.upserted).toEqual(['7', '9']);
  });

  it('an immediate pause stops after the batch it is applying', async () => {
    const { upserted, progress } = await run(channelLog(), {
      pause: { timestamp: 1n, immediate: true },
    });
    expect(upserted).toEqual([]);
    expect(progress.checkpoints.map((c) => c.timestamp)).toEqual([10n]);
    expect(progress.pausedAt).toBe(1);
  });

  it('an idle channel (not even a tick) counts as paused at its checkpoint', async () => {
    const { progress } = await run(new RecordLog('dml_0'), {
      pause: { timestamp: 45n, immediate: false },
    });
    expect(progress.pausedAt).toBe(0);
    expect(progress.caughtUp).toBe(true);
  });

  it('holds back changes past the apply bound, checkpointing at the bound', async () => {
    const { upserted, checkpoints, progress } = await run(channelLog(), { applyUntil: 45n });
    expect(upserted).toEqual(['1']);
    expect(checkpoints.at(-1)).toEqual([0n, 45n]);
    expect(progress.caughtUp).toBe(false);
  });

  it('applies changes held back by the bound once it rises, without waiting for another tick', async () => {
    // The source went quiet after tick 70 (a test producer, a source being shut down after its last writes): a
    // raised bound must not wait for a tick that may never come.
    const { upserted, checkpoints, progress } = await run(channelLog(), {
      applyUntil: 45n,
      raiseBoundTo: 100n,
    });
    expect(upserted).toEqual(['1', '7', '9']);
    expect(checkpoints.at(-1)).toEqual([5n, 70n]);
    expect(progress.caughtUp).toBe(true);
  });

  it('reaches a pause on a quiet channel once the bound releases what it held back', async () => {
    const { upserted, progress } = await run(channelLog(), {
      applyUntil: 45n,
      raiseBoundTo: 100n,
      pause: { timestamp: 80n, immediate: false },
    });
    expect(progress.pausedAt).toBeDefined();
    expect(upserted).toEqual(['1', '7', '9']);
  });

  it('says it is caught up when a read drained the reader with nothing left buffered', async () => {
    const { progress } = await run(channelLog());
    expect(progress.caughtUp).toBe(true);
  });

  it('starts a timestamp start with a floor: changes at or before the start are not applied', async () => {
    const { upserted } = await run(channelLog(), { floor: 60n });
    expect(upserted).toEqual(['9']);
  });

  it('an idle channel hears a pause during its long idle wait, and still applies everything up to the pause point', async () => {
    const log = new RecordLog('dml_0').add(
      timeTickMsg(10n),
      insertMsg({ collectionId: 10n, ids: [1n], ts: 40n }),
      timeTickMsg(50n),
    );
    const [tick10, insert, tick50] = log.records;
    const progress = new PausableProgress();
    // The pause lands while the channel waits; the rest of the channel arrives meanwhile.
    const { reader, waits } = waitingReader([tick10!], (arrive) => {
      arrive([insert!, tick50!]);
      progress.startPause({ timestamp: 45n, immediate: false });
    });
    const writer = new FakeTargetWriter();
    await runIdleChannel({ reader, writer, progress }, new AbortController(), 'never paused');
    expect(waits[0]).toEqual({ ms: 60_000, cut: true });
    const upserted = writer
      .callsOf('upsert')
      .flatMap((args) => (args[2] as Row[]).map((r) => String(r['id'])));
    expect(upserted).toEqual(['1']);
    expect(progress.checkpoints.at(-1)?.timestamp).toBe(45n);
    expect(progress.pausedAt).toBe(progress.checkpoints.length);
  });

  it('an idle channel asked for its checkpoint cuts its long wait short and reports the ticks queued meanwhile', async () => {
    const log = new RecordLog('dml_0').add(timeTickMsg(10n), timeTickMsg(20n), timeTickMsg(30n));
    const [tick10, tick20, tick30] = log.records;
    const progress = new CheckpointWantedProgress();
    const lease = new AbortController();
    // The checkpoint the lease holds when it reports at the request.
    let reported: bigint | undefined;
    progress.onFresh = () => {
      reported = progress.checkpoints.at(-1)?.timestamp;
      lease.abort(new Error('reported'));
    };
    const { reader, waits } = waitingReader([tick10!], (arrive) => {
      arrive([tick20!, tick30!]);
      progress.wantCheckpoint();
    });
    await runIdleChannel(
      { reader, writer: new FakeTargetWriter(), progress },
      lease,
      'never reported',
    );
    expect(waits[0]).toEqual({ ms: 60_000, cut: true });
    expect(reported).toBe(30n);
  });
});

/**
 * Runs a replicator with a long idle tick wait (60 s) until `lease` ends, or for at most 5 s (then the lease ends with
 * `ifStuck`, and the test's expectations say what did not happen).
 */
async function runIdleChannel(
  deps: { reader: SourceReader; writer: FakeTargetWriter; progress: FakeLeaseProgress },
  lease: AbortController,
  ifStuck: string,
): Promise<void> {
  const stopper = setTimeout(() => {
    lease.abort(new Error(ifStuck));
  }, 5_000);
  await booksReplicator({ ...deps, readBatchSize: 4, idleTickWaitMs: 60_000 }).run(lease.signal);
  clearTimeout(stopper);
}

/**
 * A reader that hands out `first`, then, whenever it has nothing, waits as long as asked (at most 2 s) unless aborted.
 * 20 ms into the first wait `onFirstWait` runs with `arrive`, which queues records without ending the wait (as time
 * ticks do not end the Kafka reader's coalesced wait).
 */
function waitingReader(
  first: ChannelRecord[],
  onFirstWait: (arrive: (records: ChannelRecord[]) => void) => void,
): { reader: SourceReader; waits: { ms: number; cut: boolean }[] } {
  const waits: { ms: number; cut: boolean }[] = [];
  let arrived = [...first];
  const reader: SourceReader = {
    open: () => Promise.resolve(),
    close: () => Promise.resolve(),
    compareIds: (a, b) => Number(decodeKafkaMessageId(a) - decodeKafkaMessageId(b)),
    hasMore: () => arrived.length > 0,
    read: async (max, maxWaitMs, signal) => {
      if (maxWaitMs > 0 && arrived.length === 0) {
        const wait = { ms: maxWaitMs, cut: false };
        waits.push(wait);
        if (waits.length === 1)
          setTimeout(() => {
            onFirstWait((records) => (arrived = records));
          }, 20);
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, Math.min(maxWaitMs, 2_000));
          signal?.addEventListener('abort', () => {
            clearTimeout(timer);
            wait.cut = true;
            resolve();
          });
        });
        if (signal?.aborted) return [];
      }
      return arrived.splice(0, max);
    },
  };
  return { reader, waits };
}

/** A progress whose pause arrives later, telling the replicator's pause listeners (as a report answer does). */
class PausableProgress extends FakeLeaseProgress {
  private readonly listeners = new Set<() => void>();
  onPause(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
  startPause(pause: PausePoint): void {
    this.pause = pause;
    for (const l of [...this.listeners]) l();
  }
}

/** A progress that someone asks for a fresh checkpoint (as a heartbeat answer naming the task does). */
class CheckpointWantedProgress extends FakeLeaseProgress {
  private readonly listeners = new Set<() => void>();
  onFresh: () => void = () => undefined;
  onCheckpointWanted(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
  wantCheckpoint(): void {
    for (const l of [...this.listeners]) l();
  }
  checkpointFresh(): void {
    this.onFresh();
  }
}
