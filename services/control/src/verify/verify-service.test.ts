import { describe, expect, it } from 'vitest';
import { mappedName } from './verify-service.js';

describe('mappedName', () => {
  const mappings = [
    { source_database: 'default', target_database: 'dr', collections: { a: 'a2' } },
    { source_database: 'shop', target_database: '', collections: { orders: 'orders_copy' } },
  ];

  it('renames the database and listed collections, as the worker does', () => {
    expect(mappedName(mappings, { db: '', collection: 'a' })).toEqual({
      db: 'dr',
      collection: 'a2',
    });
    expect(mappedName(mappings, { db: 'default', collection: 'b' })).toEqual({
      db: 'dr',
      collection: 'b',
    });
    expect(mappedName(mappings, { db: 'shop', collection: 'orders' })).toEqual({
      db: 'shop',
      collection: 'orders_copy',
    });
    expect(mappedName(mappings, { db: 'other', collection: 'x' })).toEqual({
      db: 'other',
      collection: 'x',
    });
  });

  it('reads only own properties of the collection map', () => {
    expect(mappedName(mappings, { db: 'shop', collection: 'constructor' })).toEqual({
      db: 'shop',
      collection: 'constructor',
    });
  });
});
