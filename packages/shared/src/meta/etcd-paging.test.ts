import type { IKeyValue, IRangeRequest, IRangeResponse } from 'etcd3';
import { describe, expect, it } from 'vitest';
import {
  ETCD_DEFAULT_MAX_REQUEST_BYTES,
  ETCD_RECEIVE_LIMIT_BYTES,
  etcdGrpcOptions,
  etcdPageKeys,
  prefixRange,
  scanPages,
  scanPrefix,
  type EtcdRangeApi,
} from './etcd-paging.js';

interface Version {
  readonly revision: bigint;
  readonly value: Buffer | undefined; // undefined: deleted
}

/**
 * An in-memory etcd KV range with revisions, and gRPC's receive limit: a response larger than `receiveLimit` bytes
 * fails, as the real client does.
 */
class FakeEtcd implements EtcdRangeApi {
  private readonly history = new Map<string, Version[]>();
  revision = 1n;
  readonly requests: IRangeRequest[] = [];

  constructor(private readonly receiveLimit = Number.MAX_SAFE_INTEGER) {}

  put(key: string | Buffer, value: string | Buffer): void {
    this.write(Buffer.from(key), Buffer.from(value));
  }

  delete(key: string): void {
    this.write(Buffer.from(key), undefined);
  }

  private write(key: Buffer, value: Buffer | undefined): void {
    this.revision++;
    const id = key.toString('hex');
    this.history.set(id, [...(this.history.get(id) ?? []), { revision: this.revision, value }]);
  }

  range(req: IRangeRequest): Promise<IRangeResponse> {
    this.requests.push(req);
    const at = req.revision === undefined ? this.revision : BigInt(req.revision);
    const start = req.key ?? Buffer.alloc(0);
    const end = req.range_end;
    const keys = [...this.history.keys()]
      .map((h) => Buffer.from(h, 'hex'))
      .filter((k) => Buffer.compare(k, start) >= 0)
      .filter(
        (k) =>
          end === undefined || (end.length === 1 && end[0] === 0) || Buffer.compare(k, end) < 0,
      )
      .sort((a, b) => Buffer.compare(a, b));
    const kvs: IKeyValue[] = [];
    for (const key of keys) {
      const seen = (this.history.get(key.toString('hex')) ?? []).filter((v) => v.revision <= at);
      const last = seen[seen.length - 1];
      if (last?.value === undefined) continue;
      kvs.push({
        key,
        value: req.keys_only === true ? Buffer.alloc(0) : last.value,
        create_revision: '1',
        mod_revision: last.revision.toString(),
        version: '1',
        lease: '0',
      });
    }
    const limit = Number(req.limit ?? 0);
    const page = limit > 0 ? kvs.slice(0, limit) : kvs;
    const bytes = page.reduce((n, kv) => n + kv.key.length + kv.value.length + 1024, 0);
    if (bytes > this.receiveLimit)
      return Promise.reject(new Error(`Received message larger than max (${bytes})`));
    return Promise.resolve({
      header: {
        cluster_id: '1',
        member_id: '1',
        revision: this.revision.toString(),
        raft_term: '1',
      },
      kvs: page,
      more: page.length < kvs.length,
      count: String(kvs.length),
    });
  }
}

const keyText = (kv: IKeyValue): string => kv.key.toString('latin1');

describe('etcd paging', () => {
  it('reads every key of a prefix in order, one bounded page per request', async () => {
    const etcd = new FakeEtcd();
    for (let i = 0; i < 2_500; i++) etcd.put(`root/tasks/t${String(i).padStart(5, '0')}`, `v${i}`);
    etcd.put('root/tasks', 'the prefix itself without the slash');
    etcd.put('root/tasksX', 'beside the prefix');
    etcd.put('root/taskr', 'before the prefix');
    const { kvs } = await scanPrefix(etcd, 'root/tasks/', { pageKeys: 300 });
    expect(kvs.map(keyText)).toEqual(
      Array.from({ length: 2_500 }, (_, i) => `root/tasks/t${String(i).padStart(5, '0')}`),
    );
    expect(etcd.requests.length).toBe(9); // ceil(2500 / 300)
    for (const r of etcd.requests) expect(r.limit).toBe(300);
  });

  it('continues right after the last key: keys with 0x00 and 0xff bytes are neither skipped nor repeated', async () => {
    const etcd = new FakeEtcd();
    const keys = [
      Buffer.from('p/a'),
      Buffer.from('p/a\u0000'),
      Buffer.from('p/a\u0000\u0000'),
      Buffer.from([0x70, 0x2f, 0x61, 0xff]),
      Buffer.from([0x70, 0x2f, 0x61, 0xff, 0x00]),
      Buffer.from([0x70, 0x2f, 0xff, 0xff]),
    ];
    for (const k of keys) etcd.put(k, 'x');
    const { kvs } = await scanPrefix(etcd, 'p/', { pageKeys: 1 });
    expect(kvs.map((kv) => kv.key.toString('hex'))).toEqual(keys.map((k) => k.toString('hex')));
  });

  it('reads every page at the first page’s revision by default (a consistent snapshot)', async () => {
    const etcd = new FakeEtcd();
    for (let i = 0; i < 10; i++) etcd.put(`p/${i}`, 'old');
    const seen: string[] = [];
    let pages = 0;
    for await (const page of scanPages(etcd, prefixRange('p/'), { pageKeys: 3 })) {
      if (pages++ === 0) {
        etcd.put('p/99', 'written during the scan');
        etcd.put('p/5', 'new');
        etcd.delete('p/8');
      }
      for (const kv of page.kvs) seen.push(`${keyText(kv)}=${kv.value.toString()}`);
    }
    expect(seen).toEqual(Array.from({ length: 10 }, (_, i) => `p/${i}=old`));
    const latest = await scanPrefix(etcd, 'p/', { pageKeys: 3, revision: 'latest' });
    expect(latest.kvs.map(keyText)).toContain('p/99');
    expect(latest.kvs.map(keyText)).not.toContain('p/8');
  });

  it('reads at a given revision, and keys only when asked', async () => {
    const etcd = new FakeEtcd();
    etcd.put('p/a', 'one');
    const at = etcd.revision;
    etcd.put('p/b', 'two');
    const { kvs, revision } = await scanPrefix(etcd, 'p/', { revision: at, keysOnly: true });
    expect(kvs.map(keyText)).toEqual(['p/a']);
    expect(kvs[0]?.value.length).toBe(0);
    expect(revision).toBe(at);
  });

  it('asks a page-size function before each request', async () => {
    const etcd = new FakeEtcd();
    for (let i = 0; i < 100; i++) etcd.put(`p/${String(i).padStart(3, '0')}`, 'v');
    const sizes = [5, 10, 200];
    const { kvs } = await scanPrefix(etcd, 'p/', { pageKeys: () => sizes.shift() ?? 1 });
    expect(kvs).toHaveLength(100);
    expect(etcd.requests.map((r) => r.limit)).toEqual([5, 10, 200]);
  });

  it('stops reading when the caller stops', async () => {
    const etcd = new FakeEtcd();
    for (let i = 0; i < 100; i++) etcd.put(`p/${String(i).padStart(3, '0')}`, 'v');
    for await (const page of scanPages(etcd, prefixRange('p/'), { pageKeys: 10 })) {
      expect(page.kvs.length).toBe(10);
      break;
    }
    expect(etcd.requests.length).toBe(1);
  });

  it('an empty prefix is one request', async () => {
    const etcd = new FakeEtcd();
    expect((await scanPrefix(etcd, 'nothing/')).kvs).toEqual([]);
    expect(etcd.requests.length).toBe(1);
  });

  it('pages of records of any size etcd accepts fit the receive limit', async () => {
    for (const maxRequest of [ETCD_DEFAULT_MAX_REQUEST_BYTES, 4 * 1024 * 1024, 10_000, 1]) {
      const keys = etcdPageKeys(maxRequest);
      expect(keys).toBeGreaterThanOrEqual(1);
      expect(keys * (maxRequest + 1024)).toBeLessThanOrEqual(ETCD_RECEIVE_LIMIT_BYTES);
    }
    expect(etcdPageKeys()).toBe(341);
    // A whole-prefix read of six 780 KB records would be 4.7 MB; with a 4 MiB limit it fails, paged it does not.
    const etcd = new FakeEtcd(4 * 1024 * 1024);
    for (let i = 0; i < 6; i++) etcd.put(`p/${i}`, Buffer.alloc(780_000, 0x61));
    await expect(scanPrefix(etcd, 'p/', { pageKeys: 1000 })).rejects.toThrow('larger than max');
    const { kvs } = await scanPrefix(etcd, 'p/', { pageKeys: 4 });
    expect(kvs.length).toBe(6);
    expect(etcdGrpcOptions()).toEqual({
      'grpc.max_receive_message_length': ETCD_RECEIVE_LIMIT_BYTES,
      'grpc.max_send_message_length': ETCD_DEFAULT_MAX_REQUEST_BYTES + 512 * 1024,
    });
  });

  it('prefixRange ends after the last key of the prefix', () => {
    expect(prefixRange('a/b').end.toString()).toBe('a/c');
    expect(prefixRange(Buffer.from([0x61, 0xff])).end).toEqual(Buffer.from([0x62]));
    expect(prefixRange(Buffer.from([0xff, 0xff])).end).toEqual(Buffer.from([0]));
  });
});
