import { CdcError, errorMessage, type Logger, type MilvusStatusLike } from '@cdc/shared';
import { promisify } from '@zilliz/milvus2-sdk-node';
import type { ForwardedFrom, ReplicateTarget, TargetLayout } from '../ports/replicate-target.js';
import type { TargetCollection } from '../ports/target-writer.js';
import { failure, MilvusCalls, nestedStatus } from './milvus-calls.js';
import {
  milvusClientConfig,
  schemaCacheKey,
  targetMilvusClient,
  type TargetMilvusClient,
  type MilvusEndpointOptions,
} from './milvus-client.js';

export interface MilvusReplicateTargetOptions extends MilvusEndpointOptions {
  /** Deadline of each RPC (default 30 s). */
  readonly timeoutMs?: number;
  readonly logger: Logger;
}

interface ReplicateMessageResponse {
  readonly status?: MilvusStatusLike;
  readonly position?: string;
}

/** What Milvus answers when the target was not started with `common.ttMsgEnabled=false`. */
const NORMAL_INSTANCE = /deny to use the replicate message in the normal instance/i;

/**
 * `ReplicateTarget` over the SDK: the SDK has no wrapper for `MilvusService.ReplicateMessage`, so the call goes
 * through its exported `promisify` on the client's channel pool, with the request in proto field names.
 */
export class MilvusReplicateTarget implements ReplicateTarget {
  private readonly client: TargetMilvusClient;
  private readonly calls: MilvusCalls;
  private readonly layouts = new Map<string, TargetLayout>();
  private readonly log: Logger;

  constructor(opts: MilvusReplicateTargetOptions) {
    this.client = targetMilvusClient(milvusClientConfig(opts));
    this.calls = new MilvusCalls(this.client, opts.timeoutMs ?? 30_000);
    this.log = opts.logger.child({ component: 'milvus-replicate-target' });
  }

  async layout(target: TargetCollection, fresh = false): Promise<TargetLayout> {
    const key = schemaCacheKey(target.db, target.collection);
    const cached = fresh ? undefined : this.layouts.get(key);
    if (cached !== undefined) return cached;
    const where = { ...target };
    const described = await this.calls.must(
      'describing target collection',
      where,
      () => this.client.describeCollection({ ...this.calls.req(target), cache: false }),
      nestedStatus,
    );
    const partitions = await this.calls.must(
      'listing target partitions',
      where,
      () => this.client.showPartitions(this.calls.req(target)),
      nestedStatus,
    );
    const ids = partitions?.partitionIDs ?? [];
    const layout: TargetLayout = {
      collectionId: BigInt(described?.collectionID ?? '0'),
      virtualChannels: described?.virtual_channel_names ?? [],
      physicalChannels: described?.physical_channel_names ?? [],
      partitionIds: new Map(
        (partitions?.partition_names ?? []).map((name, i) => [name, BigInt(String(ids[i] ?? -1))]),
      ),
    };
    this.layouts.set(key, layout);
    return layout;
  }

  forget(target: TargetCollection): void {
    this.layouts.delete(schemaCacheKey(target.db, target.collection));
  }

  async append(
    pchannel: string,
    messages: readonly Uint8Array[],
    beginTs: bigint,
    endTs: bigint,
    from: ForwardedFrom,
  ): Promise<void> {
    const position = {
      channel_name: from.channel,
      msgID: Buffer.from(from.msgId),
      msgGroup: '',
      timestamp: from.timestamp.toString(),
    };
    const request = {
      base: { replicateInfo: { isReplicate: true } },
      channel_name: pchannel,
      BeginTs: beginTs.toString(),
      EndTs: endTs.toString(),
      Msgs: messages.map(unloggedBytes),
      StartPositions: [position],
      EndPositions: [position],
    };
    const o = await this.calls.attempt(
      () =>
        promisify(
          this.client.channelPool,
          'ReplicateMessage',
          request,
          this.calls.timeout,
        ) as Promise<ReplicateMessageResponse>,
      (res) => res.status,
    );
    if (o.cls.kind === 'ok') return;
    const detail = o.details['reason'];
    const reason = typeof detail === 'string' ? detail : errorMessage(o.cause ?? '');
    if (NORMAL_INSTANCE.test(reason)) {
      throw new CdcError(
        'FAILED_PRECONDITION',
        'the target refuses ReplicateMessage: replicate mode needs a target started with common.ttMsgEnabled=false',
        { retryable: false, details: { pchannel } },
      );
    }
    throw failure('replicating messages', o, { pchannel, messages: messages.length });
  }

  async close(): Promise<void> {
    this.calls.markClosed();
    try {
      await this.client.closeConnection();
    } catch (err) {
      this.log.debug({ err: String(err) }, 'closing the target connection failed');
    }
  }
}

/**
 * The message bytes as a Buffer whose JSON is its size. Why: the SDK's retry interceptor JSON-stringifies every
 * request before sending it (for a debug line, whatever the log level), and a Buffer's JSON is an array of its bytes:
 * for a call of 16 MiB that is most of replicate mode's CPU and a transient heap many times the call. The proto
 * encoding reads the bytes, not `toJSON`.
 */
function unloggedBytes(m: Uint8Array): Buffer {
  const b = Buffer.from(m.buffer, m.byteOffset, m.byteLength);
  Object.defineProperty(b, 'toJSON', { value: () => `<${b.byteLength} bytes>` });
  return b;
}
