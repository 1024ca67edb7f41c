import { createHash } from 'node:crypto';
import { status as grpcStatus, type ServerWritableStream } from '@grpc/grpc-js';
import { CdcError, invalidArgument, type Logger, type pb } from '@cdc/shared';
import { toServiceError } from '../grpc-status.js';
import { presentedToken } from '../security/tokens.js';
import { decodeError } from './codec.js';

/** Default of CONTROL_WATCH_STREAMS_PER_CALLER. */
export const DEFAULT_WATCH_STREAMS_PER_CALLER = 16;

/**
 * Open WatchTask streams per caller. Every stream polls the task store once per interval and holds a slot of the
 * server's memory, so one caller (a script in a reconnect loop, a dashboard per browser tab) must not open them
 * without bound. A caller is its bearer token (as a digest), else its client certificate, else its IP address.
 */
export class WatchLimiter {
  private readonly open = new Map<string, number>();

  constructor(readonly perCaller: number) {}

  /** A slot for `caller`, or undefined when it already holds `perCaller` streams. Release it once, when done. */
  acquire(caller: string): (() => void) | undefined {
    const held = this.open.get(caller) ?? 0;
    if (held >= this.perCaller) return undefined;
    this.open.set(caller, held + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const left = (this.open.get(caller) ?? 1) - 1;
      if (left <= 0) this.open.delete(caller);
      else this.open.set(caller, left);
    };
  }

  held(caller: string): number {
    return this.open.get(caller) ?? 0;
  }
}

/** Who is calling, for the per-caller cap; never the token itself (it ends up in logs). */
export function callerOf(call: WatchStream): string {
  const presented = presentedToken(call.metadata);
  if (presented.kind === 'bearer')
    return `token:${createHash('sha256').update(presented.token).digest('hex').slice(0, 16)}`;
  const cert = call.getAuthContext().sslPeerCertificate?.fingerprint256;
  if (cert !== undefined && cert !== '') return `cert:${cert}`;
  const peer = call.getPeer();
  // "1.2.3.4:port" or "[::1]:port": the port changes per connection, the caller does not.
  return `peer:${peer.replace(/:\d+$/, '').replace(/^\[|\]$/g, '')}`;
}

type WatchStream = ServerWritableStream<pb.WatchTaskRequest__Output, pb.TaskStatus>;
type TaskStatus = Required<pb.TaskStatus>;

/** The parts of a server stream the watch loop uses (a grpc-js ServerWritableStream, or a fake in tests). */
export interface WatchCall {
  /** The decoded request, or the marker object of a request that did not decode (see codec.ts decodeError). */
  readonly request: Partial<pb.WatchTaskRequest__Output>;
  readonly cancelled: boolean;
  write(message: TaskStatus): boolean;
  end(): void;
  emit(event: 'error', err: unknown): boolean;
  once(event: 'drain' | 'cancelled' | 'close', listener: () => void): unknown;
  off(event: 'drain' | 'cancelled' | 'close', listener: () => void): unknown;
}

/** Resolves after `ms`, or as soon as the call is cancelled or closed. */
function pause(call: WatchCall, ms: number): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      call.off('cancelled', done);
      call.off('close', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    call.once('cancelled', done);
    call.once('close', done);
  });
}

/** Resolves once the stream's buffer drained (the client read what was sent), or the call ended. */
function drained(call: WatchCall): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      call.off('drain', done);
      call.off('cancelled', done);
      call.off('close', done);
      resolve();
    };
    call.once('drain', done);
    call.once('cancelled', done);
    call.once('close', done);
  });
}

/**
 * Streams a task's status: on change, and at least every 5 intervals (lag keeps moving when nothing else does).
 * Backpressure: when `write` reports a full buffer (a client that does not read), the loop neither writes nor polls
 * until the stream drains, then sends the latest status; superseded updates are never queued, so a slow client
 * costs at most one buffer of messages.
 */
export async function watchTask(
  call: WatchCall,
  status: (taskId: string) => Promise<TaskStatus>,
  log: Logger,
): Promise<void> {
  let taskId = '';
  let sent = false;
  try {
    const bad = decodeError(call.request);
    if (bad !== undefined) throw bad;
    taskId = call.request.task_id ?? '';
    const requested = call.request.interval_ms ?? 0;
    if (requested !== 0 && (requested < 200 || requested > 60_000))
      throw invalidArgument('interval_ms', 'must be between 200 and 60000');
    const intervalMs = requested === 0 ? 1000 : requested;
    let last = '';
    let lastSentAt = 0;
    while (!call.cancelled) {
      const update = await status(taskId);
      const key = JSON.stringify(update);
      if (key !== last || Date.now() - lastSentAt >= intervalMs * 5) {
        sent = true;
        last = key;
        lastSentAt = Date.now();
        if (!call.write(update)) {
          log.debug({ taskId }, 'watch client is slow; waiting for it to read');
          await drained(call);
          continue; // poll again at once: what is sent next is the newest status, not a queued one
        }
      }
      await pause(call, intervalMs);
    }
  } catch (err) {
    if (call.cancelled) return;
    const e = toServiceError(err);
    // A task deleted while watched ends the stream normally; one that never existed is NOT_FOUND (it used to end
    // with OK and no message, indistinguishable from a typo'd id).
    if (e.code === grpcStatus.NOT_FOUND && sent) {
      log.debug({ taskId }, 'watched task is gone; ending stream');
      call.end();
      return;
    }
    // emit('error') is how grpc-js ends a server stream with a status: destroy(err) tore the stream down without
    // sending one, so a bad WatchTask request hung until the client's deadline (forever without one).
    call.emit('error', Object.assign(new Error(e.details ?? 'error'), e));
  }
}

/** The WatchTask handler: the per-caller cap, then `watchTask`. */
export function watchHandler(
  status: (taskId: string) => Promise<TaskStatus>,
  limiter: WatchLimiter,
  log: Logger,
): (call: WatchStream) => void {
  return (call) => {
    const caller = callerOf(call);
    const release = limiter.acquire(caller);
    if (release === undefined) {
      log.warn(
        { peer: call.getPeer(), limit: limiter.perCaller },
        'WatchTask refused: too many streams',
      );
      const err = new CdcError(
        'RESOURCE_EXHAUSTED',
        `this caller already has ${limiter.perCaller} WatchTask streams open (CONTROL_WATCH_STREAMS_PER_CALLER); close one first`,
        { retryable: true },
      );
      const e = toServiceError(err);
      call.emit('error', Object.assign(new Error(e.details ?? 'error'), e));
      return;
    }
    // Released as soon as the client goes away, not after the loop's next wake-up.
    call.once('cancelled', release);
    call.once('close', release);
    void watchTask(call, status, log).finally(release);
  };
}
