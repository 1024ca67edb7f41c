import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isCdcError } from '../errors.js';
import { deleteMessage, i64, insertMessage, text } from './codec.arbitraries.js';
import { decodeForPassThrough, decodeMessage } from './decode.js';
import { rewriteDml } from './dml-rewrite.js';
import { dmlHeaderOf, readDmlView } from './dml-view.js';
import type { DmlHeaderChanges } from './dml-view.js';
import { encodeMessage } from './encode.js';
import { MsgType } from './messages.js';
import type { DeleteMessage, InsertMessage, MessageHeaders } from './messages.js';

type Dml = InsertMessage | DeleteMessage;

/** What replicate mode did before the view: decode everything, change the header, encode everything. */
function decodeChangeEncode(bytes: Uint8Array, headers: MessageHeaders, c: DmlHeaderChanges) {
  const m = decodeMessage(bytes, headers) as Dml;
  return encodeMessage({ ...m, ...c });
}

function viewOf(bytes: Uint8Array, headers: MessageHeaders = {}) {
  const v = decodeForPassThrough(bytes, headers);
  if (v.type !== 'DmlView') throw new Error(`not a DML view: ${v.type}`);
  return v;
}

const targetIds: DmlHeaderChanges = {
  collectionId: 449_000_000_000_000_001n,
  partitionId: 449_000_000_000_000_002n,
  shardName: 'by-dev-replica-rootcoord-dml_3_449000000000000001v0',
  dbName: 'target_db',
  collectionName: 'renamed',
  dbId: 0n,
};

const changes: fc.Arbitrary<DmlHeaderChanges> = fc.record(
  {
    shardName: text,
    dbName: text,
    collectionName: text,
    partitionName: text,
    dbId: i64,
    collectionId: i64,
    partitionId: i64,
  },
  { requiredKeys: [] },
);

describe('DML header view and rewrite (generated messages)', () => {
  it('reads the header the full decoder reads, and rewrites to what decode→change→encode produces', () => {
    fc.assert(
      fc.property(fc.oneof(insertMessage, deleteMessage), changes, (m, c) => {
        const bytes = encodeMessage(m);
        const view = viewOf(bytes);
        expect(view.header).toEqual(dmlHeaderOf(decodeMessage(bytes) as Dml));
        const rewritten = rewriteDml(view, c);
        expect(decodeMessage(rewritten)).toEqual(decodeMessage(decodeChangeEncode(bytes, {}, c)));
        // Proto3 field order and omitted defaults as Go writes them: the same bytes, not only the same message.
        expect(Buffer.from(rewritten).equals(Buffer.from(decodeChangeEncode(bytes, {}, c)))).toBe(
          true,
        );
      }),
      { numRuns: 300 },
    );
  });

  it('copies the payload unchanged when nothing changes', () => {
    fc.assert(
      fc.property(fc.oneof(insertMessage, deleteMessage), (m) => {
        const bytes = encodeMessage(m);
        expect(Buffer.from(rewriteDml(viewOf(bytes), {})).equals(Buffer.from(bytes))).toBe(true);
      }),
      { numRuns: 100 },
    );
  });

  it('decodes every other record as decodeMessage does, streaming-format records as Unknown', () => {
    const tick = encodeMessage({
      type: 'TimeTick',
      base: {
        msgType: MsgType.TimeTick,
        msgId: 3n,
        timestamp: 99n,
        sourceId: 1n,
        targetId: 0n,
        properties: {},
      },
    });
    expect(decodeForPassThrough(tick)).toEqual(decodeMessage(tick));
    expect(decodeForPassThrough(tick, { _v: '1' })).toEqual(decodeMessage(tick, { _v: '1' }));
    expect(decodeForPassThrough(tick, { _v: '1' }).type).toBe('Unknown');
  });

  it('reads unpacked timestamps and repeated scalars as a parser does (last one wins)', () => {
    const m: InsertMessage = {
      type: 'Insert',
      base: {
        msgType: MsgType.Insert,
        msgId: 7n,
        timestamp: 5n,
        sourceId: 0n,
        targetId: 0n,
        properties: {},
      },
      shardName: 'a',
      dbName: '',
      collectionName: 'c',
      partitionName: '_default',
      dbId: 0n,
      collectionId: 1n,
      partitionId: 2n,
      segmentId: 0n,
      timestamps: [],
      rowIds: [],
      numRows: 2n,
      version: 1,
      fields: [],
    };
    // timestamps 30 and 10 one per key, then collectionID 9 again.
    const extra = Uint8Array.from([0x50, 30, 0x50, 10, 0x38, 9]);
    const bytes = new Uint8Array([...encodeMessage(m), ...extra]);
    const view = viewOf(bytes);
    expect(view.header).toEqual(dmlHeaderOf(decodeMessage(bytes) as Dml));
    expect([view.header.beginTs, view.header.endTs, view.header.collectionId]).toEqual([
      10n,
      30n,
      9n,
    ]);
    const out = rewriteDml(view, { collectionId: 4n });
    expect(decodeMessage(out)).toEqual({ ...decodeMessage(bytes), collectionId: 4n });
  });
});

interface CapturedRecord {
  readonly topic: string;
  readonly headers: Record<string, string>;
  readonly value: string;
}

const fixtures = fileURLToPath(new URL('../../../../test/fixtures/', import.meta.url));
type HeadersOf = (h: Record<string, string>) => MessageHeaders;
const captured: readonly [string, string, HeadersOf, readonly string[]][] = [
  // 2.3.5 records keep header values in base64; 2.5.5 records as text.
  [
    'captured/kafka-records.json',
    'Milvus 2.3.5',
    (h) => Object.fromEntries(Object.entries(h).map(([k, v]) => [k, Buffer.from(v, 'base64')])),
    ['floatVector', 'binaryVector', 'array', 'json', 'string', 'long'],
  ],
  [
    'msgstream25/records.json',
    'Milvus 2.5.5',
    (h) => h,
    ['floatVector', 'float16Vector', 'bfloat16Vector', 'sparseFloatVector', 'binaryVector', 'long'],
  ],
];

describe.each(captured)(
  'DML header view on records %s (%s)',
  (file, _version, headersOf, kinds) => {
    const path = `${fixtures}${file}`;
    const records = existsSync(path)
      ? (JSON.parse(readFileSync(path, 'utf8')) as CapturedRecord[])
      : [];
    const dml = records
      .map((r) => ({ bytes: Buffer.from(r.value, 'base64'), headers: headersOf(r.headers) }))
      .filter(({ bytes, headers }) => {
        const t = decodeMessage(bytes, headers).type;
        return t === 'Insert' || t === 'Delete';
      });

    it.skipIf(!existsSync(path))(
      'holds Inserts with vector columns and a dynamic field, and Deletes by Int64 and VarChar keys',
      () => {
        const decoded = dml.map((r) => decodeMessage(r.bytes, r.headers) as Dml);
        const present = new Set(
          decoded.flatMap((m) => (m.type === 'Insert' ? m.fields.map((f) => f.values.kind) : [])),
        );
        for (const kind of kinds) expect(present).toContain(kind);
        expect(decoded.some((m) => m.type === 'Insert' && m.fields.some((f) => f.isDynamic))).toBe(
          true,
        );
        const keyTypes = new Set(
          decoded.flatMap((m) => (m.type === 'Delete' ? [m.primaryKeys.type] : [])),
        );
        expect([...keyTypes].sort()).toEqual(['Int64', 'VarChar']);
      },
    );

    it.skipIf(!existsSync(path))('rewrites each to the bytes decode→change→encode produces', () => {
      for (const { bytes, headers } of dml) {
        const view = viewOf(bytes, headers);
        expect(view.header).toEqual(dmlHeaderOf(decodeMessage(bytes, headers) as Dml));
        const before = decodeChangeEncode(bytes, headers, targetIds);
        const after = rewriteDml(view, targetIds);
        expect(decodeMessage(after)).toEqual(decodeMessage(before));
        expect(Buffer.from(after).equals(Buffer.from(before))).toBe(true);
      }
    });
  },
);

describe('DML header view on hostile bytes', () => {
  const good = encodeMessage({
    type: 'Delete',
    base: {
      msgType: MsgType.Delete,
      msgId: 1n,
      timestamp: 9n,
      sourceId: 0n,
      targetId: 0n,
      properties: {},
    },
    shardName: 'by-dev-rootcoord-dml_0_1v0',
    dbName: 'default',
    collectionName: 'c',
    partitionName: '',
    dbId: 0n,
    collectionId: 1n,
    partitionId: -1n,
    timestamps: [9n, 9n],
    numRows: 2n,
    primaryKeys: { type: 'VarChar', values: ['a', 'b'] },
    segmentId: 0n,
  });

  const refused = (bytes: Uint8Array, msgType: number = MsgType.Delete): string => {
    try {
      readDmlView(msgType, bytes);
    } catch (err) {
      if (isCdcError(err) && err.code === 'DECODE_FAILED') return err.message;
      throw err;
    }
    return '';
  };

  it('never throws anything but DECODE_FAILED on a truncated payload', () => {
    for (let n = 0; n < good.length; n++) refused(good.subarray(0, n));
    expect(refused(good.subarray(0, good.length - 1))).toMatch(/runs past|truncated/);
  });

  it('refuses a length larger than what follows, a 64-bit length, groups and field 0', () => {
    expect(refused(Uint8Array.from([0x12, 0xff, 0xff, 0xff, 0xff, 0x07]))).toMatch(/runs past/);
    expect(refused(Uint8Array.from([0x12, 0xff, 0xff, 0xff, 0xff, 0x7f]))).toMatch(/32 bits/);
    expect(refused(Uint8Array.from([0x13]))).toMatch(/wire type 3/);
    expect(refused(Uint8Array.from([0x02, 0x00]))).toMatch(/field number 0/);
    expect(
      refused(Uint8Array.from([0x38, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff])),
    ).toMatch(/longer than 10|overlong/);
  });

  it('refuses a header field with the wrong wire type, an oversized name, a mismatching MsgBase type', () => {
    expect(refused(Uint8Array.from([...good, 0x38 | 2, 0]))).toMatch(
      /collectionId has wire type 2/,
    );
    const long = Buffer.alloc(70_000, 0x61);
    const name = Uint8Array.from([0x22, 0xf0, 0xa2, 0x04, ...long]); // collection_name, 70,000 bytes
    expect(refused(Uint8Array.from([...good, ...name]))).toMatch(/collectionName has 70000 bytes/);
    expect(refused(good, MsgType.Insert)).toMatch(/msg_type is 401/);
    expect(refused(good, MsgType.TimeTick)).toMatch(/not Insert or Delete/);
  });
});
