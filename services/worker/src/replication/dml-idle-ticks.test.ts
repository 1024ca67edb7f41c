/** How a DML channel reads while it is idle: time ticks coalesced, every tick handled while changes are open. */
import { describe, expect, it } from 'vitest';
import { decodeKafkaMessageId } from '@cdc/shared';
import type { ChannelRecord, ReadOptions, SourceReader } from '../ports/source-reader.js';
import { booksReplicator } from '../testing/dml-replicator.js';
import {
  FakeLeaseProgress,
  FakeTargetWriter,
  RecordLog,
  insertMsg,
  timeTickMsg,
} from '../testing/fakes.js';

interface ReadCall {
  readonly maxWaitMs: number;
  readonly coalesce: boolean;
}

/** Hands out one scripted batch per read and notes how each read was asked for; aborts the lease when done. */
class ScriptedReader implements SourceReader {
  readonly calls: ReadCall[] = [];
  /** What `hasMore` says after each read (by read number); false when not given. */
  more: boolean[] = [];
  constructor(
    private readonly batches: ChannelRecord[][],
    private readonly done: () => void,
  ) {}
  hasMore(): boolean {
    return this.more[this.calls.length - 1] ?? false;
  }
  open(): Promise<void> {
    return Promise.resolve();
  }
  read(
    _max: number,
    maxWaitMs: number,
    _signal?: AbortSignal,
    options?: ReadOptions,
  ): Promise<ChannelRecord[]> {
    this.calls.push({ maxWaitMs, coalesce: options?.coalesceTicks === true });
    const next = this.batches.shift();
    if (next === undefined) this.done();
    return Promise.resolve(next ?? []);
  }
  close(): Promise<void> {
    return Promise.resolve();
  }
  compareIds(a: Uint8Array, b: Uint8Array): number {
    return Number(decodeKafkaMessageId(a) - decodeKafkaMessageId(b));
  }
}

function run(
  batches: ChannelRecord[][],
  idleTickWaitMs: number,
  progress = new FakeLeaseProgress(),
  more: boolean[] = [],
) {
  const lease = new AbortController();
  const writer = new FakeTargetWriter();
  const reader = new ScriptedReader(batches, () => {
    lease.abort(new Error('drained'));
  });
  reader.more = more;
  const replicator = booksReplicator({
    reader,
    writer,
    progress,
    readBatchSize: 100,
    idleTickWaitMs,
  });
  return { reader, progress, writer, done: replicator.run(lease.signal) };
}

describe('DmlChannelReplicator on an idle channel', () => {
  const log = new RecordLog('dml_0').add(
    timeTickMsg(10n), // 0
    insertMsg({ collectionId: 10n, ids: [1n], ts: 11n }), // 1
    timeTickMsg(20n), // 2
    timeTickMsg(30n), // 3
  );
  const [t10, insert, t20, t30] = log.records as [
    ChannelRecord,
    ChannelRecord,
    ChannelRecord,
    ChannelRecord,
  ];

  it('coalesces ticks once caught up, and takes every tick while a change waits for its tick', async () => {
    const { reader, progress, writer, done } = run([[t10], [insert], [t20], [t30]], 1_000);
    await done;
    expect(reader.calls).toEqual([
      { maxWaitMs: 500, coalesce: false }, // not known to be caught up yet
      { maxWaitMs: 1_000, coalesce: true }, // caught up, nothing buffered
      { maxWaitMs: 500, coalesce: false }, // the insert waits for its tick
      { maxWaitMs: 1_000, coalesce: true },
      { maxWaitMs: 1_000, coalesce: true },
    ]);
    expect(writer.calls.filter((c) => c.op === 'upsert')).toHaveLength(1);
    expect(progress.checkpoints.map((c) => c.timestamp)).toEqual([10n, 20n, 30n]);
  });

  it('takes every tick while a pause is pending, and when the wait is off', async () => {
    const progress = new FakeLeaseProgress();
    progress.pause = { timestamp: 1_000n, immediate: false };
    const pausing = run([[t10], [t20]], 1_000, progress);
    await pausing.done;
    expect(pausing.reader.calls.every((c) => !c.coalesce)).toBe(true);

    const off = run([[t10], [t20]], 0);
    await off.done;
    expect(off.reader.calls.every((c) => !c.coalesce && c.maxWaitMs === 500)).toBe(true);
  });
  it('is not caught up after a short read while the reader has more (a byte-capped read)', async () => {
    const seen: boolean[] = [];
    const progress = new (class extends FakeLeaseProgress {
      override setCaughtUp(caughtUp: boolean): void {
        seen.push(caughtUp);
        super.setCaughtUp(caughtUp);
      }
    })();
    const { reader, done } = run([[t10], [t20], [t30]], 1_000, progress, [true, true, false]);
    await done;
    expect(seen.slice(0, 3)).toEqual([false, false, true]);
    expect(reader.calls.map((c) => c.coalesce).slice(0, 4)).toEqual([false, false, false, true]);
  });
});
