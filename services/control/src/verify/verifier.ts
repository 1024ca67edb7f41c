import { CdcError, type ScannedRow, rowKey } from '@cdc/shared';
import { compareKeys, diffSorted, keyText, type KeyedHash, type RowKey } from './key-diff.js';
import type { AppliedCheckpoints, CollectionLayout, CollectionRef, RowSide } from './ports.js';
import { rowHasher } from './row-hash.js';

export interface KeyReport {
  readonly missing: RowKey[];
  readonly extra: RowKey[];
  readonly changed: RowKey[];
}

export interface PartitionCounts {
  readonly partition: string;
  readonly sourceRows: number;
  readonly targetRows: number;
}

export interface CollectionReport {
  readonly source: CollectionRef;
  readonly target: CollectionRef;
  partitions: PartitionCounts[];
  sourceRows: number;
  targetRows: number;
  differences: KeyReport;
  caughtUp: boolean;
  repaired: boolean;
  rowsRecopied: number;
  rowsDeleted: number;
  remaining: KeyReport | undefined;
  error: string;
}

export interface VerifierDeps {
  readonly applied: AppliedCheckpoints;
  readonly now: () => number;
  readonly sleep: (ms: number) => Promise<void>;
  /** Total time one call may wait for checkpoints (default 30 s). */
  readonly settleBudgetMs?: number;
  /** Added to the read time before comparing with checkpoints: covers clock skew between hosts (default 1 s). */
  readonly clockMarginMs?: number;
  /** Re-checks a difference must survive to be reported (default 2). */
  readonly recheckRounds?: number;
}

/** Differing keys of one partition, by kind. */
interface PartitionDiff {
  readonly partition: string;
  readonly keys: KeyReport;
}

/** Partitions scanned at once (each scan reads source and target side by side). */
const PARALLEL_PARTITIONS = 4;

/** `fn` over `items` with at most `limit` running at once; results in input order. */
async function mapLimit<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<R>,
): Promise<R[]> {
  const out: R[] = new Array<R>(items.length);
  let next = 0;
  const run = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, run));
  return out;
}

const emptyKeys = (): KeyReport => ({ missing: [], extra: [], changed: [] });
const keyCount = (k: KeyReport): number => k.missing.length + k.extra.length + k.changed.length;

/** Starts reading the next page while the current one is used (source and target scans overlap). */
async function* readAhead<T>(source: AsyncIterable<T>): AsyncGenerator<T> {
  const it = source[Symbol.asyncIterator]();
  let next = it.next();
  for (;;) {
    // Observed now so that an abandoned read-ahead never becomes an unhandled rejection; awaited below.
    next.catch(() => undefined);
    const r = await next;
    if (r.done === true) return;
    next = it.next();
    yield r.value;
  }
}

/**
 * Compares one collection's source and target partition by partition, confirms differences against the task's
 * checkpoints, and optionally repairs them. See VerifyTaskResponse in proto/cdc/v1/cdc.proto for the semantics.
 */
export class Verifier {
  private settleLeftMs: number;

  constructor(
    private readonly taskId: string,
    private readonly source: RowSide,
    private readonly target: RowSide,
    private readonly deps: VerifierDeps,
  ) {
    this.settleLeftMs = deps.settleBudgetMs ?? 30_000;
  }

  async collection(
    sourceRef: CollectionRef,
    sourceLayout: CollectionLayout,
    targetRef: CollectionRef,
    repair: boolean,
  ): Promise<CollectionReport> {
    const report: CollectionReport = {
      source: sourceRef,
      target: targetRef,
      partitions: [],
      sourceRows: 0,
      targetRows: 0,
      differences: emptyKeys(),
      caughtUp: true,
      repaired: false,
      rowsRecopied: 0,
      rowsDeleted: 0,
      remaining: undefined,
      error: '',
    };
    try {
      const targetLayout = await this.target.describe(targetRef);
      if (targetLayout === undefined) {
        report.error = `target collection ${targetRef.db}.${targetRef.collection} not found`;
        return report;
      }
      const pair = new LayoutPair(sourceRef, sourceLayout, targetRef, targetLayout);
      let diffs = await this.scan(pair, report);
      for (let round = 0; round < (this.deps.recheckRounds ?? 2); round++) {
        if (diffs.every((d) => keyCount(d.keys) === 0)) break;
        diffs = await this.recheck(pair, diffs, report);
      }
      report.differences = merged(diffs);
      if (repair && keyCount(report.differences) > 0) {
        await this.repair(pair, diffs, report);
        report.remaining = merged(await this.recheck(pair, diffs, report));
      }
    } catch (err) {
      // A collection the server refuses (not loaded, schema trouble) is reported; an unreachable server ends the call.
      if (!(err instanceof CdcError) || err.code !== 'SINK_REJECTED') throw err;
      report.error = err.message;
    }
    return report;
  }

  /** Scans every partition (a few at a time), source and target side by side. */
  private async scan(pair: LayoutPair, report: CollectionReport): Promise<PartitionDiff[]> {
    const out = await mapLimit(pair.partitions(), PARALLEL_PARTITIONS, async (partition) => {
      const diff = await diffSorted(
        this.hashes(this.source, pair, 'source', partition),
        this.hashes(this.target, pair, 'target', partition),
      );
      return { partition, keys: diff };
    });
    for (const { partition, keys } of out) {
      report.partitions.push({
        partition,
        sourceRows: keys.sourceRows,
        targetRows: keys.targetRows,
      });
      report.sourceRows += keys.sourceRows;
      report.targetRows += keys.targetRows;
    }
    return out;
  }

  private async *hashes(
    side: RowSide,
    pair: LayoutPair,
    which: 'source' | 'target',
    partition: string,
  ): AsyncGenerator<readonly KeyedHash[]> {
    const { ref, layout, hash } = pair.side(which);
    if (!layout.partitions.includes(partition)) return;
    for await (const page of readAhead(side.scan(ref, layout, partition)))
      yield page.map((row) => ({
        key: rowKey(row, layout.pkField, layout.pkType),
        hash: hash(row),
      }));
  }

  /**
   * Re-reads the given keys: the source first (every partition), then, once the task's checkpoints on the
   * collection's channels passed that read, the target. Returns the keys that still differ.
   */
  private async recheck(
    pair: LayoutPair,
    diffs: readonly PartitionDiff[],
    report: CollectionReport,
  ): Promise<PartitionDiff[]> {
    const todo = diffs
      .map(({ partition, keys }) => ({
        partition,
        all: [...keys.missing, ...keys.extra, ...keys.changed],
      }))
      .filter((d) => d.all.length > 0);
    if (todo.length === 0) return [];
    const readAt = this.deps.now();
    const sourceHashes = await mapLimit(todo, PARALLEL_PARTITIONS, (d) =>
      this.hashesByKey(this.source, pair, 'source', d.partition, d.all),
    );
    if (!(await this.settled(pair.source.layout.channels, readAt))) report.caughtUp = false;
    const targetHashes = await mapLimit(todo, PARALLEL_PARTITIONS, (d) =>
      this.hashesByKey(this.target, pair, 'target', d.partition, d.all),
    );
    return todo.map(({ partition, all }, i) => {
      const still = emptyKeys();
      for (const key of all) {
        const s = sourceHashes[i]?.get(keyText(key));
        const t = targetHashes[i]?.get(keyText(key));
        if (s !== undefined && t === undefined) still.missing.push(key);
        else if (s === undefined && t !== undefined) still.extra.push(key);
        else if (s !== t) still.changed.push(key);
      }
      return { partition, keys: still };
    });
  }

  private async hashesByKey(
    side: RowSide,
    pair: LayoutPair,
    which: 'source' | 'target',
    partition: string,
    keys: readonly RowKey[],
  ): Promise<Map<string, string>> {
    const { ref, layout, hash } = pair.side(which);
    if (!layout.partitions.includes(partition)) return new Map();
    const rows = await side.rowsByKeys(ref, layout, partition, keys);
    return new Map(rows.map((r) => [keyText(rowKey(r, layout.pkField, layout.pkType)), hash(r)]));
  }

  /** Waits until the task applied everything up to `readAtMs` on `channels`, within the call's budget. */
  private async settled(channels: readonly string[], readAtMs: number): Promise<boolean> {
    const until = readAtMs + (this.deps.clockMarginMs ?? 1_000);
    for (;;) {
      if ((await this.deps.applied(this.taskId, channels)) >= until) return true;
      if (this.settleLeftMs <= 0) return false;
      const step = Math.min(250, this.settleLeftMs);
      this.settleLeftMs -= step;
      await this.deps.sleep(step);
    }
  }

  /**
   * Missing and changed rows are read from their source partition and upserted into the same target partition; extra
   * keys, and keys the source no longer has, are deleted from the target, but only once a second, independent read
   * of the source by key confirms they are absent there (a key found then is copied instead). Scans and reads that
   * came back short (Milvus 2.3 collections can hold a key more than once) thus never delete a row the source has.
   */
  private async repair(
    pair: LayoutPair,
    diffs: readonly PartitionDiff[],
    report: CollectionReport,
  ): Promise<void> {
    const { ref: tRef, layout: tLayout } = pair.target;
    const { ref: sRef, layout: sLayout } = pair.source;
    for (const { partition, keys } of diffs) {
      const route = tLayout.partitionKey ? undefined : partition;
      const copy = [...keys.missing, ...keys.changed];
      if (keyCount(keys) === 0) continue;
      const inSource = sLayout.partitions.includes(partition);
      const rows: ScannedRow[] = inSource
        ? await this.source.rowsByKeys(sRef, sLayout, partition, copy)
        : [];
      const found = new Set(rows.map((r) => keyText(rowKey(r, sLayout.pkField, sLayout.pkType))));
      const candidates = [...keys.extra, ...copy.filter((k) => !found.has(keyText(k)))];
      // The second read: whatever it finds is copied, not deleted.
      const confirm =
        inSource && candidates.length > 0
          ? await this.source.rowsByKeys(sRef, sLayout, partition, candidates)
          : [];
      const present = new Set(
        confirm.map((r) => keyText(rowKey(r, sLayout.pkField, sLayout.pkType))),
      );
      const gone = candidates.filter((k) => !present.has(keyText(k)));
      const upserts = [...rows, ...confirm];
      if (gone.length > 0) await this.target.delete(tRef, tLayout, route, gone);
      if (upserts.length > 0) await this.target.upsert(tRef, route, upserts);
      report.rowsDeleted += gone.length;
      report.rowsRecopied += upserts.length;
      report.repaired = true;
    }
  }
}

/** Source and target layouts of one collection, with a row hasher per side. */
class LayoutPair {
  readonly source;
  readonly target;

  constructor(
    sRef: CollectionRef,
    sLayout: CollectionLayout,
    tRef: CollectionRef,
    tLayout: CollectionLayout,
  ) {
    this.source = { ref: sRef, layout: sLayout, hash: rowHasher(sLayout.fields) };
    this.target = { ref: tRef, layout: tLayout, hash: rowHasher(tLayout.fields) };
  }

  side(which: 'source' | 'target'): LayoutPair['source'] {
    return which === 'source' ? this.source : this.target;
  }

  /** Every partition of either side, by name. */
  partitions(): string[] {
    return [
      ...new Set([...this.source.layout.partitions, ...this.target.layout.partitions]),
    ].sort();
  }
}

/** One key list per kind over all partitions, in key order. */
function merged(diffs: readonly PartitionDiff[]): KeyReport {
  const sorted = (pick: (k: KeyReport) => RowKey[]): RowKey[] =>
    diffs.flatMap((d) => pick(d.keys)).sort(compareKeys);
  return {
    missing: sorted((k) => k.missing),
    extra: sorted((k) => k.extra),
    changed: sorted((k) => k.changed),
  };
}
