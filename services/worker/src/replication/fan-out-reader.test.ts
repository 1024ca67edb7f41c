import { describe, expect, it } from 'vitest';
import { decodeKafkaMessageId } from '@cdc/shared';
import { FakeSourceReader, RecordLog, timeTickMsg } from '../testing/fakes.js';
import { FanOutReader } from './fan-out-reader.js';

const offsets = (records: { msgId: Uint8Array }[]) =>
  records.map((r) => decodeKafkaMessageId(r.msgId));

function log(n: number): RecordLog {
  const l = new RecordLog('dml_0');
  for (let i = 1; i <= n; i++) l.add(timeTickMsg(BigInt(i * 10)));
  return l;
}

describe('FanOutReader', () => {
  it('reads each record from the MQ once and hands every consumer all of them, in order', async () => {
    const upstream = new FakeSourceReader(log(7).records, () => undefined);
    let read = 0;
    const fan = new FanOutReader(upstream, 2, (n) => (read += n));
    const a = fan.view(0);
    const b = fan.view(1);
    const seenA: bigint[] = [];
    const seenB: bigint[] = [];
    const drain = async (r: typeof a, seen: bigint[], delayMs: number) => {
      while (seen.length < 7) {
        seen.push(...offsets(await r.read(3, 10)));
        await new Promise((res) => setTimeout(res, delayMs));
      }
    };
    await Promise.all([drain(a, seenA, 0), drain(b, seenB, 5)]);
    expect(seenA).toEqual([0n, 1n, 2n, 3n, 4n, 5n, 6n]);
    expect(seenB).toEqual(seenA);
    expect(read).toBe(7);
  });

  it('lets a consumer skip up to its own checkpoint', async () => {
    const upstream = new FakeSourceReader(log(6).records, () => undefined);
    const fan = new FanOutReader(upstream, 2);
    const a = fan.view(0);
    const b = fan.view(1, log(4).records[3]!.msgId); // checkpoint at offset 3
    const [ra, rb] = await Promise.all([a.read(6, 10), b.read(6, 10)]);
    expect(offsets(ra)).toEqual([0n, 1n, 2n, 3n, 4n, 5n]);
    expect(offsets(rb)).toEqual([4n, 5n]);
  });

  it('does not read ahead of a consumer that has not taken the current batch', async () => {
    const upstream = new FakeSourceReader(log(6).records, () => undefined);
    const fan = new FanOutReader(upstream, 2);
    const a = fan.view(0);
    const b = fan.view(1);
    expect(offsets(await a.read(2, 10))).toEqual([0n, 1n]);
    const next = a.read(2, 10);
    let done = false;
    void next.then(() => (done = true));
    await new Promise((r) => setTimeout(r, 30));
    expect(done).toBe(false); // waits for b
    expect(offsets(await b.read(2, 10))).toEqual([0n, 1n]);
    expect(offsets(await next)).toEqual([2n, 3n]);
  });
});
