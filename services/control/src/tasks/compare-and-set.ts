import { CdcError } from '@cdc/shared';
import { emptyChannelRecord, type ChannelRecord, type Versioned } from '../domain/model.js';
import type { ChannelStore } from './ports.js';

/** Lost races before a write gives up (CONFLICT, retryable): more means a hot key, not bad luck. */
const MAX_ATTEMPTS = 8;

/** A record under compare-and-set: read with its version, write only if that version is still current. */
export interface CasRecord<T> {
  read(): Promise<Versioned<T> | undefined>;
  /** False when the stored version differs; `version` undefined means "only if absent". */
  write(next: T, version: string | undefined): Promise<boolean>;
}

/**
 * Read-modify-write with compare-and-set, repeated while another writer wins the race. `change` gets the stored value
 * (undefined: absent) and returns the next one; returning the stored value itself writes nothing. It may throw to
 * refuse the change (stale epoch, not found, ...), which ends the loop with that error.
 */
export async function compareAndSet<T>(
  what: string,
  record: CasRecord<T>,
  change: (current: T | undefined) => T,
): Promise<T> {
  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
    const found = await record.read();
    const next = change(found?.value);
    if (found !== undefined && next === found.value) return next;
    if (await record.write(next, found?.version)) return next;
  }
  throw new CdcError('CONFLICT', `${what}: too many concurrent writers`, { retryable: true });
}

/** The lease record of one (task, channel); a channel never written starts empty. */
export function updateChannelRecord(
  channels: ChannelStore,
  taskId: string,
  channel: string,
  change: (current: ChannelRecord) => ChannelRecord,
): Promise<ChannelRecord> {
  return compareAndSet(
    `updating channel ${channel} of task ${taskId}`,
    {
      read: () => channels.get(taskId, channel),
      write: (next, version) => channels.put(taskId, channel, next, version),
    },
    (current) => change(current ?? emptyChannelRecord()),
  );
}

/**
 * The refusal of a call fenced by an epoch that is no longer current: another worker holds the lease (or the copy)
 * now. LEASE_LOST, so the worker stops at once; on the wire FAILED_PRECONDITION plus the code trailer.
 */
export function staleEpochError(
  what: 'lease' | 'snapshot',
  details: Readonly<Record<string, string>> & {
    readonly epoch: string;
    readonly currentEpoch: string;
  },
): CdcError {
  return new CdcError('LEASE_LOST', `stale ${what} epoch`, { retryable: false, details });
}
