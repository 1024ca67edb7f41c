import { readFileSync } from 'node:fs';
import {
  credentials,
  loadPackageDefinition,
  Metadata,
  type ChannelCredentials,
  type ChannelOptions,
  type Client,
  type ClientReadableStream,
  type ServiceClientConstructor,
  type ServiceError,
} from '@grpc/grpc-js';
import { loadSync, type PackageDefinition } from '@grpc/proto-loader';
import { CDC_PROTO_FILES, CDC_SERVICE_NAME, PROTO_LOADER_OPTIONS } from '@cdc/shared';
import { usage } from './errors.js';

/** Message objects as @grpc/proto-loader gives them: snake_case keys, 64-bit integers and enums as strings. */
export type Message = Record<string, unknown>;

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

type UnaryMethod = (
  req: Message,
  md: Metadata,
  opts: { deadline: number },
  cb: (err: ServiceError | null, res: Message) => void,
) => void;
type StreamMethod = (req: Message, md: Metadata) => ClientReadableStream<Message>;

let cached: PackageDefinition | undefined;

/** The loaded cdc.v1 definitions (also used to check task files against the proto). */
export function cdcDefinition(): PackageDefinition {
  cached ??= loadSync([...CDC_PROTO_FILES], PROTO_LOADER_OPTIONS);
  return cached;
}

/** Thin promise wrapper over the CdcService stub. One instance per process; `close()` when done. */
export class CdcClient {
  private readonly stub: Client;

  constructor(private readonly opts: ClientOptions) {
    let node: unknown = loadPackageDefinition(cdcDefinition());
    for (const part of CDC_SERVICE_NAME.split('.')) node = (node as Record<string, unknown>)[part];
    const Ctor = node as ServiceClientConstructor;
    const { creds, options } = channelOf(opts);
    this.stub = new Ctor(opts.address, creds, options);
  }

  private metadata(): Metadata {
    const md = new Metadata();
    if (this.opts.token !== '') md.set('authorization', `Bearer ${this.opts.token}`);
    return md;
  }

  /** Calls a unary CdcService method; rejects with the grpc ServiceError. `timeoutMs` overrides the deadline. */
  call(method: string, req: Message, timeoutMs = this.opts.timeoutMs): Promise<Message> {
    const fn = (this.stub as unknown as Record<string, UnaryMethod>)[method];
    if (fn === undefined) return Promise.reject(new Error(`no such method ${method}`));
    return new Promise((resolve, reject) => {
      fn.call(this.stub, req, this.metadata(), { deadline: Date.now() + timeoutMs }, (err, res) => {
        if (err === null) resolve(res);
        else reject(err);
      });
    });
  }

  /** Opens the WatchTask stream (no deadline; cancel it to stop). */
  watch(taskId: string, intervalMs: number): ClientReadableStream<Message> {
    const fn = (this.stub as unknown as Record<string, StreamMethod>)['WatchTask'];
    if (fn === undefined) throw new Error('no such method WatchTask');
    return fn.call(this.stub, { task_id: taskId, interval_ms: intervalMs }, this.metadata());
  }

  close(): void {
    this.stub.close();
  }
}
