import { describe, expect, it } from 'vitest';
import { TaskScope, normalizeDb } from './task-scope.js';
import type { CollectionPattern } from './task-scope.js';

const p = (database: string, collection: string): CollectionPattern => ({ database, collection });
const scopeOf = (include: CollectionPattern[], exclude: CollectionPattern[] = []) =>
  new TaskScope({ include, exclude });

describe('TaskScope patterns', () => {
  it("treats '' as the default database and '' collection as everything", () => {
    const scope = scopeOf([p('', '')]);
    expect(scope.includesCollection('', 'a')).toBe(true);
    expect(scope.includesCollection('default', 'b')).toBe(true);
    expect(scope.includesCollection('other', 'a')).toBe(false);
    expect(normalizeDb('')).toBe('default');
    expect(normalizeDb('x')).toBe('x');
  });

  it('matches * anywhere, any number of times, including the empty run', () => {
    const scope = scopeOf([p('*', 'a*z'), p('*', '*_v*_*')]);
    expect(scope.includesCollection('db', 'az')).toBe(true);
    expect(scope.includesCollection('db', 'abcz')).toBe(true);
    expect(scope.includesCollection('db', 'abczx')).toBe(false);
    expect(scope.includesCollection('db', 'x_v2_old')).toBe(true);
    expect(scope.includesCollection('db', 'x_v2old')).toBe(false);
  });

  it('anchors patterns: a prefix or suffix alone does not match', () => {
    const scope = scopeOf([p('default', 'book')]);
    expect(scope.includesCollection('default', 'book')).toBe(true);
    expect(scope.includesCollection('default', 'books')).toBe(false);
    expect(scope.includesCollection('default', 'ebook')).toBe(false);
    expect(scope.includesCollection('default_2', 'book')).toBe(false);
  });

  it('takes regex metacharacters literally (? is not a single-character wildcard)', () => {
    const scope = scopeOf([
      p('default', 'a?c'),
      p('default', '[xy]'),
      p('default', '(g|h)+'),
      p('d$', '^e'),
    ]);
    expect(scope.includesCollection('default', 'a?c')).toBe(true);
    expect(scope.includesCollection('default', 'abc')).toBe(false);
    expect(scope.includesCollection('default', '[xy]')).toBe(true);
    expect(scope.includesCollection('default', 'x')).toBe(false);
    expect(scope.includesCollection('default', '(g|h)+')).toBe(true);
    expect(scope.includesCollection('default', 'g')).toBe(false);
    expect(scope.includesCollection('d$', '^e')).toBe(true);
    expect(scope.includesCollection('d', 'e')).toBe(false);
  });

  it('is case sensitive, as Milvus names are', () => {
    const scope = scopeOf([p('default', 'Books')]);
    expect(scope.includesCollection('default', 'Books')).toBe(true);
    expect(scope.includesCollection('default', 'books')).toBe(false);
  });

  it('includes the union of include patterns, minus any exclude (exclude wins)', () => {
    const scope = scopeOf(
      [p('sales', '*'), p('hr', 'people')],
      [p('sales', 'tmp_*'), p('*', 'secret')],
    );
    expect(scope.includesCollection('sales', 'orders')).toBe(true);
    expect(scope.includesCollection('hr', 'people')).toBe(true);
    expect(scope.includesCollection('hr', 'salaries')).toBe(false);
    expect(scope.includesCollection('sales', 'tmp_1')).toBe(false);
    expect(scope.includesCollection('sales', 'secret')).toBe(false);
    expect(scope.includesCollection('other', 'orders')).toBe(false);
  });

  it('excludes a whole database with an exclude of every collection', () => {
    const scope = scopeOf([], [p('scratch', '*')]);
    expect(scope.includesCollection('scratch', 'a')).toBe(false);
    expect(scope.includesCollection('default', 'a')).toBe(true);
  });

  it('includes a database when some include pattern may match it', () => {
    const scope = scopeOf([p('', 'books'), p('prod_*', 'x')]);
    expect(scope.includesDatabase('')).toBe(true);
    expect(scope.includesDatabase('default')).toBe(true);
    expect(scope.includesDatabase('prod_eu')).toBe(true);
    expect(scope.includesDatabase('dev')).toBe(false);
    expect(scopeOf([]).includesDatabase('anything')).toBe(true);
  });

  // Regression (task-scope.ts includesDatabase, ~L70, fixed): excludes are ignored. With `exclude: [{ database: 'scratch',
  // collection: '*' }]` no collection of 'scratch' can be in scope, yet CreateDatabase/DropDatabase of 'scratch' are
  // replicated (its doc says "true when some collection of db may be in scope").
  it('does not include a database whose every collection is excluded', () => {
    const scope = scopeOf([], [p('scratch', '*')]);
    expect(scope.includesDatabase('scratch')).toBe(false);
  });
});

describe('TaskScope name mapping', () => {
  const scope = new TaskScope({ include: [], exclude: [] }, [
    { sourceDatabase: '', targetDatabase: 'replica', collections: { a: 'a_copy' } },
    { sourceDatabase: 'sales', targetDatabase: '', collections: { orders: 'orders_v2' } },
    { sourceDatabase: 'hr', targetDatabase: 'hr_copy', collections: {} },
  ]);

  it("matches a mapping for '' and 'default' alike", () => {
    expect(scope.mapCollection('default', 'a')).toEqual({ db: 'replica', collection: 'a_copy' });
    expect(scope.mapCollection('', 'a')).toEqual({ db: 'replica', collection: 'a_copy' });
    expect(scope.mapDatabase('default')).toBe('replica');
  });

  it('keeps the source database when the mapping names no target database', () => {
    expect(scope.mapCollection('sales', 'orders')).toEqual({
      db: 'sales',
      collection: 'orders_v2',
    });
    expect(scope.mapDatabase('sales')).toBe('sales');
  });

  it('maps collection names only within their source database', () => {
    expect(scope.mapCollection('hr', 'a')).toEqual({ db: 'hr_copy', collection: 'a' });
    expect(scope.mapCollection('sales', 'a')).toEqual({ db: 'sales', collection: 'a' });
    expect(scope.mapCollection('x', 'orders')).toEqual({ db: 'x', collection: 'orders' });
  });

  it("normalizes an unmapped '' database to 'default'", () => {
    const plain = new TaskScope({ include: [], exclude: [] });
    expect(plain.mapDatabase('')).toBe('default');
    expect(plain.mapCollection('', 'c')).toEqual({ db: 'default', collection: 'c' });
  });

  it('lets the first mapping of a database win', () => {
    const twice = new TaskScope({ include: [], exclude: [] }, [
      { sourceDatabase: 'd', targetDatabase: 'first', collections: {} },
      { sourceDatabase: 'd', targetDatabase: 'second', collections: { c: 'z' } },
    ]);
    expect(twice.mapCollection('d', 'c')).toEqual({ db: 'first', collection: 'c' });
  });

  // Regression (task-scope.ts mapCollection, ~L86, fixed): `mapping.collections[collection]` reads through the prototype of the plain
  // object built from the task spec (task-spec.ts mappingsOf), so valid Milvus collection names such as
  // 'constructor', 'toString' or 'valueOf' map to Object.prototype functions instead of themselves. Use
  // Object.hasOwn (or a Map).
  it("maps a collection named like an Object.prototype member to itself ('constructor')", () => {
    expect(scope.mapCollection('hr', 'constructor')).toEqual({
      db: 'hr_copy',
      collection: 'constructor',
    });
  });
});
