#!/usr/bin/env node
// Docker HEALTHCHECK of the control image: one grpc.health.v1.Health/Check call for the overall service ("") on
// the local gRPC port, without proto files. Exit 0 only for SERVING. Kubernetes uses its native gRPC probe instead.
//   node grpc-health.mjs [host:port]   (default: 127.0.0.1 and the port of CONTROL_GRPC_ADDRESS, else 50051)
// With TLS on (CONTROL_TLS_CERT_FILE), possibly mutual, this probe holds no client certificate: it asks the
// plain-HTTP /healthz of the metrics server instead (CONTROL_METRICS_PORT, default 9401), which follows the same
// state (ok while serving, 503 once shutting down).
import { Client, credentials } from '@grpc/grpc-js';

if (process.env.CONTROL_TLS_CERT_FILE) {
  const url = `http://127.0.0.1:${process.env.CONTROL_METRICS_PORT || '9401'}/healthz`;
  fetch(url, { signal: AbortSignal.timeout(3000) }).then(
    (res) => {
      if (!res.ok) process.stderr.write(`${url}: HTTP ${res.status}\n`);
      process.exit(res.ok ? 0 : 1);
    },
    (err) => {
      process.stderr.write(`health check of ${url} failed: ${err.message}\n`);
      process.exit(1);
    },
  );
} else {
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
}
