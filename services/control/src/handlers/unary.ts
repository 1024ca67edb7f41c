import type { handleUnaryCall } from '@grpc/grpc-js';
import type { Logger } from '@cdc/shared';
import { isCdcError } from '@cdc/shared';
import { toServiceError } from '../grpc-status.js';
import { decodeError } from './codec.js';

/** Wraps an async handler: resolves → callback(null, value); rejects → callback(toServiceError(err)). */
export function unary<Req, Res>(
  log: Logger,
  method: string,
  fn: (req: Req) => Promise<Res>,
): handleUnaryCall<Req, Res> {
  return (call, callback) => {
    const bad = decodeError(call.request);
    // Bytes that did not decode never reach `fn` (it would see an empty request).
    (bad === undefined ? fn(call.request) : Promise.reject(bad)).then(
      (value) => {
        callback(null, value);
      },
      (err: unknown) => {
        if (!isCdcError(err) || err.code === 'INTERNAL')
          log.error({ err, method }, 'request failed');
        else log.debug({ code: err.code, method }, 'request rejected');
        callback(toServiceError(err));
      },
    );
  };
}
