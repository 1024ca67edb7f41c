import { fileURLToPath } from 'node:url';
import loaderOptions from './proto-loader-options.json' with { type: 'json' };

/**
 * Where the `cdc.v1` proto files live and how to load them, shared by the control service and the workers so both
 * see the same object shapes. The path is resolved relative to this module; `src/control-api` and
 * `dist/control-api` sit at the same depth, so it works from sources (vitest, tsx) and from the build.
 */
export const PROTO_ROOT: string = fileURLToPath(new URL('../../../../proto', import.meta.url));

/** Files under PROTO_ROOT: the public API, the worker API and their shared messages. */
export const CDC_PROTO_FILES = [
  'cdc/v1/cdc.proto',
  'cdc/v1/worker.proto',
  'cdc/v1/task.proto',
] as const;

/** Fully-qualified service names. */
export const CDC_SERVICE_NAME = 'cdc.v1.CdcService';
export const WORKER_SERVICE_NAME = 'cdc.v1.WorkerService';

/**
 * `@grpc/proto-loader` options (the grpc-node flag set): snake_case field names as in the proto, 64-bit integers
 * as decimal strings, enums as their names, defaults filled in, oneof names set, bytes as Buffer. The flags live in
 * proto-loader-options.json, which the type generator (scripts/generate-proto-types.mjs) reads too, so the
 * generated types (`pb`) describe exactly the objects the loader produces.
 */
export const PROTO_LOADER_OPTIONS: {
  readonly keepCase: true;
  readonly longs: StringConstructor;
  readonly enums: StringConstructor;
  readonly defaults: true;
  readonly oneofs: true;
  readonly includeDirs: string[];
} = {
  keepCase: flag(loaderOptions.keepCase),
  longs: stringType(loaderOptions.longs),
  enums: stringType(loaderOptions.enums),
  defaults: flag(loaderOptions.defaults),
  oneofs: flag(loaderOptions.oneofs),
  includeDirs: [PROTO_ROOT],
};

function flag(value: boolean): true {
  if (!value)
    throw new Error('proto-loader-options.json: keepCase, defaults and oneofs must be true');
  return true;
}

function stringType(value: string): StringConstructor {
  if (value !== 'String')
    throw new Error('proto-loader-options.json: longs and enums must be "String"');
  return String;
}
