/**
 * The task spec's `TlsConfig` (proto cdc.v1.TlsConfig) turned into what each client library takes, in one place for
 * the control service and the workers: the Milvus SDK (`ClientConfig.ssl` / `tls`), etcd3 (`credentials`, channel
 * options) and Node's `tls.connect` (Kafka, probes). And the test for "the peer refused our TLS settings", which is a
 * configuration error a person must fix, not an outage to wait out.
 */
import { rootCertificates } from 'node:tls';
import type { ClientConfig } from '@zilliz/milvus2-sdk-node';

/** The spec's TLS settings (wire or validated form: every field optional). */
export interface TlsSettings {
  readonly enabled?: boolean;
  readonly ca_pem?: string;
  readonly cert_pem?: string;
  readonly key_pem?: string;
  readonly server_name?: string;
  readonly insecure_skip_verify?: boolean;
}

/** TLS is on for a Milvus endpoint when the spec says so or its URI is https. */
export function milvusTlsOn(tls: TlsSettings | null | undefined, uri: string): boolean {
  return tls?.enabled === true || /^https:\/\//i.test(uri);
}

/**
 * The SDK's TLS fields for a Milvus endpoint (@zilliz/milvus2-sdk-node 2.6.17 `ClientConfig`): the CA as `rootCert`
 * (default: the system roots), the client certificate and key for mutual TLS, `serverName` for SNI and host
 * verification. The SDK's `skipCertCheck` mode drops client certificates, so skipping verification with a client
 * certificate goes through `verifyOptions` instead.
 */
export function milvusTlsConfig(
  tls: TlsSettings | null | undefined,
  uri: string,
): Pick<ClientConfig, 'ssl' | 'tls'> {
  if (!milvusTlsOn(tls, uri)) return {};
  const ca = tls?.ca_pem ?? '';
  const cert = tls?.cert_pem ?? '';
  const key = tls?.key_pem ?? '';
  const serverName = tls?.server_name ?? '';
  const insecure = tls?.insecure_skip_verify === true;
  const mutual = cert !== '' && key !== '';
  const out: NonNullable<ClientConfig['tls']> = {
    ...(ca === '' ? {} : { rootCert: Buffer.from(ca) }),
    ...(mutual ? { certChain: Buffer.from(cert), privateKey: Buffer.from(key) } : {}),
    ...(serverName === '' ? {} : { serverName }),
  };
  if (insecure && mutual)
    out.verifyOptions = { rejectUnauthorized: false, checkServerIdentity: () => undefined };
  else if (insecure) out.skipCertCheck = true;
  return { ssl: true, tls: out };
}

/**
 * etcd3 options for the source etcd. etcd3 passes `credentials` to grpc's `createSsl(root, key, chain)` and nothing
 * else, so an empty CA is given as the system roots (an empty buffer would trust nothing), and certificate checks
 * cannot be skipped (validation refuses `insecure_skip_verify` for etcd).
 */
export function etcdTlsOptions(tls: TlsSettings | null | undefined): {
  credentials?: { rootCertificate: Buffer; privateKey?: Buffer; certChain?: Buffer };
  grpcOptions?: Record<string, string>;
} {
  if (tls?.enabled !== true) return {};
  const ca = tls.ca_pem ?? '';
  const cert = tls.cert_pem ?? '';
  const key = tls.key_pem ?? '';
  const serverName = tls.server_name ?? '';
  return {
    credentials: {
      rootCertificate: Buffer.from(ca === '' ? rootCertificates.join('\n') : ca),
      ...(cert !== '' && key !== ''
        ? { certChain: Buffer.from(cert), privateKey: Buffer.from(key) }
        : {}),
    },
    ...(serverName === ''
      ? {}
      : {
          grpcOptions: {
            'grpc.ssl_target_name_override': serverName,
            'grpc.default_authority': serverName,
          },
        }),
  };
}

/** PEM strings and checks for Node's `tls.connect` (a subset of its ConnectionOptions). */
export interface NodeTlsOptions {
  readonly ca?: string;
  readonly cert?: string;
  readonly key?: string;
  readonly servername?: string;
  readonly rejectUnauthorized: boolean;
}

/** Node `tls.connect` options (kafkajs `ssl`, TLS probes); undefined when TLS is off. */
export function nodeTlsOptions(tls: TlsSettings | null | undefined): NodeTlsOptions | undefined {
  if (tls?.enabled !== true) return undefined;
  return {
    ...(tls.ca_pem ? { ca: tls.ca_pem } : {}),
    ...(tls.cert_pem && tls.key_pem ? { cert: tls.cert_pem, key: tls.key_pem } : {}),
    ...(tls.server_name ? { servername: tls.server_name } : {}),
    rejectUnauthorized: tls.insecure_skip_verify !== true,
  };
}

/**
 * OpenSSL and Node texts for a TLS peer that refused us or that we refused: an unknown CA, a name mismatch, an
 * expired certificate, a missing or rejected client certificate, TLS against a plaintext port. Not a reset or a
 * timeout during the handshake, which a restarting server causes too.
 */
const TLS_REJECTION =
  /unable to verify the first certificate|self[- ]signed certificate|unable to get (?:local )?issuer certificate|certificate has expired|certificate is not yet valid|certificate signature failure|certificate revoked|Hostname\/IP does not match certificate|ERR_TLS_CERT_ALTNAME_INVALID|alert (?:bad certificate|certificate required|unknown ca|certificate unknown|certificate expired|certificate revoked|unsupported certificate|access denied|handshake failure|decrypt error|protocol version)|wrong version number|no suitable signature algorithm|no shared cipher/i;

/** The TLS refusal an error describes (its message, gRPC details or cause), or undefined when it is not one. */
export function tlsRejection(err: unknown): string | undefined {
  for (let e: unknown = err, depth = 0; e !== undefined && e !== null && depth < 4; depth++) {
    const details = e instanceof Error ? (e as { details?: unknown }).details : undefined;
    const text =
      typeof e === 'string'
        ? e
        : e instanceof Error
          ? `${e.message} ${typeof details === 'string' ? details : ''}`
          : '';
    const m = TLS_REJECTION.exec(text);
    if (m !== null) return m[0];
    e = e instanceof Error ? e.cause : undefined;
  }
  return undefined;
}

/** What to tell a person about a TLS refusal of `what` ("target 10.0.0.5:19530"). */
export function tlsRejectionMessage(what: string, reason: string): string {
  return `${what}: TLS handshake failed (${reason}); check the endpoint's tls settings: ca_pem, server_name, cert_pem/key_pem`;
}
