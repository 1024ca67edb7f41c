// Before the SDK loads: see the module.
import './defer-sdk-bulk-writer.js';
import { createRequire } from 'node:module';
import { MilvusClient, type ClientConfig } from '@zilliz/milvus2-sdk-node';

/*
 * `@zilliz/milvus2-sdk-node` (2.6.17) parses its protos again in every client's constructor: two protobufjs Roots
 * (`BaseClient`) and a gRPC package definition (`getGRPCService` → `@grpc/proto-loader` `fromJSON`). That is 0.3–0.6 s
 * of CPU per client, paid by every task's target client and every verification, and it sat in the time to the first
 * applied row (profile of a worker's first lease, BENCHMARKS.md 2026-12-06). The parse is a pure function of the JSON
 * object the SDK passes, and clients only look types up in the result, so clients made through `withSharedSdkProtos`
 * share one parse: for the constructor's duration the two parsers are memoized by that object.
 */
// Both are plain functions (neither uses `this`).
interface ProtobufModule {
  Root: { fromJSON: (json: object, root?: unknown) => unknown };
}
interface ProtoLoaderModule {
  fromJSON: (json: object, options?: object) => unknown;
}

// The SDK's own copies (pnpm may resolve others for this package): the ones its constructor calls.
const fromSdk = createRequire(createRequire(import.meta.url).resolve('@zilliz/milvus2-sdk-node'));
const sdkProtobuf = fromSdk('protobufjs') as ProtobufModule;
const sdkProtoLoader = fromSdk('@grpc/proto-loader') as ProtoLoaderModule;

const roots = new WeakMap<object, unknown>();
const definitions = new WeakMap<object, Map<string, unknown>>();

/** Runs `construct` (an SDK client constructor) with the SDK's proto parses shared; see above. */
export function withSharedSdkProtos<T>(construct: () => T): T {
  const parseRoot = sdkProtobuf.Root.fromJSON;
  const parseDefinition = sdkProtoLoader.fromJSON;
  sdkProtobuf.Root.fromJSON = (json: object, root?: unknown): unknown => {
    // Parsing into a given root adds to it: only the stand-alone parse is a pure function of `json`.
    if (root !== undefined) return parseRoot(json, root);
    let parsed = roots.get(json);
    if (parsed === undefined) {
      parsed = parseRoot(json);
      roots.set(json, parsed);
    }
    return parsed;
  };
  sdkProtoLoader.fromJSON = (json: object, options?: object): unknown => {
    const key = JSON.stringify(options ?? {});
    let byOptions = definitions.get(json);
    if (byOptions === undefined) {
      byOptions = new Map();
      definitions.set(json, byOptions);
    }
    let definition = byOptions.get(key);
    if (definition === undefined) {
      definition = parseDefinition(json, options);
      byOptions.set(key, definition);
    }
    return definition;
  };
  try {
    return construct();
  } finally {
    sdkProtobuf.Root.fromJSON = parseRoot;
    sdkProtoLoader.fromJSON = parseDefinition;
  }
}

/**
 * Parses the SDK's protos once, ahead of the first client (a process calls this at start, so its first task does not
 * wait for the parse). Makes no connection.
 */
export function warmSdkProtos(): void {
  const config: ClientConfig = {
    address: '127.0.0.1:1',
    __SKIP_CONNECT__: true,
    pool: { min: 0, max: 1 },
    logLevel: 'error',
  };
  const client = withSharedSdkProtos(() => new MilvusClient(config));
  void client.closeConnection().catch(() => undefined);
}
