import { invalidArgument } from '@cdc/shared';
import {
  checkLength,
  MAX_ADDRESS_CHARS,
  MAX_SECRET_CHARS,
  MAX_SHORT_CHARS,
  quote,
} from './field-checks.js';
import type { SourceMilvusSpec, TargetSpec, TlsSpec } from './model.js';

const MAX_PEM_CHARS = 65_536;
/** URI schemes a Milvus address accepts (an address without a scheme is always accepted). */
const TARGET_SCHEMES = ['http', 'https', 'tcp', 'grpc', 'grpcs'];

/**
 * An address with credentials in it (`https://user:pass@host`) would store them in clear in the task record and
 * show them in every response: refuse it, naming the fields that take them (`credentialsIn`). The value is not
 * echoed, since it holds a secret.
 */
function checkNoCredentials(field: string, value: string, credentialsIn: string): void {
  const authority = value.replace(/^[a-z][a-z0-9+.-]*:\/\//i, '').split('/')[0] ?? '';
  if (authority.includes('@'))
    throw invalidArgument(
      field,
      `must not embed credentials (user:password@host); put them in ${credentialsIn}`,
    );
}

/** A server address (host:port, or a URI of one of `schemes`) without credentials in it. */
export function checkHostPort(
  field: string,
  value: string,
  schemes: readonly string[],
  credentialsIn: string,
): void {
  checkNoCredentials(field, value, credentialsIn);
  checkLength(field, value, MAX_ADDRESS_CHARS);
  // URL() strips or percent-encodes some of these; an address never contains them.
  // eslint-disable-next-line no-control-regex -- control characters are exactly what this rejects
  if (/[\s\u0000-\u001f\u007f]/.test(value))
    throw invalidArgument(field, `${quote(value)} contains whitespace or control characters`);
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(value)?.[1]?.toLowerCase();
  if (scheme !== undefined && !schemes.includes(scheme))
    throw invalidArgument(
      field,
      `${quote(value)}: scheme "${scheme}" is not supported (${schemes.join(', ')} or none)`,
    );
  let url: URL;
  try {
    url = new URL(scheme === undefined ? `tcp://${value}` : value);
  } catch {
    throw invalidArgument(field, `${quote(value)} is not a valid address`);
  }
  if (url.hostname === '') throw invalidArgument(field, `${quote(value)} has no host`);
  // URL() rejects ports above 65535 but takes 0, which no server listens on.
  if (url.port === '0') throw invalidArgument(field, `${quote(value)}: port must be 1-65535`);
}

/** A Milvus server address with its credentials: the target, or the source server. */
export function checkMilvusEndpoint(field: string, m: SourceMilvusSpec | TargetSpec): void {
  checkHostPort(
    `${field}.uri`,
    m.uri,
    TARGET_SCHEMES,
    `${field}.username and ${field}.password, or ${field}.token`,
  );
  checkLength(`${field}.token`, m.token, MAX_SECRET_CHARS);
  checkLength(`${field}.username`, m.username, MAX_SHORT_CHARS);
  checkLength(`${field}.password`, m.password, MAX_SECRET_CHARS);
  if (m.token !== '' && (m.username !== '' || m.password !== ''))
    throw invalidArgument(`${field}.token`, 'cannot be combined with username/password');
  if ((m.username === '') !== (m.password === ''))
    throw invalidArgument(`${field}.password`, 'username and password must be set together');
  checkTls(`${field}.tls`, m.tls);
}

export function checkTls(field: string, tls: TlsSpec): void {
  checkLength(`${field}.ca_pem`, tls.ca_pem, MAX_PEM_CHARS);
  checkLength(`${field}.cert_pem`, tls.cert_pem, MAX_PEM_CHARS);
  checkLength(`${field}.key_pem`, tls.key_pem, MAX_PEM_CHARS);
  checkLength(`${field}.server_name`, tls.server_name, MAX_SHORT_CHARS);
  if (!tls.enabled) return;
  for (const [name, pem] of [
    ['ca_pem', tls.ca_pem],
    ['cert_pem', tls.cert_pem],
    ['key_pem', tls.key_pem],
  ] as const) {
    if (pem !== '' && !pem.includes('-----BEGIN '))
      throw invalidArgument(`${field}.${name}`, 'must be PEM text');
  }
  if ((tls.cert_pem === '') !== (tls.key_pem === ''))
    throw invalidArgument(`${field}.key_pem`, 'cert_pem and key_pem must be set together');
}
