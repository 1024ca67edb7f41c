import { describe, expect, it } from 'vitest';
import { fenceInterceptor } from './fence-interceptor.js';
import { TargetMilvusClient } from './milvus-client.js';

/** The interceptor list a grpc-js client was made with (kept under a symbol of its own). */
function interceptorsOf(client: object): unknown[] {
  for (const s of Object.getOwnPropertySymbols(client)) {
    const v: unknown = Reflect.get(client, s);
    if (Array.isArray(v) && v.every((f) => typeof f === 'function') && v.length > 0) return v;
  }
  return [];
}

describe('TargetMilvusClient', () => {
  it('makes every pooled client with the write fence and without the SDK retry interceptor', async () => {
    const c = new TargetMilvusClient({ address: '127.0.0.1:1' });
    const clients = [await c.channelPool.acquire(), await c.channelPool.acquire()];
    for (const client of clients) {
      const list = interceptorsOf(client);
      expect(list).toContain(fenceInterceptor);
      expect(list.some((f) => String(f).includes('savedSendMessage'))).toBe(false);
    }
    for (const client of clients) await c.channelPool.release(client);
    await c.closeConnection();
  });
});
