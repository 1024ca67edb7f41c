/**
 * A steady write load on one source collection (inserts, upserts and deletes by int64 key) that keeps going through
 * faults: a failed batch is counted and skipped, since the comparison is always between what the source actually
 * holds and what the target holds.
 */
import { DataType } from '@zilliz/milvus2-sdk-node';
import type { MilvusClient } from '@zilliz/milvus2-sdk-node';

export interface LoadStats {
  batches: number;
  failed: number;
}

export class ContinuousLoad {
  private nextId = 1;
  private running: Promise<void> | undefined;
  private stopped = false;
  readonly stats: LoadStats = { batches: 0, failed: 0 };

  constructor(
    private readonly client: MilvusClient,
    readonly db: string,
    readonly collection: string,
    private readonly rowsPerBatch = 100,
    private readonly everyMs = 200,
  ) {}

  async createCollection(): Promise<void> {
    await this.client.createDatabase({ db_name: this.db });
    const res = await this.client.createCollection({
      db_name: this.db,
      collection_name: this.collection,
      shards_num: 2,
      fields: [
        { name: 'id', data_type: DataType.Int64, is_primary_key: true },
        { name: 'batch', data_type: DataType.Int64 },
        { name: 'note', data_type: DataType.VarChar, max_length: 64 },
        { name: 'vec', data_type: DataType.FloatVector, dim: 8 },
      ],
    });
    if (res.error_code !== 'Success') throw new Error(`create collection: ${res.reason}`);
    await this.client.createIndex({
      db_name: this.db,
      collection_name: this.collection,
      field_name: 'vec',
      index_type: 'FLAT',
      metric_type: 'L2',
    });
    await this.client.loadCollectionSync({ db_name: this.db, collection_name: this.collection });
  }

  private rows(ids: number[], batch: number, note: string) {
    return ids.map((id) => ({
      id: String(id),
      batch: String(batch),
      note: `${note}-${id}`,
      vec: Array.from({ length: 8 }, (_, d) => Math.cos(id + d)),
    }));
  }

  private async oneBatch(): Promise<void> {
    const batch = this.stats.batches++;
    const first = this.nextId;
    // Ids are never reused, even after a failed insert that may have landed: the source must hold no duplicates.
    this.nextId += this.rowsPerBatch;
    const ids = Array.from({ length: this.rowsPerBatch }, (_, i) => first + i);
    const base = { db_name: this.db, collection_name: this.collection, timeout: 5_000 };
    try {
      const ins = await this.client.insert({ ...base, data: this.rows(ids, batch, 'ins') });
      if (ins.status.error_code !== 'Success') throw new Error(ins.status.reason);
      if (first > this.rowsPerBatch * 2) {
        const older = [first - this.rowsPerBatch - 7, first - this.rowsPerBatch - 3];
        const ups = await this.client.upsert({ ...base, data: this.rows(older, batch, 'ups') });
        if (ups.status.error_code !== 'Success') throw new Error(ups.status.reason);
        const del = await this.client.delete({
          ...base,
          filter: `id in [${first - this.rowsPerBatch - 1}]`,
        });
        if (del.status.error_code !== 'Success') throw new Error(del.status.reason);
      }
    } catch {
      this.stats.failed++;
    }
  }

  start(): void {
    this.stopped = false;
    this.running ??= (async () => {
      while (!this.stopped) {
        const started = Date.now();
        await this.oneBatch();
        await new Promise((r) => setTimeout(r, Math.max(0, this.everyMs - (Date.now() - started))));
      }
    })();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.running;
    this.running = undefined;
  }
}
