import { describe, expect, it } from 'vitest';
import { composeTs, decodeKafkaMessageId, encodeKafkaMessageId, encodeMessage } from '@cdc/shared';
import type { KnownMessage } from '@cdc/shared';
import type { ChannelRecord, SourceReader } from '../ports/source-reader.js';
import { books, booksReplicator } from '../testing/dml-replicator.js';
import {
  FakeLeaseProgress,
  FakeTargetWriter,
  deleteMsg,
  dropPartitionMsg,
  insertMsg,
  rowOf,
  timeTickMsg,
} from '../testing/fakes.js';

/** Changes at the head of a channel, written before the tick that closes their pack (DmlReplicatorDeps). */

const T0 = 1_700_000_000_000;
const at = (ms: number): bigint => composeTs(T0 + ms);
const target = { db: 'default', collection: 'books' };

/**
 * A channel read in the given chunks, one per read, as a broker hands out what it has: each chunk ends a read with
 * nothing more to give. `before(i)` runs as chunk i is asked for (what the target holds then, say).
 */
class ChunkedReader implements SourceReader {
  /** The wait each read asked for, ms. */
  readonly waits: number[] = [];
  private next = 0;
  private offset = 0n;
  private readonly chunks: ChannelRecord[][];

  constructor(
    chunks: readonly (readonly KnownMessage[])[],
    private readonly before: (chunk: number) => void,
    private readonly onDrained: () => void,
  ) {
    this.chunks = chunks.map((c) =>
      c.map((m) => ({
        channel: 'dml_0',
        msgId: encodeKafkaMessageId(this.offset++),
        value: encodeMessage(m),
        headers: {},
        publishTimeMs: 0,
      })),
    );
  }

  open(): Promise<void> {
    return Promise.resolve();
  }

  async read(_max: number, maxWaitMs = 0): Promise<ChannelRecord[]> {
    this.waits.push(maxWaitMs);
    const chunk = this.chunks[this.next];
    if (chunk === undefined) {
      this.onDrained();
      await new Promise((r) => setTimeout(r, 2));
      return [];
    }
    this.before(this.next++);
    return chunk;
  }

  close(): Promise<void> {
    return Promise.resolve();
  }

  compareIds(a: Uint8Array, b: Uint8Array): number {
    const x = decodeKafkaMessageId(a);
    const y = decodeKafkaMessageId(b);
    return x < y ? -1 : x > y ? 1 : 0;
  }
}

interface Run {
  readonly writer: FakeTargetWriter;
  readonly progress: FakeLeaseProgress;
  /** Keys on the target as each chunk was asked for. */
  readonly keysBefore: string[][];
  /** Whether the lease said it was caught up, as each chunk was asked for. */
  readonly caughtUpBefore: boolean[];
  /** The wait each read asked for, ms. */
  readonly waits: number[];
  /** The oldest change waiting, as the lease was told when each chunk was asked for. */
  readonly waitingBefore: (bigint | undefined)[];
}

async function replicate(
  chunks: readonly (readonly KnownMessage[])[],
  o: {
    readonly applyAheadOfTicks?: boolean;
    readonly existing?: readonly bigint[];
    readonly progress?: FakeLeaseProgress;
    /** Runs as chunk i is asked for. */
    readonly before?: (chunk: number) => void;
  } = {},
): Promise<Run> {
  const writer = new FakeTargetWriter().withReplicaOf(10n, target);
  if (o.existing !== undefined)
    writer.rowsOf.set('default.books', new Map(o.existing.map((id) => [String(id), rowOf(id)])));
  const progress = o.progress ?? new FakeLeaseProgress();
  const keysBefore: string[][] = [];
  const caughtUpBefore: boolean[] = [];
  const waitingBefore: (bigint | undefined)[] = [];
  const lease = new AbortController();
  const reader = new ChunkedReader(
    chunks,
    (i) => {
      keysBefore.push([...(writer.rowsOf.get('default.books')?.keys() ?? [])].sort());
      caughtUpBefore.push(progress.caughtUp);
      waitingBefore.push(progress.waitingSince);
      o.before?.(i);
    },
    () => {
      lease.abort(new Error('drained'));
    },
  );
  const replicator = booksReplicator({
    reader,
    writer,
    progress,
    readBatchSize: 100,
    ...(o.applyAheadOfTicks === undefined ? {} : { applyAheadOfTicks: o.applyAheadOfTicks }),
    clockMs: () => T0 + 1_000,
    maxClockLeadMs: 10_000,
  });
  await replicator.run(lease.signal);
  return { writer, progress, keysBefore, caughtUpBefore, waits: reader.waits, waitingBefore };
}

const keysOf = (r: Run): string[] =>
  [...(r.writer.rowsOf.get('default.books')?.keys() ?? [])].sort();
const ins = (id: bigint, ms: number) =>
  insertMsg({ collectionId: books.id, ids: [id], ts: at(ms) });
const del = (id: bigint, ms: number) =>
  deleteMsg({ collectionId: books.id, ids: [id], ts: at(ms) });

describe('DmlChannelReplicator applies ahead of the closing tick', () => {
  it('writes an insert read at the head before its tick arrives, and checkpoints only at the tick', async () => {
    const r = await replicate([[timeTickMsg(at(0))], [ins(1n, 5)], [timeTickMsg(at(10))]]);
    expect(r.keysBefore[2]).toEqual(['1']); // written while the tick was still to come
    expect(r.caughtUpBefore[2]).toBe(true); // the target holds everything read: no lag to report
    expect(r.progress.checkpoints.map((c) => c.timestamp)).toEqual([at(0), at(10)]);
    expect(keysOf(r)).toEqual(['1']);
  });

  it('counts how late changes reach the target as lag only once the channel was caught up before reading them', async () => {
    // The first read is the start of the lease, the tail of a backlog for all it knows; the second is the head.
    const r = await replicate([[ins(1n, 5)], [ins(2n, 8)], [timeTickMsg(at(10))]]);
    expect(r.progress.applyDelays).toHaveLength(1);
  });

  it('waits for the tick when turned off', async () => {
    const r = await replicate([[timeTickMsg(at(0))], [ins(1n, 5)], [timeTickMsg(at(10))]], {
      applyAheadOfTicks: false,
    });
    expect(r.keysBefore[2]).toEqual([]);
    expect(r.caughtUpBefore[2]).toBe(false);
    expect(keysOf(r)).toEqual(['1']);
  });

  it("keeps an upsert's row when its Delete arrives after its Insert went ahead", async () => {
    // An upsert is written as Insert then Delete with one timestamp, meaning "delete the old row, insert the new one".
    const r = await replicate([[ins(7n, 5)], [del(7n, 5)], [timeTickMsg(at(10))]], {
      existing: [7n],
    });
    expect(keysOf(r)).toEqual(['7']);
  });

  it('skips a key of a later-read change stamped before one applied ahead (another proxy)', async () => {
    const kept = await replicate([[ins(7n, 6)], [del(7n, 5)], [timeTickMsg(at(10))]]);
    expect(keysOf(kept)).toEqual(['7']);
    const gone = await replicate([[del(7n, 6)], [ins(7n, 5)], [timeTickMsg(at(10))]], {
      existing: [7n],
    });
    expect(keysOf(gone)).toEqual([]);
  });

  it('skips only the superseded keys of a multi-row change, also when the tick applies it', async () => {
    const r = await replicate(
      [
        [ins(7n, 6)],
        // Read together with the tick: applied with the pack, still after what went ahead.
        [
          insertMsg({ collectionId: books.id, ids: [6n, 8n], ts: at(4) }),
          deleteMsg({ collectionId: books.id, ids: [7n, 9n], ts: at(5) }),
          timeTickMsg(at(10)),
        ],
      ],
      { existing: [9n] },
    );
    expect(keysOf(r)).toEqual(['6', '7', '8']);
  });

  it('holds a DDL message, and what follows it, for its tick', async () => {
    const r = await replicate([
      [ins(1n, 4), dropPartitionMsg(books.id, 2n, 'p1', at(5)), ins(2n, 6)],
      [timeTickMsg(at(10))],
    ]);
    expect(r.keysBefore[1]).toEqual(['1']);
    expect(r.caughtUpBefore[1]).toBe(false); // the DDL and the insert after it wait
    expect(keysOf(r)).toEqual(['1', '2']);
  });

  it("goes no further than the lease's apply bound or the pause point", async () => {
    const bounded = new FakeLeaseProgress();
    bounded.applyUntil = at(5);
    const r = await replicate([[ins(1n, 4), ins(2n, 6)], [timeTickMsg(at(3))]], {
      progress: bounded,
    });
    expect(r.keysBefore[1]).toEqual(['1']);

    const pausing = new FakeLeaseProgress();
    pausing.pause = { timestamp: at(5), immediate: false };
    const p = await replicate([[ins(1n, 4), ins(2n, 6)], [timeTickMsg(at(3))]], {
      progress: pausing,
    });
    expect(p.keysBefore[1]).toEqual(['1']);
  });

  it('reads again soon while a change waits for the apply bound, and writes it once the bound rose', async () => {
    // A quiet lease's bound is as old as its last report; the report the change asks for raises it.
    const progress = new FakeLeaseProgress();
    progress.applyUntil = at(3);
    const r = await replicate([[ins(1n, 5)], [], [], [timeTickMsg(at(10))]], {
      progress,
      before: (i) => {
        if (i === 1) progress.applyUntil = at(20);
      },
    });
    expect(r.keysBefore.slice(1)).toEqual([[], ['1'], ['1']]); // before the tick
    expect(r.waits.slice(0, 4)).toEqual([500, 20, 500, 500]);
    // While it waited, the lag counted from it, not from a checkpoint that may be older.
    expect(r.waitingBefore[1]).toBe(at(5));
    expect(r.waitingBefore[2]).toBeUndefined();
  });

  it('never writes ahead a change stamped beyond the present; the next tick quarantines it', async () => {
    const r = await replicate([[ins(666n, 60_000)], [timeTickMsg(at(10))]]);
    expect(r.keysBefore[1]).toEqual([]);
    expect(keysOf(r)).toEqual([]);
    expect(r.progress.quarantined).toHaveLength(1);
  });

  it('keeps the checkpoint before a change applied ahead that the tick does not cover', async () => {
    const r = await replicate([[timeTickMsg(at(0))], [ins(1n, 15)], [timeTickMsg(at(10))]]);
    expect(r.keysBefore[2]).toEqual(['1']);
    const last = r.progress.checkpoints.at(-1)!;
    // Resuming after offset 0 (the first tick) reads the insert again; it is at or before no checkpoint yet.
    expect(last.timestamp).toBe(at(10));
    expect(decodeKafkaMessageId(last.msgId)).toBe(0n);
  });
});
