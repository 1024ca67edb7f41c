import { errorMessage, isCdcError } from '../errors.js';
import { decodeMessage } from '../wire/decode.js';
import { decodeWalMessage } from './decode-wal.js';
import { WAL_LIMITS, isWalMessage, parseWalProperties } from './properties.js';
import type { WalProperties } from './properties.js';
import type { WalMessage } from './wal-message.js';

/** One record of a pchannel's WAL: its position (opaque bytes), payload and properties. */
export interface WalRecord {
  readonly id: Uint8Array;
  readonly payload: Uint8Array;
  readonly properties: Readonly<Record<string, string>>;
}

export type WalEvent =
  /**
   * A message to apply, in apply order. `id` is the record that completed it (the commit of a transaction, the last
   * chunk of a chunked payload): resuming after it never skips the message.
   */
  | {
      readonly kind: 'message';
      readonly id: Uint8Array;
      readonly message: WalMessage;
      readonly payload: Uint8Array;
    }
  /** Nothing is pending after record `id`: a checkpoint may be placed here. `timeTick` = highest time tick seen. */
  | { readonly kind: 'safe'; readonly id: Uint8Array; readonly timeTick: bigint }
  /** Messages that will never apply (a rolled-back or expired transaction, an orphan chunk run). */
  | {
      readonly kind: 'dropped';
      readonly id: Uint8Array;
      readonly reason: string;
      readonly messages: number;
    }
  /** A record that cannot be decoded: quarantine it. An encrypted source is an error instead (needs a person). */
  | {
      readonly kind: 'corrupt';
      readonly id: Uint8Array;
      readonly reason: string;
      readonly payload: Uint8Array;
    };

interface Pending {
  readonly id: Uint8Array;
  readonly payload: Uint8Array;
  readonly props: WalProperties;
}

interface OpenTxn {
  readonly beginId: Uint8Array;
  readonly keepaliveMs: bigint;
  lastTimeTick: bigint;
  readonly body: Pending[];
}

interface ChunkRun {
  readonly total: number;
  readonly slots: Map<number, Pending>;
  bytes: number;
}

/** Physical milliseconds of a hybrid timestamp: the keepalive of a transaction is wall time. */
const physicalMs = (ts: bigint): bigint => ts >> 18n;

const sameBytes = (a: Uint8Array, b: Uint8Array): boolean => Buffer.from(a).equals(Buffer.from(b));

/**
 * Turns a pchannel's WAL records, in order, into messages to apply (Milvus 2.6 semantics):
 * - chunked payloads (`_ci`/`_ct`, keyed by time tick) are reassembled, bounded in count and bytes; a TimeTick drops
 *   runs at or before it, a rewritten index with other bytes is corrupt;
 * - transactions (BeginTxn … CommitTxn) apply at commit, every body message at the commit's time tick; a rollback,
 *   or a keepalive that ran out, drops them;
 * - after each record that leaves nothing pending, a `safe` position for checkpoints.
 */
export class WalAssembler {
  private readonly txns = new Map<bigint, OpenTxn>();
  private readonly chunks = new Map<bigint, ChunkRun>();
  private maxTimeTick = 0n;

  get pending(): number {
    return this.txns.size + this.chunks.size;
  }

  push(record: WalRecord): WalEvent[] {
    const out: WalEvent[] = [];
    let props: WalProperties;
    try {
      if (!isWalMessage(record.properties)) {
        this.legacy(record, out);
        return this.finish(record, out);
      }
      props = parseWalProperties(record.properties);
    } catch (err) {
      if (isCdcError(err) && err.code !== 'DECODE_FAILED') throw err;
      out.push({
        kind: 'corrupt',
        id: record.id,
        reason: errorMessage(err),
        payload: record.payload,
      });
      return this.finish(record, out);
    }
    if (props.timeTick > this.maxTimeTick) this.maxTimeTick = props.timeTick;
    const whole =
      props.chunk === undefined
        ? { id: record.id, payload: record.payload, props }
        : this.chunk(record, props, out);
    if (whole !== undefined) this.message(whole, record.id, out);
    return this.finish(record, out);
  }

  private finish(record: WalRecord, out: WalEvent[]): WalEvent[] {
    if (this.pending === 0) out.push({ kind: 'safe', id: record.id, timeTick: this.maxTimeTick });
    return out;
  }

  /** A pre-2.6 msgstream record in the same log (a cluster upgraded from 2.5): decoded the 2.3–2.5 way. */
  private legacy(record: WalRecord, out: WalEvent[]): void {
    const m = decodeMessage(record.payload, record.properties);
    if (m.type === 'Unknown') return;
    const props = parseWalProperties({ ...record.properties, _t: '0' });
    out.push({
      kind: 'message',
      id: record.id,
      payload: record.payload,
      message: { props, kind: 'change', message: m },
    });
  }

  private chunk(record: WalRecord, props: WalProperties, out: WalEvent[]): Pending | undefined {
    const { index, total } = props.chunk ?? { index: 0, total: 0 };
    const tt = props.timeTick;
    let run = this.chunks.get(tt);
    if (run === undefined) {
      if (index !== 0) {
        out.push({
          kind: 'dropped',
          id: record.id,
          reason: `chunk ${index}/${total} at time tick ${tt} without its first chunk`,
          messages: 0,
        });
        return undefined;
      }
      run = { total, slots: new Map(), bytes: 0 };
      this.chunks.set(tt, run);
    } else if (run.total !== total) {
      this.chunks.delete(tt);
      out.push({
        kind: 'corrupt',
        id: record.id,
        reason: `chunks at time tick ${tt} disagree on their total (${run.total}, ${total})`,
        payload: record.payload,
      });
      return undefined;
    }
    const previous = run.slots.get(index);
    if (previous !== undefined && !sameBytes(previous.payload, record.payload)) {
      this.chunks.delete(tt);
      out.push({
        kind: 'corrupt',
        id: record.id,
        reason: `chunk ${index} at time tick ${tt} was rewritten with other bytes`,
        payload: record.payload,
      });
      return undefined;
    }
    run.bytes += record.payload.length - (previous?.payload.length ?? 0);
    if (run.bytes > WAL_LIMITS.maxAssembledBytes) {
      this.chunks.delete(tt);
      out.push({
        kind: 'corrupt',
        id: record.id,
        reason: `chunked payload at time tick ${tt} exceeds ${WAL_LIMITS.maxAssembledBytes} bytes`,
        payload: new Uint8Array(0),
      });
      return undefined;
    }
    run.slots.set(index, { id: record.id, payload: record.payload, props });
    if (run.slots.size < total) return undefined;
    this.chunks.delete(tt);
    const parts = Array.from({ length: total }, (_, i) => run.slots.get(i));
    const payload = Buffer.concat(parts.map((p) => p?.payload ?? new Uint8Array(0)));
    const first = parts[0] ?? { id: record.id, props };
    return {
      id: first.id,
      payload: new Uint8Array(payload.buffer, payload.byteOffset, payload.byteLength),
      props: { ...first.props, chunk: undefined },
    };
  }

  private message(m: Pending, completedBy: Uint8Array, out: WalEvent[]): void {
    let decoded: WalMessage;
    try {
      decoded = decodeWalMessage(m.payload, m.props);
    } catch (err) {
      if (isCdcError(err) && err.code !== 'DECODE_FAILED') throw err;
      out.push({ kind: 'corrupt', id: completedBy, reason: errorMessage(err), payload: m.payload });
      return;
    }
    const { props } = decoded;
    if (decoded.kind === 'change' && decoded.message.type === 'TimeTick') {
      for (const tt of [...this.chunks.keys()]) {
        if (tt <= props.timeTick) {
          this.chunks.delete(tt);
          out.push({
            kind: 'dropped',
            id: completedBy,
            reason: `incomplete chunked payload at time tick ${tt}`,
            messages: 1,
          });
        }
      }
    }
    this.expireTxns(props.timeTick, completedBy, out);
    const txn = props.txn;
    if (decoded.kind === 'txn' && txn !== undefined) {
      if (decoded.phase === 'begin') {
        this.txns.set(txn.txnId, {
          beginId: completedBy,
          keepaliveMs: txn.keepaliveMs,
          lastTimeTick: props.timeTick,
          body: [],
        });
        return;
      }
      const open = this.txns.get(txn.txnId);
      this.txns.delete(txn.txnId);
      if (open === undefined) {
        out.push({
          kind: 'dropped',
          id: completedBy,
          reason: `${decoded.phase} of transaction ${txn.txnId} whose begin was not read`,
          messages: 0,
        });
        return;
      }
      if (decoded.phase === 'rollback') {
        out.push({
          kind: 'dropped',
          id: completedBy,
          reason: `transaction ${txn.txnId} rolled back`,
          messages: open.body.length,
        });
        return;
      }
      // Every body message takes the commit's time tick, as Milvus's txn builder does (cloneForTxnBody).
      for (const body of open.body)
        this.message(
          { ...body, props: { ...body.props, txn: undefined, timeTick: props.timeTick } },
          completedBy,
          out,
        );
      return;
    }
    if (txn !== undefined) {
      const open = this.txns.get(txn.txnId);
      if (open === undefined) {
        out.push({
          kind: 'dropped',
          id: completedBy,
          reason: `message of transaction ${txn.txnId} whose begin was not read`,
          messages: 1,
        });
        return;
      }
      open.body.push(m);
      open.lastTimeTick = props.timeTick;
      return;
    }
    out.push({ kind: 'message', id: completedBy, message: decoded, payload: m.payload });
  }

  /** A transaction whose keepalive ran out before its next message is gone: Milvus expires it the same way. */
  private expireTxns(now: bigint, id: Uint8Array, out: WalEvent[]): void {
    for (const [txnId, t] of this.txns) {
      if (t.keepaliveMs < 0n) continue;
      if (physicalMs(now) > physicalMs(t.lastTimeTick) + t.keepaliveMs) {
        this.txns.delete(txnId);
        out.push({
          kind: 'dropped',
          id,
          reason: `transaction ${txnId} expired (keepalive ${t.keepaliveMs} ms)`,
          messages: t.body.length,
        });
      }
    }
  }
}
