import { CdcError, ETCD_MAX_TXN_OPS, prefixRange, scanPages } from '@cdc/shared';
import type { Etcd3, IKeyValue } from 'etcd3';
import type { QuarantineRecord } from '../domain/model.js';
import type { QuarantineOutcome, QuarantineStore, QuarantineWrite } from '../tasks/ports.js';
import { guarded, readPage, type EtcdKeys, type Page } from './etcd-stores.js';

/** Puts per stored entry: the record and its deduplication key. */
const OPS_PER_ENTRY = 2;
/** Entries of one transaction: etcd's op limit, less the counter's put. */
const MAX_TXN_ENTRIES = Math.floor((ETCD_MAX_TXN_OPS - 1) / OPS_PER_ENTRY);
/** Room left in a request for the counter, compares and framing. */
const TXN_MARGIN_BYTES = 16 * 1024;
const MAX_CAS_ATTEMPTS = 20;

interface Planned {
  readonly write: QuarantineWrite;
  readonly index: number;
  readonly recordKey: string;
  readonly recordValue: string;
  readonly seenKey: string;
}

/**
 * The quarantine list in etcd (layout: etcd-stores.ts). Every write of a task compares and sets its counter, so
 * concurrent writers (one per channel) are serialized: the cap is exact and a position is never stored twice. A
 * batch is split into transactions that respect etcd's op and request size limits; each is atomic, and a retry
 * of a partly stored batch finds the stored part by its deduplication keys.
 */
export class EtcdQuarantineStore implements QuarantineStore {
  constructor(
    private readonly client: Etcd3,
    private readonly keys: EtcdKeys,
    private readonly maxRequestBytes: number,
  ) {}

  add(
    taskId: string,
    entries: readonly QuarantineWrite[],
    maxEntries: number,
  ): Promise<QuarantineOutcome[]> {
    return guarded('writing quarantine records', async () => {
      const outcomes: QuarantineOutcome[] = [];
      const planned = entries.map((write, index) => this.plan(taskId, write, index));
      for (const chunk of this.chunks(planned))
        outcomes.push(...(await this.addChunk(taskId, chunk, maxEntries)));
      return outcomes;
    });
  }

  list(
    taskId: string,
    afterId: string,
    limit: number,
    maxBytes: number,
  ): Promise<Page<QuarantineRecord>> {
    return guarded('listing quarantine', () =>
      readPage<QuarantineRecord>(
        this.client,
        this.keys,
        this.keys.quarantine(taskId),
        afterId,
        limit,
        maxBytes,
      ),
    );
  }

  count(taskId: string): Promise<number> {
    return guarded('counting quarantine', async () => (await this.readCounter(taskId)).count);
  }

  purge(taskId: string): Promise<number> {
    return guarded('purging quarantine', async () => {
      const res = await this.client
        .if(this.keys.quarantineCount(taskId), 'Create', '>', 0)
        .then(...this.purgeOps(taskId))
        .else(...this.purgeOps(taskId))
        .commit();
      return Number(res.responses[0]?.response_delete_range.deleted ?? 0);
    });
  }

  private purgeOps(taskId: string) {
    return [
      this.client.delete().prefix(this.keys.quarantine(taskId)),
      this.client.delete().prefix(this.keys.quarantineSeen(taskId)),
      // Deleting the counter fails every write that read it: none stores after the purge on an old count.
      this.client.delete().key(this.keys.quarantineCount(taskId)),
    ];
  }

  private plan(taskId: string, write: QuarantineWrite, index: number): Planned {
    return {
      write,
      index,
      recordKey: `${this.keys.quarantine(taskId)}${write.record.quarantineId}`,
      recordValue: JSON.stringify(write.record),
      seenKey: `${this.keys.quarantineSeen(taskId)}${write.dedupeKey}`,
    };
  }

  /** Consecutive entries per transaction, within etcd's op limit and request size. */
  private *chunks(planned: readonly Planned[]): Generator<Planned[]> {
    const budget = this.maxRequestBytes - TXN_MARGIN_BYTES;
    let chunk: Planned[] = [];
    let bytes = 0;
    for (const p of planned) {
      const size =
        Buffer.byteLength(p.recordKey) +
        Buffer.byteLength(p.recordValue) +
        Buffer.byteLength(p.seenKey) +
        p.write.record.quarantineId.length;
      if (chunk.length > 0 && (chunk.length >= MAX_TXN_ENTRIES || bytes + size > budget)) {
        yield chunk;
        chunk = [];
        bytes = 0;
      }
      chunk.push(p);
      bytes += size;
    }
    if (chunk.length > 0) yield chunk;
  }

  private async addChunk(
    taskId: string,
    chunk: readonly Planned[],
    maxEntries: number,
  ): Promise<QuarantineOutcome[]> {
    const counterKey = this.keys.quarantineCount(taskId);
    for (let attempt = 0; attempt < MAX_CAS_ATTEMPTS; attempt++) {
      // Counter and deduplication keys in one read (one revision): any write after it changes the counter, so the
      // commit below fails instead of racing.
      const { counter, seen } = await this.readState(
        taskId,
        chunk.map((p) => p.seenKey),
      );
      const outcomes: QuarantineOutcome[] = [];
      const adding = new Map<string, Planned>();
      let count = counter.count;
      for (const p of chunk) {
        const stored = seen.get(p.seenKey) ?? adding.get(p.seenKey)?.write.record.quarantineId;
        if (stored !== undefined) outcomes.push({ kind: 'duplicate', quarantineId: stored });
        else if (count >= maxEntries) outcomes.push({ kind: 'full' });
        else {
          adding.set(p.seenKey, p);
          count++;
          outcomes.push({ kind: 'added', quarantineId: p.write.record.quarantineId });
        }
      }
      if (adding.size === 0) return outcomes;
      const puts = [...adding.values()].flatMap((p) => [
        this.client.put(p.recordKey).value(p.recordValue),
        this.client.put(p.seenKey).value(p.write.record.quarantineId),
      ]);
      const guard =
        counter.version === undefined
          ? this.client.if(counterKey, 'Create', '==', 0)
          : this.client.if(counterKey, 'Mod', '==', counter.version);
      const res = await guard
        .then(...puts, this.client.put(counterKey).value(String(count)))
        .commit();
      if (res.succeeded) return outcomes;
      // Another channel of the task wrote meanwhile: read again after a short random pause.
      await new Promise((r) => setTimeout(r, Math.random() * 5 * (attempt + 1)));
    }
    throw new CdcError(
      'CONFLICT',
      `writing quarantine of task ${taskId}: too many concurrent writers`,
      {
        retryable: true,
      },
    );
  }

  /**
   * The task's record count and the counter's version. Without a counter (records written before it existed)
   * the records are counted; the first write then creates it.
   */
  private async readCounter(taskId: string): Promise<{ count: number; version?: string }> {
    const found = await this.client.get(this.keys.quarantineCount(taskId)).exec();
    return this.counterOf(taskId, found.kvs[0]);
  }

  private async counterOf(
    taskId: string,
    kv: IKeyValue | undefined,
  ): Promise<{ count: number; version?: string }> {
    if (kv !== undefined) return { count: Number(kv.value.toString()), version: kv.mod_revision };
    let count = 0;
    const range = prefixRange(this.keys.quarantine(taskId));
    for await (const page of scanPages(this.client.kv, range, {
      keysOnly: true,
      pageKeys: 1000,
    }))
      count += page.kvs.length;
    return { count };
  }

  /** The counter and the stored record ids by deduplication key, in one read-only transaction. */
  private async readState(
    taskId: string,
    seenKeys: readonly string[],
  ): Promise<{ counter: { count: number; version?: string }; seen: Map<string, string> }> {
    const res = await this.client.kv.txn({
      compare: [],
      success: [this.keys.quarantineCount(taskId), ...seenKeys].map((key) => ({
        request_range: { key: Buffer.from(key) },
      })),
      failure: [],
    });
    const [counterRes, ...seenRes] = res.responses;
    const seen = new Map<string, string>();
    for (const r of seenRes) {
      const kv = r.response_range.kvs[0];
      if (kv !== undefined) seen.set(kv.key.toString('utf8'), kv.value.toString('utf8'));
    }
    return { counter: await this.counterOf(taskId, counterRes?.response_range.kvs[0]), seen };
  }
}
