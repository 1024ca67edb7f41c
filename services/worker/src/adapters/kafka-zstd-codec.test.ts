import { describe, expect, it } from 'vitest';
import kafkajs from 'kafkajs';
import { registerKafkaZstdCodec, zstdCodec } from './kafka-zstd-codec.js';

// Made with the zstd CLI: `printf 'hello milvus cdc' | zstd -c`, and two frames back to back.
const ONE_FRAME = '28b52ffd045881000068656c6c6f206d696c76757320636463d78f5fc5';
const TWO_FRAMES = '28b52ffd045831000070617274312d37801c5428b52ffd04582900007061727432914ac011';

describe('kafka zstd codec', () => {
  it('decompresses a zstd frame and concatenated frames', async () => {
    const codec = zstdCodec();
    expect((await codec.decompress(Buffer.from(ONE_FRAME, 'hex'))).toString()).toBe(
      'hello milvus cdc',
    );
    expect((await codec.decompress(Buffer.from(TWO_FRAMES, 'hex'))).toString()).toBe('part1-part2');
  });

  it('rejects garbage and refuses to compress', async () => {
    const codec = zstdCodec();
    await expect(codec.decompress(Buffer.from('not zstd'))).rejects.toThrow();
    await expect(codec.compress()).rejects.toThrow(/only reads/);
  });

  it('registers itself as the KafkaJS ZSTD codec', () => {
    registerKafkaZstdCodec();
    expect(kafkajs.CompressionCodecs[kafkajs.CompressionTypes.ZSTD]).toBe(zstdCodec);
  });
});
