/** A gRPC client of the public CdcService for tests, loaded from the repo's proto files like grpcurl users would. */
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { join } from 'node:path';
import { CDC_PROTO_FILES, PROTO_LOADER_OPTIONS, PROTO_ROOT } from '@cdc/shared';
import { waitUntil } from './processes.js';

type Unary = (
  req: unknown,
  md: grpc.Metadata,
  opts: grpc.CallOptions,
  cb: (err: grpc.ServiceError | null, res: unknown) => void,
) => void;

export class CdcTestClient {
  private readonly client: grpc.Client & Record<string, Unary>;

  constructor(
    address: string,
    private readonly token = '',
  ) {
    const def = protoLoader.loadSync(
      CDC_PROTO_FILES.map((f) => join(PROTO_ROOT, f)),
      PROTO_LOADER_OPTIONS,
    );
    const pkg = grpc.loadPackageDefinition(def) as unknown as {
      cdc: { v1: { CdcService: grpc.ServiceClientConstructor } };
    };
    this.client = new pkg.cdc.v1.CdcService(
      address,
      grpc.credentials.createInsecure(),
    ) as unknown as grpc.Client & Record<string, Unary>;
  }

  call<T = Record<string, unknown>>(method: string, req: unknown, timeoutMs = 15_000): Promise<T> {
    const md = new grpc.Metadata();
    if (this.token) md.set('authorization', `Bearer ${this.token}`);
    return new Promise((resolve, reject) => {
      const fn = this.client[method];
      if (!fn) {
        reject(new Error(`no method ${method}`));
        return;
      }
      fn.call(this.client, req, md, { deadline: new Date(Date.now() + timeoutMs) }, (err, res) => {
        if (err) reject(err);
        else resolve(res as T);
      });
    });
  }

  close(): void {
    this.client.close();
  }
}

/** Waits until a freshly started control service answers (ListTasks), at most `timeoutMs`. */
export async function waitForControl(client: CdcTestClient, timeoutMs = 30_000): Promise<void> {
  await waitUntil(
    'control service to answer ListTasks',
    async () => {
      await client.call('ListTasks', {});
      return true;
    },
    timeoutMs,
  );
}
