import { readFileSync } from 'node:fs';
import {
  Client,
  credentials,
  Metadata,
  type ChannelCredentials,
  type ChannelOptions,
  type ClientReadableStream,
} from '@grpc/grpc-js';
import { loadSync, type PackageDefinition } from '@grpc/proto-loader';
import {
  callUnary,
  CDC_PROTO_FILES,
  CDC_SERVICE_NAME,
  openServerStream,
  PROTO_LOADER_OPTIONS,
  serviceDefinition,
  type pb,
  type RequestOf,
  type ResponseOf,
} from '@cdc/shared';
import { usage } from './errors.js';

type Methods = pb.CdcServiceDefinition;
/** A unary method of CdcService (every method but the WatchTask stream). */
export type UnaryMethod = Exclude<keyof Methods & string, 'WatchTask'>;

export interface ClientOptions {
  /** host:port of the control service. */
  readonly address: string;
  /** Sent as `authorization: Bearer <token>` on every call when not empty. Never printed. */
  readonly token: string;
  /** Deadline of unary calls, ms. Streams have none. */
  readonly timeoutMs: number;
  readonly tls: boolean;
  /** PEM file of the CA bundle (TLS only). Empty: the system roots. */
  readonly caFile: string;
  /** PEM client certificate and key for mutual TLS; both or neither. */
  readonly certFile: string;
  readonly keyFile: string;
  /** Name the server certificate is checked against, when not the host of `address`. Empty: that host. */
  readonly serverName: string;
}

function readPem(flag: string, path: string): Buffer | null {
  if (path === '') return null;
  try {
    return readFileSync(path);
  } catch (err) {
    throw usage(`${flag}: cannot read ${path} (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
  }
}

/** Channel credentials and options from the TLS flags; a client certificate or CA file implies TLS. */
function channelOf(opts: ClientOptions): { creds: ChannelCredentials; options: ChannelOptions } {
  if ((opts.certFile === '') !== (opts.keyFile === ''))
    throw usage('--cert-file and --key-file go together');
  if (!opts.tls && opts.caFile === '' && opts.certFile === '')
    return { creds: credentials.createInsecure(), options: {} };
  return {
    creds: credentials.createSsl(
      readPem('--ca-file', opts.caFile),
      readPem('--key-file', opts.keyFile),
      readPem('--cert-file', opts.certFile),
    ),
    options:
      opts.serverName === ''
        ? {}
        : {
            'grpc.ssl_target_name_override': opts.serverName,
            'grpc.default_authority': opts.serverName,
          },
  };
}

let cached: PackageDefinition | undefined;

/** The loaded cdc.v1 definitions (also used to check task files against the proto). */
export function cdcDefinition(): PackageDefinition {
  cached ??= loadSync([...CDC_PROTO_FILES], PROTO_LOADER_OPTIONS);
  return cached;
}

/** Thin promise wrapper over CdcService, typed by the generated proto types. One per process; `close()` when done. */
export class CdcClient {
  private readonly client: Client;
  private readonly methods: Methods = serviceDefinition(cdcDefinition(), CDC_SERVICE_NAME);

  constructor(private readonly opts: ClientOptions) {
    const { creds, options } = channelOf(opts);
    this.client = new Client(opts.address, creds, options);
  }

  private metadata(): Metadata {
    const md = new Metadata();
    if (this.opts.token !== '') md.set('authorization', `Bearer ${this.opts.token}`);
    return md;
  }

  /** Calls a unary CdcService method; rejects with the grpc ServiceError. `timeoutMs` overrides the deadline. */
  call<M extends UnaryMethod>(
    method: M,
    req: RequestOf<Methods[M]>,
    timeoutMs = this.opts.timeoutMs,
  ): Promise<ResponseOf<Methods[M]>> {
    return callUnary(this.client, this.methods[method], req, this.metadata(), {
      deadline: Date.now() + timeoutMs,
    });
  }

  /** Opens the WatchTask stream (no deadline; cancel it to stop). */
  watch(taskId: string, intervalMs: number): ClientReadableStream<pb.TaskStatus__Output> {
    return openServerStream(
      this.client,
      this.methods.WatchTask,
      { task_id: taskId, interval_ms: intervalMs },
      this.metadata(),
    );
  }

  close(): void {
    this.client.close();
  }
}
