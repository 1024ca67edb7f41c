import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CdcError } from '../errors.js';
import { encodeKafkaMessageId } from '../wire/positions.js';
import { encodeProto, decodeProto, P } from '../wire/proto-root.js';
import {
  TOMBSTONE,
  decodeCollectionInfo,
  decodeDatabaseInfo,
  decodePartitionInfo,
  encodeCollectionInfo,
  encodeDatabaseInfo,
  encodePartitionInfo,
  isTombstone,
  legacyPartitions,
} from './etcd-codec.js';
import { idsAfter, sourceKeys } from './keys.js';
import type { CollectionInfo } from './source-metadata.js';

const coll: CollectionInfo = {
  id: 449000000000000200n,
  dbId: 1n,
  dbName: '',
  name: 'c1',
  schema: {
    name: 'c1',
    description: 'd',
    autoId: false,
    enableDynamicField: true,
    fields: [],
    properties: [],
    functions: [],
    dbName: 'default',
  },
  shardsNum: 2,
  consistencyLevel: 'Bounded',
  properties: [{ key: 'collection.ttl.seconds', value: '5' }],
  virtualChannels: ['p0_1v0', 'p1_1v1'],
  physicalChannels: ['p0', 'p1'],
  startPositions: [{ channel: 'p0', msgId: encodeKafkaMessageId(4n) }],
  state: 'Creating',
  createTime: 449123456789012345n,
  updateTimestamp: 449123456789012346n,
};

describe('etcd values', () => {
  it('round-trip CollectionInfo, PartitionInfo and DatabaseInfo', () => {
    expect(decodeCollectionInfo(encodeCollectionInfo(coll))).toEqual(coll);
    // state Created (0) is omitted on the wire, as Go does
    const created = encodeCollectionInfo({ ...coll, state: 'Created' });
    expect(decodeCollectionInfo(created).state).toBe('Created');
    const p = {
      id: 5n,
      name: '_default',
      collectionId: 4n,
      createdTimestamp: 6n,
      state: 'Dropping',
    } as const;
    expect(decodePartitionInfo(encodePartitionInfo(p))).toEqual(p);
    const d = {
      id: 449000000000000100n,
      name: 'db1',
      tenantId: '',
      state: 'Created',
      createdTimeNanos: 1_700_000_000_000_000_000n,
      properties: [{ key: 'a', value: 'b' }],
    } as const;
    expect(decodeDatabaseInfo(encodeDatabaseInfo(d))).toEqual(d);
  });

  it('reads pre-2.1 inline partitions', () => {
    const legacy = encodeProto(P.CollectionInfo, {
      ID: '7',
      partitionIDs: ['8', '9'],
      partitionNames: ['_default', 'p'],
      partitionCreatedTimestamps: ['10', '11'],
    });
    expect(legacyPartitions(legacy).map((p) => [p.id, p.name, p.createdTimestamp])).toEqual([
      [8n, '_default', 10n],
      [9n, 'p', 11n],
    ]);
    expect(decodeProto(P.CollectionInfo, legacy)['ID']).toBe('7');
  });

  it('recognises the tombstone, which is not a decodable value', () => {
    expect(isTombstone(TOMBSTONE)).toBe(true);
    expect(isTombstone(new Uint8Array([0xe2, 0x9b]))).toBe(false);
    expect(() => decodeCollectionInfo(TOMBSTONE)).toThrow(CdcError);
  });

  it('never throws anything but CdcError on random values', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 128 }), (b) => {
        for (const f of [decodeCollectionInfo, decodePartitionInfo, decodeDatabaseInfo]) {
          try {
            f(b);
          } catch (err) {
            expect(err).toBeInstanceOf(CdcError);
          }
        }
      }),
      { numRuns: 1000 },
    );
  });
});

describe('keys', () => {
  it('lays out the source keys and parses ids from them', () => {
    const k = sourceKeys('source/');
    expect(k.collectionInfo).toBe('source/meta/root-coord/database/collection-info/');
    expect(k.tso).toBe('source/kv/gid/timestamp');
    expect(idsAfter(`${k.collectionInfo}1/449000000000000200`, k.collectionInfo, 2)).toEqual([
      1n,
      449000000000000200n,
    ]);
    expect(idsAfter(`${k.collectionInfo}1/x`, k.collectionInfo, 2)).toBeUndefined();
    expect(idsAfter(`${k.collectionInfo}1`, k.collectionInfo, 2)).toBeUndefined();
  });
});
