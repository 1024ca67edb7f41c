import { DataType, type CollectionSchema, type FieldSchema } from '@cdc/shared';
import type { DescribeCollectionResponse } from '@zilliz/milvus2-sdk-node';
import { describe, expect, it } from 'vitest';
import { indexDifferences } from './milvus-index.js';
import {
  schemaDifferences,
  toCreateCollectionRequest,
  toFieldType,
  userFields,
} from './milvus-schema.js';

function field(
  id: number,
  name: string,
  dataType: number,
  extra: Partial<FieldSchema> = {},
): FieldSchema {
  return {
    fieldId: BigInt(id),
    name,
    description: '',
    dataType,
    elementType: DataType.None,
    typeParams: [],
    indexParams: [],
    isPrimaryKey: false,
    autoId: false,
    isDynamic: false,
    isPartitionKey: false,
    isClusteringKey: false,
    nullable: false,
    isFunctionOutput: false,
    state: 0,
    ...extra,
  };
}

const source: CollectionSchema = {
  name: 'books',
  description: 'all books',
  autoId: true,
  enableDynamicField: true,
  fields: [
    field(0, 'RowID', DataType.Int64),
    field(1, 'Timestamp', DataType.Int64),
    field(100, 'id', DataType.Int64, { isPrimaryKey: true, autoId: true }),
    field(101, 'title', DataType.VarChar, {
      typeParams: [{ key: 'max_length', value: '64' }],
      isPartitionKey: true,
    }),
    field(102, 'tags', DataType.Array, {
      elementType: DataType.Int64,
      typeParams: [{ key: 'max_capacity', value: '8' }],
    }),
    field(103, 'vec', DataType.FloatVector, { typeParams: [{ key: 'dim', value: '4' }] }),
    field(104, 'score', DataType.Int64, {
      nullable: true,
      defaultValue: { kind: 'long', value: 9007199254740993n },
    }),
    field(105, '$meta', DataType.JSON, { isDynamic: true }),
  ],
  properties: [],
  functions: [],
  dbName: 'lib',
};

type TargetField = DescribeCollectionResponse['schema']['fields'][number];

/** A described field as the SDK formats it (2.3.5 shape). */
function described(f: FieldSchema): TargetField {
  const typeName = (id: number) =>
    Object.entries(DataType).find(([, v]) => v === id)?.[0] ?? 'None';
  return {
    fieldID: String(f.fieldId),
    name: f.name,
    description: '',
    data_type: typeName(f.dataType),
    dataType: f.dataType,
    element_type: typeName(f.elementType),
    type_params: f.typeParams.map((p) => ({ key: p.key, value: p.value })),
    index_params: [],
    is_primary_key: f.isPrimaryKey,
    autoID: false,
    state: 'FieldCreated',
    is_partition_key: f.isPartitionKey,
    is_dynamic: false,
    nullable: f.nullable,
    is_function_output: false,
  } as unknown as TargetField;
}

function targetOf(fields: FieldSchema[], dynamic = true): DescribeCollectionResponse['schema'] {
  return {
    fields: fields.map(described),
    enable_dynamic_field: dynamic,
  } as unknown as DescribeCollectionResponse['schema'];
}

describe('toCreateCollectionRequest', () => {
  const spec = {
    db: 'lib',
    collection: 'books_copy',
    schema: source,
    shardsNum: 2,
    consistencyLevel: 'Session' as const,
    properties: [{ key: 'collection.ttl.seconds', value: '3600' }],
    partitions: [],
  };

  it('keeps user fields only, primary key without autoID, dynamic flag and collection settings', () => {
    const req = toCreateCollectionRequest(spec);
    expect(req).toMatchObject({
      db_name: 'lib',
      collection_name: 'books_copy',
      description: 'all books',
      shards_num: 2,
      consistency_level: 'Session',
      enable_dynamic_field: true,
      properties: { 'collection.ttl.seconds': '3600' },
    });
    expect(req.fields.map((f) => f.name)).toEqual(['id', 'title', 'tags', 'vec', 'score']);
    expect(req.fields[0]).toMatchObject({
      is_primary_key: true,
      autoID: false,
      data_type: DataType.Int64,
    });
    expect(req.functions).toBeUndefined();
  });

  it('maps type params, element type, partition key, nullable and an exact int64 default', () => {
    const [, title, tags, vec, score] = toCreateCollectionRequest(spec).fields;
    expect(title).toMatchObject({ type_params: { max_length: '64' }, is_partition_key: true });
    expect(tags).toMatchObject({
      element_type: DataType.Int64,
      type_params: { max_capacity: '8' },
    });
    expect(vec).toMatchObject({ type_params: { dim: '4' } });
    expect(score).toMatchObject({ nullable: true, default_value: '9007199254740993' });
  });

  it('omits flags that are off and forwards bool defaults', () => {
    const f = toFieldType(
      field(110, 'flag', DataType.Bool, { defaultValue: { kind: 'bool', value: true } }),
    );
    expect(f).not.toHaveProperty('is_partition_key');
    expect(f).not.toHaveProperty('nullable');
    expect(f.default_value).toBe(true);
  });
});

describe('schemaDifferences', () => {
  const fields = userFields(source);

  it('accepts the collection the writer itself would create', () => {
    expect(schemaDifferences(source, targetOf(fields))).toEqual([]);
  });

  it('reports a different dim, type, missing and extra fields and the dynamic flag', () => {
    const changed = fields
      .filter((f) => f.name !== 'tags')
      .map((f) =>
        f.name === 'vec'
          ? { ...f, typeParams: [{ key: 'dim', value: '8' }] }
          : f.name === 'score'
            ? { ...f, dataType: DataType.Int32 }
            : f,
      );
    changed.push(field(120, 'extra', DataType.Bool));
    expect(schemaDifferences(source, targetOf(changed, false))).toEqual([
      'tags: missing on target',
      'vec: dim 4 on source, 8 on target',
      'score: type Int64 on source, Int32 on target',
      'extra: only on target',
      'dynamic field on on source, not on target',
    ]);
  });

  it('reports another primary key and an autoID target key', () => {
    const t = targetOf(fields);
    const [id, title] = t.fields;
    Object.assign(id!, { is_primary_key: false });
    Object.assign(title!, { is_primary_key: true });
    expect(schemaDifferences(source, t)).toEqual([
      'id: primary key differs',
      'title: primary key differs',
    ]);
    const auto = targetOf(fields);
    Object.assign(auto.fields[0]!, { autoID: true });
    expect(schemaDifferences(source, auto)).toEqual(['id: target primary key has autoID on']);
  });
});

describe('indexDifferences', () => {
  const existing = {
    index_name: 'vec_idx',
    field_name: 'vec',
    params: [
      { key: 'index_type', value: 'IVF_FLAT' },
      { key: 'metric_type', value: 'L2' },
      { key: 'params', value: '{"nlist":16}' },
    ],
  };

  it('treats nested and flat params, and case of the metric, as the same index', () => {
    const params = [
      { key: 'index_type', value: 'IVF_FLAT' },
      { key: 'metric_type', value: 'l2' },
      { key: 'nlist', value: '16' },
    ];
    expect(indexDifferences('vec_idx', params, existing)).toEqual([]);
    expect(indexDifferences('', [{ key: 'params', value: '{"nlist":"16"}' }], existing)).toEqual(
      [],
    );
  });

  it('reports a different metric or name', () => {
    expect(indexDifferences('other', [{ key: 'metric_type', value: 'IP' }], existing)).toEqual([
      'field vec already has index vec_idx',
      'metric_type: IP requested, L2 on target',
    ]);
  });
});
