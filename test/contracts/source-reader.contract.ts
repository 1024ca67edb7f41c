/**
 * The contract every SourceReader passes against its real MQ (style §7.10): order, resume from a position with no
 * gap and no repeat, start at earliest/latest/timestamp, bounded waits, prompt abort, retention errors.
 * Each case gets a fresh channel from the factory; payloads are `rec-<n>` so order is checked by value.
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
  /**
   * Deletes every record before the one with `msgId`, as retention would; omit when the MQ offers no way to do
   * it from a test, and give the reason in `ContractOptions.skipRetention`.
   */
  deleteBefore?(msgId: Uint8Array): Promise<void>;
  dispose(): Promise<void>;
}

export interface SourceReaderContractOptions {
  /** When set, the whole suite is skipped and this reason printed (e.g. a missing native library or broker). */
  readonly skip?: string | undefined;
  readonly skipRetention?: string;
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
      await fx.produce(values(0, 8));
      const all = await readUntil(await opened({ kind: 'earliest' }), 8);
      await fx.deleteBefore(all[5]!.msgId);

      const stale = fx.newReader();
      readers.push(stale);
      const err: unknown = await stale.open({ kind: 'after', msgId: all[1]!.msgId }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(CdcError);
      expect(err).toMatchObject({ code: 'FAILED_PRECONDITION', retryable: false });

      // The record right before the retained range is still a valid resume point, and earliest moved up.
      const edge = await opened({ kind: 'after', msgId: all[4]!.msgId });
      expect((await readUntil(edge, 3)).map(text)).toEqual(values(5, 8));
      const earliest = await opened({ kind: 'earliest' });
      expect((await readUntil(earliest, 3)).map(text)).toEqual(values(5, 8));
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
