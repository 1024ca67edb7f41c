import { invalidArgument } from '@cdc/shared';
import { checkMilvusEndpoint } from './endpoint-validation.js';
import { checkCount, quote } from './field-checks.js';
import type { TargetSpec } from './model.js';

// Enum names only: a bare number (a value this proto does not define) is rejected, not stored.
const TARGET_MODES = new Set([
  'TARGET_MODE_UNSPECIFIED',
  'TARGET_MODE_API',
  'TARGET_MODE_REPLICATE',
]);

export function checkTargetMode(field: string, target: TargetSpec): TargetSpec['mode'] {
  if (!TARGET_MODES.has(target.mode))
    throw invalidArgument(`${field}.mode`, `${quote(target.mode)} is not a TargetMode`);
  return target.mode === 'TARGET_MODE_UNSPECIFIED' ? 'TARGET_MODE_API' : target.mode;
}

const MAX_FAN_OUT_TARGETS = 4;

/** Fan-out targets: each a valid endpoint, none the same server as the main target or another fan-out target. */
export function checkFanOut(fanOut: readonly TargetSpec[], main: TargetSpec): TargetSpec[] {
  checkCount('spec.fan_out', fanOut.length, MAX_FAN_OUT_TARGETS);
  const seen = new Map<string, string>([[targetKey(main.uri), 'spec.target']]);
  return fanOut.map((t, i) => {
    const field = `spec.fan_out[${i}]`;
    if (t.uri === '') throw invalidArgument(`${field}.uri`, 'is required');
    checkMilvusEndpoint(field, t);
    const key = targetKey(t.uri);
    const twin = seen.get(key);
    if (twin !== undefined)
      throw invalidArgument(`${field}.uri`, `${quote(t.uri)} is the same server as ${twin}`);
    seen.set(key, field);
    return { ...t, mode: checkTargetMode(field, t) };
  });
}

/** Canonical target identity for overlap checks: scheme-less lowercase host:port. */
export function targetKey(uri: string): string {
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(uri) ? uri : `tcp://${uri}`;
  try {
    const url = new URL(withScheme);
    const port = url.port === '' ? (url.protocol === 'https:' ? '443' : '19530') : url.port;
    const host =
      url.hostname.toLowerCase() === 'localhost' ? '127.0.0.1' : url.hostname.toLowerCase();
    return `${host}:${port}`;
  } catch {
    return uri.toLowerCase();
  }
}
