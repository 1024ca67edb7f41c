import type {
  CallOptions,
  Client,
  ClientReadableStream,
  Metadata,
  ServiceDefinition,
  ServiceError,
} from '@grpc/grpc-js';
import type { PackageDefinition } from '@grpc/proto-loader';
import type * as pb from '../generated/index.js';
import type { CDC_SERVICE_NAME, WORKER_SERVICE_NAME } from './proto-files.js';

/** The services of proto/cdc/v1 by full name, with their generated definition types. */
export interface CdcServices {
  readonly [CDC_SERVICE_NAME]: pb.CdcServiceDefinition;
  readonly [WORKER_SERVICE_NAME]: pb.WorkerServiceDefinition;
}

/**
 * The typed definition of a service from a package definition loaded from CDC_PROTO_FILES with PROTO_LOADER_OPTIONS
 * (the options the generated types are made with). The one place the loader's untyped objects meet the generated
 * types: the request and response types of every method follow from it.
 */
export function serviceDefinition(
  definition: PackageDefinition,
  name: typeof CDC_SERVICE_NAME,
): pb.CdcServiceDefinition;
export function serviceDefinition(
  definition: PackageDefinition,
  name: typeof WORKER_SERVICE_NAME,
): pb.WorkerServiceDefinition;
export function serviceDefinition(definition: PackageDefinition, name: string): ServiceDefinition {
  const found = definition[name];
  if (found === undefined || 'format' in found)
    throw new Error(`${name} is not a service of the loaded proto files`);
  return found;
}

/** A method of a generated service definition. */
interface MethodShape {
  readonly path: string;
  readonly requestSerialize: (value: never) => Buffer;
  readonly responseDeserialize: (bytes: Buffer) => unknown;
}

/** What a client sends to `method` (the permissive generated type: optional fields, longs as number or string). */
export type RequestOf<M extends MethodShape> = Parameters<M['requestSerialize']>[0];
/** What a client receives from `method` (every field present, 64-bit integers and enums as strings). */
export type ResponseOf<M extends MethodShape> = ReturnType<M['responseDeserialize']>;

/**
 * Has every method's (de)serializers generated now (protobufjs does it on first use), so a process's first calls
 * do not pay for it: the worker's first report, say, is on its first lease's way to the first row.
 */
export function warmServiceCodecs(service: ServiceDefinition): void {
  for (const method of Object.values(service)) {
    method.requestDeserialize(method.requestSerialize({}));
    method.responseDeserialize(method.responseSerialize({}));
  }
}

/** The response deserializer of `method`, typed as the generated output message. */
function responseOf<M extends MethodShape>(method: M): (bytes: Buffer) => ResponseOf<M> {
  return (bytes) => method.responseDeserialize(bytes) as ResponseOf<M>;
}

/** One unary call of a typed service; rejects with the grpc ServiceError (see errorFromStatus for a CdcError). */
export function callUnary<M extends MethodShape>(
  client: Client,
  method: M,
  request: RequestOf<M>,
  metadata: Metadata,
  options: CallOptions,
): Promise<ResponseOf<M>> {
  return new Promise((resolve, reject) => {
    client.makeUnaryRequest(
      method.path,
      method.requestSerialize,
      responseOf(method),
      request,
      metadata,
      options,
      (err: ServiceError | null, value?: ResponseOf<M>) => {
        if (err !== null) reject(err);
        else if (value === undefined) reject(new Error(`${method.path}: empty response`));
        else resolve(value);
      },
    );
  });
}

/** Opens a server stream of a typed service. */
export function openServerStream<M extends MethodShape>(
  client: Client,
  method: M,
  request: RequestOf<M>,
  metadata: Metadata,
  options: CallOptions = {},
): ClientReadableStream<ResponseOf<M>> {
  const { path, requestSerialize } = method;
  return client.makeServerStreamRequest(
    path,
    requestSerialize,
    responseOf(method),
    request,
    metadata,
    options,
  );
}
