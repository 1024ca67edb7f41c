import { errorMessage } from './errors.js';
import type { Logger } from './logger.js';

/** One cleanup of a shutdown, named for the log line when it fails. */
export interface ShutdownStep {
  readonly name: string;
  run(): unknown;
}

/** Steps run one after the other; an array of steps runs together. */
export type ShutdownPlan = readonly (ShutdownStep | readonly ShutdownStep[])[];

/**
 * Runs every step of `plan`, each even when an earlier one failed (bullmq's `Worker.close()`), logs each failure with
 * its step's name and returns the names of the failed steps.
 */
export async function closeAll(plan: ShutdownPlan, log: Logger): Promise<string[]> {
  const failed: string[] = [];
  const attempt = async (step: ShutdownStep): Promise<void> => {
    try {
      await step.run();
    } catch (err) {
      failed.push(step.name);
      log.warn({ step: step.name, err: errorMessage(err) }, 'shutdown step failed');
    }
  };
  for (const stage of plan) {
    if (Array.isArray(stage)) await Promise.all((stage as readonly ShutdownStep[]).map(attempt));
    else await attempt(stage as ShutdownStep);
  }
  return failed;
}

/** The part of node's `http.Server` a shutdown closes. */
export interface ClosableServer {
  close(callback: (err?: Error) => void): unknown;
  closeAllConnections(): void;
}

/** A step that closes an HTTP server (a metrics endpoint) and its kept-alive connections; none: nothing to do. */
export function serverStep(name: string, server: ClosableServer | undefined): ShutdownStep {
  return {
    name,
    run: () =>
      new Promise<void>((resolve, reject) => {
        if (server === undefined) {
          resolve();
          return;
        }
        server.close((err) => {
          if (err === undefined) resolve();
          else reject(err);
        });
        server.closeAllConnections();
      }),
  };
}

/** The slice of `process` a service's shutdown uses (injectable for tests). */
export interface ProcessLike {
  on(event: 'SIGTERM' | 'SIGINT', listener: () => void): unknown;
  on(event: 'unhandledRejection' | 'uncaughtException', listener: (err: unknown) => void): unknown;
  exit(code: number): void;
}

export interface ServiceShutdownOptions {
  readonly log: Logger;
  /** Runs first and synchronously: stop taking new work (health NOT_SERVING, no new leases). */
  readonly beforeSteps?: () => void;
  /** What to close, built when the shutdown starts. */
  readonly plan: () => ShutdownPlan;
  /** Past this the process exits 1 without waiting for the remaining steps. */
  readonly forceAfterMs: number;
  readonly process?: ProcessLike;
}

/**
 * The one shutdown of both services. SIGTERM/SIGINT run the plan once and exit 0 when every step succeeded, else 1;
 * a second signal, the force timer, or a shutdown caused by an unhandled rejection or exception exit 1 (a crash is
 * never reported as a clean stop). Returns `stop(reason, failure)` for the service's own fatal errors.
 */
export function handleShutdown(
  opts: ServiceShutdownOptions,
): (reason: string, failure?: boolean) => Promise<void> {
  const proc: ProcessLike = opts.process ?? process;
  const { log } = opts;
  let running: Promise<void> | undefined;
  let failure = false;
  const stop = (reason: string, failed = false): Promise<void> => {
    failure ||= failed;
    if (running !== undefined) return running;
    running = (async () => {
      log.info({ reason }, 'shutting down');
      const force = setTimeout(() => {
        log.error({ forceAfterMs: opts.forceAfterMs }, 'shutdown took too long; exiting');
        proc.exit(1);
      }, opts.forceAfterMs);
      force.unref();
      opts.beforeSteps?.();
      const failedSteps = await closeAll(opts.plan(), log);
      clearTimeout(force);
      const code = failure || failedSteps.length > 0 ? 1 : 0;
      log.info({ exitCode: code, failedSteps }, 'stopped');
      proc.exit(code);
    })();
    return running;
  };
  const onSignal = (signal: string) => (): void => {
    if (running !== undefined) {
      log.warn({ signal }, 'second signal; exiting now');
      proc.exit(1);
      return;
    }
    void stop(signal);
  };
  proc.on('SIGTERM', onSignal('SIGTERM'));
  proc.on('SIGINT', onSignal('SIGINT'));
  proc.on('unhandledRejection', (err) => {
    log.error({ err: errorMessage(err) }, 'unhandled rejection');
    void stop('unhandledRejection', true);
  });
  proc.on('uncaughtException', (err) => {
    log.fatal({ err: errorMessage(err) }, 'uncaught exception');
    void stop('uncaughtException', true);
  });
  return stop;
}
