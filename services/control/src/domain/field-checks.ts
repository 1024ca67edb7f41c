import { invalidArgument } from '@cdc/shared';

/**
 * Size limits. Without them a single request (up to the 4 MiB gRPC limit) is stored whole in etcd (whose
 * default request limit is 1.5 MiB, so the write fails as INTERNAL) and echoed back in error messages.
 */
export const MAX_ADDRESS_CHARS = 1024;
export const MAX_SECRET_CHARS = 4096;
export const MAX_SHORT_CHARS = 256;
export const MAX_LIST_ITEMS = 256;
export const MAX_MAP_ENTRIES = 1024;

/** A user value quoted for an error message, cut short so that huge input is never echoed back whole. */
export function quote(value: string, max = 64): string {
  const shown = value.length > max ? `${value.slice(0, max)}…` : value;
  return JSON.stringify(shown);
}

export function checkLength(field: string, value: string, max: number): void {
  if (value.length > max)
    throw invalidArgument(field, `is ${value.length} characters long; at most ${max} allowed`);
}

export function checkCount(field: string, count: number, max: number): void {
  if (count > max) throw invalidArgument(field, `has ${count} entries; at most ${max} allowed`);
}
