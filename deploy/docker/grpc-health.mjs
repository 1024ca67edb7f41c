#!/usr/bin/env node
// Docker HEALTHCHECK of the control image: one grpc.health.v1.Health/Check call for the overall service ("") on
// the local gRPC port, without proto files. Exit 0 only for SERVING. Kubernetes uses its native gRPC probe instead.
//   node grpc-health.mjs [host:port]   (default: 127.0.0.1 and the port of CONTROL_GRPC_ADDRESS, else 50051)
import { Client, credentials } from '@grpc/grpc-js';

const port = (process.env.CONTROL_GRPC_ADDRESS ?? '').split(':').pop() || '50051';
const target = process.argv[2] ?? `127.0.0.1:${port}`;
const client = new Client(target, credentials.createInsecure());
const identity = (b) => b;
// HealthCheckRequest{service: ""} is the empty message; HealthCheckResponse{status: SERVING(1)} is 0x08 0x01.
client.makeUnaryRequest(
  '/grpc.health.v1.Health/Check',
  identity,
  identity,
  Buffer.alloc(0),
  { deadline: Date.now() + 3000 },
  (err, res) => {
    client.close();
    if (err) {
      process.stderr.write(`health check of ${target} failed: ${err.message}\n`);
      process.exit(1);
    }
    const serving = res.length === 2 && res[0] === 0x08 && res[1] === 0x01;
    if (!serving) process.stderr.write(`${target} is not SERVING (${res.toString('hex')})\n`);
    process.exit(serving ? 0 : 1);
  },
);
