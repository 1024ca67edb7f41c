import { CdcError, etcdPageKeys, prefixRange, scanPages, type ScanOptions } from '@cdc/shared';
import type { Etcd3, Lease } from 'etcd3';
import type { ChannelRecord, SnapshotRecord, TaskRecord, Versioned } from '../domain/model.js';
import type { ChannelStore, Page, SnapshotStore, TaskStore } from '../tasks/ports.js';

export type { Page };

/**
 * etcd layout under the configured root (default "cdc/"):
 *   {root}tasks/{taskId}                 TaskRecord JSON (secrets sealed)
 *   {root}channels/{taskId}/{channel}    ChannelRecord JSON (epoch, checkpoint, counters)
 *   {root}quarantine/{taskId}/{id}       QuarantineRecord JSON (etcd-quarantine-store.ts)
 *   {root}quarantine-seen/{taskId}/{h}   id of the record of one (channel, position, target): deduplication
 *   {root}quarantine-count/{taskId}      number of quarantine records of the task (the cap)
 *   {root}workers/{workerId}             last heartbeat, unix ms
 *   {root}snapshots/{taskId}/{collId}    SnapshotRecord JSON (initial-sync progress per source collection)
 * Writes are transactions comparing the key's mod revision (the `version` of reads); create compares create revision 0.
 * Prefix reads go page by page (`scanPages`): no response grows with the number or size of records.
 */
export class EtcdKeys {
  /**
   * @param pageKeys keys per range request: `etcdPageKeys(maxRequestBytes)` of the store's etcd, so that a page of
   * records of any size it accepts fits the client's receive limit.
   */
  constructor(
    readonly root: string,
    readonly pageKeys = etcdPageKeys(),
  ) {}
  task(taskId: string): string {
    return `${this.root}tasks/${taskId}`;
  }
  tasks(): string {
    return `${this.root}tasks/`;
  }
  channels(taskId?: string): string {
    return taskId === undefined ? `${this.root}channels/` : `${this.root}channels/${taskId}/`;
  }
  channel(taskId: string, channel: string): string {
    return `${this.root}channels/${taskId}/${channel}`;
  }
  quarantine(taskId: string): string {
    return `${this.root}quarantine/${taskId}/`;
  }
  quarantineSeen(taskId: string): string {
    return `${this.root}quarantine-seen/${taskId}/`;
  }
  quarantineCount(taskId: string): string {
    return `${this.root}quarantine-count/${taskId}`;
  }
  snapshots(taskId: string): string {
    return `${this.root}snapshots/${taskId}/`;
  }
  workers(): string {
    return `${this.root}workers/`;
  }
  election(): string {
    return `${this.root}scheduler-leader`;
  }
}

function unavailable(action: string, cause: unknown): CdcError {
  return new CdcError('UNAVAILABLE', `${action} in etcd`, { retryable: true, cause });
}

export async function guarded<T>(action: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof CdcError) throw err;
    throw unavailable(action, err);
  }
}

async function getVersioned<T>(client: Etcd3, key: string): Promise<Versioned<T> | undefined> {
  const res = await client.get(key).exec();
  const kv = res.kvs[0];
  if (kv === undefined) return undefined;
  return { value: JSON.parse(kv.value.toString('utf8')) as T, version: kv.mod_revision };
}

async function casPut(
  client: Etcd3,
  key: string,
  value: unknown,
  version: string | undefined,
): Promise<boolean> {
  const txn =
    version === undefined
      ? client.if(key, 'Create', '==', 0)
      : client.if(key, 'Mod', '==', version);
  const res = await txn.then(client.put(key).value(JSON.stringify(value))).commit();
  return res.succeeded;
}

/** JSON values under `prefix` (keys without the prefix), page by page, from the key after `after` ('' = first). */
export async function* scanJson<T>(
  client: Etcd3,
  prefix: string,
  after = '',
  opts: ScanOptions = {},
): AsyncGenerator<[string, T, number]> {
  const { end } = prefixRange(prefix);
  const start = Buffer.from(after === '' ? prefix : `${prefix}${after}\u0000`);
  for await (const page of scanPages(client.kv, { start, end }, opts))
    for (const kv of page.kvs)
      yield [
        kv.key.toString('utf8').slice(prefix.length),
        JSON.parse(kv.value.toString('utf8')) as T,
        kv.key.length + kv.value.length,
      ];
}

/** Keys of the first request of a budgeted page (`readPage`). */
const FIRST_PAGE_KEYS = 64;

/**
 * Records after `after`: at most `limit`, and once the page holds one, no more than `maxBytes` of stored records
 * (a reply that must fit a client's receive limit).
 */
export async function readPage<T>(
  client: Etcd3,
  keys: EtcdKeys,
  prefix: string,
  after: string,
  limit: number,
  maxBytes: number,
): Promise<Page<T>> {
  const records: T[] = [];
  let bytes = 0;
  // The first request asks for a few records; the next ones for about what the budget still holds at the size seen.
  const pageKeys = (): number => {
    const wanted =
      records.length === 0
        ? FIRST_PAGE_KEYS
        : Math.ceil(((maxBytes - bytes) * records.length) / Math.max(1, bytes)) + 1;
    return Math.max(1, Math.min(limit + 1 - records.length, keys.pageKeys, wanted));
  };
  for await (const [, record, size] of scanJson<T>(client, prefix, after, { pageKeys })) {
    if (records.length >= limit || (records.length > 0 && bytes + size > maxBytes))
      return { records, more: true };
    records.push(record);
    bytes += size;
  }
  return { records, more: false };
}

async function listJson<T>(client: Etcd3, keys: EtcdKeys, prefix: string): Promise<Map<string, T>> {
  const out = new Map<string, T>();
  for await (const [key, value] of scanJson<T>(client, prefix, '', {
    pageKeys: keys.pageKeys,
    revision: 'latest',
  }))
    out.set(key, value);
  return out;
}

export class EtcdTaskStore implements TaskStore {
  constructor(
    private readonly client: Etcd3,
    private readonly keys: EtcdKeys,
  ) {}

  get(taskId: string): Promise<Versioned<TaskRecord> | undefined> {
    return guarded('reading task', () =>
      getVersioned<TaskRecord>(this.client, this.keys.task(taskId)),
    );
  }

  list(): Promise<TaskRecord[]> {
    return guarded('listing tasks', async () => {
      const out: TaskRecord[] = [];
      // Not one snapshot: a long listing must not fail because etcd compacted its first revision meanwhile.
      for await (const [, task] of scanJson<TaskRecord>(this.client, this.keys.tasks(), '', {
        pageKeys: this.keys.pageKeys,
        revision: 'latest',
      }))
        out.push(task);
      return out;
    });
  }

  page(afterId: string, limit: number, maxBytes: number): Promise<Page<TaskRecord>> {
    return guarded('listing tasks', () =>
      readPage<TaskRecord>(this.client, this.keys, this.keys.tasks(), afterId, limit, maxBytes),
    );
  }

  create(record: TaskRecord): Promise<boolean> {
    return guarded('creating task', () =>
      casPut(this.client, this.keys.task(record.taskId), record, undefined),
    );
  }

  update(record: TaskRecord, version: string): Promise<boolean> {
    return guarded('updating task', () =>
      casPut(this.client, this.keys.task(record.taskId), record, version),
    );
  }

  remove(taskId: string): Promise<void> {
    return guarded('deleting task', async () => {
      await this.client
        .if(this.keys.task(taskId), 'Create', '>', 0)
        .then(this.client.delete().key(this.keys.task(taskId)), ...this.ownedBy(taskId))
        .else(...this.ownedBy(taskId))
        .commit();
    });
  }

  /** Deletes of everything stored under a task besides its record. */
  private ownedBy(taskId: string) {
    return [
      this.client.delete().prefix(this.keys.channels(taskId)),
      this.client.delete().prefix(this.keys.quarantine(taskId)),
      this.client.delete().prefix(this.keys.quarantineSeen(taskId)),
      this.client.delete().key(this.keys.quarantineCount(taskId)),
      this.client.delete().prefix(this.keys.snapshots(taskId)),
    ];
  }
}

/** A worker heartbeat key outlives the worker's last heartbeat by at most this (seconds). */
const HEARTBEAT_TTL_S = 15;

export class EtcdChannelStore implements ChannelStore {
  private heartbeats: { readonly lease: Lease; readonly renewAtMs: number } | undefined;

  constructor(
    private readonly client: Etcd3,
    private readonly keys: EtcdKeys,
  ) {}

  get(taskId: string, channel: string): Promise<Versioned<ChannelRecord> | undefined> {
    return guarded('reading checkpoint', () =>
      getVersioned<ChannelRecord>(this.client, this.keys.channel(taskId, channel)),
    );
  }

  list(taskId: string): Promise<Map<string, ChannelRecord>> {
    return guarded('listing checkpoints', () =>
      listJson<ChannelRecord>(this.client, this.keys, this.keys.channels(taskId)),
    );
  }

  listAll(): Promise<Map<string, ChannelRecord>> {
    return guarded('listing checkpoints', () =>
      listJson<ChannelRecord>(this.client, this.keys, this.keys.channels()),
    );
  }

  put(
    taskId: string,
    channel: string,
    record: ChannelRecord,
    version: string | undefined,
  ): Promise<boolean> {
    return guarded('writing checkpoint', () =>
      casPut(this.client, this.keys.channel(taskId, channel), record, version),
    );
  }

  /**
   * Heartbeats live on an etcd lease, so the ids of workers that stopped (or never were: a caller inventing ids)
   * disappear by themselves. One lease serves every heartbeat for a third of its TTL: a key outlives its last
   * heartbeat by at most the TTL.
   */
  touchWorker(workerId: string, nowMs: number): Promise<void> {
    return guarded('writing worker heartbeat', async () => {
      if (this.heartbeats === undefined || nowMs >= this.heartbeats.renewAtMs)
        this.heartbeats = {
          lease: this.client.lease(HEARTBEAT_TTL_S, { autoKeepAlive: false }),
          renewAtMs: nowMs + (HEARTBEAT_TTL_S * 1000) / 3,
        };
      const { lease } = this.heartbeats;
      try {
        await lease.put(`${this.keys.workers()}${workerId}`).value(String(nowMs));
      } catch (err) {
        if (this.heartbeats.lease === lease) this.heartbeats = undefined; // e.g. not granted: take a new one
        throw err;
      }
    });
  }

  listWorkers(): Promise<Map<string, number>> {
    return guarded('listing workers', () =>
      listJson<number>(this.client, this.keys, this.keys.workers()),
    );
  }
}

export class EtcdSnapshotStore implements SnapshotStore {
  constructor(
    private readonly client: Etcd3,
    private readonly keys: EtcdKeys,
  ) {}

  get(taskId: string, collectionId: string): Promise<Versioned<SnapshotRecord> | undefined> {
    return guarded('reading snapshot progress', () =>
      getVersioned<SnapshotRecord>(this.client, `${this.keys.snapshots(taskId)}${collectionId}`),
    );
  }

  list(taskId: string): Promise<SnapshotRecord[]> {
    return guarded('listing snapshot progress', async () =>
      [
        ...(
          await listJson<SnapshotRecord>(this.client, this.keys, this.keys.snapshots(taskId))
        ).values(),
      ].sort((a, b) =>
        a.database === b.database
          ? a.collection.localeCompare(b.collection)
          : a.database.localeCompare(b.database),
      ),
    );
  }

  put(taskId: string, record: SnapshotRecord, version: string | undefined): Promise<boolean> {
    return guarded('writing snapshot progress', () =>
      casPut(this.client, `${this.keys.snapshots(taskId)}${record.collectionId}`, record, version),
    );
  }
}
