/**
 * The zstd codec KafkaJS calls per compressed record batch (Milvus writes `compression.codec=zstd`), with a cap on
 * what one batch, and one fetch, may decompress to.
 *
 * Decompression is libzstd compiled to WebAssembly (@foxglove/wasm-zstd: installs everywhere, no native build). It
 * writes into a buffer of a capacity chosen beforehand and fails instead of growing it. The capacity comes from the
 * frames' own headers (`zstdLayout`), so a 60 KB batch of RLE blocks that would expand to 1.9 GB is refused from its
 * block headers without decompressing anything. (The pure-JS decoder used before allocated the declared window or
 * content size up front and ran hostile match lengths to the end.)
 *
 * A refused batch becomes one placeholder record per original record: empty value and a `cdc-rejected-batch` header
 * with the reason and the batch's offsets, signed with a per-process nonce so a record on the topic cannot forge it.
 * The reader turns the first one into a quarantined record and passes over the rest, so the channel goes on.
 */
import { randomBytes } from 'node:crypto';
import { decompress as zstdDecompress, isLoaded } from '@foxglove/wasm-zstd';
import kafkajs from 'kafkajs';
import { placeholderRecords, recordBatchHeaderOf } from './kafka-record-batch.js';
import type { RecordBatchHeader } from './kafka-record-batch.js';
import { ZstdLayoutError, zstdLayout } from './zstd-frames.js';

const { CompressionCodecs, CompressionTypes } = kafkajs;

/** Default cap of one record batch's decompressed size (Milvus' producer writes batches up to 10 MiB). */
export const DEFAULT_MAX_BATCH_BYTES = 64 * 1024 * 1024;
/**
 * A refused batch declaring more records than this cannot be replaced record by record (KafkaJS builds an object per
 * record); KafkaJS then reports the fetch as failed and the reader retries it. No Kafka producer batches that many.
 */
export const MAX_PLACEHOLDER_RECORDS = 50_000;
export const REJECTED_BATCH_HEADER = 'cdc-rejected-batch';

const NONCE = randomBytes(16).toString('hex');
let maxBatchBytes = DEFAULT_MAX_BATCH_BYTES;

/** Decompressed bytes so far of the fetch response a batch belongs to (batches of one response are contiguous). */
const fetchTotals = new WeakMap<ArrayBufferLike, { end: number; total: number }>();

export interface RejectedBatch {
  readonly reason: string;
  readonly firstOffset: bigint;
  readonly lastOffset: bigint;
}

interface RejectedBatchJson {
  readonly nonce: string;
  readonly reason: string;
  readonly firstOffset: string;
  readonly lastOffset: string;
}

/** The refusal a placeholder record carries, if `headerValue` was written by this process's codec. */
export function rejectedBatchOf(
  headerValue: Uint8Array | string | undefined,
): RejectedBatch | undefined {
  if (headerValue === undefined) return undefined;
  try {
    const text =
      typeof headerValue === 'string' ? headerValue : Buffer.from(headerValue).toString('utf8');
    const j = JSON.parse(text) as Partial<RejectedBatchJson>;
    if (j.nonce !== NONCE || typeof j.reason !== 'string') return undefined;
    return {
      reason: j.reason,
      firstOffset: BigInt(j.firstOffset ?? '0'),
      lastOffset: BigInt(j.lastOffset ?? '0'),
    };
  } catch {
    return undefined;
  }
}

/** KafkaJS ends a fetch response's decoding at this error and fetches again from the batch that raised it. */
function deferToNextFetch(): Error {
  const err = new Error(
    'record batch deferred to the next fetch: the fetch reached its decompression budget',
  );
  err.name = 'KafkaJSPartialMessageError';
  return err;
}

function refuse(header: RecordBatchHeader | undefined, problem: string): Buffer {
  if (header === undefined || header.recordCount > MAX_PLACEHOLDER_RECORDS) {
    throw new Error(`zstd record batch refused: ${problem}`);
  }
  const first = header.baseOffset;
  const last = first + BigInt(header.lastOffsetDelta);
  const json: RejectedBatchJson = {
    nonce: NONCE,
    reason: `record batch at offsets ${first}..${last} refused: ${problem}`,
    firstOffset: first.toString(),
    lastOffset: last.toString(),
  };
  const value = Buffer.from(JSON.stringify(json), 'utf8');
  return placeholderRecords(
    header.recordCount,
    header.lastOffsetDelta,
    REJECTED_BATCH_HEADER,
    value,
  );
}

function capacityProblem(declared: number | undefined, exact: number): string | undefined {
  const cap = `the ${maxBatchBytes}-byte cap (WORKER_MAX_BATCH_BYTES)`;
  if (declared !== undefined && declared > maxBatchBytes) {
    return `its zstd frames declare ${declared} decompressed bytes, over ${cap}`;
  }
  if (exact > maxBatchBytes) {
    return `its zstd blocks state at least ${exact} decompressed bytes, over ${cap}`;
  }
  return undefined; // within the cap, or only decompressing tells (a capacity-bounded attempt)
}

async function decompressBatch(compressed: Buffer): Promise<Buffer> {
  await isLoaded;
  const header = recordBatchHeaderOf(compressed);
  let layout;
  try {
    layout = zstdLayout(compressed);
  } catch (err) {
    if (!(err instanceof ZstdLayoutError)) throw err;
    return record(header, 0, refuse(header, `corrupt zstd data (${err.message})`));
  }
  const { declaredBytes, exactBytes, boundBytes } = layout;
  const capacity = Math.min(declaredBytes ?? boundBytes, maxBatchBytes);
  const previous = header === undefined ? undefined : fetchTotals.get(header.memory);
  const sofar = previous !== undefined && previous.end === header?.start ? previous.total : 0;
  // The first batch of a response always proceeds (its own cap applies), so a deferral never stalls the channel.
  if (sofar > 0 && sofar + capacity > maxBatchBytes) throw deferToNextFetch();
  const problem = capacityProblem(declaredBytes, exactBytes);
  if (problem !== undefined) return record(header, sofar, refuse(header, problem));
  if (capacity === 0) return record(header, sofar, Buffer.alloc(0));
  let out: Buffer;
  try {
    out = zstdDecompress(compressed, capacity);
  } catch {
    const why =
      boundBytes > maxBatchBytes && declaredBytes === undefined
        ? `it does not decompress within the ${maxBatchBytes}-byte cap (WORKER_MAX_BATCH_BYTES; its blocks allow up to ${boundBytes} bytes)`
        : 'corrupt zstd data (libzstd refused it)';
    return record(header, sofar, refuse(header, why));
  }
  return record(header, sofar, out);
}

function record(header: RecordBatchHeader | undefined, sofar: number, out: Buffer): Buffer {
  if (header !== undefined)
    fetchTotals.set(header.memory, { end: header.end, total: sofar + out.length });
  return out;
}

/** The codec KafkaJS calls per compressed record batch. The CDC only reads, so compressing is refused. */
export function zstdCodec(): {
  compress: () => Promise<Buffer>;
  decompress: (buffer: Buffer) => Promise<Buffer>;
} {
  return {
    compress: () =>
      Promise.reject(new Error('zstd compression is not supported: the CDC only reads zstd')),
    decompress: (buffer: Buffer) => decompressBatch(buffer),
  };
}

/**
 * Registers the codec in KafkaJS's process-wide codec table (idempotent) and sets the per-batch cap, which also
 * bounds what the batches of one fetch response decompress to together.
 */
export function registerKafkaZstdCodec(opts: { maxBatchBytes?: number } = {}): void {
  if (opts.maxBatchBytes !== undefined) maxBatchBytes = opts.maxBatchBytes;
  CompressionCodecs[CompressionTypes.ZSTD] = zstdCodec;
}
