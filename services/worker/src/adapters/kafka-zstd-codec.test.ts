import { createRequire } from 'node:module';
import { compress, isLoaded } from '@foxglove/wasm-zstd';
import kafkajs from 'kafkajs';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  REJECTED_BATCH_HEADER,
  registerKafkaZstdCodec,
  rejectedBatchOf,
  zstdCodec,
} from './kafka-zstd-codec.js';

// Made with the zstd CLI: `printf 'hello milvus cdc' | zstd -c`, and two frames back to back.
const ONE_FRAME = '28b52ffd045881000068656c6c6f206d696c76757320636463d78f5fc5';
const TWO_FRAMES = '28b52ffd045831000070617274312d37801c5428b52ffd04582900007061727432914ac011';

// KafkaJS's own decoders, as the consumer runs them on a fetch response.
const require = createRequire(import.meta.url);
const kafkajsDir = require.resolve('kafkajs').replace(/index\.js$/, '');
const Decoder = require(`${kafkajsDir}src/protocol/decoder`) as new (b: Buffer) => unknown;
const decodeMessages = require(`${kafkajsDir}src/protocol/requests/fetch/v4/decodeMessages`) as (
  d: unknown,
) => Promise<{ offset: string; value: Buffer | null; headers: Record<string, Buffer> }[]>;

const CAP = 4 * 1024 * 1024;

function varint(n: number): number[] {
  const out: number[] = [];
  let v = ((n << 1) ^ (n >> 31)) >>> 0;
  while (v >= 0x80) {
    out.push((v & 0x7f) | 0x80);
    v >>>= 7;
  }
  out.push(v);
  return out;
}

/** The uncompressed records section of a batch: one record per value, no key, no headers. */
function records(values: Buffer[]): Buffer {
  return Buffer.concat(
    values.flatMap((v, i) => {
      const body = Buffer.concat([
        Buffer.from([0, ...varint(0), ...varint(i), ...varint(-1), ...varint(v.length)]),
        v,
        Buffer.from(varint(0)),
      ]);
      return [Buffer.from(varint(body.length)), body];
    }),
  );
}

/** A magic-2 RecordBatch with zstd attributes around `payload` (the compressed records section). */
function batch(baseOffset: bigint, recordCount: number, payload: Buffer): Buffer {
  const h = Buffer.alloc(61);
  h.writeBigInt64BE(baseOffset, 0);
  h.writeInt32BE(61 - 12 + payload.length, 8);
  h.writeInt8(2, 16);
  h.writeInt16BE(4, 21);
  h.writeInt32BE(recordCount - 1, 23);
  h.writeInt32BE(recordCount, 57);
  return Buffer.concat([h, payload]);
}

/** A fetch response's record set for one partition: int32 size, then the batches. */
async function decodeFetch(...batches: Buffer[]) {
  const all = Buffer.concat(batches);
  const size = Buffer.alloc(4);
  size.writeInt32BE(all.length);
  return decodeMessages(new Decoder(Buffer.concat([size, all])));
}

/** A zstd frame without a content size: `blocks` RLE blocks of 128 KiB (4 bytes each). */
function rleBomb(blocks: number): Buffer {
  const out = Buffer.alloc(6 + blocks * 4);
  out.writeUInt32LE(0xfd2fb528, 0);
  out[4] = 0; // no content size, not single segment
  out[5] = 13 << 3; // 8 MiB window
  for (let i = 0; i < blocks; i++) {
    out.writeUIntLE((i === blocks - 1 ? 1 : 0) | (1 << 1) | ((128 * 1024) << 3), 6 + i * 4, 3);
    out[6 + i * 4 + 3] = 0x41;
  }
  return out;
}

beforeAll(async () => {
  await isLoaded;
  registerKafkaZstdCodec({ maxBatchBytes: CAP });
});

describe('kafka zstd codec', () => {
  it('decompresses a zstd frame and concatenated frames', async () => {
    const codec = zstdCodec();
    expect((await codec.decompress(Buffer.from(ONE_FRAME, 'hex'))).toString()).toBe(
      'hello milvus cdc',
    );
    expect((await codec.decompress(Buffer.from(TWO_FRAMES, 'hex'))).toString()).toBe('part1-part2');
  });

  it('refuses to compress', async () => {
    await expect(zstdCodec().compress()).rejects.toThrow(/only reads/);
  });

  it('registers itself as the KafkaJS ZSTD codec', () => {
    expect(kafkajs.CompressionCodecs[kafkajs.CompressionTypes.ZSTD]).toBe(zstdCodec);
  });

  it('decodes a real compressed batch through KafkaJS', async () => {
    const values = [Buffer.from('a'), Buffer.from('b'.repeat(1000)), Buffer.from('c')];
    const out = await decodeFetch(batch(40n, 3, compress(records(values))));
    expect(out.map((r) => [r.offset, r.value?.toString().slice(0, 3)])).toEqual([
      ['40', 'a'],
      ['41', 'bbb'],
      ['42', 'c'],
    ]);
  });

  it('refuses a 60 KB bomb of 1.9 GB from its block headers: placeholder records with the reason', async () => {
    const bomb = rleBomb(15_000);
    expect(bomb.length).toBeLessThan(61_000);
    const started = performance.now();
    const out = await decodeFetch(batch(7n, 2, bomb));
    expect(performance.now() - started).toBeLessThan(2_000); // nothing is decompressed
    expect(out.map((r) => r.offset)).toEqual(['7', '8']);
    const refused = rejectedBatchOf(out[0]?.headers[REJECTED_BATCH_HEADER]);
    expect(refused?.reason).toBe(
      `record batch at offsets 7..8 refused: its zstd blocks state at least ${15_000 * 128 * 1024} decompressed bytes, over the ${CAP}-byte cap (WORKER_MAX_BATCH_BYTES)`,
    );
    expect([refused?.firstOffset, refused?.lastOffset]).toEqual([7n, 8n]);
    expect(out[0]?.value?.length ?? 0).toBe(0);
  });

  it('refuses a frame whose declared content size is over the cap, and corrupt data', async () => {
    const declared = Buffer.from(compress(Buffer.alloc(CAP + 1)));
    const out = await decodeFetch(batch(1n, 1, declared));
    expect(rejectedBatchOf(out[0]?.headers[REJECTED_BATCH_HEADER])?.reason).toContain(
      `frames declare ${CAP + 1} decompressed bytes`,
    );
    const corrupt = await decodeFetch(batch(2n, 1, Buffer.from('not zstd at all')));
    expect(rejectedBatchOf(corrupt[0]?.headers[REJECTED_BATCH_HEADER])?.reason).toContain(
      'corrupt zstd data',
    );
  });

  it('defers a later batch of the same fetch past the fetch budget, never the first one', async () => {
    const big = (n: number) => compress(records([Buffer.alloc(Math.floor(CAP * 0.6), n)]));
    const first = await decodeFetch(batch(10n, 1, big(1)), batch(11n, 1, big(2)));
    expect(first.map((r) => r.offset)).toEqual(['10']); // KafkaJS fetches again from 11
    const next = await decodeFetch(batch(11n, 1, big(2)));
    expect(next.map((r) => [r.offset, r.value?.length])).toEqual([['11', Math.floor(CAP * 0.6)]]);
  });

  it('ignores a forged refusal header (wrong nonce)', () => {
    const forged = JSON.stringify({ nonce: 'x', reason: 'r', firstOffset: '0', lastOffset: '99' });
    expect(rejectedBatchOf(Buffer.from(forged))).toBeUndefined();
  });
});
