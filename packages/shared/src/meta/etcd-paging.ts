import { SortOrder, SortTarget } from 'etcd3';
import type { IKeyValue, IRangeRequest, IRangeResponse } from 'etcd3';

/**
 * etcd's own limits and the client's, chosen together. etcd refuses any request above `--max-request-bytes`
 * (1.5 MiB by default), so no stored key plus value is larger; its gRPC server accepts 512 KiB of framing on top.
 * gRPC's client default would refuse any response above 4 MiB, which a whole-prefix read of a few large records
 * already exceeds, and the etcd3 client counts that refusal as a server failure: it retries, resets the host's
 * connections and opens its circuit breaker, so every other call fails for seconds. A response must therefore never
 * exceed the limit: reads go page by page, and a page holds at most `etcdPageKeys(maxRequestBytes)` keys, which fits
 * the receive limit whatever the records are. The limit is large so that pages are (each request costs a round
 * trip): a full page of maximum-size records is 512 MiB, but the records this service writes are bounded far below
 * etcd's limit, so its real pages are a few MB at most (Go's etcd client accepts 2 GiB and does not page at all).
 */
export const ETCD_DEFAULT_MAX_REQUEST_BYTES = 1_572_864;
/** Framing etcd's gRPC server accepts beyond `--max-request-bytes`. */
export const ETCD_GRPC_OVERHEAD_BYTES = 512 * 1024;
/** Operations per transaction etcd accepts (`--max-txn-ops`, default 128). */
export const ETCD_MAX_TXN_OPS = 128;
/** Largest etcd response this client accepts: a full page of maximum-size records. */
export const ETCD_RECEIVE_LIMIT_BYTES = 512 * 1024 * 1024;
/** Revisions, version and lease of each key-value in a range response. */
const KV_FRAMING_BYTES = 1024;
const MAX_PAGE_KEYS = 1000;

/** Keys per range request such that a page of records of any size etcd accepts fits `ETCD_RECEIVE_LIMIT_BYTES`. */
export function etcdPageKeys(maxRequestBytes = ETCD_DEFAULT_MAX_REQUEST_BYTES): number {
  const perKey = maxRequestBytes + KV_FRAMING_BYTES;
  return Math.max(1, Math.min(MAX_PAGE_KEYS, Math.floor(ETCD_RECEIVE_LIMIT_BYTES / perKey)));
}

/** gRPC channel options of an etcd3 client (`grpcOptions`): the message limits above, set deliberately. */
export function etcdGrpcOptions(maxRequestBytes = ETCD_DEFAULT_MAX_REQUEST_BYTES): {
  'grpc.max_receive_message_length': number;
  'grpc.max_send_message_length': number;
} {
  return {
    'grpc.max_receive_message_length': ETCD_RECEIVE_LIMIT_BYTES,
    // The same as etcd's server accepts: a larger request would be refused there anyway.
    'grpc.max_send_message_length': maxRequestBytes + ETCD_GRPC_OVERHEAD_BYTES,
  };
}

/** The range call of etcd's KV service (`Etcd3.kv`); a fake implements it in unit tests. */
export interface EtcdRangeApi {
  range(req: IRangeRequest): Promise<IRangeResponse>;
}

export interface ScanOptions {
  /**
   * Keys per request, at most `etcdPageKeys()` of the store; default `etcdPageKeys()`. A function is asked before each
   * request (a reader that fills a byte budget sizes the next page from the records so far).
   */
  readonly pageKeys?: number | (() => number);
  /**
   * `'first'` (default): every page at the revision of the first one, a consistent snapshot. A bigint: at that
   * revision. `'latest'`: each page at the newest revision (long scans of a store that is being written).
   */
  readonly revision?: bigint | 'first' | 'latest';
  /** Keys without values (listing or counting). */
  readonly keysOnly?: boolean;
}

export interface ScanPage {
  readonly kvs: readonly IKeyValue[];
  /** The revision the page was read at. */
  readonly revision: bigint;
}

/** [start, end) of every key with `prefix`, as etcd's range end convention has it. */
export function prefixRange(prefix: string | Buffer): { start: Buffer; end: Buffer } {
  const start = Buffer.from(prefix);
  const end = Buffer.from(start);
  for (let i = end.length - 1; i >= 0; i--) {
    if (end[i] !== 0xff) {
      end[i] = (end[i] ?? 0) + 1;
      return { start, end: end.subarray(0, i + 1) };
    }
  }
  return { start, end: Buffer.from([0]) }; // all keys from start
}

/**
 * Reads [start, end) in key order, one bounded page per request, continuing after the last key of each page.
 * Yields the pages; a caller that stops early reads no more.
 */
export async function* scanPages(
  kv: EtcdRangeApi,
  range: { readonly start: Buffer; readonly end: Buffer },
  opts: ScanOptions = {},
): AsyncGenerator<ScanPage> {
  const pageKeys = (): number => {
    const asked = typeof opts.pageKeys === 'function' ? opts.pageKeys() : opts.pageKeys;
    return Math.max(1, asked ?? etcdPageKeys());
  };
  let revision = typeof opts.revision === 'bigint' ? opts.revision : undefined;
  let start = range.start;
  for (;;) {
    const res = await kv.range({
      key: start,
      range_end: range.end,
      limit: pageKeys(),
      sort_order: SortOrder.Ascend,
      sort_target: SortTarget.Key,
      ...(revision === undefined ? {} : { revision: revision.toString() }),
      ...(opts.keysOnly === true ? { keys_only: true } : {}),
    });
    const read = BigInt(res.header.revision);
    if (revision === undefined && opts.revision !== 'latest') revision = read;
    yield { kvs: res.kvs, revision: revision ?? read };
    const last = res.kvs[res.kvs.length - 1];
    if (!res.more || last === undefined) return;
    // The smallest key after `last`.
    start = Buffer.concat([last.key, Buffer.from([0])]);
  }
}

/** Every key-value under `prefix`, read page by page (see `scanPages`). */
export async function scanPrefix(
  kv: EtcdRangeApi,
  prefix: string | Buffer,
  opts: ScanOptions = {},
): Promise<{ kvs: IKeyValue[]; revision: bigint }> {
  const kvs: IKeyValue[] = [];
  let revision = 0n;
  for await (const page of scanPages(kv, prefixRange(prefix), opts)) {
    kvs.push(...page.kvs);
    revision = page.revision;
  }
  return { kvs, revision };
}
