/**
 * The contract every SourceReader passes against its real MQ (style §7.10): order, resume from a position with no
 * gap and no repeat (also from inside a producer batch), start at earliest/latest/timestamp, bounded waits, prompt
 * abort, retention errors. Each case gets a fresh channel from the factory; payloads are `rec-<n>` so order is
 * checked by value.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CdcError } from '@cdc/shared';
import type {
  ChannelRecord,
  ReaderStart,
  SourceReader,
} from '../../services/worker/src/ports/source-reader.js';

/** One fresh channel and the means to write to it. */
export interface SourceReaderFixture {
  readonly channel: string;
  newReader(): SourceReader;
  /** Appends the values in order and resolves once the MQ acknowledged all of them. */
  produce(values: readonly string[]): Promise<void>;
  /** Appends the values as one producer batch (one Kafka record batch, one Pulsar batched entry). */
  produceBatch(values: readonly string[]): Promise<void>;
  /**
   * Makes the next record start a new storage segment (a Pulsar ledger); retention deletes whole segments.
   * Omit when every record can be deleted on its own (Kafka offsets).
   */
  startNewSegment?(): Promise<void>;
  /**
   * Deletes every record before the one with `msgId`, as retention would (the contract calls it with the first
   * record after `startNewSegment`); omit when the MQ offers no way to do it from a test, and give the reason in
   * `ContractOptions.skipRetention`.
   */
  deleteBefore?(msgId: Uint8Array): Promise<void>;
  dispose(): Promise<void>;
}

export interface SourceReaderContractOptions {
  /** When set, the whole suite is skipped and this reason printed (e.g. a missing native library or broker). */
  readonly skip?: string | undefined;
  readonly skipRetention?: string;
  /**
   * Resuming after the last record retention deleted: `reads` when the MQ can prove nothing followed it (Kafka's
   * low watermark is the next offset), `refuses` when it cannot (a deleted Pulsar ledger's last entry is unknown),
   * which must then fail with FAILED_PRECONDITION rather than guess.
   */
  readonly resumeAtRetentionEdge?: 'reads' | 'refuses';
}

const text = (r: ChannelRecord): string => Buffer.from(r.value).toString('utf8');
const values = (from: number, to: number, tag = 'rec'): string[] =>
  Array.from({ length: to - from }, (_, i) => `${tag}-${from + i}`);

/** Reads until `count` records arrived or `timeoutMs` passed, in batches of at most `batch`. */
export async function readUntil(
  reader: SourceReader,
  count: number,
  timeoutMs = 20_000,
  batch = 7,
): Promise<ChannelRecord[]> {
  const out: ChannelRecord[] = [];
  const deadline = Date.now() + timeoutMs;
  while (out.length < count && Date.now() < deadline) {
    out.push(...(await reader.read(Math.min(batch, count - out.length), 500)));
  }
  return out;
}

export function describeSourceReaderContract(
  name: string,
  factory: () => Promise<SourceReaderFixture>,
  options: SourceReaderContractOptions = {},
): void {
  if (options.skip !== undefined) console.warn(`[${name} contract] skipped: ${options.skip}`);
  describe.skipIf(options.skip !== undefined)(`SourceReader contract: ${name}`, () => {
    let fx: SourceReaderFixture;
    const readers: SourceReader[] = [];
    const opened = async (start: ReaderStart): Promise<SourceReader> => {
      const r = fx.newReader();
      readers.push(r);
      await r.open(start);
      return r;
    };

    beforeEach(async () => {
      fx = await factory();
    });
    afterEach(async () => {
      await Promise.all(readers.splice(0).map((r) => r.close()));
      await fx.dispose();
    });

    it('reads every record in order from earliest, with distinct ids and the channel name', async () => {
      await fx.produce(values(0, 25));
      const r = await opened({ kind: 'earliest' });
      const got = await readUntil(r, 25);
      expect(got.map(text)).toEqual(values(0, 25));
      expect(new Set(got.map((g) => Buffer.from(g.msgId).toString('hex'))).size).toBe(25);
      expect(got.every((g) => g.channel === fx.channel && g.publishTimeMs > 0)).toBe(true);
      expect(await r.read(10, 300)).toEqual([]);
    });

    it('starts at latest: skips existing records and sees new ones', async () => {
      await fx.produce(values(0, 5));
      const r = await opened({ kind: 'latest' });
      expect(await r.read(10, 500)).toEqual([]);
      await fx.produce(values(5, 8));
      expect((await readUntil(r, 3)).map(text)).toEqual(values(5, 8));
    });

    it('resumes after a message id with no gap and no repeat, across close and reopen', async () => {
      await fx.produce(values(0, 10));
      const first = await opened({ kind: 'earliest' });
      const head = await readUntil(first, 4, 20_000, 4);
      expect(head.map(text)).toEqual(values(0, 4));
      await first.close();

      const second = await opened({ kind: 'after', msgId: head[3]!.msgId });
      const tail = await readUntil(second, 6);
      expect(tail.map(text)).toEqual(values(4, 10));
      expect(await second.read(10, 300)).toEqual([]);
      await second.close();

      // Resuming after the last record waits for the next one.
      const third = await opened({ kind: 'after', msgId: tail[5]!.msgId });
      expect(await third.read(10, 300)).toEqual([]);
      await fx.produce(values(10, 12));
      expect((await readUntil(third, 2)).map(text)).toEqual(values(10, 12));
    });

    it('resumes inside a producer batch: after any of its records, with no gap and no repeat', async () => {
      await fx.produce(values(0, 2));
      await fx.produceBatch(values(2, 7));
      await fx.produce(values(7, 9));
      const all = await readUntil(await opened({ kind: 'earliest' }), 9);
      expect(all.map(text)).toEqual(values(0, 9));
      const ids = all.map((r) => r.msgId);
      expect(new Set(ids.map((id) => Buffer.from(id).toString('hex'))).size).toBe(9);
      const probe = fx.newReader();
      for (let i = 1; i < ids.length; i++)
        expect(probe.compareIds(ids[i - 1]!, ids[i]!), `ids ${i - 1} < ${i}`).toBeLessThan(0);
      for (const k of [1, 2, 4, 6]) {
        const r = await opened({ kind: 'after', msgId: ids[k]! });
        expect((await readUntil(r, 8 - k)).map(text), `after rec-${k}`).toEqual(values(k + 1, 9));
        expect(await r.read(10, 200)).toEqual([]);
        await r.close();
      }
    });

    it('starts at a timestamp: the first record published at or after it', async () => {
      await fx.produce(values(0, 5));
      await new Promise((resolve) => setTimeout(resolve, 100));
      await fx.produce(values(5, 10));
      const all = await readUntil(await opened({ kind: 'earliest' }), 10);
      const r = await opened({ kind: 'timestamp', unixMs: all[5]!.publishTimeMs });
      expect((await readUntil(r, 5)).map(text)).toEqual(values(5, 10));

      const future = await opened({ kind: 'timestamp', unixMs: Date.now() + 60_000 });
      expect(await future.read(10, 300)).toEqual([]);
      await fx.produce(['later']);
      expect((await readUntil(future, 1)).map(text)).toEqual(['later']);
    });

    it('returns [] within maxWaitMs when nothing is available', async () => {
      const r = await opened({ kind: 'earliest' });
      const t0 = Date.now();
      expect(await r.read(10, 400)).toEqual([]);
      const waited = Date.now() - t0;
      expect(waited).toBeGreaterThanOrEqual(300);
      expect(waited).toBeLessThan(2_500);
    });

    it('returns promptly on abort and loses nothing to the aborted read', async () => {
      const r = await opened({ kind: 'earliest' });
      const ac = new AbortController();
      setTimeout(() => {
        ac.abort();
      }, 100);
      const t0 = Date.now();
      expect(await r.read(10, 30_000, ac.signal)).toEqual([]);
      expect(Date.now() - t0).toBeLessThan(2_000);

      await fx.produce(values(0, 3));
      expect(await r.read(10, 1_000, AbortSignal.abort())).toEqual([]);
      expect((await readUntil(r, 3)).map(text)).toEqual(values(0, 3));
    });

    it('fails with FAILED_PRECONDITION when the start position was deleted by retention', async (ctx) => {
      if (fx.deleteBefore === undefined) {
        console.warn(
          `[${name} contract] retention case skipped: ${options.skipRetention ?? 'no deleteBefore'}`,
        );
        ctx.skip();
        return;
      }
      await fx.produce(values(0, 5));
      await fx.startNewSegment?.();
      await fx.produce(values(5, 8));
      const all = await readUntil(await opened({ kind: 'earliest' }), 8);
      expect(all.map(text)).toEqual(values(0, 8));
      await fx.deleteBefore(all[5]!.msgId);

      const stale = fx.newReader();
      readers.push(stale);
      const err: unknown = await stale.open({ kind: 'after', msgId: all[1]!.msgId }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(CdcError);
      expect(err).toMatchObject({ code: 'FAILED_PRECONDITION', retryable: false });

      // A retained record is still a resume point, and earliest moved up to the retained range.
      const kept = await opened({ kind: 'after', msgId: all[5]!.msgId });
      expect((await readUntil(kept, 2)).map(text)).toEqual(values(6, 8));
      const earliest = await opened({ kind: 'earliest' });
      expect((await readUntil(earliest, 3)).map(text)).toEqual(values(5, 8));

      // The last deleted record: read on where that is provable, refused where it is not.
      if ((options.resumeAtRetentionEdge ?? 'reads') === 'reads') {
        const edge = await opened({ kind: 'after', msgId: all[4]!.msgId });
        expect((await readUntil(edge, 3)).map(text)).toEqual(values(5, 8));
      } else {
        const edge = fx.newReader();
        readers.push(edge);
        await expect(edge.open({ kind: 'after', msgId: all[4]!.msgId })).rejects.toMatchObject({
          code: 'FAILED_PRECONDITION',
          retryable: false,
        });
      }
    });

    it('closes idempotently, also before open; read after close returns []', async () => {
      const never = fx.newReader();
      await never.close();
      await never.close();
      const r = await opened({ kind: 'earliest' });
      await Promise.all([r.close(), r.close()]);
      expect(await r.read(1, 10)).toEqual([]);
    });
  });
}
