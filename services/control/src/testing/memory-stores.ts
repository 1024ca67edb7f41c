/** In-memory task, snapshot and channel stores with the etcd stores' compare-and-set semantics (unit tests only). */
import type {
  ChannelRecord,
  SnapshotRecord,
  TaskRecord,
  TaskSpec,
  Versioned,
} from '../domain/model.js';
import type {
  ChannelStore,
  ReportBatchStore,
  SecretBox,
  SnapshotStore,
  TaskStore,
} from '../tasks/ports.js';

/** Versioned in-memory maps with the stores' compare-and-set semantics. */
export class Versions<T> {
  private readonly rows = new Map<string, Versioned<T>>();
  private counter = 0;
  get(key: string): Versioned<T> | undefined {
    return this.rows.get(key);
  }
  put(key: string, value: T, version: string | undefined): boolean {
    const current = this.rows.get(key);
    if (version === undefined ? current !== undefined : current?.version !== version) return false;
    this.rows.set(key, { value: structuredClone(value), version: String(++this.counter) });
    return true;
  }
  values(prefix: string): T[] {
    return this.entries(prefix).map(([, v]) => v);
  }
  /** [key without the prefix, value] of every key under the prefix. */
  entries(prefix: string): [string, T][] {
    return [...this.rows.entries()]
      .filter(([k]) => k.startsWith(prefix))
      .map(([k, v]) => [k.slice(prefix.length), v.value]);
  }
  remove(prefix: string): void {
    for (const k of [...this.rows.keys()]) if (k.startsWith(prefix)) this.rows.delete(k);
  }
}

export class MemoryStores implements TaskStore, SnapshotStore {
  readonly taskRows = new Versions<TaskRecord>();
  readonly snapshotRows = new Versions<SnapshotRecord>();
  readonly channelRows = new Versions<ChannelRecord>();

  // TaskStore
  get(taskId: string, collectionId?: string): Promise<Versioned<never> | undefined> {
    const row =
      collectionId === undefined
        ? this.taskRows.get(taskId)
        : this.snapshotRows.get(`${taskId}/${collectionId}`);
    return Promise.resolve(row as Versioned<never> | undefined);
  }
  list(taskId?: string): Promise<never[]> {
    if (taskId === undefined) return Promise.resolve(this.taskRows.values('') as never[]);
    return Promise.resolve(this.snapshotRows.values(`${taskId}/`) as never[]);
  }
  page(afterId: string, limit: number): Promise<{ records: TaskRecord[]; more: boolean }> {
    const after = this.taskRows.values('').filter((t) => t.taskId > afterId);
    return Promise.resolve({ records: after.slice(0, limit), more: after.length > limit });
  }
  create(record: TaskRecord): Promise<boolean> {
    return Promise.resolve(this.taskRows.put(record.taskId, record, undefined));
  }
  update(record: TaskRecord, version: string): Promise<boolean> {
    return Promise.resolve(this.taskRows.put(record.taskId, record, version));
  }
  remove(taskId: string): Promise<void> {
    this.taskRows.remove(taskId);
    this.snapshotRows.remove(`${taskId}/`);
    return Promise.resolve();
  }
  // SnapshotStore (get/list above)
  put(taskId: string, record: SnapshotRecord, version: string | undefined): Promise<boolean> {
    return Promise.resolve(
      this.snapshotRows.put(`${taskId}/${record.collectionId}`, record, version),
    );
  }

  channelStore(): ChannelStore {
    const rows = this.channelRows;
    return {
      get: (t, c) => Promise.resolve(rows.get(`${t}/${c}`)),
      list: (t) => Promise.resolve(new Map(rows.entries(`${t}/`))),
      listAll: () => Promise.resolve(new Map()),
      put: (t, c, r, v) => Promise.resolve(rows.put(`${t}/${c}`, r, v)),
      touchWorker: () => Promise.resolve(),
      listWorkers: () => Promise.resolve(new Map()),
    };
  }

  /** Batched report reads and writes; `beforeWrite` runs between them (to make a write lose a race). */
  reportBatchStore(hooks: { beforeWrite?: () => Promise<void> } = {}): ReportBatchStore {
    return {
      read: (taskIds, channels) => {
        const tasks = new Map<string, Versioned<TaskRecord>>();
        for (const id of taskIds) {
          const t = this.taskRows.get(id);
          if (t !== undefined) tasks.set(id, structuredClone(t));
        }
        const records = new Map<string, Versioned<ChannelRecord>>();
        for (const c of channels) {
          const r = this.channelRows.get(`${c.taskId}/${c.channel}`);
          if (r !== undefined) records.set(`${c.taskId}/${c.channel}`, structuredClone(r));
        }
        return Promise.resolve({ tasks, channels: records });
      },
      write: async (writes) => {
        await hooks.beforeWrite?.();
        // All or none, as one etcd transaction.
        const current = writes.every(
          (w) =>
            this.taskRows.get(w.taskId)?.version === w.taskVersion &&
            this.channelRows.get(`${w.taskId}/${w.channel}`)?.version === w.version,
        );
        if (current)
          for (const w of writes)
            this.channelRows.put(`${w.taskId}/${w.channel}`, w.record, w.version);
        return writes.map(() => current);
      },
    };
  }
}

/** Seals by prefixing the binding, so a value opened for another task or field is visibly wrong. */
export const plainBox: SecretBox = {
  seal: (s, b) => `${b.taskId}/${b.field}:${s}`,
  open: (s, b) => (b === undefined ? s : s.slice(`${b.taskId}/${b.field}:`.length)),
  isCurrent: () => true,
};

export function spec(overrides: Partial<TaskSpec> = {}): TaskSpec {
  const tls = {
    enabled: false,
    ca_pem: '',
    cert_pem: '',
    key_pem: '',
    server_name: '',
    insecure_skip_verify: false,
  };
  return {
    source: {
      etcd: { endpoints: ['127.0.0.1:2379'], root_path: 'by-dev', username: '', password: '', tls },
      mq: {
        type: 'MQ_TYPE_KAFKA',
        address: '127.0.0.1:9092',
        tls,
        sasl: { mechanism: '', username: '', password: '' },
        token: '',
      },
      channel_prefix: 'by-dev',
      milvus: { uri: 'http://127.0.0.1:19530', token: '', username: '', password: '', tls },
    },
    target: {
      uri: '127.0.0.1:19540',
      token: '',
      username: '',
      password: '',
      tls,
      mode: 'TARGET_MODE_API',
    },
    scope: { include: [{ database: 'shop', collection: '*' }], exclude: [] },
    name_mapping: [],
    start: { kind: 'START_KIND_LATEST', timestamp: '0', positions: {} },
    initial_sync: { enabled: true, batch_rows: 0 },
    ...overrides,
  };
}
