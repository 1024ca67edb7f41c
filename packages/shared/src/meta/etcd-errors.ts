import { CdcError } from '../errors.js';
import { tlsRejection, tlsRejectionMessage } from '../tls/endpoint-tls.js';

/**
 * A failed source etcd call: retryable SOURCE_UNAVAILABLE, except a TLS handshake the server and the spec's TLS
 * settings disagree on (unknown CA, client certificate refused), which waiting does not fix: FAILED_PRECONDITION,
 * so the task pauses with the reason.
 */
export function etcdUnavailable(action: string, cause: unknown): CdcError {
  const tls = tlsRejection(cause);
  if (tls !== undefined)
    return new CdcError(
      'FAILED_PRECONDITION',
      `${action}: ${tlsRejectionMessage('source etcd', tls)}`,
      {
        retryable: false,
        cause,
      },
    );
  return new CdcError('SOURCE_UNAVAILABLE', action, { retryable: true, cause });
}
