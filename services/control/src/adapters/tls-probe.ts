import { connect as tlsConnect, type ConnectionOptions } from 'node:tls';
import { isIP } from 'node:net';
import type { NodeTlsOptions } from '@cdc/shared';

/**
 * Kafka ApiVersions v0 request (api key 18), correlation id 1, client id "cdc-probe". A broker answers it before any
 * authentication, so a reply proves the TLS session is really accepted: with TLS 1.3 a server that refuses the
 * client certificate says so only after the client's handshake completed, on the first read.
 */
export const KAFKA_API_VERSIONS_REQUEST: Buffer = (() => {
  const clientId = Buffer.from('cdc-probe');
  const body = Buffer.alloc(10 + clientId.length);
  body.writeInt16BE(18, 0);
  body.writeInt16BE(0, 2);
  body.writeInt32BE(1, 4);
  body.writeInt16BE(clientId.length, 8);
  clientId.copy(body, 10);
  const size = Buffer.alloc(4);
  size.writeInt32BE(body.length, 0);
  return Buffer.concat([size, body]);
})();

export interface TlsProbeOptions {
  /** Sent once the handshake completes (e.g. KAFKA_API_VERSIONS_REQUEST). */
  readonly hello?: Uint8Array;
  /** Wait for the server's first bytes (a gRPC server sends its HTTP/2 SETTINGS unasked; Kafka answers `hello`). */
  readonly awaitReply: boolean;
  /** ALPN protocols to offer ('h2' for gRPC). */
  readonly alpn?: readonly string[];
}

/**
 * Opens a TLS connection to host:port with the spec's CA, client certificate and server name, and resolves once the
 * server accepted it (see `awaitReply`). Rejects with the handshake's own error (an unknown CA, a name mismatch, a
 * refused client certificate), a timeout, or the server closing the connection.
 */
export function tlsProbe(
  host: string,
  port: number,
  tls: NodeTlsOptions,
  timeoutMs: number,
  opts: TlsProbeOptions,
): Promise<void> {
  return new Promise((resolve, reject) => {
    const options: ConnectionOptions = {
      host,
      port,
      ...tls,
      // SNI must be a name; an IP address is still verified against the certificate's IP entries.
      ...(tls.servername === undefined && isIP(host) === 0 ? { servername: host } : {}),
      ...(opts.alpn === undefined ? {} : { ALPNProtocols: [...opts.alpn] }),
    };
    const socket = tlsConnect(options);
    let settled = false;
    const finish = (err?: Error): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      if (err === undefined) resolve();
      else reject(err);
    };
    const timer = setTimeout(() => {
      finish(new Error(`no TLS answer from ${host}:${port} within ${timeoutMs} ms`));
    }, timeoutMs);
    socket.once('secureConnect', () => {
      if (opts.hello !== undefined) socket.write(opts.hello);
      if (!opts.awaitReply) finish();
    });
    socket.once('data', () => {
      finish();
    });
    socket.once('error', (err: Error) => {
      finish(err);
    });
    socket.once('close', () => {
      finish(new Error(`${host}:${port} closed the TLS connection before answering`));
    });
  });
}
