import { MilvusClient, type ClientConfig } from '@zilliz/milvus2-sdk-node';
import { afterEach, describe, expect, it } from 'vitest';
import { withSharedSdkProtos } from './sdk-protos.js';

const config: ClientConfig = {
  address: '127.0.0.1:1',
  __SKIP_CONNECT__: true,
  pool: { min: 0, max: 1 },
  logLevel: 'error',
};
const made: MilvusClient[] = [];
const client = (): MilvusClient => {
  const c = new MilvusClient(config);
  made.push(c);
  return c;
};
// What a client parses in its constructor, and the gRPC service definition built from the parse.
const parsed = (c: MilvusClient): unknown[] => [
  Reflect.get(c, 'milvusProto'),
  Reflect.get(c, 'schemaProto'),
  (Reflect.get(c, '_MilvusService') as { service: unknown }).service,
];

afterEach(async () => {
  await Promise.all(made.splice(0).map((c) => c.closeConnection()));
});

describe('withSharedSdkProtos', () => {
  it('clients made through it share one parse of the protos (each parses its own otherwise)', () => {
    const [a1, a2, a3] = parsed(client());
    const [b1, b2, b3] = parsed(client());
    expect([a1 === b1, a2 === b2, a3 === b3]).toEqual([false, false, false]);

    const shared = parsed(withSharedSdkProtos(client));
    const again = parsed(withSharedSdkProtos(client));
    shared.forEach((p, i) => {
      expect(again[i]).toBe(p);
    });
  });

  it('leaves the SDK parsing on its own after the constructor, also when it throws', () => {
    const shared = parsed(withSharedSdkProtos(client));
    expect(() =>
      withSharedSdkProtos(() => {
        throw new Error('constructor failed');
      }),
    ).toThrow('constructor failed');
    const own = parsed(client());
    own.forEach((p, i) => {
      expect(p).not.toBe(shared[i]);
    });
  });

  it('a shared parse still encodes and decodes requests', () => {
    const c = withSharedSdkProtos(client);
    const root = Reflect.get(c, 'milvusProto') as {
      lookupType(name: string): {
        encode(m: object): { finish(): Uint8Array };
        decode(b: Uint8Array): object;
      };
    };
    const type = root.lookupType('milvus.proto.milvus.HasCollectionRequest');
    const bytes = type.encode({ dbName: 'db', collectionName: 'books' }).finish();
    expect(type.decode(bytes)).toMatchObject({ dbName: 'db', collectionName: 'books' });
  });
});
