import { tsToUnixMs } from '@cdc/shared';
import type { LeaseStartWire } from '../ports/worker-control.js';
import type { ReaderStart } from '../ports/source-reader.js';

/** Turns the control plane's start instruction into where the reader opens. */
export function readerStartOf(start: LeaseStartWire): ReaderStart {
  const msgId = start.position?.msg_id;
  if (msgId && msgId.length > 0) return { kind: 'after', msgId: new Uint8Array(msgId) };
  switch (start.kind) {
    case 'START_KIND_EARLIEST':
      return { kind: 'earliest' };
    case 'START_KIND_TIMESTAMP':
      return { kind: 'timestamp', unixMs: tsToUnixMs(BigInt(start.timestamp || '0')) };
    default:
      return { kind: 'latest' };
  }
}

/**
 * Changes at or before this source timestamp are not applied by the lease: a checkpoint's timestamp (everything up to
 * it is applied, see Position in worker.proto), or a timestamp start. 0n: none.
 */
export function resumeFloorOf(start: LeaseStartWire): bigint {
  if (start.position !== null && start.from_checkpoint)
    return BigInt(start.position.timestamp || '0');
  if (start.kind === 'START_KIND_TIMESTAMP') return BigInt(start.timestamp || '0');
  return 0n;
}
