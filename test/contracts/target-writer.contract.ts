/**
 * The contract every TargetWriter passes (style §7.10), the real MilvusTargetWriter on the real target Milvus and the
 * unit tests' FakeTargetWriter alike: DDL replays are harmless, rows are written by primary key (a replayed upsert
 * replaces, never duplicates), deletes by key tolerate missing keys, a drop names the incarnation it drops, and a
 * write to a collection that does not exist is refused as SINK_REJECTED (the caller quarantines it).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CdcError, DataType, type CollectionSchema, type FieldSchema, type Row } from '@cdc/shared';
import type {
  CreateCollectionSpec,
  TargetCollection,
  TargetWriter,
} from '../../services/worker/src/ports/target-writer.js';

/** A writer on a target where the suite may create one database of its own. */
export interface TargetWriterFixture {
  readonly writer: TargetWriter;
  /** A database name no one else uses; the suite creates it. */
  readonly db: string;
  /**
   * The rows of a collection as the target returns them now (every write acknowledged so far visible), by primary key
   * as decimal text. The suite indexes and loads the collection first (`createIndex`, `loadCollection`).
   */
  rows(target: TargetCollection): Promise<Map<string, Row>>;
  /** Removes what the suite created and closes the writer. */
  dispose(): Promise<void>;
}

const FLAGS = {
  description: '',
  elementType: DataType.None,
  indexParams: [],
  isPrimaryKey: false,
  autoId: false,
  isDynamic: false,
  isPartitionKey: false,
  isClusteringKey: false,
  nullable: false,
  isFunctionOutput: false,
  state: 0,
};

function field(id: number, name: string, dataType: number, extra: Partial<FieldSchema> = {}) {
  return { ...FLAGS, typeParams: [], fieldId: BigInt(id), name, dataType, ...extra };
}

function schema(name: string): CollectionSchema {
  return {
    name,
    description: '',
    autoId: false,
    enableDynamicField: false,
    properties: [],
    functions: [],
    dbName: '',
    fields: [
      field(100, 'id', DataType.Int64, { isPrimaryKey: true }),
      field(101, 'name', DataType.VarChar, { typeParams: [{ key: 'max_length', value: '32' }] }),
      field(102, 'vec', DataType.FloatVector, { typeParams: [{ key: 'dim', value: '2' }] }),
    ],
  };
}

const FLAT = [
  { key: 'index_type', value: 'FLAT' },
  { key: 'metric_type', value: 'L2' },
];
/** Beyond 2^53: a key a float would round. */
const BIG = 9007199254740993n;

const row = (id: bigint, name: string): Row => ({ id: id.toString(), name, vec: [0.5, 0.25] });
const names = (rows: Map<string, Row>): Record<string, unknown> =>
  Object.fromEntries([...rows].map(([k, r]) => [k, r['name']]));

async function codeOf(p: Promise<unknown>): Promise<string | undefined> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  return err instanceof CdcError ? err.code : undefined;
}

export function describeTargetWriterContract(
  name: string,
  factory: () => Promise<TargetWriterFixture>,
): void {
  describe(`TargetWriter contract: ${name}`, () => {
    let fx: TargetWriterFixture;
    let w: TargetWriter;
    const spec = (collection: string, sourceCollectionId?: string): CreateCollectionSpec => ({
      db: fx.db,
      collection,
      ...(sourceCollectionId === undefined ? {} : { sourceCollectionId }),
      schema: schema(collection),
      shardsNum: 1,
      consistencyLevel: 'Strong',
      properties: [],
      partitions: ['p1'],
    });
    const ready = async (collection: string, sourceCollectionId?: string) => {
      const target = { db: fx.db, collection };
      await w.createCollection(spec(collection, sourceCollectionId));
      await w.createIndex(target, 'vec', 'vec_idx', FLAT);
      await w.loadCollection(target, 1);
      return target;
    };

    beforeAll(async () => {
      fx = await factory();
      w = fx.writer;
      await w.createDatabase(fx.db, []);
    });

    afterAll(async () => {
      await fx.dispose();
    });

    it('creates a database and a collection once, however often the DDL is replayed', async () => {
      await w.createDatabase(fx.db, []);
      await w.createCollection(spec('replayed'));
      await w.createCollection(spec('replayed'));
      await w.createPartition({ db: fx.db, collection: 'replayed' }, 'p2');
      await w.createPartition({ db: fx.db, collection: 'replayed' }, 'p2');
      expect(await w.hasCollection({ db: fx.db, collection: 'replayed' })).toBe(true);
      expect(await w.hasCollection({ db: fx.db, collection: 'never_created' })).toBe(false);
    });

    it('writes rows by primary key: a replayed upsert replaces them, it never adds a second row', async () => {
      const target = await ready('rows');
      await w.upsert(target, '_default', [row(1n, 'one'), row(BIG, 'big'), row(3n, 'three')]);
      await w.upsert(target, '_default', [row(1n, 'one again'), row(BIG, 'big again')]);
      expect(names(await fx.rows(target))).toEqual({
        '1': 'one again',
        [BIG.toString()]: 'big again',
        '3': 'three',
      });
    });

    it('deletes by primary key, and a key that is not there is no error', async () => {
      const target = await ready('deletes');
      await w.upsert(target, 'p1', [row(1n, 'a'), row(2n, 'b')]);
      await w.delete(target, undefined, { type: 'Int64', values: [1n, 99n] });
      await w.delete(target, undefined, { type: 'Int64', values: [1n] });
      expect(names(await fx.rows(target))).toEqual({ '2': 'b' });
    });

    it('drops only the incarnation it names, and a replayed drop is no error', async () => {
      const target = { db: fx.db, collection: 'incarnation' };
      await w.createCollection(spec('incarnation', '7'));
      await w.dropCollection(target, '6'); // an earlier incarnation's drop, replayed: not this one
      expect(await w.hasCollection(target)).toBe(true);
      await w.dropCollection(target, '7');
      expect(await w.hasCollection(target)).toBe(false);
      await w.dropCollection(target, '7');
      await w.dropPartition({ db: fx.db, collection: 'replayed' }, 'never_created');
    });

    it('refuses a write to a collection that does not exist as SINK_REJECTED', async () => {
      const missing = { db: fx.db, collection: 'missing' };
      expect(await codeOf(w.upsert(missing, '_default', [row(1n, 'x')]))).toBe('SINK_REJECTED');
    });
  });
}
