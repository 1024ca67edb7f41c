import type { TargetCollection } from './target-writer.js';

/** Where a target collection's shards live, and its partition ids: what replicated messages must be rewritten to. */
export interface TargetLayout {
  readonly collectionId: bigint;
  /** vchannels in shard order (index = shard). */
  readonly virtualChannels: readonly string[];
  /** pchannels in shard order. */
  readonly physicalChannels: readonly string[];
  /** Partition name → id. */
  readonly partitionIds: ReadonlyMap<string, bigint>;
}

/** The source position a batch of forwarded messages came from (kept in the target's MsgPack for tracing). */
export interface ForwardedFrom {
  readonly channel: string;
  readonly msgId: Uint8Array;
  readonly timestamp: bigint;
}

/**
 * A target Milvus in replicate mode (`common.ttMsgEnabled=false`): raw msgstream messages are appended to its DML
 * pchannels through `ReplicateMessage`, keeping the source's ids and timestamps; its pchannels only advance with the
 * time ticks the caller appends.
 *
 * Errors are `CdcError`s classified like `TargetWriter`'s (`SINK_UNAVAILABLE` retryable, `SINK_REJECTED` not).
 */
export interface ReplicateTarget {
  /** Cached; `fresh` asks the target again (after a partition was created or the collection was re-created). */
  layout(target: TargetCollection, fresh?: boolean): Promise<TargetLayout>;
  forget(target: TargetCollection): void;
  /** Appends `messages` (marshaled TsMsgs, ticks included) to `pchannel` as one MsgPack [beginTs, endTs]. */
  append(
    pchannel: string,
    messages: readonly Uint8Array[],
    beginTs: bigint,
    endTs: bigint,
    from: ForwardedFrom,
  ): Promise<void>;
  close(): Promise<void>;
}
