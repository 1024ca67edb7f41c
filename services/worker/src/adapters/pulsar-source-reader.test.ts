/**
 * PulsarSourceReader against an in-memory stand-in for the native client; test/worker/pulsar-source-reader.int.test.ts
 * runs the shared contract against the real broker through the real client.
 */
import { describe, expect, it } from 'vitest';
import { comparePulsarIds, pulsarIdOrder } from '@cdc/shared';
import { PulsarNativeClient } from './pulsar-native.js';
import { PulsarSourceReader } from './pulsar-source-reader.js';
import type { PulsarConnection, PulsarReaderHandle } from './pulsar-source-reader.js';

function varint(v: bigint): number[] {
  let u = v < 0n ? v + (1n << 64n) : v;
  const out: number[] = [];
  do {
    const b = Number(u & 0x7fn);
    u >>= 7n;
    out.push(u > 0n ? b | 0x80 : b);
  } while (u > 0n);
  return out;
}

/** MessageIdData as pulsar-client-go writes it: ledgerId, entryId, partition, batch_index. */
const idBytes = (ledger: number, entry: number): Buffer =>
  Buffer.from([
    8,
    ...varint(BigInt(ledger)),
    16,
    ...varint(BigInt(entry)),
    24,
    ...varint(-1n),
    32,
    ...varint(-1n),
  ]);

const sameId = (a: Uint8Array, b: Uint8Array): boolean =>
  comparePulsarIds(pulsarIdOrder(a), pulsarIdOrder(b)) === 0;

class FakePulsar {
  messages: { id: Buffer; data: string; ts: number }[] = [];
  firstRetained = 0;
  readers: { closed: boolean; seekTs?: number }[] = [];
  clientsClosed = 0;
  readError: Error | undefined;

  /** Appends to `ledger` (entries numbered from 0 within each ledger, as BookKeeper does). */
  add(n: number, ledger = 7, ts = 1000): void {
    for (let i = 0; i < n; i++) {
      const k = this.messages.length;
      const entry = this.messages.filter((m) => pulsarIdOrder(m.id).ledgerId === BigInt(ledger));
      this.messages.push({ id: idBytes(ledger, entry.length), data: `m${k}`, ts: ts + k });
    }
  }

  connection(): PulsarConnection {
    const fake = this as FakePulsar;
    return {
      createReader: (_topic, start): Promise<PulsarReaderHandle> => {
        const at = (): number => {
          if (start === 'earliest') return fake.firstRetained;
          if (start === 'latest') return fake.messages.length;
          const k = fake.messages.findIndex((m) => sameId(m.id, start));
          return Math.max(k + 1, fake.firstRetained); // Pulsar jumps silently past deleted ids.
        };
        let pos = at();
        const state: { closed: boolean; seekTs?: number } = { closed: false };
        fake.readers.push(state);
        return Promise.resolve({
          readNext: async (timeoutMs: number) => {
            if (fake.readError !== undefined) throw fake.readError;
            const m = fake.messages[pos];
            if (m !== undefined) {
              pos++;
              return {
                data: new Uint8Array(Buffer.from(m.data)),
                msgId: new Uint8Array(m.id),
                properties: { msg_type: 'Insert' },
                publishTimeMs: m.ts,
              };
            }
            await new Promise((resolve) => setTimeout(resolve, timeoutMs));
            return undefined;
          },
          seekTimestamp: (ts: number) => {
            state.seekTs = ts;
            pos = fake.messages.findIndex((m) => m.ts >= ts);
            return Promise.resolve();
          },
          hasMessageAvailable: () => Promise.resolve(pos < fake.messages.length),
          close: () => {
            state.closed = true;
            return Promise.resolve();
          },
        });
      },
      close: () => {
        fake.clientsClosed++;
        return Promise.resolve();
      },
    };
  }

  reader(): PulsarSourceReader {
    return new PulsarSourceReader({
      serviceUrl: 'pulsar://fake:6650',
      channel: 'by-dev-rootcoord-dml_0',
      pollMs: 20,
      probeTimeoutMs: 50,
      connect: () => Promise.resolve(this.connection()),
    });
  }
}

const texts = (rs: { value: Uint8Array }[]): string[] =>
  rs.map((r) => Buffer.from(r.value).toString());

describe('pulsar message ids', () => {
  it('orders by (ledgerId, entryId, batchIndex) and decodes the earliest id', () => {
    const ref = pulsarIdOrder(Buffer.from('080a1005180020003001', 'hex'));
    expect(ref).toEqual({ ledgerId: 10n, entryId: 5n, batchIndex: 0n });
    const earliest = pulsarIdOrder(idBytes(-1, -1));
    expect(earliest.ledgerId).toBe(-1n);
    expect(comparePulsarIds(earliest, ref)).toBe(-1);
    expect(comparePulsarIds(pulsarIdOrder(idBytes(10, 6)), ref)).toBe(1);
    expect(() => pulsarIdOrder(Buffer.from([8]))).toThrow(/^decoding pulsar message id: /);
  });
});

describe('PulsarSourceReader (in-memory client)', () => {
  it('fails with FAILED_PRECONDITION naming the missing native library', async () => {
    const reader = new PulsarSourceReader({
      serviceUrl: 'pulsar://x',
      channel: 'c',
      connect: (url, opts) =>
        PulsarNativeClient.create(url, {
          ...opts,
          env: { WORKER_PULSAR_CLIENT_LIBRARY: '/nonexistent/libpulsar.so' },
        }),
    });
    await expect(reader.open({ kind: 'earliest' })).rejects.toMatchObject({
      code: 'FAILED_PRECONDITION',
      retryable: false,
      message: expect.stringContaining(
        'pulsar client library (libpulsar) is not installed: /nonexistent/libpulsar.so: not found',
      ) as unknown,
    });
    expect(reader.topic).toBe('persistent://public/default/c');
  });

  it('reads in order from earliest, at most maxRecords, with ids, properties and publish time', async () => {
    const fake = new FakePulsar();
    fake.add(5);
    const r = fake.reader();
    await r.open({ kind: 'earliest' });
    const first = await r.read(3, 1000);
    expect(texts(first)).toEqual(['m0', 'm1', 'm2']);
    expect(first[0]).toMatchObject({ channel: 'by-dev-rootcoord-dml_0', publishTimeMs: 1000 });
    expect(first[0]!.headers).toEqual({ msg_type: 'Insert' });
    expect(pulsarIdOrder(first[2]!.msgId)).toMatchObject({ ledgerId: 7n, entryId: 2n });
    expect(texts(await r.read(10, 1000))).toEqual(['m3', 'm4']);
    await r.close();
  });

  it('resumes strictly after a message id, and starts at latest or a timestamp', async () => {
    const fake = new FakePulsar();
    fake.add(5);
    const after = fake.reader();
    await after.open({ kind: 'after', msgId: idBytes(7, 1) });
    expect(texts(await after.read(10, 1000))).toEqual(['m2', 'm3', 'm4']);
    const latest = fake.reader();
    await latest.open({ kind: 'latest' });
    expect(await latest.read(10, 50)).toEqual([]);
    fake.add(1);
    expect(texts(await latest.read(10, 1000))).toEqual(['m5']);
    const ts = fake.reader();
    await ts.open({ kind: 'timestamp', unixMs: 1003 });
    expect(fake.readers.at(-1)?.seekTs).toBe(1003);
    expect(texts(await ts.read(10, 1000))).toEqual(['m3', 'm4', 'm5']);
    await Promise.all([after.close(), latest.close(), ts.close()]);
  });

  it('fails with FAILED_PRECONDITION when retention deleted the start id, and closes what it opened', async () => {
    const fake = new FakePulsar();
    fake.add(4, 7);
    fake.add(2, 9);
    fake.firstRetained = 4; // ledger 7 deleted whole, as retention does
    for (const gone of [idBytes(7, 1), idBytes(7, 3)]) {
      const r = fake.reader();
      await expect(r.open({ kind: 'after', msgId: gone })).rejects.toMatchObject({
        code: 'FAILED_PRECONDITION',
        retryable: false,
      });
    }
    expect(fake.readers.every((x) => x.closed)).toBe(true);
    expect(fake.clientsClosed).toBe(2);
    const kept = fake.reader();
    await kept.open({ kind: 'after', msgId: idBytes(9, 0) });
    expect(texts(await kept.read(10, 1000))).toEqual(['m5']);
    await kept.close();
  });

  it('treats a topic that holds no message as a deleted position', async () => {
    const fake = new FakePulsar();
    const r = fake.reader();
    await expect(r.open({ kind: 'after', msgId: idBytes(7, 3) })).rejects.toMatchObject({
      code: 'FAILED_PRECONDITION',
      message: expect.stringContaining('the topic holds no message') as unknown,
    });
  });

  it('never hands out a message at or before the last one, whatever is redelivered', async () => {
    const fake = new FakePulsar();
    fake.add(3);
    const r = fake.reader();
    await r.open({ kind: 'after', msgId: idBytes(7, 0) });
    expect(texts(await r.read(10, 1000))).toEqual(['m1', 'm2']);
    fake.messages.push(fake.messages[1]!); // a reconnect replays an old entry
    fake.add(1);
    expect(texts(await r.read(10, 1000))).toEqual(['m4']);
    await r.close();
  });

  it('waits at most maxWaitMs, returns promptly on abort and loses nothing to an aborted read', async () => {
    const fake = new FakePulsar();
    const r = fake.reader();
    await r.open({ kind: 'earliest' });
    let t0 = Date.now();
    expect(await r.read(10, 200)).toEqual([]);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(180);

    const ac = new AbortController();
    setTimeout(() => {
      ac.abort();
    }, 50);
    t0 = Date.now();
    expect(await r.read(10, 10_000, ac.signal)).toEqual([]);
    expect(Date.now() - t0).toBeLessThan(500);

    fake.add(2);
    expect(await r.read(10, 100, AbortSignal.abort())).toEqual([]);
    expect(texts(await r.read(10, 1000))).toEqual(['m0', 'm1']);
    await r.close();
  });

  it('surfaces read errors as retryable SOURCE_UNAVAILABLE; close is idempotent', async () => {
    const fake = new FakePulsar();
    const r = fake.reader();
    await expect(r.read(1, 0)).rejects.toMatchObject({ code: 'INTERNAL' });
    await r.open({ kind: 'earliest' });
    fake.readError = new Error('pulsar_reader_read_next_with_timeout: AlreadyClosed');
    await expect(r.read(1, 100)).rejects.toMatchObject({
      code: 'SOURCE_UNAVAILABLE',
      retryable: true,
    });
    await Promise.all([r.close(), r.close()]);
    expect(await r.read(1, 0)).toEqual([]);
    expect(fake.clientsClosed).toBe(1);
    expect(fake.readers[0]?.closed).toBe(true);
  });
});
