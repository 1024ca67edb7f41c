import { InterceptingCall, Metadata, status, type Interceptor } from '@grpc/grpc-js';
import { errorMessage } from '@cdc/shared';
import { writeFences } from '../ports/write-fence.js';

function deadlineMs(deadline: Date | number | undefined): number {
  if (deadline === undefined) return Number.POSITIVE_INFINITY;
  return deadline instanceof Date ? deadline.getTime() : deadline;
}

/**
 * gRPC interceptor on the target's Milvus channels: a call issued for a lease ends by the lease's write deadline, and
 * a call issued after the lease lost its right to write never leaves the process. It runs when the SDK actually
 * starts the call (after waiting for a pooled connection), which is the moment that counts.
 */
export const fenceInterceptor: Interceptor = (options, nextCall) => {
  const fence = writeFences.getStore();
  if (fence === undefined) return new InterceptingCall(nextCall(options));
  let fenceDeadline: number;
  try {
    fenceDeadline = fence.callDeadline();
  } catch (err) {
    const details = errorMessage(err);
    return new InterceptingCall(nextCall(options), {
      start: (_metadata, listener) => {
        listener.onReceiveStatus({ code: status.CANCELLED, details, metadata: new Metadata() });
      },
    });
  }
  const deadline = Math.min(deadlineMs(options.deadline), fenceDeadline);
  return new InterceptingCall(nextCall({ ...options, deadline }));
};
