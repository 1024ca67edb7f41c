/**
 * Reads the structure of zstd data (RFC 8878: frame headers and block headers) without decompressing it, to know
 * before any allocation how large the output can be. Raw and RLE blocks state their output size exactly; a
 * compressed block regenerates at most Block_Maximum_Size = min(window, 128 KiB). A 60 KB "bomb" of RLE blocks that
 * expands to 1.9 GB is thus measured from its 15,000 block headers in microseconds.
 */

const ZSTD_MAGIC = 0xfd2fb528;
const BLOCK_MAX = 128 * 1024;

export interface ZstdLayout {
  /** Sum of the frames' Frame_Content_Size, when every frame declares one. */
  readonly declaredBytes: number | undefined;
  /** Output bytes stated exactly by raw and RLE blocks. */
  readonly exactBytes: number;
  /** Upper bound of the output: exact bytes plus Block_Maximum_Size per compressed block. */
  readonly boundBytes: number;
}

export class ZstdLayoutError extends Error {
  override readonly name = 'ZstdLayoutError';
}

function u32le(b: Uint8Array, at: number): number {
  return (
    ((b[at] ?? 0) | ((b[at + 1] ?? 0) << 8) | ((b[at + 2] ?? 0) << 16)) + (b[at + 3] ?? 0) * 2 ** 24
  );
}

function uintLe(b: Uint8Array, at: number, bytes: number): number {
  let v = 0;
  for (let i = 0; i < bytes; i++) v += (b[at + i] ?? 0) * 2 ** (8 * i);
  return v;
}

/** Walks every frame of `data`; throws ZstdLayoutError for anything that is not well-formed zstd. */
export function zstdLayout(data: Uint8Array): ZstdLayout {
  let at = 0;
  let declared: number | undefined = 0;
  let exact = 0;
  let bound = 0;
  const need = (n: number, what: string): void => {
    if (at + n > data.length) throw new ZstdLayoutError(`zstd data ends inside ${what}`);
  };
  if (data.length === 0) throw new ZstdLayoutError('empty zstd data');
  while (at < data.length) {
    need(4, 'a frame magic number');
    const magic = u32le(data, at);
    at += 4;
    if ((magic & 0xfffffff0) >>> 0 === 0x184d2a50) {
      need(4, 'a skippable frame');
      at += 4 + u32le(data, at);
      if (at > data.length) throw new ZstdLayoutError('zstd data ends inside a skippable frame');
      continue;
    }
    if (magic !== ZSTD_MAGIC) throw new ZstdLayoutError('not a zstd frame (bad magic number)');
    need(1, 'a frame header');
    const descriptor = data[at++] ?? 0;
    const fcsFlag = descriptor >> 6;
    const singleSegment = (descriptor >> 5) & 1;
    const checksum = (descriptor >> 2) & 1;
    const dictFlag = descriptor & 3;
    if (descriptor & 0x08) throw new ZstdLayoutError('reserved bit set in a zstd frame header');
    if (dictFlag !== 0) throw new ZstdLayoutError('zstd frame needs a dictionary');
    let window = 0;
    if (!singleSegment) {
      need(1, 'a window descriptor');
      const wd = data[at++] ?? 0;
      const base = 2 ** (10 + (wd >> 3));
      window = base + (base / 8) * (wd & 7);
    }
    const fcsBytes = fcsFlag === 0 ? singleSegment : 1 << fcsFlag;
    let contentSize: number | undefined;
    if (fcsBytes > 0) {
      need(fcsBytes, 'a frame content size');
      contentSize = uintLe(data, at, fcsBytes) + (fcsBytes === 2 ? 256 : 0);
      at += fcsBytes;
    }
    if (singleSegment) window = contentSize ?? 0;
    declared =
      declared === undefined || contentSize === undefined ? undefined : declared + contentSize;
    const blockMax = Math.min(window, BLOCK_MAX);
    for (let last = 0; !last;) {
      need(3, 'a block header');
      const header = uintLe(data, at, 3);
      at += 3;
      last = header & 1;
      const type = (header >> 1) & 3;
      const size = header >>> 3;
      if (type === 3) throw new ZstdLayoutError('reserved zstd block type');
      if (size > BLOCK_MAX) throw new ZstdLayoutError('zstd block larger than 128 KiB');
      if (type === 1) {
        need(1, 'an RLE block');
        at += 1;
        exact += size;
        bound += size;
      } else {
        need(size, 'a block');
        at += size;
        if (type === 0) {
          exact += size;
          bound += size;
        } else {
          bound += blockMax;
        }
      }
    }
    if (checksum) {
      need(4, 'a frame checksum');
      at += 4;
    }
  }
  return { declaredBytes: declared, exactBytes: exact, boundBytes: bound };
}
