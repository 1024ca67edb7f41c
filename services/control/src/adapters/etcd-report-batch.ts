import { ETCD_DEFAULT_MAX_REQUEST_BYTES, ETCD_MAX_TXN_OPS } from '@cdc/shared';
import { CompareResult, CompareTarget } from 'etcd3';
import type { Etcd3, IKeyValue } from 'etcd3';
import type { ChannelRecord, TaskRecord, Versioned } from '../domain/model.js';
import type { ReportBatchStore, ReportWrite } from '../tasks/ports.js';
import { guarded, type EtcdKeys } from './etcd-stores.js';

/** Share of etcd's request limit one write transaction may fill (keys, values and compares). */
const WRITE_BYTES_SHARE = 0.5;
/** Framing of one compare or put in a transaction, beyond its key and value. */
const OP_FRAMING_BYTES = 64;

function versioned<T>(kv: IKeyValue | undefined): Versioned<T> | undefined {
  if (kv === undefined) return undefined;
  return { value: JSON.parse(kv.value.toString('utf8')) as T, version: kv.mod_revision };
}

/**
 * The records of a batch of checkpoint reports in few etcd round trips: every task and channel record in one read-only
 * transaction (several when there are more than etcd's operations per transaction), and the channel records written
 * in one transaction per group that fits etcd's limits, each put guarded by its own and its task's mod revision.
 */
export class EtcdReportBatchStore implements ReportBatchStore {
  private readonly maxWriteBytes: number;

  constructor(
    private readonly client: Etcd3,
    private readonly keys: EtcdKeys,
    maxRequestBytes = ETCD_DEFAULT_MAX_REQUEST_BYTES,
  ) {
    this.maxWriteBytes = Math.floor(maxRequestBytes * WRITE_BYTES_SHARE);
  }

  read(
    taskIds: readonly string[],
    channels: readonly { readonly taskId: string; readonly channel: string }[],
  ): ReturnType<ReportBatchStore['read']> {
    return guarded('reading checkpoints', async () => {
      const wanted = [
        ...taskIds.map((id) => ({ kind: 'task' as const, id, key: this.keys.task(id) })),
        ...channels.map((c) => ({
          kind: 'channel' as const,
          id: `${c.taskId}/${c.channel}`,
          key: this.keys.channel(c.taskId, c.channel),
        })),
      ];
      const tasks = new Map<string, Versioned<TaskRecord>>();
      const records = new Map<string, Versioned<ChannelRecord>>();
      for (let i = 0; i < wanted.length; i += ETCD_MAX_TXN_OPS) {
        const part = wanted.slice(i, i + ETCD_MAX_TXN_OPS);
        const res = await this.client.kv.txn({
          compare: [],
          success: part.map((w) => ({ request_range: { key: Buffer.from(w.key) } })),
          failure: [],
        });
        part.forEach((w, j) => {
          const kv = res.responses[j]?.response_range.kvs[0];
          if (w.kind === 'task') {
            const found = versioned<TaskRecord>(kv);
            if (found !== undefined) tasks.set(w.id, found);
          } else {
            const found = versioned<ChannelRecord>(kv);
            if (found !== undefined) records.set(w.id, found);
          }
        });
      }
      return { tasks, channels: records };
    });
  }

  write(writes: readonly ReportWrite[]): Promise<boolean[]> {
    return guarded('writing checkpoints', async () => {
      const written: boolean[] = [];
      // Each record is serialized once: for sizing the groups and for the put.
      const encoded = writes.map((w) => ({
        w,
        key: Buffer.from(this.keys.channel(w.taskId, w.channel)),
        value: Buffer.from(JSON.stringify(w.record)),
      }));
      for (const group of this.groups(encoded)) {
        const ok = await this.writeGroup(group);
        for (let i = 0; i < group.length; i++) written.push(ok);
      }
      return written;
    });
  }

  /** Consecutive writes whose compares and puts fit one transaction (operations and bytes). */
  private *groups(writes: readonly EncodedWrite[]): Generator<EncodedWrite[]> {
    let group: EncodedWrite[] = [];
    let tasks = new Set<string>();
    let bytes = 0;
    for (const e of writes) {
      const { taskId } = e.w;
      const size =
        2 * (e.key.length + OP_FRAMING_BYTES) +
        e.value.length +
        (tasks.has(taskId) ? 0 : this.keys.task(taskId).length + OP_FRAMING_BYTES);
      const compares = group.length + tasks.size + (tasks.has(taskId) ? 1 : 2);
      if (group.length > 0 && (compares > ETCD_MAX_TXN_OPS || bytes + size > this.maxWriteBytes)) {
        yield group;
        group = [];
        tasks = new Set();
        bytes = 0;
      }
      group.push(e);
      tasks.add(taskId);
      bytes += size;
    }
    if (group.length > 0) yield group;
  }

  private async writeGroup(group: readonly EncodedWrite[]): Promise<boolean> {
    const taskVersions = new Map(group.map(({ w }) => [w.taskId, w.taskVersion]));
    const compare = [
      ...[...taskVersions].map(([taskId, version]) => ({
        key: Buffer.from(this.keys.task(taskId)),
        target: CompareTarget.Mod,
        result: CompareResult.Equal,
        mod_revision: version,
      })),
      ...group.map(({ w, key }) =>
        w.version === undefined
          ? { key, target: CompareTarget.Create, result: CompareResult.Equal, create_revision: '0' }
          : {
              key,
              target: CompareTarget.Mod,
              result: CompareResult.Equal,
              mod_revision: w.version,
            },
      ),
    ];
    const res = await this.client.kv.txn({
      compare,
      success: group.map(({ key, value }) => ({ request_put: { key, value } })),
      failure: [],
    });
    return res.succeeded;
  }
}

/** A channel record write with its key and serialized value. */
interface EncodedWrite {
  readonly w: ReportWrite;
  readonly key: Buffer;
  readonly value: Buffer;
}
