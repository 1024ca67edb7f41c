import {
  Metadata,
  status,
  type handleServerStreamingCall,
  type handleUnaryCall,
  type ServiceDefinition,
  type ServiceError,
  type UntypedServiceImplementation,
} from '@grpc/grpc-js';
import { ERROR_CODE_TRAILER, type Logger } from '@cdc/shared';
import { presentedToken, type TokenSet } from './tokens.js';

/** Who may call a service: the accepted tokens and how errors name that credential ("an API token"). */
export interface TokenPolicy {
  readonly tokens: TokenSet;
  readonly credential: string;
}

/** Why a call is refused, in words safe to return: never the presented token. */
export function refusal(metadata: Metadata, policy: TokenPolicy): string | undefined {
  const presented = presentedToken(metadata);
  switch (presented.kind) {
    case 'missing':
      return `missing credentials: this service requires ${policy.credential}, sent as metadata "authorization: Bearer <token>"`;
    case 'malformed':
      return 'malformed credentials: expected one metadata entry "authorization: Bearer <token>"';
    case 'bearer':
      return policy.tokens.matches(presented.token)
        ? undefined
        : `invalid credentials: the bearer token is not ${policy.credential}`;
  }
}

function unauthenticated(message: string): ServiceError {
  const metadata = new Metadata();
  metadata.set(ERROR_CODE_TRAILER, 'UNAUTHENTICATED');
  return Object.assign(new Error(message), {
    code: status.UNAUTHENTICATED,
    details: message,
    metadata,
  });
}

/**
 * Wraps every handler of `impl` so a call runs only with a token of `policy`, otherwise ends with UNAUTHENTICATED
 * before the handler sees it. Unary and server-streaming methods (the only kinds the cdc.v1 services have); any
 * other kind is refused at start-up rather than left unguarded.
 */
export function requireToken(
  service: ServiceDefinition,
  impl: UntypedServiceImplementation,
  policy: TokenPolicy,
  log: Logger,
): UntypedServiceImplementation {
  const guarded: UntypedServiceImplementation = {};
  for (const [name, method] of Object.entries(service)) {
    const handler = impl[name];
    if (handler === undefined) continue;
    const refused = (metadata: Metadata, peer: string): ServiceError | undefined => {
      const reason = refusal(metadata, policy);
      if (reason === undefined) return undefined;
      log.warn({ method: method.path, peer, reason }, 'call refused: unauthenticated');
      return unauthenticated(reason);
    };
    if (method.requestStream)
      throw new Error(`${method.path}: client-streaming methods are not supported by requireToken`);
    if (method.responseStream) {
      const inner = handler as handleServerStreamingCall<unknown, unknown>;
      const wrapped: handleServerStreamingCall<unknown, unknown> = (call) => {
        const err = refused(call.metadata, call.getPeer());
        // emit('error') ends a server stream with that status (see cdc-handlers.ts, WatchTask).
        if (err === undefined) inner(call);
        else call.emit('error', err);
      };
      guarded[name] = wrapped;
    } else {
      const inner = handler as handleUnaryCall<unknown, unknown>;
      const wrapped: handleUnaryCall<unknown, unknown> = (call, callback) => {
        const err = refused(call.metadata, call.getPeer());
        if (err === undefined) inner(call, callback);
        else callback(err);
      };
      guarded[name] = wrapped;
    }
  }
  return guarded;
}
