/**
 * KafkaJS ships no zstd codec, and Milvus writes zstd-compressed record batches (`compression.codec=zstd`).
 * fzstd is a pure JS decompressor, so this installs everywhere (no native build, no prebuilt download).
 */
import { decompress } from 'fzstd';
import kafkajs from 'kafkajs';

const { CompressionCodecs, CompressionTypes } = kafkajs;

/** The codec KafkaJS calls per compressed record batch. The CDC only reads, so compressing is refused. */
export function zstdCodec(): {
  compress: () => Promise<Buffer>;
  decompress: (buffer: Buffer) => Promise<Buffer>;
} {
  return {
    compress: () =>
      Promise.reject(new Error('zstd compression is not supported: the CDC only reads zstd')),
    decompress: (buffer: Buffer) => {
      try {
        const out = decompress(buffer);
        return Promise.resolve(Buffer.from(out.buffer, out.byteOffset, out.byteLength));
      } catch (err) {
        return Promise.reject(err instanceof Error ? err : new Error(String(err)));
      }
    },
  };
}

/** Registers the codec in KafkaJS's process-wide codec table. Idempotent. */
export function registerKafkaZstdCodec(): void {
  CompressionCodecs[CompressionTypes.ZSTD] = zstdCodec;
}
