"""Reads a collection with pymilvus, an independent client, and prints what the initial-sync test compares.

Usage: python verify_rows.py HOST:PORT DATABASE COLLECTION PK_FIELD
Prints JSON: {"count": count(*), "keys": number of distinct primary keys, "keys_sha256": digest of the sorted keys,
"sample": {key: row as canonical JSON} for every 397th key}. Int64 primary keys only. Reads at Strong consistency,
page by page with `pk > last` (a 2.3 server evaluates `pk % n` through a float for keys beyond 2^53, so modulo
slices are uneven there). If the server skipped keys, "keys" would fall short of "count".
"""
import hashlib
import json
import sys

from pymilvus import Collection, connections, db

PAGE = 16384


def main():
    address, database, name, pk = sys.argv[1:5]
    host, port = address.split(':')
    connections.connect(host=host, port=port)
    db.using_database(database)
    coll = Collection(name)
    count = coll.query('', output_fields=['count(*)'], consistency_level='Strong')[0]['count(*)']
    keys = []
    expr = f'{pk} >= -9223372036854775807'
    while True:
        rows = coll.query(expr, output_fields=[pk], limit=PAGE, consistency_level='Strong')
        page = sorted(row[pk] for row in rows)
        keys.extend(page)
        if len(page) < PAGE:
            break
        expr = f'{pk} > {page[-1]}'
    keys.sort()
    sample_keys = keys[::397]
    sample = {}
    for i in range(0, len(sample_keys), 1000):
        chunk = sample_keys[i:i + 1000]
        rows = coll.query(f'{pk} in [{",".join(map(str, chunk))}]', output_fields=['*'],
                          consistency_level='Strong')
        sample.update({str(row[pk]): json.dumps(row, sort_keys=True, default=str) for row in rows})
    print(json.dumps({
        'count': count,
        'keys': len(set(keys)),
        'keys_sha256': hashlib.sha256(','.join(map(str, keys)).encode()).hexdigest(),
        'sample': sample,
    }))


if __name__ == '__main__':
    main()
