import {
  CdcError,
  classifyStatus,
  classifyThrown,
  errorFromClass,
  statusDetails,
  type MilvusStatusLike,
  type StatusClass,
} from '@cdc/shared';
import type { TargetCollection } from '../ports/target-writer.js';
import { writeFences } from '../ports/write-fence.js';
import type { TargetMilvusClient } from './milvus-client.js';

/** What one SDK call came to: the response (when there is one) and its classified status. */
export interface Outcome<T> {
  readonly res?: T;
  readonly cls: StatusClass;
  readonly details: Record<string, unknown>;
  readonly cause?: unknown;
}

/** Where the status sits: plain `ResStatus` replies, or `{ status, ... }` replies. */
export const plainStatus = (res: MilvusStatusLike): MilvusStatusLike => res;
export const nestedStatus = (res: { status?: MilvusStatusLike }): MilvusStatusLike | undefined =>
  res.status;

export function failure(
  action: string,
  o: Outcome<unknown>,
  where: Record<string, unknown>,
): CdcError {
  return errorFromClass(action, o.cls, { ...where, ...o.details }, o.cause);
}

/**
 * A look at the target after a refusal (does the database exist? is the index the same?) tells a replay from a real
 * conflict. A look that could not be made (the target slow or down) decides nothing: its own, retryable failure is
 * thrown, so a create that timed out, took effect and is replayed on a busy target is retried, not taken for a
 * refusal and quarantined.
 */
export function looked<T>(
  action: string,
  o: Outcome<T>,
  where: Record<string, unknown>,
): Outcome<T> {
  if (o.cls.kind === 'ok' || o.cls.kind === 'rejected') return o;
  throw failure(action, o, where);
}

/** Success, or the object (or its collection / database) no longer exists. */
export function doneOrGone(o: Outcome<unknown>): boolean {
  return o.cls.kind === 'ok' || (o.cls.kind === 'rejected' && o.cls.notFound !== undefined);
}

/** Runs SDK calls with the writer's deadline, connecting first and classifying every outcome. */
export class MilvusCalls {
  private closed = false;

  constructor(
    readonly client: TargetMilvusClient,
    readonly timeout: number,
  ) {}

  markClosed(): void {
    this.closed = true;
  }

  req(target: TargetCollection): { db_name: string; collection_name: string; timeout: number } {
    return { db_name: target.db, collection_name: target.collection, timeout: this.timeout };
  }

  /** Failures come back classified (thrown or in the status), never as a raw SDK error. */
  async attempt<T>(
    call: () => Promise<T>,
    statusOf: (res: T) => MilvusStatusLike | undefined,
  ): Promise<Outcome<T>> {
    if (this.closed) {
      throw new CdcError('INTERNAL', 'using a closed milvus target writer', { retryable: false });
    }
    // Fail fast with the fence's own error; fenceInterceptor enforces it again when the call is issued.
    writeFences.getStore()?.callDeadline();
    try {
      await this.client.ensureConnected();
      const res = await call();
      const status = statusOf(res);
      return { res, cls: classifyStatus(status), details: statusDetails(status) };
    } catch (err) {
      if (err instanceof CdcError) throw err;
      const { cls, details } = classifyThrown(err);
      return { cls, details, cause: err };
    }
  }

  /** `attempt`, throwing the classified CdcError unless the call succeeded. */
  async must<T>(
    action: string,
    where: Record<string, unknown>,
    call: () => Promise<T>,
    statusOf: (res: T) => MilvusStatusLike | undefined,
  ): Promise<T | undefined> {
    const o = await this.attempt(call, statusOf);
    if (o.cls.kind !== 'ok') throw failure(action, o, where);
    return o.res;
  }
}
