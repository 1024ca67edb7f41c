import { describe, expect, it } from 'vitest';
import type { TaskSpec } from './model.js';
import { targetScope } from './target-scope.js';

describe('targetScope', () => {
  it('renames only by the mapping’s own entries: a collection named constructor stays itself', () => {
    for (const name of ['constructor', 'toString', 'valueOf', 'hasOwnProperty', '__proto__']) {
      const spec = {
        scope: { include: [{ database: 'a', collection: name }], exclude: [] },
        name_mapping: [{ source_database: 'a', target_database: 'b', collections: {} }],
      } as unknown as TaskSpec;
      expect(targetScope(spec).include).toEqual([{ database: 'b', collection: name }]);
    }
  });

  it('applies a rename the mapping holds', () => {
    const spec = {
      scope: { include: [{ database: 'a', collection: 'x' }], exclude: [] },
      name_mapping: [{ source_database: 'a', target_database: 'b', collections: { x: 'y' } }],
    } as unknown as TaskSpec;
    expect(targetScope(spec).include).toEqual([{ database: 'b', collection: 'y' }]);
  });
});
