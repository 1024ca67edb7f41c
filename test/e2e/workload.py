"""A replication workload written with pymilvus, an independent client, against the SOURCE Milvus.

Usage: python workload.py HOST:PORT PREFIX STEP
Steps (run in order by the end-to-end tests; each leaves the source in a known state, every collection indexed and
loaded so that both sides can be queried for comparison):
  base     databases, collections of every field type, inserts, upserts, deletes (int and string PKs), partitions,
           indexes, load/release/flush, a dropped partition, a dropped-and-recreated collection
  more     more inserts/upserts/deletes into the base collections (the load a worker is killed under)
  more2    the same on another key range (the load a worker is stopped gracefully under)
Prints a JSON summary of the collections it expects on the target.
"""
import json
import random
import sys

from pymilvus import Collection, CollectionSchema, DataType, FieldSchema, Partition, connections, db, utility

rng = random.Random(7)
FLAT_L2 = {'index_type': 'FLAT', 'metric_type': 'L2', 'params': {}}


def all_types_schema():
    return CollectionSchema([
        FieldSchema('id', DataType.INT64, is_primary=True),
        FieldSchema('b', DataType.BOOL), FieldSchema('i8', DataType.INT8), FieldSchema('i16', DataType.INT16),
        FieldSchema('i32', DataType.INT32), FieldSchema('i64', DataType.INT64), FieldSchema('f', DataType.FLOAT),
        FieldSchema('d', DataType.DOUBLE), FieldSchema('s', DataType.VARCHAR, max_length=128),
        FieldSchema('j', DataType.JSON),
        FieldSchema('arr', DataType.ARRAY, element_type=DataType.INT64, max_capacity=8),
        FieldSchema('vec', DataType.FLOAT_VECTOR, dim=8),
    ], enable_dynamic_field=True)


def all_types_rows(ids, tag):
    return [{
        'id': i, 'b': i % 3 == 0, 'i8': i % 100 - 50, 'i16': i % 30000, 'i32': i * 7919 % 2**31, 'i64': 2**60 + i * 3,
        'f': rng.uniform(-100, 100), 'd': rng.uniform(-1e12, 1e12), 's': f'{tag}:{i}:\'"\\ü',
        'j': {'i': i, 'tag': tag, 'list': [i, str(i)]}, 'arr': [i, -i], 'vec': [rng.uniform(-1, 1) for _ in range(8)],
        'dyn_note': f'{tag}-{i}',
    } for i in ids]


def strpk_rows(keys):
    return [{'pk': k, 'bv': bytes(rng.getrandbits(8) for _ in range(4)), 'n': len(k)} for k in keys]


def use(name):
    db.using_database(name)


def base(p):
    dbname = f'{p}_db'
    db.create_database(dbname)
    use(dbname)
    at = Collection('all_types', all_types_schema(), shards_num=2, consistency_level='Strong')
    for start in range(0, 300, 100):
        at.insert(all_types_rows(range(start, start + 100), 'ins'))
    at.delete('id in [0, 1, 2, 3, 4]')
    at.upsert(all_types_rows([10, 11, 12, 1000], 'ups'))
    at.create_partition('p1')
    at.insert(all_types_rows(range(5000, 5020), 'p1'), partition_name='p1')
    at.delete('id in [5000, 5001]')
    at.create_partition('p_empty')  # no MQ message in 2.3-2.5 and no rows: only etcd tells
    at.create_index('vec', {'index_type': 'IVF_FLAT', 'metric_type': 'L2', 'params': {'nlist': 8}}, index_name='vec_idx')
    at.flush()
    at.load()
    at.release()
    at.load()

    use('default')
    sp = Collection(f'{p}_strpk', CollectionSchema([
        FieldSchema('pk', DataType.VARCHAR, is_primary=True, max_length=64),
        FieldSchema('bv', DataType.BINARY_VECTOR, dim=32), FieldSchema('n', DataType.INT32)]), shards_num=1)
    keys = [f'k{i}' for i in range(50)] + ['quote\'s', 'dq"x', 'back\\slash']
    sp.insert(strpk_rows(keys))
    sp.delete('pk in ["k1", "k2", "quote\'s"]')
    sp.create_index('bv', {'index_type': 'BIN_FLAT', 'metric_type': 'HAMMING', 'params': {}}, index_name='bv_idx')
    sp.load()

    rc = Collection(f'{p}_recreate', CollectionSchema([
        FieldSchema('id', DataType.INT64, is_primary=True), FieldSchema('vec', DataType.FLOAT_VECTOR, dim=4)]))
    rc.insert([{'id': i, 'vec': [0.0, 0.0, 0.0, float(i)]} for i in range(40)])
    utility.drop_collection(f'{p}_recreate')
    rc2 = Collection(f'{p}_recreate', CollectionSchema([
        FieldSchema('id', DataType.INT64, is_primary=True), FieldSchema('label', DataType.VARCHAR, max_length=16),
        FieldSchema('vec', DataType.FLOAT_VECTOR, dim=4)]), shards_num=2)
    rc2.insert([{'id': i, 'label': f'v2-{i}', 'vec': [1.0, 0.0, 0.0, float(i)]} for i in range(100, 130)])
    rc2.create_index('vec', FLAT_L2)
    rc2.load()

    dp = Collection(f'{p}_droppart', CollectionSchema([
        FieldSchema('id', DataType.INT64, is_primary=True), FieldSchema('vec', DataType.FLOAT_VECTOR, dim=4)]))
    dp.create_partition('gone')
    dp.create_partition('kept')
    dp.insert([{'id': i, 'vec': [float(i)] * 4} for i in range(10)], partition_name='gone')
    dp.insert([{'id': i, 'vec': [float(i)] * 4} for i in range(10, 20)], partition_name='kept')
    Partition(dp, 'gone').drop()
    dp.create_index('vec', FLAT_L2)
    dp.load()

    db2 = f'{p}_db2'
    db.create_database(db2)
    use(db2)
    other = Collection('second', CollectionSchema([
        FieldSchema('id', DataType.INT64, is_primary=True, auto_id=True), FieldSchema('vec', DataType.FLOAT_VECTOR, dim=4)]))
    other.insert([[[float(i)] * 4 for i in range(25)]])
    other.create_index('vec', FLAT_L2)
    other.load()
    use('default')


def more(p, first=300):
    use(f'{p}_db')
    at = Collection('all_types')
    for start in range(first, first + 3000, 150):
        at.insert(all_types_rows(range(start, start + 150), 'more'))
        at.upsert(all_types_rows(range(start - 50, start - 40), 'more-ups'))
        at.delete(f'id in [{start - 100}, {start - 99}]')
    use('default')


def main():
    host, port = sys.argv[1].split(':')
    prefix, step = sys.argv[2], sys.argv[3]
    connections.connect(host=host, port=port)
    {'base': base, 'more': more, 'more2': lambda p: more(p, 20_000)}[step](prefix)
    print(json.dumps({'ok': True, 'step': step}))


if __name__ == '__main__':
    main()
