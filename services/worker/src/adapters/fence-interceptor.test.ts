import * as grpc from '@grpc/grpc-js';
import { CdcError } from '@cdc/shared';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeFences, type WriteFence } from '../ports/write-fence.js';
import { fenceInterceptor } from './fence-interceptor.js';

// A one-method service over raw bytes: the server answers after `delay` ms and counts the calls it received.
const echo: grpc.ServiceDefinition = {
  Echo: {
    path: '/test.Slow/Echo',
    requestStream: false,
    responseStream: false,
    requestSerialize: (b: Buffer) => b,
    requestDeserialize: (b: Buffer) => b,
    responseSerialize: (b: Buffer) => b,
    responseDeserialize: (b: Buffer) => b,
  },
};
const Client = grpc.makeGenericClientConstructor(echo, 'Slow');

describe('fenceInterceptor', () => {
  const server = new grpc.Server();
  let received = 0;
  let client: grpc.Client & Record<string, grpc.requestCallback<Buffer>>;

  beforeAll(async () => {
    server.addService(echo, {
      Echo: (call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => {
        received++;
        setTimeout(() => {
          cb(null, call.request);
        }, 1_000);
      },
    });
    const port = await new Promise<number>((resolve, reject) => {
      server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => {
        if (err) reject(err);
        else resolve(p);
      });
    });
    client = new Client(`127.0.0.1:${String(port)}`, grpc.credentials.createInsecure(), {
      interceptors: [fenceInterceptor],
    }) as unknown as typeof client;
  });

  afterAll(() => {
    client.close();
    server.forceShutdown();
  });

  const call = (): Promise<{ code: grpc.status | 0; ms: number }> => {
    const started = Date.now();
    return new Promise((resolve) => {
      const fn = client['Echo'] as unknown as (
        req: Buffer,
        opts: grpc.CallOptions,
        cb: (err: grpc.ServiceError | null) => void,
      ) => void;
      fn.call(client, Buffer.from('x'), { deadline: Date.now() + 30_000 }, (err) => {
        resolve({ code: err?.code ?? 0, ms: Date.now() - started });
      });
    });
  };

  it('leaves calls outside a lease alone', async () => {
    await expect(call()).resolves.toMatchObject({ code: 0 });
  });

  it("ends a lease's call by the lease's write deadline", async () => {
    const fence: WriteFence = { callDeadline: () => Date.now() + 300 };
    const result = await writeFences.run(fence, call);
    expect(result.code).toBe(grpc.status.DEADLINE_EXCEEDED);
    expect(result.ms).toBeLessThan(900);
  });

  it('never sends a call once the lease may no longer write', async () => {
    const before = received;
    const fence: WriteFence = {
      callDeadline: () => {
        throw new CdcError('LEASE_LOST', 'lease may no longer write', { retryable: false });
      },
    };
    const result = await writeFences.run(fence, call);
    expect(result.code).toBe(grpc.status.CANCELLED);
    await new Promise((r) => setTimeout(r, 200));
    expect(received).toBe(before);
  });
});
