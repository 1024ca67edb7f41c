import { invalidArgument } from '@cdc/shared';
import {
  checkCount,
  checkLength,
  MAX_MAP_ENTRIES,
  MAX_SHORT_CHARS,
  quote,
} from './field-checks.js';
import type { Position, StartPoint } from './model.js';

// Enum names only: a bare number (a value this proto does not define) is rejected, not stored.
const START_KINDS = new Set([
  'START_KIND_UNSPECIFIED',
  'START_KIND_LATEST',
  'START_KIND_EARLIEST',
  'START_KIND_TIMESTAMP',
  'START_KIND_POSITIONS',
]);

function checkPosition(field: string, p: Position): void {
  if (p.msg_id === '') throw invalidArgument(`${field}.msg_id`, 'is required');
  checkLength(`${field}.msg_id`, p.msg_id, MAX_SHORT_CHARS);
  if (!/^\d+$/.test(p.timestamp))
    throw invalidArgument(`${field}.timestamp`, 'must be an unsigned integer');
}

/** Channel names a source with this prefix can have. */
export function isSourceChannel(prefix: string, channel: string): boolean {
  return (
    channel === `${prefix}-replicate-msg` ||
    new RegExp(`^${escapeRegExp(prefix)}-rootcoord-dml_\\d+$`).test(channel)
  );
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

export function validateStartPoint(
  field: string,
  start: StartPoint,
  channelPrefix: string,
): StartPoint {
  if (!START_KINDS.has(start.kind))
    throw invalidArgument(`${field}.kind`, `${quote(start.kind)} is not a StartKind`);
  const kind = start.kind === 'START_KIND_UNSPECIFIED' ? 'START_KIND_LATEST' : start.kind;
  const hasTs = start.timestamp !== '0' && start.timestamp !== '';
  if (kind === 'START_KIND_TIMESTAMP' && !hasTs)
    throw invalidArgument(`${field}.timestamp`, 'is required for START_KIND_TIMESTAMP');
  if (kind !== 'START_KIND_TIMESTAMP' && hasTs)
    throw invalidArgument(`${field}.timestamp`, 'is only allowed with START_KIND_TIMESTAMP');
  const channels = Object.keys(start.positions);
  checkCount(`${field}.positions`, channels.length, MAX_MAP_ENTRIES);
  if (kind === 'START_KIND_POSITIONS' && channels.length === 0)
    throw invalidArgument(
      `${field}.positions`,
      'needs at least one channel for START_KIND_POSITIONS',
    );
  if (kind !== 'START_KIND_POSITIONS' && channels.length > 0)
    throw invalidArgument(`${field}.positions`, 'is only allowed with START_KIND_POSITIONS');
  for (const channel of channels) {
    if (!isSourceChannel(channelPrefix, channel))
      throw invalidArgument(
        `${field}.positions[${quote(channel)}]`,
        `is not a channel of prefix "${channelPrefix}"`,
      );
    const p = start.positions[channel];
    if (p !== undefined) checkPosition(`${field}.positions[${quote(channel)}]`, p);
  }
  return { ...start, kind, timestamp: hasTs ? start.timestamp : '0' };
}

/** Kafka message ids are the 8-byte little-endian offset; any other length cannot be a Kafka position. */
export function checkKafkaMsgIds(field: string, start: StartPoint): void {
  for (const [channel, p] of Object.entries(start.positions))
    if (Buffer.from(p.msg_id, 'base64').length !== 8)
      throw invalidArgument(
        `${field}.positions[${quote(channel)}].msg_id`,
        'must be 8 bytes (a Kafka offset) for MQ_TYPE_KAFKA',
      );
}
