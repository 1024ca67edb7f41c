/**
 * The Kafka RecordBatch (magic 2) around a compressed records section, and replacement records for a batch the
 * worker refuses to decompress.
 *
 * KafkaJS hands a codec only the compressed bytes, as a slice of the fetch response. The batch header sits right
 * before them in the same memory (baseOffset … recordCount, 61 bytes), so the codec can learn which offsets it is
 * refusing. The header is trusted only when it is self-consistent (magic 2, zstd attribute, batch length ending
 * exactly where the compressed bytes end); KafkaJS is pinned, and a unit test decodes through its real decoder.
 */

const HEADER_BYTES = 61;

export interface RecordBatchHeader {
  readonly baseOffset: bigint;
  readonly lastOffsetDelta: number;
  readonly recordCount: number;
  /** Where the batch starts in the response memory: batches of one response follow each other. */
  readonly memory: ArrayBufferLike;
  readonly start: number;
  readonly end: number;
}

/** The header of the batch whose compressed records are `compressed`, or undefined if it cannot be located. */
export function recordBatchHeaderOf(compressed: Uint8Array): RecordBatchHeader | undefined {
  const start = compressed.byteOffset - HEADER_BYTES;
  if (start < 0) return undefined;
  const view = new DataView(compressed.buffer, start, HEADER_BYTES);
  const end = compressed.byteOffset + compressed.byteLength;
  const batchLength = view.getInt32(8);
  const magic = view.getInt8(16);
  const attributes = view.getInt16(21);
  const lastOffsetDelta = view.getInt32(23);
  const recordCount = view.getInt32(57);
  if (magic !== 2 || (attributes & 7) !== 4 || batchLength !== end - (start + 12)) return undefined;
  if (recordCount < 1 || lastOffsetDelta < recordCount - 1) return undefined;
  return {
    baseOffset: view.getBigInt64(0),
    lastOffsetDelta,
    recordCount,
    memory: compressed.buffer,
    start,
    end,
  };
}

function varint(out: number[], value: number): void {
  let v = value >>> 0;
  while (v >= 0x80) {
    out.push((v & 0x7f) | 0x80);
    v >>>= 7;
  }
  out.push(v);
}

const zigzag = (n: number): number => ((n << 1) ^ (n >> 31)) >>> 0;

/**
 * `count` records in the decompressed-records format KafkaJS decodes, each with an empty value and one header
 * (`key`: `value`). Offset deltas run 0, 1, … and the last one is `lastOffsetDelta`, so the batch's whole offset
 * range is passed.
 */
export function placeholderRecords(
  count: number,
  lastOffsetDelta: number,
  key: string,
  value: Uint8Array,
): Buffer {
  const keyBytes = Buffer.from(key, 'utf8');
  const chunks: Buffer[] = [];
  for (let i = 0; i < count; i++) {
    const body: number[] = [0]; // attributes
    varint(body, zigzag(0)); // timestamp delta
    varint(body, zigzag(i === count - 1 ? lastOffsetDelta : i));
    varint(body, zigzag(-1)); // null key
    varint(body, zigzag(0)); // empty value
    varint(body, zigzag(1)); // one header
    varint(body, zigzag(keyBytes.length));
    const head = Buffer.from(body);
    const valueLength: number[] = [];
    varint(valueLength, zigzag(value.length));
    const record = Buffer.concat([head, keyBytes, Buffer.from(valueLength), value]);
    const length: number[] = [];
    varint(length, zigzag(record.length));
    chunks.push(Buffer.from(length), record);
  }
  return Buffer.concat(chunks);
}
