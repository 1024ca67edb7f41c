import { createHash } from 'node:crypto';
import { Etcd3 } from 'etcd3';
import type { Redis } from 'ioredis';
import {
  createEtcdSourceMetadata,
  createEtcdStandbyMetadata,
  errorMessage,
  etcdGrpcOptions,
  etcdTlsOptions,
  taskKeyPrefix,
} from '@cdc/shared';
import type { Logger, pb, SourceMetadata } from '@cdc/shared';
import { MilvusSourceRows, missingSourceMilvus } from '../adapters/milvus-source-rows.js';
import { MilvusReplicateTarget } from '../adapters/milvus-replicate-target.js';
import { MilvusTargetWriter } from '../adapters/milvus-target-writer.js';
import { RedisDropBarrier } from '../adapters/redis-drop-barrier.js';
import { createSourceReader } from '../adapters/source-readers.js';
import type { SourceReaderLimits } from '../adapters/source-readers.js';
import type { DropBarrier } from '../ports/drop-barrier.js';
import type { ReplicateTarget } from '../ports/replicate-target.js';
import type { SourceReader } from '../ports/source-reader.js';
import type { SourceRows } from '../ports/source-rows.js';
import type { TargetWriter } from '../ports/target-writer.js';
import type { MilvusEndpointOptions } from '../adapters/milvus-client.js';
import { isReplicateMode, type MilvusEndpointWire, type TaskSpecWire } from '../task-spec.js';
import type { Borrowed, LeaseFactories, StandbyResources } from './lease-runner.js';

/** A Milvus endpoint of the spec (target or source server) as client options: only the credentials that are set. */
function endpointOptions(m: MilvusEndpointWire | null | undefined): MilvusEndpointOptions {
  return {
    address: m?.uri ?? '',
    ...(m?.token ? { token: m.token } : {}),
    ...(m?.username ? { username: m.username, password: m.password ?? '' } : {}),
    ...(m?.tls ? { tls: m.tls } : {}),
  };
}

/** An etcd client for the task's source etcd (credentials and TLS as the spec says). */
function etcdClient(etcd: pb.EtcdSource__Output | null | undefined): Etcd3 {
  return new Etcd3({
    hosts: [...(etcd?.endpoints ?? [])],
    grpcOptions: etcdGrpcOptions(),
    ...(etcd?.username ? { auth: { username: etcd.username, password: etcd.password ?? '' } } : {}),
    ...etcdTlsOptions(etcd?.tls),
  });
}

/**
 * Key of a connection in the shared map: the same endpoint with the same credentials and TLS is one client, whichever
 * task asks. Hashed, so no credential is kept in a key.
 */
function connectionKey(kind: string, settings: unknown): string {
  return `${kind}:${createHash('sha256').update(JSON.stringify(settings)).digest('hex')}`;
}

interface Shared<T> {
  readonly value: Promise<T>;
  refs: number;
  readonly close: (v: T) => Promise<void>;
  /** Set while no lease holds it: closes it unless borrowed again first. */
  idleTimer?: NodeJS.Timeout | undefined;
}

/**
 * How long a connection nobody holds stays open. Building a Milvus client parses the SDK's proto descriptors (0.1 s on
 * a quiet machine, 2 s seen on a loaded one) with the event loop blocked: leases that end and start again (lost write
 * validity, rebalancing, a task paused and resumed) must not pay that again, or the stall ends the next leases too.
 */
export const IDLE_CONNECTION_MS = 60_000;

/**
 * Builds the connections a lease needs and shares them between the leases of this process that use the same endpoint
 * with the same credentials (every channel of a task, and every task on one source or into one target: 30 tasks on a
 * source are one etcd client and one Milvus client per target, not 30); the last lease to release one closes it.
 */
export class TaskResources implements LeaseFactories {
  private readonly shared = new Map<string, Shared<unknown>>();

  constructor(
    private readonly redis: Redis,
    private readonly queuePrefix: string,
    private readonly log: Logger,
    private readonly readerLimits: SourceReaderLimits = {},
    private readonly idleConnectionMs = IDLE_CONNECTION_MS,
  ) {}

  /** Closes the connections no lease holds (at shutdown, after the leases ended). */
  async close(): Promise<void> {
    const idle = [...this.shared].filter(([, e]) => e.refs === 0);
    await Promise.all(idle.map(([key, e]) => this.closeShared(key, e)));
  }

  private closeWhenIdle(key: string, e: Shared<unknown>): void {
    e.idleTimer = setTimeout(() => {
      if (e.refs === 0) void this.closeShared(key, e);
    }, this.idleConnectionMs);
    e.idleTimer.unref();
  }

  private async closeShared(key: string, e: Shared<unknown>): Promise<void> {
    clearTimeout(e.idleTimer);
    if (this.shared.get(key) !== e) return;
    this.shared.delete(key);
    try {
      await e.close(await e.value);
    } catch (err) {
      this.log.warn(
        { err: errorMessage(err), kind: key.split(':')[0] },
        'closing a connection failed',
      );
    }
  }

  private async borrow<T>(
    key: string,
    open: () => Promise<T>,
    close: (v: T) => Promise<void>,
  ): Promise<Borrowed<T>> {
    let entry = this.shared.get(key) as Shared<T> | undefined;
    if (!entry) {
      entry = { value: open(), refs: 0, close };
      this.shared.set(key, entry as Shared<unknown>);
    }
    entry.refs++;
    clearTimeout(entry.idleTimer);
    entry.idleTimer = undefined;
    const e = entry;
    let value: T;
    try {
      value = await e.value;
    } catch (err) {
      if (--e.refs === 0) this.shared.delete(key);
      throw err;
    }
    let released = false;
    return {
      value,
      release: () => {
        if (!released) {
          released = true;
          if (--e.refs === 0) this.closeWhenIdle(key, e as Shared<unknown>);
        }
        return Promise.resolve();
      },
    };
  }

  sourceMetadata(taskId: string, spec: TaskSpecWire): Promise<Borrowed<SourceMetadata>> {
    const etcd = spec.source?.etcd;
    return this.borrow(
      connectionKey('meta', etcd),
      () => {
        const client = etcdClient(etcd);
        return Promise.resolve({
          client,
          meta: createEtcdSourceMetadata({ client, rootPath: etcd?.root_path || 'by-dev' }),
        });
      },
      async ({ client, meta }) => {
        await meta.close();
        client.close();
      },
    ).then((b) => ({ value: b.value.meta, release: () => b.release() }));
  }

  /** The standby follower's source metadata, target side and source properties (one target of the spec). */
  async standby(taskId: string, spec: TaskSpecWire): Promise<Borrowed<StandbyResources>> {
    const etcd = spec.source?.etcd;
    const meta = await this.borrow(
      connectionKey('standby-meta', etcd),
      () => {
        const client = etcdClient(etcd);
        return Promise.resolve({
          client,
          meta: createEtcdStandbyMetadata({ client, rootPath: etcd?.root_path || 'by-dev' }),
        });
      },
      async ({ client, meta: m }) => {
        await m.close();
        client.close();
      },
    );
    const writer = await this.milvusWriter(taskId, spec).catch(async (err: unknown) => {
      await meta.release();
      throw err;
    });
    const rows = spec.source?.milvus?.uri
      ? await this.milvusSourceRows(taskId, spec).catch(() => undefined)
      : undefined;
    return {
      value: {
        metadata: meta.value.meta,
        target: writer.value.standby(),
        ...(rows === undefined ? {} : { sourceProperties: rows.value }),
      },
      release: async () => {
        await rows?.release();
        await writer.release();
        await meta.release();
      },
    };
  }

  targetWriter(taskId: string, spec: TaskSpecWire): Promise<Borrowed<TargetWriter>> {
    return this.milvusWriter(taskId, spec);
  }

  private milvusWriter(taskId: string, spec: TaskSpecWire): Promise<Borrowed<MilvusTargetWriter>> {
    const t = spec.target;
    return this.borrow<MilvusTargetWriter>(
      connectionKey('target', [endpointOptions(t), isReplicateMode(spec)]),
      () =>
        Promise.resolve(
          new MilvusTargetWriter({
            ...endpointOptions(t),
            replicateMode: isReplicateMode(spec),
            logger: this.log,
          }),
        ),
      (w) => w.close(),
    );
  }

  replicateTarget(taskId: string, spec: TaskSpecWire): Promise<Borrowed<ReplicateTarget>> {
    const t = spec.target;
    return this.borrow<ReplicateTarget>(
      connectionKey('replicate-target', endpointOptions(t)),
      () => Promise.resolve(new MilvusReplicateTarget({ ...endpointOptions(t), logger: this.log })),
      (r) => r.close(),
    );
  }

  /** The source server's rows (initial sync), shared by the task's copies in this process. */
  sourceRows(taskId: string, spec: TaskSpecWire): Promise<Borrowed<SourceRows>> {
    return this.milvusSourceRows(taskId, spec);
  }

  private milvusSourceRows(
    taskId: string,
    spec: TaskSpecWire,
  ): Promise<Borrowed<MilvusSourceRows>> {
    const m = spec.source?.milvus;
    if (!m?.uri) return Promise.reject(missingSourceMilvus());
    return this.borrow<MilvusSourceRows>(
      connectionKey('source-rows', endpointOptions(m)),
      () => Promise.resolve(new MilvusSourceRows({ ...endpointOptions(m), logger: this.log })),
      (r) => r.close(),
    );
  }

  sourceReader(spec: TaskSpecWire, channel: string): SourceReader {
    return createSourceReader(spec, channel, this.log, this.readerLimits);
  }

  dropBarrier(taskId: string, targetUri?: string): DropBarrier {
    const target = targetUri === undefined ? '' : `:fan-out:${encodeURIComponent(targetUri)}`;
    return new RedisDropBarrier(this.redis, `${taskKeyPrefix(this.queuePrefix, taskId)}${target}`);
  }
}
