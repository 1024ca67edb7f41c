import { createHash, randomBytes } from 'node:crypto';
import { CdcError, invalidArgument } from '@cdc/shared';
import type { Position, QuarantineRecord } from '../domain/model.js';
import {
  MAX_MSG_ID_BYTES,
  MAX_QUARANTINE_BATCH,
  MAX_TARGET_URI_CHARS,
  MAX_WORKER_REASON_CHARS,
} from '../domain/record-limits.js';
import { checkLength } from '../domain/field-checks.js';
import { staleEpoch } from './lease-errors.js';
import type { ChannelStore, Clock, QuarantineStore } from './ports.js';
import { notFound } from './task-record-update.js';
import type { TaskService } from './task-service.js';
import { decodePageToken, encodePageToken } from './page-token.js';

export interface QuarantineServiceDeps {
  readonly tasks: Pick<TaskService, 'get' | 'pause'>;
  readonly channels: ChannelStore;
  readonly store: QuarantineStore;
  readonly clock: Clock;
  /** Bytes kept of each payload (CONTROL_QUARANTINE_PAYLOAD_CAP). */
  readonly payloadCap: number;
  /** Records kept per task (CONTROL_QUARANTINE_MAX_ENTRIES). */
  readonly maxEntries: number;
}

/** One skipped message as a worker reports it. */
export interface QuarantineReport {
  readonly position?: Position;
  readonly reason: string;
  /** The message, or its first bytes. */
  readonly payload: Buffer;
  /** The message's full size when the worker sent only its first bytes; 0 when `payload` is whole. */
  readonly payloadSize: number;
  /** Fan-out: the target that refused the message; '' for the main target or a message no target could use. */
  readonly target: string;
}

export interface LeaseIdentity {
  readonly taskId: string;
  readonly channel: string;
  readonly epoch: string;
}

/** Pause reason of a task whose quarantine reached the cap; GetTask shows it. */
export const QUARANTINE_FULL = 'quarantine full';

/** Bytes of records in one ListQuarantine answer: under gRPC's 4 MiB default receive limit of clients. */
const LIST_RESPONSE_BYTES = 3 * 1024 * 1024;

/**
 * The dead-letter list: poison messages workers skipped. Bounded per task (`maxEntries`; at the cap the task
 * pauses with QUARANTINE_FULL and the message is not skipped: its lease ends before the checkpoint passes it),
 * deduplicated by (channel, position, target), so a replay after a crash or a lease handover adds nothing.
 */
export class QuarantineService {
  constructor(private readonly deps: QuarantineServiceDeps) {}

  /**
   * Stores a worker's batch; resolves to one id per entry (the stored one for a duplicate). `field` names an entry
   * in INVALID_ARGUMENT messages (e.g. "entries[3].").
   */
  async report(
    lease: LeaseIdentity,
    reports: readonly QuarantineReport[],
    field: (index: number) => string = (i) => `entries[${i}].`,
  ): Promise<string[]> {
    validateReports(reports, field);
    const found = await this.deps.channels.get(lease.taskId, lease.channel);
    if (found === undefined) throw notFound(lease.taskId);
    if (found.value.epoch !== lease.epoch)
      throw staleEpoch(lease.taskId, lease.channel, lease.epoch, found.value.epoch);
    const now = this.deps.clock.now();
    // Ids sort by time, and within a batch in channel order: "{ms}-{5 random hex}{3 hex index}".
    const nonce = randomBytes(3).toString('hex').slice(0, 5);
    const writes = reports.map((r, i) => ({
      record: this.record(lease, r, now, `${nonce}${i.toString(16).padStart(3, '0')}`),
      dedupeKey: dedupeKey(lease.channel, r.position, r.target),
    }));
    const outcomes = await this.deps.store.add(lease.taskId, writes, this.deps.maxEntries);
    if (outcomes.some((o) => o.kind === 'full')) {
      await this.pauseFull(lease.taskId);
      throw new CdcError(
        'FAILED_PRECONDITION',
        `${QUARANTINE_FULL}: task ${lease.taskId} holds ${this.deps.maxEntries} quarantined messages`,
        { retryable: false, details: { taskId: lease.taskId } },
      );
    }
    return outcomes.map((o) => (o.kind === 'full' ? '' : o.quarantineId));
  }

  async list(
    taskId: string,
    pageSize: number,
    pageToken: string,
  ): Promise<{ records: QuarantineRecord[]; nextPageToken: string }> {
    await this.deps.tasks.get(taskId);
    if (pageSize > 500) throw invalidArgument('page_size', 'must be at most 500');
    const size = pageSize === 0 ? 50 : pageSize;
    const after = decodePageToken(pageToken, 'page_token');
    const page = await this.deps.store.list(taskId, after, size, LIST_RESPONSE_BYTES);
    const last = page.records[page.records.length - 1];
    return {
      records: page.records,
      nextPageToken: page.more && last !== undefined ? encodePageToken(last.quarantineId) : '',
    };
  }

  /** Deletes every quarantine record of a task; resolves to how many there were. */
  async purge(taskId: string): Promise<number> {
    await this.deps.tasks.get(taskId);
    return this.deps.store.purge(taskId);
  }

  count(taskId: string): Promise<number> {
    return this.deps.store.count(taskId);
  }

  private record(
    lease: LeaseIdentity,
    r: QuarantineReport,
    now: number,
    suffix: string,
  ): QuarantineRecord {
    const cap = this.deps.payloadCap;
    return {
      quarantineId: `${now.toString().padStart(15, '0')}-${suffix}`,
      channel: lease.channel,
      epoch: lease.epoch,
      ...(r.position === undefined ? {} : { position: r.position }),
      reason: r.reason,
      payload: r.payload.subarray(0, cap).toString('base64'),
      truncated: r.payload.length > cap || r.payloadSize > r.payload.length,
      createTimeMs: now,
    };
  }

  /**
   * An immediate pause (like a worker failure that needs a person): the channel that hit the cap cannot go on, and the
   * others stop where they are instead of at a pause point ahead.
   */
  private async pauseFull(taskId: string): Promise<void> {
    const task = await this.deps.tasks.get(taskId);
    if (task.state !== 'TASK_STATE_RUNNING' && task.state !== 'TASK_STATE_PAUSING') return;
    await this.deps.tasks.pause(
      taskId,
      `${QUARANTINE_FULL}: ${this.deps.maxEntries} messages (CONTROL_QUARANTINE_MAX_ENTRIES); review them with ListQuarantine, remove them with PurgeQuarantine (cdcctl quarantine purge ${taskId}), then resume`,
      'worker',
      true,
    );
  }
}

function validateReports(
  reports: readonly QuarantineReport[],
  fieldOf: (index: number) => string,
): void {
  if (reports.length === 0) throw invalidArgument('entries', 'needs at least one entry');
  if (reports.length > MAX_QUARANTINE_BATCH)
    throw invalidArgument(
      'entries',
      `has ${reports.length} entries; at most ${MAX_QUARANTINE_BATCH} allowed`,
    );
  reports.forEach((r, i) => {
    const field = fieldOf(i);
    checkLength(`${field}reason`, r.reason, MAX_WORKER_REASON_CHARS);
    checkLength(`${field}target_uri`, r.target, MAX_TARGET_URI_CHARS);
    const msgId = r.position === undefined ? 0 : Buffer.from(r.position.msg_id, 'base64').length;
    if (msgId > MAX_MSG_ID_BYTES)
      throw invalidArgument(
        `${field}position.msg_id`,
        `is ${msgId} bytes long; at most ${MAX_MSG_ID_BYTES} allowed`,
      );
  });
}

/**
 * Identity of a quarantined message: the same message refused again by the same target is the same entry. Without
 * a position nothing identifies it: a random key.
 */
export function dedupeKey(channel: string, position: Position | undefined, target: string): string {
  if (position === undefined) return randomBytes(32).toString('hex');
  const h = createHash('sha256');
  for (const part of [
    channel,
    position.msg_id,
    position.timestamp,
    String(position.batch_index),
    target,
  ])
    h.update(`${Buffer.byteLength(part)}:${part};`);
  return h.digest('hex');
}
