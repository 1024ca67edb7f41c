import {
  Server,
  ServerCredentials,
  loadPackageDefinition,
  type ServiceDefinition,
  type UntypedServiceImplementation,
} from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { ReflectionService } from '@grpc/reflection';
import {
  CDC_PROTO_FILES,
  CDC_SERVICE_NAME,
  PROTO_LOADER_OPTIONS,
  WORKER_SERVICE_NAME,
  type Logger,
} from '@cdc/shared';
import { HealthImplementation, protoPath as healthProtoPath } from 'grpc-health-check';
import { fixMapEntryNames } from './reflection-descriptors.js';

export interface ControlServerHandlers {
  readonly cdc: UntypedServiceImplementation;
  readonly worker: UntypedServiceImplementation;
}

interface ServiceCtor {
  service: ServiceDefinition;
}

function serviceOf(root: unknown, fullName: string): ServiceDefinition {
  let node: unknown = root;
  for (const part of fullName.split('.')) node = (node as Record<string, unknown>)[part];
  return (node as ServiceCtor).service;
}

/**
 * gRPC server with CdcService, WorkerService, the standard health service and server reflection (grpcurl works
 * without proto files). Health: "" and both services; SERVING after bind, NOT_SERVING when shutting down.
 */
export class ControlServer {
  private readonly server = new Server();
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
  ) {
    const definition = loadSync([...CDC_PROTO_FILES], PROTO_LOADER_OPTIONS);
    const root = loadPackageDefinition(definition);
    this.server.addService(serviceOf(root, CDC_SERVICE_NAME), handlers.cdc);
    this.server.addService(serviceOf(root, WORKER_SERVICE_NAME), handlers.worker);
    this.health.addToServer(this.server);
    const healthDefinition = loadSync(healthProtoPath, PROTO_LOADER_OPTIONS);
    new ReflectionService(fixMapEntryNames({ ...definition, ...healthDefinition })).addToServer(
      this.server,
    );
  }

  async listen(address: string): Promise<number> {
    this.port = await new Promise<number>((resolve, reject) => {
      this.server.bindAsync(address, ServerCredentials.createInsecure(), (err, port) => {
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
