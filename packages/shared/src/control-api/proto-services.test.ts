import * as protoLoader from '@grpc/proto-loader';
import { describe, expect, it } from 'vitest';
import {
  CDC_PROTO_FILES,
  CDC_SERVICE_NAME,
  PROTO_LOADER_OPTIONS,
  WORKER_SERVICE_NAME,
} from './proto-files.js';
import { serviceDefinition, warmServiceCodecs } from './proto-services.js';

describe('warmServiceCodecs', () => {
  it('runs every method codec of both services once, both ways', () => {
    const definition = protoLoader.loadSync([...CDC_PROTO_FILES], PROTO_LOADER_OPTIONS);
    for (const service of [
      serviceDefinition(definition, CDC_SERVICE_NAME),
      serviceDefinition(definition, WORKER_SERVICE_NAME),
    ]) {
      expect(Object.keys(service).length).toBeGreaterThan(3);
      expect(() => {
        warmServiceCodecs(service);
      }).not.toThrow();
    }
  });
});
