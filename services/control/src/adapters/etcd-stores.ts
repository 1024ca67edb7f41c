import { CdcError } from '@cdc/shared';
import { Range } from 'etcd3';
import type { Etcd3, Lease } from 'etcd3';
import type {
  ChannelRecord,
  QuarantineRecord,
  SnapshotRecord,
  TaskRecord,
  Versioned,
} from '../domain/model.js';
import type { ChannelStore, SnapshotStore, TaskStore } from '../tasks/ports.js';

/**
 * etcd layout under the configured root (default "cdc/"):
 *   {root}tasks/{taskId}                 TaskRecord JSON (secrets sealed)
 *   {root}channels/{taskId}/{channel}    ChannelRecord JSON (epoch, checkpoint, counters)
 *   {root}quarantine/{taskId}/{id}       QuarantineRecord JSON
 *   {root}workers/{workerId}             last heartbeat, unix ms
 *   {root}snapshots/{taskId}/{collId}    SnapshotRecord JSON (initial-sync progress per source collection)
 * Writes are transactions comparing the key's mod revision (the `version` of reads); create compares create revision 0.
 */
export class EtcdKeys {
  constructor(readonly root: string) {}
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

async function guarded<T>(action: string, fn: () => Promise<T>): Promise<T> {
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

async function listJson<T>(client: Etcd3, prefix: string): Promise<Map<string, T>> {
  const rows = await client.getAll().prefix(prefix).sort('Key', 'Ascend').strings();
  const out = new Map<string, T>();
  for (const [key, value] of Object.entries(rows))
    out.set(key.slice(prefix.length), JSON.parse(value) as T);
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
    return guarded('listing tasks', async () =>
      [...(await listJson<TaskRecord>(this.client, this.keys.tasks())).values()].sort((a, b) =>
        a.taskId < b.taskId ? -1 : 1,
      ),
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
        .then(
          this.client.delete().key(this.keys.task(taskId)),
          this.client.delete().prefix(this.keys.channels(taskId)),
          this.client.delete().prefix(this.keys.quarantine(taskId)),
          this.client.delete().prefix(this.keys.snapshots(taskId)),
        )
        .else(
          this.client.delete().prefix(this.keys.channels(taskId)),
          this.client.delete().prefix(this.keys.quarantine(taskId)),
          this.client.delete().prefix(this.keys.snapshots(taskId)),
        )
        .commit();
    });
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
      listJson<ChannelRecord>(this.client, this.keys.channels(taskId)),
    );
  }

  listAll(): Promise<Map<string, ChannelRecord>> {
    return guarded('listing checkpoints', () =>
      listJson<ChannelRecord>(this.client, this.keys.channels()),
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

  addQuarantine(taskId: string, record: QuarantineRecord): Promise<void> {
    return guarded('writing quarantine record', async () => {
      await this.client
        .put(`${this.keys.quarantine(taskId)}${record.quarantineId}`)
        .value(JSON.stringify(record));
    });
  }

  listQuarantine(taskId: string, afterId: string, limit: number): Promise<QuarantineRecord[]> {
    return guarded('listing quarantine', async () => {
      // Read one page straight from etcd (keys sort like ids): a task can hold many thousands of records, and
      // loading them all per page exceeded etcd's response size.
      const prefix = this.keys.quarantine(taskId);
      const start = afterId === '' ? prefix : `${prefix}${afterId}\u0000`;
      const values = await this.client
        .getAll()
        .inRange({ start, end: Range.prefix(prefix).end })
        .sort('Key', 'Ascend')
        .limit(limit)
        .strings();
      return Object.values(values).map((v) => JSON.parse(v) as QuarantineRecord);
    });
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
    return guarded('listing workers', () => listJson<number>(this.client, this.keys.workers()));
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
      [...(await listJson<SnapshotRecord>(this.client, this.keys.snapshots(taskId))).values()].sort(
        (a, b) =>
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
