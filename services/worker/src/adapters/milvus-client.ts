import {
  MilvusClient,
  type ClientConfig,
  type DescribeCollectionReq,
  type DescribeCollectionResponse,
} from '@zilliz/milvus2-sdk-node';
import { Metadata, type Client } from '@grpc/grpc-js';
import {
  CdcError,
  decodeMutationStatus,
  isStatusOk,
  milvusTlsConfig,
  tlsRejection,
  tlsRejectionMessage,
  type MilvusStatusLike,
  type TlsSettings,
  withSharedSdkProtos,
} from '@cdc/shared';
import { fenceInterceptor } from './fence-interceptor.js';

const MAX_CACHED_SCHEMAS = 1024;
const UPSERT_METHOD = '/milvus.proto.milvus.MilvusService/Upsert';

/** How to reach one Milvus server (the target, or the source server for initial sync). */
export interface MilvusEndpointOptions {
  /** `host:port` (or URI) of the server's proxy. */
  readonly address: string;
  readonly token?: string;
  readonly username?: string;
  readonly password?: string;
  /** The spec's TLS settings (CA, client certificate, server name); an https address turns TLS on too. */
  readonly tls?: TlsSettings | null;
}

/** The SDK configuration for an endpoint: only the credentials and TLS material that are set. */
export function milvusClientConfig(opts: MilvusEndpointOptions): ClientConfig {
  const config: ClientConfig = {
    address: opts.address,
    logLevel: 'warn',
    ...milvusTlsConfig(opts.tls, opts.address),
  };
  if (opts.token !== undefined) config.token = opts.token;
  if (opts.username !== undefined) config.username = opts.username;
  if (opts.password !== undefined) config.password = opts.password;
  return config;
}

/** A target client that shares the SDK's parsed protos with every other one (`withSharedSdkProtos`). */
export function targetMilvusClient(config: ClientConfig): TargetMilvusClient {
  return withSharedSdkProtos(() => new TargetMilvusClient(config));
}

export function schemaCacheKey(db: string, collection: string): string {
  return `${db}\u0000${collection}`;
}

/**
 * The SDK client with three fixes the writer relies on (the third is for throughput, see the constructor):
 * - Schema cache per database. `upsert` describes the collection through `describeCollection({ cache: true })`, and
 *   the SDK keys that cache by the *client's* database, so `a.c` and `b.c` would share one schema. This override keys
 *   by the request's `db_name` and lets the writer forget an entry when the collection changes.
 * - Explicit connect. The SDK connects from its constructor and leaves the promise unobserved: with the target down
 *   that is an unhandled rejection, and database calls keep awaiting the failed promise forever. The writer builds the
 *   client with `__SKIP_CONNECT__` and calls `ensureConnected()`, which reconnects after a failure.
 * - Write fencing. Every call made for a lease ends by that lease's write deadline (`fenceInterceptor`).
 */
export class TargetMilvusClient extends MilvusClient {
  private readonly schemas = new Map<string, DescribeCollectionResponse>();
  private connecting: Promise<void> | undefined;

  constructor(config: ClientConfig) {
    // No client made before the interceptors below are in place: the SDK's pool otherwise creates its minimum of two
    // at once, and a grpc-js client keeps the interceptor list it was made with (they had no write fence).
    super({ ...config, __SKIP_CONNECT__: true, pool: { min: 0, max: config.pool?.max ?? 10 } });
    // The SDK's retry interceptor JSON-stringifies every request, vectors included, for a debug line nobody prints:
    // ~18% of a worker's CPU in the benchmark profile, plus GC. The writer retries on its own (withRetry), so drop it.
    // Pooled clients take the list when they are made, on first use (pool min 0 above).
    // The SDK keeps its interceptors in channelOptions, a key grpc-js's ChannelOptions type does not name.
    const existing: unknown = Reflect.get(this.channelOptions, 'interceptors');
    const kept = (Array.isArray(existing) ? (existing as unknown[]) : []).filter(
      (i) => !String(i).includes('savedSendMessage'),
    );
    Reflect.set(this.channelOptions, 'interceptors', [fenceInterceptor, ...kept]);
  }

  ensureConnected(): Promise<void> {
    if (this.connecting === undefined) {
      this.connect(MilvusClient.sdkInfo.version);
      this.connecting = this.connectPromise.catch((err: unknown) => {
        this.connecting = undefined;
        // A refused TLS handshake is the spec's TLS settings, not an outage: say which server, and don't retry.
        const tls = tlsRejection(err);
        if (tls !== undefined)
          throw new CdcError(
            'FAILED_PRECONDITION',
            tlsRejectionMessage(`Milvus ${this.config.address}`, tls),
            { retryable: false, cause: err },
          );
        throw err;
      });
    }
    return this.connecting;
  }

  override async describeCollection(
    data: DescribeCollectionReq,
  ): Promise<DescribeCollectionResponse> {
    const key = schemaCacheKey(data.db_name ?? '', data.collection_name);
    const cached = data.cache === true ? this.schemas.get(key) : undefined;
    if (cached !== undefined) return cached;
    const res = await super.describeCollection({ ...data, cache: false });
    if (isStatusOk(res.status)) {
      if (this.schemas.size >= MAX_CACHED_SCHEMAS) this.schemas.clear();
      this.schemas.set(key, res);
    } else {
      this.schemas.delete(key);
    }
    return res;
  }

  /**
   * `MilvusService.Upsert` with a request already in wire form (`encodeUpsertColumns`), through the SDK's connection
   * pool, so its interceptors (credentials, database, write fence) apply as to any SDK call.
   */
  async upsertBytes(
    request: Uint8Array,
    timeoutMs: number,
  ): Promise<{ status: MilvusStatusLike | undefined }> {
    const client: Client = await this.channelPool.acquire();
    try {
      return await new Promise((resolve, reject) => {
        client.makeUnaryRequest(
          UPSERT_METHOD,
          (b: Buffer) => b,
          (b: Buffer) => ({ status: decodeMutationStatus(b) }),
          Buffer.from(request.buffer, request.byteOffset, request.byteLength),
          new Metadata(),
          { deadline: Date.now() + timeoutMs },
          (err, res) => {
            if (err !== null || res === undefined) reject(err ?? new Error('upsert: no answer'));
            else resolve(res);
          },
        );
      });
    } finally {
      await this.channelPool.release(client);
    }
  }

  forgetSchema(db: string, collection: string): void {
    this.schemas.delete(schemaCacheKey(db, collection));
  }
}
