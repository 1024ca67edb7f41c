import Module, { createRequire } from 'node:module';

/*
 * `@zilliz/milvus2-sdk-node` (2.6.17) requires its BulkWriter at load time, and with it `@shanghaikid/parquetjs`, whose
 * own imports (the AWS S3 client, a virtual file system, bson's 17 MiB serialization buffer, thrift, brotli and xxhash
 * WebAssembly) took 200–250 ms of every process's start-up and ~10 MiB of its memory, and none of it is used here:
 * the CDC never writes Parquet. The SDK only touches the module inside BulkWriter's methods, so it gets a stand-in
 * that loads the real module on first use.
 */

const requireHere = createRequire(import.meta.url);

/**
 * Puts a stand-in for the CommonJS module at `path` into the require cache, unless it is loaded already: requiring it
 * costs nothing, and the first property read (or key listing) loads the real module and forwards to it. Returns false
 * when the module was loaded before (nothing to defer).
 */
export function deferCommonJsModule(path: string): boolean {
  const cache = requireHere.cache;
  if (cache[path] !== undefined) return false;
  let real: Record<PropertyKey, unknown> | undefined;
  const load = (): Record<PropertyKey, unknown> => {
    if (real === undefined) {
      Reflect.deleteProperty(cache, path);
      real = requireHere(path) as Record<PropertyKey, unknown>;
    }
    return real;
  };
  const standIn = new Module(path);
  standIn.filename = path;
  standIn.loaded = true;
  standIn.exports = new Proxy(
    {},
    {
      get: (_, key) => load()[key],
      has: (_, key) => key in load(),
      ownKeys: () => Reflect.ownKeys(load()),
      getOwnPropertyDescriptor: (_, key) => {
        const found = Reflect.getOwnPropertyDescriptor(load(), key);
        // A proxy may report a property of its (empty) target only as configurable.
        return found === undefined ? undefined : { ...found, configurable: true };
      },
    },
  );
  cache[path] = standIn;
  return true;
}

/** The path of the SDK's Parquet dependency, or undefined when this SDK version has none. */
export function sdkParquetModulePath(): string | undefined {
  try {
    const sdk = requireHere.resolve('@zilliz/milvus2-sdk-node');
    return createRequire(sdk).resolve('@shanghaikid/parquetjs');
  } catch {
    return undefined;
  }
}

const parquet = sdkParquetModulePath();
if (parquet !== undefined) deferCommonJsModule(parquet);
