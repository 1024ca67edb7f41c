import { describe, expect, it } from 'vitest';
import { CdcError } from '../errors.js';
import { decodeMessage, messageTimeRange } from './decode.js';
import { encodeMessage } from './encode.js';
import { DataType } from './messages.js';
import type { CollectionSchema, DecodedMessage, InsertMessage, MsgBase } from './messages.js';
import { encodeProto, P } from './proto-root.js';
import { encodeCollectionSchema } from './schema.js';

const base = (msgType: number, extra: Partial<MsgBase> = {}): MsgBase => ({
  msgType,
  msgId: 449000000000000301n,
  timestamp: 449123456789012345n,
  sourceId: 7n,
  targetId: 0n,
  properties: {},
  ...extra,
});

const sampleInsert: InsertMessage = {
  type: 'Insert',
  base: base(400),
  shardName: 'by-dev-rootcoord-dml_0_449000000000000200v0',
  dbName: 'db1',
  collectionName: 'c1',
  partitionName: '_default',
  dbId: 0n,
  collectionId: 449000000000000200n,
  partitionId: 449000000000000201n,
  segmentId: 449000000000000250n,
  timestamps: [449123456789012345n, 449123456789012345n],
  rowIds: [1n, 2n],
  numRows: 2n,
  version: 1,
  fields: [
    {
      fieldId: 100n,
      fieldName: 'id',
      dataType: DataType.Int64,
      isDynamic: false,
      validData: [],
      values: { kind: 'long', data: [9007199254740993n, -5n] },
    },
    {
      fieldId: 101n,
      fieldName: 'vec',
      dataType: DataType.FloatVector,
      isDynamic: false,
      validData: [],
      values: { kind: 'floatVector', dim: 2, data: [0.5, 1.25, -2, 3] },
    },
  ],
};

describe('decodeMessage', () => {
  it('decodes an Insert via the MsgBase fallback (no headers, as 2.3 writes)', () => {
    const bytes = encodeMessage(sampleInsert);
    // payload starts with base{msg_type: Insert} = 0a .. 08 90 03
    expect(Buffer.from(bytes.subarray(2, 5)).toString('hex')).toBe('089003');
    expect(decodeMessage(bytes, {})).toEqual(sampleInsert);
  });

  it('uses the msg_type header when present (Buffer or string)', () => {
    const tt = encodeMessage({ type: 'TimeTick', base: base(1200) });
    // header wins: decode the TimeTick bytes as a DropDatabase (field 1 is base in both)
    expect(decodeMessage(tt, { msg_type: Buffer.from('DropDatabase') }).type).toBe('DropDatabase');
    expect(decodeMessage(tt, { msg_type: 'TimeTick' }).type).toBe('TimeTick');
    // unknown header name falls back to the payload
    expect(decodeMessage(tt, { msg_type: 'NoSuchType' }).type).toBe('TimeTick');
  });

  it('reports unknown and streaming records as Unknown', () => {
    const alias = encodeProto(P.MsgHeader, { base: { msgType: 108, timestamp: '5' } });
    const m = decodeMessage(alias, {});
    expect(m).toMatchObject({ type: 'Unknown', msgType: 108, msgTypeName: 'CreateAlias' });
    expect(decodeMessage(alias, { _v: '1' })).toMatchObject({ type: 'Unknown', msgType: 0 });
    expect(decodeMessage(new Uint8Array(0), {})).toMatchObject({ type: 'Unknown', msgType: 0 });
  });

  it('decodes Delete with int and string primary keys, and the deprecated int64 field', () => {
    const del = {
      type: 'Delete',
      base: base(401),
      shardName: 'v0',
      dbName: 'db1',
      collectionName: 'c1',
      partitionName: '',
      dbId: 0n,
      collectionId: 1n,
      partitionId: -1n,
      timestamps: [5n, 5n],
      numRows: 2n,
      primaryKeys: { type: 'Int64', values: [(1n << 62n) + 1n, -1n] },
      segmentId: 0n,
    } as const satisfies DecodedMessage;
    expect(decodeMessage(encodeMessage(del))).toEqual(del);
    const s = { ...del, primaryKeys: { type: 'VarChar', values: ['a', 'é"x'] } } as const;
    expect(decodeMessage(encodeMessage(s))).toEqual(s);
    const legacy = encodeProto(P.DeleteRequest, {
      base: { msgType: 401 },
      int64PrimaryKeys: ['9007199254740993'],
    });
    const d = decodeMessage(legacy);
    expect(d.type === 'Delete' && d.primaryKeys).toEqual({
      type: 'Int64',
      values: [9007199254740993n],
    });
  });

  it('decodes CreateCollection with its schema bytes', () => {
    const schema: CollectionSchema = {
      name: 'c1',
      description: '',
      autoId: false,
      enableDynamicField: true,
      fields: [
        {
          fieldId: 100n,
          name: 'id',
          description: '',
          dataType: DataType.Int64,
          elementType: 0,
          typeParams: [],
          indexParams: [],
          isPrimaryKey: true,
          autoId: false,
          isDynamic: false,
          isPartitionKey: false,
          isClusteringKey: false,
          nullable: false,
          isFunctionOutput: false,
          state: 0,
        },
      ],
      properties: [],
      functions: [],
      dbName: '',
    };
    const schemaBytes = encodeCollectionSchema(schema);
    const msg: DecodedMessage = {
      type: 'CreateCollection',
      base: base(100),
      dbName: '',
      collectionName: '',
      partitionName: '',
      dbId: 0n,
      collectionId: 449000000000000200n,
      partitionId: 0n,
      schemaBytes,
      schema,
      virtualChannelNames: ['p0_449000000000000200v0', 'p1_449000000000000200v1'],
      physicalChannelNames: ['p0', 'p1'],
      partitionIds: [449000000000000201n],
      partitionNames: [],
    };
    const out = decodeMessage(encodeMessage(msg));
    expect(out).toEqual({ ...msg, schemaBytes: expect.any(Uint8Array) });
    expect(Buffer.from((out as typeof msg).schemaBytes)).toEqual(Buffer.from(schemaBytes));
  });

  it('round-trips every replicate-channel op', () => {
    const common = { dbName: 'db1', collectionName: 'c1' };
    const msgs: DecodedMessage[] = [
      { type: 'DropCollection', base: base(101), ...common, dbId: 0n, collectionId: 3n },
      {
        type: 'DropPartition',
        base: base(201),
        ...common,
        partitionName: 'p',
        dbId: 0n,
        collectionId: 3n,
        partitionId: 4n,
      },
      {
        type: 'CreateIndex',
        base: base(300),
        ...common,
        fieldName: 'vec',
        indexName: 'vec_idx',
        extraParams: [
          { key: 'index_type', value: 'HNSW' },
          { key: 'params', value: '{"M":8}' },
        ],
      },
      { type: 'DropIndex', base: base(302), ...common, fieldName: 'vec', indexName: 'i' },
      {
        type: 'AlterIndex',
        base: base(304),
        ...common,
        indexName: 'i',
        extraParams: [{ key: 'mmap.enabled', value: 'true' }],
        deleteKeys: ['x'],
      },
      {
        type: 'LoadCollection',
        base: base(106),
        ...common,
        replicaNumber: 1,
        resourceGroups: [],
        refresh: false,
        loadFields: [],
        skipLoadDynamicField: false,
        loadParams: { a: 'b' },
      },
      { type: 'ReleaseCollection', base: base(107), ...common },
      {
        type: 'LoadPartitions',
        base: base(205),
        ...common,
        partitionNames: ['p1'],
        replicaNumber: 2,
        resourceGroups: ['rg'],
        refresh: true,
        loadFields: ['id'],
        skipLoadDynamicField: true,
        loadParams: {},
      },
      { type: 'ReleasePartitions', base: base(206), ...common, partitionNames: ['p1', 'p2'] },
      { type: 'Flush', base: base(402), dbName: 'db1', collectionNames: ['c1'] },
      {
        type: 'CreateDatabase',
        base: base(1801),
        dbName: 'db1',
        properties: [{ key: 'database.replica.number', value: '1' }],
      },
      { type: 'DropDatabase', base: base(1802), dbName: 'db1' },
      {
        type: 'AlterDatabase',
        base: base(1804),
        dbName: 'db1',
        dbId: '449000000000000100',
        properties: [],
        deleteKeys: ['k'],
      },
      {
        type: 'TimeTick',
        base: base(1200, {
          properties: { k: 'v' },
          replicateInfo: { isReplicate: true, msgTimestamp: 42n, replicateId: 'r' },
        }),
      },
    ];
    for (const m of msgs) expect(decodeMessage(encodeMessage(m))).toEqual(m);
  });

  it('encodes a TimeTick byte-exactly like Go', () => {
    const bytes = encodeMessage({
      type: 'TimeTick',
      base: { ...base(1200), msgId: 0n, sourceId: 1n, timestamp: 1n },
    });
    expect(Buffer.from(bytes).toString('hex')).toBe('0a0708b00918012001');
  });

  it('throws only CdcError DECODE_FAILED for garbage', () => {
    const bad = Buffer.from('0a0508900312ff', 'hex');
    expect(() => decodeMessage(bad)).toThrow(CdcError);
    try {
      decodeMessage(bad);
    } catch (err) {
      expect(err).toMatchObject({ code: 'DECODE_FAILED', retryable: false });
    }
  });
});

describe('messageTimeRange', () => {
  it('uses row timestamps for DML (base.timestamp can be 0) and base.timestamp otherwise', () => {
    const ins = {
      ...sampleInsert,
      base: { ...sampleInsert.base, timestamp: 0n },
      timestamps: [9n, 7n, 8n],
    };
    expect(messageTimeRange(ins)).toEqual({ beginTs: 7n, endTs: 9n });
    expect(messageTimeRange({ type: 'TimeTick', base: base(1200) })).toEqual({
      beginTs: 449123456789012345n,
      endTs: 449123456789012345n,
    });
    expect(messageTimeRange({ type: 'Unknown', msgType: 5, msgTypeName: '' })).toEqual({
      beginTs: 0n,
      endTs: 0n,
    });
  });
});

describe('KafkaJS header arrays', () => {
  it('takes the first value of an array header', () => {
    const tt = encodeMessage({ type: 'TimeTick', base: base(1200) });
    expect(decodeMessage(tt, { msg_type: [Buffer.from('DropDatabase'), 'Insert'] }).type).toBe(
      'DropDatabase',
    );
  });
});
