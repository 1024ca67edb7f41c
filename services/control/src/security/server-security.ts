import { createPrivateKey, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { ServerCredentials } from '@grpc/grpc-js';
import { ConfigError, type ControlConfig } from '../config.js';
import type { TokenPolicy } from './auth.js';
import { MIN_TOKEN_CHARS, parseTokenList, TokenSet } from './tokens.js';

/** How the gRPC server is protected: transport credentials and, per service, who may call it. */
export interface ServerSecurity {
  readonly credentials: ServerCredentials;
  readonly tls: 'off' | 'server' | 'mutual';
  /** CdcService callers; undefined: open. */
  readonly api?: TokenPolicy;
  /** WorkerService callers; undefined: open. */
  readonly worker?: TokenPolicy;
}

type ReadFile = (path: string) => Buffer;

/**
 * Reads the TLS files and token lists named by the config and checks them, so a bad file stops the start-up with
 * the variable and path in the message (never the file's content). Throws ConfigError listing every problem.
 */
export function loadServerSecurity(
  config: ControlConfig,
  read: ReadFile = (path) => readFileSync(path),
): ServerSecurity {
  const issues: string[] = [];
  const file = (variable: string, path: string): Buffer | undefined => {
    try {
      return read(path);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? 'unreadable';
      issues.push(`${variable}: cannot read ${path} (${code})`);
      return undefined;
    }
  };
  const tokens = (kind: 'API' | 'WORKER'): string[] => {
    const variable = `CONTROL_${kind}_TOKENS` as const;
    const path = config[`CONTROL_${kind}_TOKENS_FILE`];
    const text = path === '' ? config[variable] : file(`${variable}_FILE`, path)?.toString('utf8');
    const list = parseTokenList(text ?? '');
    list.forEach((t, i) => {
      if (t.length < MIN_TOKEN_CHARS)
        issues.push(`${variable}: token #${i + 1} is shorter than ${MIN_TOKEN_CHARS} characters`);
    });
    return list;
  };

  const apiTokens = tokens('API');
  const workerTokens = tokens('WORKER');
  if ((apiTokens.length === 0) !== (workerTokens.length === 0))
    issues.push(
      'CONTROL_API_TOKENS and CONTROL_WORKER_TOKENS are set together: with only one, the other service would stay open',
    );
  if (apiTokens.some((t) => workerTokens.includes(t)))
    issues.push('CONTROL_WORKER_TOKENS: a worker token must differ from every API token');

  let credentials = ServerCredentials.createInsecure();
  let tls: ServerSecurity['tls'] = 'off';
  if (config.CONTROL_TLS_CERT_FILE !== '') {
    const cert = file('CONTROL_TLS_CERT_FILE', config.CONTROL_TLS_CERT_FILE);
    const key = file('CONTROL_TLS_KEY_FILE', config.CONTROL_TLS_KEY_FILE);
    const ca =
      config.CONTROL_TLS_CLIENT_CA_FILE === ''
        ? null
        : file('CONTROL_TLS_CLIENT_CA_FILE', config.CONTROL_TLS_CLIENT_CA_FILE);
    if (cert !== undefined && key !== undefined && ca !== undefined) {
      checkPem(config, cert, key, ca, issues);
      credentials = ServerCredentials.createSsl(
        ca,
        [{ cert_chain: cert, private_key: key }],
        ca !== null,
      );
      tls = ca === null ? 'server' : 'mutual';
    }
  }
  const open = apiTokens.length === 0 && tls !== 'mutual';
  if (open && !isLoopbackAddress(config.CONTROL_GRPC_ADDRESS) && !config.CONTROL_INSECURE)
    issues.push(
      `CONTROL_GRPC_ADDRESS: ${config.CONTROL_GRPC_ADDRESS} is reachable from other hosts, and neither tokens (CONTROL_API_TOKENS + CONTROL_WORKER_TOKENS) nor mutual TLS (CONTROL_TLS_CLIENT_CA_FILE) protect it: anyone could read task secrets through WorkerService. Configure one, bind 127.0.0.1, or set CONTROL_INSECURE=true to run it open on purpose`,
    );
  if (issues.length > 0) throw new ConfigError(issues);
  return {
    credentials,
    tls,
    ...(apiTokens.length === 0
      ? {}
      : {
          api: { tokens: new TokenSet(apiTokens), credential: 'an API token' },
          worker: { tokens: new TokenSet(workerTokens), credential: 'a worker token' },
        }),
  };
}

/** True for a `host:port` only this machine can reach (127.0.0.0/8, ::1, localhost). */
export function isLoopbackAddress(address: string): boolean {
  const host = address.replace(/:\d+$/, '').replace(/^\[(.*)\]$/, '$1');
  return host === 'localhost' || host === '::1' || /^127(\.\d{1,3}){3}$/.test(host);
}

/** The files parse as PEM and the key belongs to the certificate; errors name files, not content. */
function checkPem(
  config: ControlConfig,
  cert: Buffer,
  key: Buffer,
  ca: Buffer | null,
  issues: string[],
): void {
  const parse = <T>(what: string, fn: () => T): T | undefined => {
    try {
      return fn();
    } catch {
      issues.push(what);
      return undefined;
    }
  };
  const x509 = parse(
    `CONTROL_TLS_CERT_FILE: ${config.CONTROL_TLS_CERT_FILE} is not a PEM certificate`,
    () => new X509Certificate(cert),
  );
  const privateKey = parse(
    `CONTROL_TLS_KEY_FILE: ${config.CONTROL_TLS_KEY_FILE} is not a PEM private key`,
    () => createPrivateKey(key),
  );
  if (x509 !== undefined && privateKey !== undefined && !x509.checkPrivateKey(privateKey))
    issues.push(
      `CONTROL_TLS_KEY_FILE: ${config.CONTROL_TLS_KEY_FILE} is not the key of ${config.CONTROL_TLS_CERT_FILE}`,
    );
  if (ca !== null)
    parse(
      `CONTROL_TLS_CLIENT_CA_FILE: ${config.CONTROL_TLS_CLIENT_CA_FILE} is not a PEM certificate`,
      () => new X509Certificate(ca),
    );
}
