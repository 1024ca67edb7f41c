import { MAX_WORKER_REASON_CHARS, invalidArgument } from '@cdc/shared';
import type { TaskSpec } from './model.js';

/**
 * Bounds of what the control service stores per record, checked before anything is written, so that every record
 * fits one etcd request (`--max-request-bytes`, 1.5 MiB by default) and pages of them stay small.
 */

/** A task spec as stored (JSON, secrets included before sealing). Real specs are a few KB; PEMs are the bulk. */
export const MAX_TASK_SPEC_BYTES = 256 * 1024;
/** Free text from a worker (quarantine and failure reasons): shared with the workers, which cut to it. */
export { MAX_WORKER_REASON_CHARS };
/** A snapshot's last primary key: Milvus VarChar keys are at most 65,535 bytes. */
export const MAX_SNAPSHOT_KEY_CHARS = 65_535;
/** Longer than any channel name ("{prefix of ≤128}-rootcoord-dml_{n}"). */
export const MAX_CHANNEL_CHARS = 256;
/** A message id (Kafka: 8 bytes; Pulsar: a few dozen). */
export const MAX_MSG_ID_BYTES = 192;
/** Entries of one ReportQuarantineBatch call. */
export const MAX_QUARANTINE_BATCH = 256;
/** A fan-out target URI (field-checks.ts MAX_ADDRESS_CHARS). */
export const MAX_TARGET_URI_CHARS = 1024;
/**
 * INVALID_ARGUMENT when a validated spec is larger than MAX_TASK_SPEC_BYTES as stored, naming the part that makes it
 * so: the largest field, descending while one child holds most of its parent.
 */
export function checkSpecSize(spec: TaskSpec): void {
  const size = (v: unknown): number => Buffer.byteLength(JSON.stringify(v) ?? '');
  const total = size(spec);
  if (total <= MAX_TASK_SPEC_BYTES) return;
  let path = 'spec';
  let node: unknown = spec;
  let nodeSize = total;
  for (let depth = 0; depth < 4 && node !== null && typeof node === 'object'; depth++) {
    const children = Object.entries(node).map(([k, v]) => ({
      name: Array.isArray(node) ? `[${k}]` : `.${k}`,
      value: v as unknown,
      bytes: size(v),
    }));
    const largest = children.sort((a, b) => b.bytes - a.bytes)[0];
    if (largest === undefined || (depth > 0 && largest.bytes * 2 <= nodeSize)) break;
    path += largest.name;
    node = largest.value;
    nodeSize = largest.bytes;
  }
  throw invalidArgument(
    path,
    `makes the spec ${total} bytes as stored (this part: ${nodeSize}); at most ${MAX_TASK_SPEC_BYTES} allowed`,
  );
}

/** Largest UTF-8 JSON string of `chars` UTF-16 characters ("\u0000" escapes are 6 bytes). */
function jsonStringBytes(chars: number): number {
  return 6 * chars + 2;
}

/** Quarantine record id: 15-digit ms + "-" + 8 hex. */
const QUARANTINE_ID_CHARS = 24;
const TASK_ID_CHARS = 64;
/** Field names, numbers and punctuation of a quarantine record's JSON. */
const QUARANTINE_JSON_FIXED_BYTES = 512;
/** Protobuf framing of one operation of a transaction. */
const TXN_OP_FRAMING_BYTES = 32;

/** Worst-case JSON bytes of one stored quarantine record with `payloadCap` bytes of payload (base64). */
export function quarantineValueBytes(payloadCap: number): number {
  return (
    QUARANTINE_JSON_FIXED_BYTES +
    jsonStringBytes(QUARANTINE_ID_CHARS) +
    jsonStringBytes(MAX_CHANNEL_CHARS) +
    jsonStringBytes(Math.ceil(MAX_MSG_ID_BYTES / 3) * 4) +
    jsonStringBytes(MAX_WORKER_REASON_CHARS) +
    Math.ceil(payloadCap / 3) * 4 +
    2
  );
}

/**
 * Worst-case bytes of the transaction that stores one quarantine record: the record (key and value), its
 * deduplication key and the task's counter (etcd-quarantine-store.ts).
 */
export function quarantineTxnBytes(root: string, payloadCap: number): number {
  const rootBytes = Buffer.byteLength(root);
  const recordKey = rootBytes + 'quarantine/'.length + TASK_ID_CHARS + 1 + QUARANTINE_ID_CHARS;
  const seen = rootBytes + 'quarantine-seen/'.length + TASK_ID_CHARS + 1 + 64 + QUARANTINE_ID_CHARS;
  const counter = rootBytes + 'quarantine-count/'.length + TASK_ID_CHARS + 20;
  return recordKey + quarantineValueBytes(payloadCap) + seen + counter + 4 * TXN_OP_FRAMING_BYTES;
}

/** The largest payload cap whose one-record transaction fits `maxRequestBytes`. */
export function maxQuarantinePayloadCap(root: string, maxRequestBytes: number): number {
  const fixed = quarantineTxnBytes(root, 0);
  return Math.max(0, Math.floor((maxRequestBytes - fixed) / 4) * 3);
}
