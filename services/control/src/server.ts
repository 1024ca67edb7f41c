import {
  Server,
  ServerCredentials,
  type ServiceDefinition,
  type UntypedServiceImplementation,
} from '@grpc/grpc-js';
import { loadSync, type PackageDefinition } from '@grpc/proto-loader';
import { ReflectionService } from '@grpc/reflection';
import {
  CDC_PROTO_FILES,
  CDC_SERVICE_NAME,
  PROTO_LOADER_OPTIONS,
  serviceDefinition,
  warmServiceCodecs,
  WORKER_SERVICE_NAME,
  type Logger,
  type pb,
} from '@cdc/shared';
import { HealthImplementation, protoPath as healthProtoPath } from 'grpc-health-check';
import { fixMapEntryNames } from './reflection-descriptors.js';
import { undecodable } from './handlers/codec.js';
import { checkWire, type MessageDescriptor } from './handlers/wire-check.js';
import { requireToken, type TokenPolicy } from './security/auth.js';

/**
 * Largest request accepted (gRPC's usual default, set explicitly): a bigger one ends with RESOURCE_EXHAUSTED before
 * it is decoded. No valid request comes close (validation caps every field far lower).
 */
export const MAX_RECEIVE_MESSAGE_BYTES = 4 * 1024 * 1024;

export interface ControlServerHandlers {
  readonly cdc: pb.CdcServiceHandlers;
  readonly worker: pb.WorkerServiceHandlers;
}

/** Transport credentials (default: plaintext) and the token policy of each service (default: open). */
export interface ControlServerSecurity {
  readonly credentials?: ServerCredentials;
  readonly api?: TokenPolicy;
  readonly worker?: TokenPolicy;
}

/** The DescriptorProto (object form) proto-loader keeps for a message type, by full name. */
function descriptorOf(definition: PackageDefinition, name: string): MessageDescriptor | undefined {
  const entry = definition[name] as { type?: unknown } | undefined;
  return entry !== undefined && 'format' in entry && typeof entry.type === 'object'
    ? (entry.type as MessageDescriptor)
    : undefined;
}

/**
 * Requests whose bytes are not a well-formed message are the caller's fault. grpc-js answers a decode failure with
 * INTERNAL, and protobufjs accepts much that is malformed (see wire-check.ts). The deserializer checks the bytes
 * first and hands the handlers a marker instead of throwing, which they turn into INVALID_ARGUMENT.
 */
function strictDecoding(
  service: ServiceDefinition,
  definition: PackageDefinition,
  serviceName: string,
): ServiceDefinition {
  const pkg = serviceName.slice(0, serviceName.lastIndexOf('.') + 1);
  const lookup = (typeName: string): MessageDescriptor | undefined => {
    const name = typeName.replace(/^\./, '');
    return descriptorOf(definition, name) ?? descriptorOf(definition, `${pkg}${name}`);
  };
  const methods = definition[serviceName] as Record<string, { requestType: { type: unknown } }>;
  const out: Record<string, ServiceDefinition[string]> = {};
  for (const [name, method] of Object.entries(service)) {
    const decode = method.requestDeserialize;
    const desc = methods[name]?.requestType.type as MessageDescriptor | undefined;
    out[name] = {
      ...method,
      requestDeserialize: (bytes: Buffer): unknown => {
        try {
          if (desc !== undefined) checkWire(bytes, desc, lookup);
          return decode(bytes);
        } catch (err) {
          return undecodable(err);
        }
      },
    };
  }
  return out as ServiceDefinition;
}

/**
 * gRPC server with CdcService, WorkerService, the standard health service and server reflection (grpcurl works
 * without proto files). Health: "" and both services; SERVING after bind, NOT_SERVING when shutting down.
 * Tokens guard CdcService and WorkerService only: health and reflection stay open for probes and `grpcurl list`
 * (they reveal the service names and schema, nothing about tasks).
 */
export class ControlServer {
  private readonly server = new Server({
    'grpc.max_receive_message_length': MAX_RECEIVE_MESSAGE_BYTES,
  });
  private readonly health = new HealthImplementation({
    '': 'NOT_SERVING',
    [CDC_SERVICE_NAME]: 'NOT_SERVING',
    [WORKER_SERVICE_NAME]: 'NOT_SERVING',
  });
  private stopping: Promise<void> | undefined;
  port = 0;

  constructor(
    handlers: ControlServerHandlers,
    private readonly log: Logger,
    private readonly security: ControlServerSecurity = {},
  ) {
    const definition = loadSync([...CDC_PROTO_FILES], PROTO_LOADER_OPTIONS);
    const guarded = (
      name: string,
      typed: ServiceDefinition,
      impl: UntypedServiceImplementation,
      policy: TokenPolicy | undefined,
    ): [ServiceDefinition, UntypedServiceImplementation] => {
      const service = strictDecoding(typed, definition, name);
      return [service, policy === undefined ? impl : requireToken(service, impl, policy, log)];
    };
    const cdc = serviceDefinition(definition, CDC_SERVICE_NAME);
    const worker = serviceDefinition(definition, WORKER_SERVICE_NAME);
    // Codecs generated at start-up, not in the first CreateTask's or the first lease's time.
    warmServiceCodecs(cdc);
    warmServiceCodecs(worker);
    this.server.addService(...guarded(CDC_SERVICE_NAME, cdc, handlers.cdc, security.api));
    this.server.addService(
      ...guarded(WORKER_SERVICE_NAME, worker, handlers.worker, security.worker),
    );
    this.health.addToServer(this.server);
    const healthDefinition = loadSync(healthProtoPath, PROTO_LOADER_OPTIONS);
    new ReflectionService(fixMapEntryNames({ ...definition, ...healthDefinition })).addToServer(
      this.server,
    );
  }

  async listen(address: string): Promise<number> {
    this.port = await new Promise<number>((resolve, reject) => {
      const credentials = this.security.credentials ?? ServerCredentials.createInsecure();
      this.server.bindAsync(address, credentials, (err, port) => {
        if (err === null) resolve(port);
        else reject(err);
      });
    });
    this.setServing(true);
    this.log.info({ address, port: this.port }, 'grpc server listening');
    return this.port;
  }

  setServing(serving: boolean): void {
    const s = serving ? 'SERVING' : 'NOT_SERVING';
    for (const name of ['', CDC_SERVICE_NAME, WORKER_SERVICE_NAME]) this.health.setStatus(name, s);
  }

  /** NOT_SERVING, then tryShutdown; forceShutdown after `graceMs`. Idempotent. */
  stop(graceMs: number): Promise<void> {
    this.stopping ??= new Promise<void>((resolve) => {
      this.setServing(false);
      const timer = setTimeout(() => {
        this.log.warn({ graceMs }, 'grace period over; forcing grpc shutdown');
        this.server.forceShutdown();
        resolve();
      }, graceMs);
      this.server.tryShutdown(() => {
        clearTimeout(timer);
        resolve();
      });
    });
    return this.stopping;
  }
}
