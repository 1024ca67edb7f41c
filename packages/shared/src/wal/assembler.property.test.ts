import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { WalAssembler } from './assembler.js';
import type { WalEvent, WalRecord } from './assembler.js';
import { formatBase36 } from './properties.js';
import { W } from './wal-descriptors.js';
import { WalMessageType as T } from './wal-message.js';
import { encodeWalProto } from './wal-proto.js';

/** Records built the way Milvus writes them; Flush (4) carries an opaque payload the decoder passes as a skip. */
let offset = 0n;
const id = (): Uint8Array => {
  const b = Buffer.alloc(8);
  b.writeBigInt64LE(offset++);
  return new Uint8Array(b);
};
const txnProp = (txnId: number): string =>
  Buffer.from(
    encodeWalProto(W.TxnContext, { txnId: String(txnId), keepaliveMilliseconds: '-1' }),
  ).toString('base64');
function record(
  type: number,
  tt: bigint,
  payload: Uint8Array,
  extra: Record<string, string> = {},
): WalRecord {
  return {
    id: id(),
    payload,
    properties: { _v: '2', _t: String(type), _tt: formatBase36(tt), _vc: 'p_1v0', ...extra },
  };
}
const payloadsOf = (events: WalEvent[]): string[] =>
  events.flatMap((e) => (e.kind === 'message' ? [Buffer.from(e.payload).toString('hex')] : []));

describe('WalAssembler properties', () => {
  it('reassembles any payload split into chunks, interleaved with other messages, byte for byte', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 2, maxLength: 400 }),
        fc.integer({ min: 1, max: 64 }),
        fc.array(fc.uint8Array({ maxLength: 8 }), { maxLength: 5 }),
        (payload, size, others) => {
          const a = new WalAssembler();
          const total = Math.ceil(payload.length / size);
          if (total < 2) return;
          const out: WalEvent[] = [];
          for (let i = 0; i < total; i++) {
            const part = payload.slice(i * size, (i + 1) * size);
            out.push(
              ...a.push(record(T.Flush, 1000n, part, { _ci: String(i), _ct: String(total) })),
            );
            const other = others[i];
            if (other !== undefined) out.push(...a.push(record(T.Flush, 2000n + BigInt(i), other)));
          }
          const got = payloadsOf(out);
          expect(got).toContain(Buffer.from(payload).toString('hex'));
          expect(got).toHaveLength(1 + others.slice(0, total).length);
          expect(a.pending).toBe(0);
        },
      ),
    );
  });

  it('emits exactly the committed transactions, at their commits, and no checkpoint while one is open', () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ commit: fc.boolean(), body: fc.integer({ min: 0, max: 3 }) }), {
          maxLength: 6,
        }),
        fc.array(fc.integer({ min: 0, max: 40 }), { maxLength: 6 }),
        (txns, interleave) => {
          const a = new WalAssembler();
          const records: WalRecord[] = [];
          const expected: string[] = [];
          let tt = 10n;
          txns.forEach((t, n) => {
            const tx = { _tx: txnProp(n + 1) };
            records.push(record(T.BeginTxn, tt++, new Uint8Array(), tx));
            for (let i = 0; i < t.body; i++) {
              const p = Uint8Array.of(n, i);
              records.push(record(T.Flush, tt++, p, tx));
              if (t.commit) expected.push(Buffer.from(p).toString('hex'));
            }
            records.push(
              record(t.commit ? T.CommitTxn : T.RollbackTxn, tt++, new Uint8Array(), tx),
            );
          });
          // Unrelated messages wherever the interleave points say, after the transactions' records.
          for (const at of interleave)
            records.splice(
              Math.min(at, records.length),
              0,
              record(T.Flush, tt++, Uint8Array.of(255, at)),
            );
          let open = 0;
          const out: WalEvent[] = [];
          for (const r of records) {
            const t = Number(r.properties['_t']);
            if (t === T.BeginTxn) open++;
            if (t === T.CommitTxn || t === T.RollbackTxn) open--;
            const events = a.push(r);
            if (events.some((e) => e.kind === 'safe')) expect(open).toBe(0);
            out.push(...events);
          }
          const committed = payloadsOf(out).filter((p) => !p.startsWith('ff') && p !== '');
          expect(committed).toEqual(expected);
        },
      ),
    );
  });

  it('turns hostile properties into corrupt events, never a crash or an allocation from a claimed size', () => {
    fc.assert(
      fc.property(
        fc.dictionary(
          fc.constantFrom('_v', '_t', '_tt', '_ci', '_ct', '_tx', '_h', '_bh', '_vc'),
          fc.string({ maxLength: 30 }),
        ),
        fc.uint8Array({ maxLength: 64 }),
        (props, payload) => {
          const a = new WalAssembler();
          const events = a.push({ id: id(), payload, properties: props });
          for (const e of events)
            expect(['message', 'safe', 'dropped', 'corrupt']).toContain(e.kind);
        },
      ),
      { numRuns: 500 },
    );
  });

  it('bounds a claimed chunk total: a huge _ct is refused before anything is buffered', () => {
    const a = new WalAssembler();
    const events = a.push(record(T.Flush, 5n, Uint8Array.of(1), { _ci: '0', _ct: '999999999' }));
    expect(events[0]?.kind).toBe('corrupt');
    expect(a.pending).toBe(0);
  });
});
