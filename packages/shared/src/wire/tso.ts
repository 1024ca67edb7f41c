import { CdcError } from '../errors.js';
import type { SourceTso } from '../meta/source-metadata.js';

/**
 * Hybrid timestamps (TSO): `ts = (physical_ms << 18) | logical` (reference §1.1, `tsoutil`), and the etcd TSO key
 * value `kv/gid/timestamp` (8-byte big-endian `uint64(time.UnixNano())`).
 */

export const LOGICAL_BITS = 18n;
const LOGICAL_MASK = (1n << LOGICAL_BITS) - 1n;
const UINT64_MAX = (1n << 64n) - 1n;

export function composeTs(physicalMs: bigint | number, logical = 0): bigint {
  const p = BigInt(physicalMs);
  const l = BigInt(logical);
  if (p < 0n || l < 0n || l > LOGICAL_MASK) {
    throw new CdcError('INVALID_ARGUMENT', 'composing hybrid timestamp: out of range', {
      retryable: false,
      details: { physicalMs: p.toString(), logical },
    });
  }
  return (p << LOGICAL_BITS) | l;
}

export function parseTs(ts: bigint): { physicalMs: bigint; logical: number } {
  return { physicalMs: ts >> LOGICAL_BITS, logical: Number(ts & LOGICAL_MASK) };
}

export function tsToDate(ts: bigint): Date {
  return new Date(Number(ts >> LOGICAL_BITS));
}

export function tsToUnixMs(ts: bigint): number {
  return Number(ts >> LOGICAL_BITS);
}

export function dateToTs(date: Date, logical = 0): bigint {
  return composeTs(BigInt(date.getTime()), logical);
}

/** Decodes the etcd `kv/gid/timestamp` value. */
export function decodeTsoValue(value: Uint8Array): SourceTso {
  if (value.length !== 8) {
    throw new CdcError('DECODE_FAILED', 'decoding tso value: expected 8 bytes', {
      retryable: false,
      details: { length: value.length },
    });
  }
  const unixNanos = Buffer.from(value.buffer, value.byteOffset, 8).readBigUInt64BE(0);
  return { unixNanos, hybridTs: (unixNanos / 1_000_000n) << LOGICAL_BITS };
}

export function encodeTsoValue(unixNanos: bigint): Uint8Array {
  if (unixNanos < 0n || unixNanos > UINT64_MAX) {
    throw new CdcError('INVALID_ARGUMENT', 'encoding tso value: out of uint64 range', {
      retryable: false,
    });
  }
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(unixNanos, 0);
  return new Uint8Array(b);
}
