import type { ScannedRow } from '@cdc/shared';
import { describe, expect, it } from 'vitest';
import { compareKeys, keyText, type RowKey } from './key-diff.js';
import type { CollectionLayout, CollectionRef, RowSide } from './ports.js';
import { Verifier, type VerifierDeps } from './verifier.js';

const REF: CollectionRef = { db: 'd', collection: 'c' };
const layout = (partitionKey = false): CollectionLayout => ({
  pkField: 'pk',
  pkType: 'Int64',
  fields: [
    { name: 'pk', type: 'Int64' },
    { name: 'v', type: 'VarChar' },
  ],
  partitions: ['_default', 'p1'],
  partitionKey,
  channels: ['src-rootcoord-dml_0'],
});

/** An in-memory server: partition → key → row; records the writes it gets. */
class FakeSide implements RowSide {
  readonly parts = new Map<string, Map<string, ScannedRow>>([
    ['_default', new Map()],
    ['p1', new Map()],
  ]);
  readonly writes: string[] = [];
  constructor(readonly shape = layout()) {}

  put(partition: string, pk: number, v: string): void {
    this.parts.get(partition)?.set(String(pk), { pk: String(pk), v });
  }
  listCollections(): Promise<CollectionRef[]> {
    return Promise.resolve([REF]);
  }
  describe(): Promise<CollectionLayout | undefined> {
    return Promise.resolve(this.shape);
  }
  async *scan(_r: CollectionRef, _l: CollectionLayout, partition: string) {
    const rows = [...(this.parts.get(partition)?.values() ?? [])].sort((a, b) =>
      compareKeys(BigInt(String(a['pk'])), BigInt(String(b['pk']))),
    );
    for (let i = 0; i < rows.length; i += 2) {
      await Promise.resolve();
      yield rows.slice(i, i + 2);
    }
  }
  rowsByKeys(
    _r: CollectionRef,
    _l: CollectionLayout,
    partition: string,
    keys: readonly RowKey[],
  ): Promise<ScannedRow[]> {
    const part = this.parts.get(partition);
    const found = keys.map((k) => part?.get(keyText(k)));
    return Promise.resolve(found.filter((r): r is ScannedRow => r !== undefined));
  }
  upsert(_r: CollectionRef, partition: string | undefined, rows: readonly ScannedRow[]) {
    this.writes.push(
      `upsert ${partition ?? '(routed)'} ${rows.map((r) => String(r['pk'])).join(',')}`,
    );
    for (const r of rows) this.parts.get(partition ?? '_default')?.set(String(r['pk']), r);
    return Promise.resolve();
  }
  delete(
    _r: CollectionRef,
    _l: CollectionLayout,
    partition: string | undefined,
    keys: readonly RowKey[],
  ) {
    this.writes.push(`delete ${partition ?? '(routed)'} ${keys.map(keyText).join(',')}`);
    for (const [name, part] of this.parts)
      if (partition === undefined || name === partition)
        for (const k of keys) part.delete(keyText(k));
    return Promise.resolve();
  }
  close(): Promise<void> {
    return Promise.resolve();
  }
}

/** A clock that sleeping advances, and a task whose checkpoint follows the clock with `lagMs` (or stands still). */
function world(lagMs: number | 'stalled', onApplied: (ms: number) => void = () => undefined) {
  let now = 1_000_000;
  const deps: VerifierDeps = {
    now: () => now,
    sleep: (ms) => {
      now += ms;
      return Promise.resolve();
    },
    applied: () => {
      const at = lagMs === 'stalled' ? 0 : now - lagMs;
      onApplied(at);
      return Promise.resolve(at);
    },
    settleBudgetMs: 5_000,
  };
  return deps;
}

function pair(): { source: FakeSide; target: FakeSide } {
  const source = new FakeSide();
  const target = new FakeSide();
  for (let pk = 1; pk <= 9; pk++) {
    const partition = pk % 2 === 0 ? '_default' : 'p1';
    source.put(partition, pk, `v${pk}`);
    target.put(partition, pk, `v${pk}`);
  }
  return { source, target };
}

describe('Verifier', () => {
  it('reports nothing for equal sides, with counts per partition', async () => {
    const { source, target } = pair();
    const r = await new Verifier('t', source, target, world(0)).collection(
      REF,
      layout(),
      REF,
      false,
    );
    expect(r.partitions).toEqual([
      { partition: '_default', sourceRows: 4, targetRows: 4 },
      { partition: 'p1', sourceRows: 5, targetRows: 5 },
    ]);
    expect(r.differences).toEqual({ missing: [], extra: [], changed: [] });
    expect(r.caughtUp).toBe(true);
  });

  it('drops a difference the task applies before the re-check, and keeps one that persists', async () => {
    const { source, target } = pair();
    source.put('p1', 11, 'new'); // written on the source, replicated only once the checkpoint moves
    target.put('_default', 4, 'tampered');
    let replicated = false;
    const deps = world(300, () => {
      if (!replicated) target.put('p1', 11, 'new');
      replicated = true;
    });
    const r = await new Verifier('t', source, target, deps).collection(REF, layout(), REF, false);
    expect(r.differences).toEqual({ missing: [], extra: [], changed: [4n] });
    expect(r.caughtUp).toBe(true);
  });

  it('repairs into the row partition: deletes extras, re-copies missing and changed rows', async () => {
    const { source, target } = pair();
    target.parts.get('p1')?.delete('3');
    target.put('_default', 2, 'tampered');
    target.put('_default', 20, 'extra');
    const r = await new Verifier('t', source, target, world(0)).collection(
      REF,
      layout(),
      REF,
      true,
    );
    expect(r.differences).toEqual({ missing: [3n], extra: [20n], changed: [2n] });
    expect(target.writes.sort()).toEqual([
      'delete _default 20',
      'upsert _default 2',
      'upsert p1 3',
    ]);
    expect(r).toMatchObject({ repaired: true, rowsRecopied: 2, rowsDeleted: 1 });
    expect(r.remaining).toEqual({ missing: [], extra: [], changed: [] });
    expect(target.parts).toEqual(source.parts);
  });

  it('lets partition-key collections route repaired rows themselves', async () => {
    const source = new FakeSide(layout(true));
    const target = new FakeSide(layout(true));
    source.put('_default', 5, 'x'); // the fake routes to _default
    const r = await new Verifier('t', source, target, world(0)).collection(
      REF,
      layout(true),
      REF,
      true,
    );
    expect(target.writes).toEqual(['upsert (routed) 5']);
    expect(r.remaining?.missing).toEqual([]);
  });

  it('says so when the task does not catch up within the budget, and waits no longer', async () => {
    const { source, target } = pair();
    target.put('p1', 7, 'tampered');
    const deps = world('stalled');
    const started = deps.now();
    const r = await new Verifier('t', source, target, deps).collection(REF, layout(), REF, false);
    expect(r.caughtUp).toBe(false);
    expect(r.differences.changed).toEqual([7n]);
    expect(deps.now() - started).toBe(5_000);
  });

  it('reports a target collection that does not exist', async () => {
    const { source } = pair();
    const target = new FakeSide();
    target.describe = () => Promise.resolve(undefined);
    const r = await new Verifier('t', source, target, world(0)).collection(
      REF,
      layout(),
      REF,
      false,
    );
    expect(r.error).toBe('target collection d.c not found');
  });
});

/** A source whose scans and first by-key reads come back short, as on a 2.3 collection holding keys twice. */
class ShortReadingSource extends FakeSide {
  shortReads: number;
  constructor(
    private readonly hidden: Set<string>,
    shortReads: number,
  ) {
    super();
    this.shortReads = shortReads;
  }
  override async *scan(r: CollectionRef, l: CollectionLayout, partition: string) {
    for await (const page of super.scan(r, l, partition))
      yield page.filter((row) => !this.hidden.has(String(row['pk'])));
  }
  override rowsByKeys(
    r: CollectionRef,
    l: CollectionLayout,
    partition: string,
    keys: readonly RowKey[],
  ): Promise<ScannedRow[]> {
    if (this.shortReads > 0) {
      this.shortReads--;
      return super
        .rowsByKeys(r, l, partition, keys)
        .then((rows) => rows.filter((row) => !this.hidden.has(String(row['pk']))));
    }
    return super.rowsByKeys(r, l, partition, keys);
  }
}

describe('Verifier repair on short reads', () => {
  it('deletes nothing the source has: a key is deleted only after a second read finds it absent', async () => {
    const source = new ShortReadingSource(new Set(['3', '5', '7']), 2);
    const target = new FakeSide();
    for (let pk = 1; pk <= 9; pk++) {
      source.put('p1', pk, `v${pk}`);
      target.put('p1', pk, `v${pk}`);
    }
    target.put('p1', 10, 'only on the target');
    const r = await new Verifier('t', source, target, world(0)).collection(
      REF,
      layout(),
      REF,
      true,
    );
    // The scan and both re-checks missed 3, 5, 7: they look extra; the repair's own read finds them.
    expect(r.differences.extra).toEqual([3n, 5n, 7n, 10n]);
    expect(target.writes).toEqual(['delete p1 10', 'upsert p1 3,5,7']);
    expect([...(target.parts.get('p1')?.keys() ?? [])].sort()).toEqual(
      ['1', '2', '3', '4', '5', '6', '7', '8', '9'].sort(),
    );
    expect(r.rowsDeleted).toBe(1);
  });
});
