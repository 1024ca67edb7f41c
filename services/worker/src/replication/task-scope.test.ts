import { describe, expect, it } from 'vitest';
import { TaskScope } from './task-scope.js';

describe('TaskScope', () => {
  it('includes everything when the include list is empty, minus excludes', () => {
    const scope = new TaskScope({
      include: [],
      exclude: [{ database: 'default', collection: 'tmp_*' }],
    });
    expect(scope.includesCollection('', 'books')).toBe(true);
    expect(scope.includesCollection('default', 'tmp_1')).toBe(false);
    expect(scope.includesCollection('other', 'tmp_1')).toBe(true);
  });

  it('matches wildcards on database and collection, treating regex characters literally', () => {
    const scope = new TaskScope({
      include: [{ database: 'prod*', collection: 'a.b' }],
      exclude: [],
    });
    expect(scope.includesCollection('prod_eu', 'a.b')).toBe(true);
    expect(scope.includesCollection('prod_eu', 'aXb')).toBe(false);
    expect(scope.includesCollection('dev', 'a.b')).toBe(false);
    expect(scope.includesDatabase('prod_us')).toBe(true);
    expect(scope.includesDatabase('dev')).toBe(false);
  });

  it('maps database and collection names, leaving unmapped names alone', () => {
    const scope = new TaskScope({ include: [], exclude: [] }, [
      { sourceDatabase: 'default', targetDatabase: 'backup', collections: { books: 'books_copy' } },
    ]);
    expect(scope.mapCollection('', 'books')).toEqual({ db: 'backup', collection: 'books_copy' });
    expect(scope.mapCollection('default', 'films')).toEqual({ db: 'backup', collection: 'films' });
    expect(scope.mapCollection('x', 'books')).toEqual({ db: 'x', collection: 'books' });
    expect(scope.mapDatabase('')).toBe('backup');
  });
});
