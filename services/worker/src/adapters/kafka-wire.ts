/**
 * Partition 0 of Kafka topics read by offset, without a consumer group: KafkaJS consumes only through a group
 * (JoinGroup, SyncGroup, heartbeats: seconds before the first record, and one long-poll per consumer), so readers use
 * its cluster layer directly: metadata, ListOffsets and Fetch on the partition leader, over the one connection per
 * broker the cluster keeps. Fetch responses are decoded by KafkaJS's own record-batch decoder, so the zstd codec
 * (kafka-zstd-codec.ts) and its caps apply exactly as they did to the consumer.
 *
 * KafkaJS (pinned) does not export its cluster; the client creates one per consumer/admin through a private method,
 * which is what `kafkaWireOf` calls. The shapes used are declared below (kafkajs/src/cluster, kafkajs/src/broker).
 */
import type { IHeaders, Kafka } from 'kafkajs';

/** A record as KafkaJS's record-batch decoder returns it. */
export interface WireMessage {
  readonly offset: string;
  readonly timestamp: string;
  readonly headers?: IHeaders;
  readonly value: Buffer | null;
  readonly isControlRecord?: boolean;
}

export type FetchOutcome =
  | {
      readonly kind: 'records';
      readonly topic: string;
      readonly messages: readonly WireMessage[];
      /** The broker's end of the partition when it answered (the offset its next record will get). */
      readonly highWatermark?: bigint;
    }
  /** The broker has no record at the requested offset (deleted by retention, or beyond the end). */
  | { readonly kind: 'out-of-range'; readonly topic: string };

export interface FetchPart {
  readonly topic: string;
  readonly offset: bigint;
  /** Compressed bytes asked for this partition; absent: the fetch's `partitionMaxBytes`. */
  readonly maxBytes?: number;
}

/** What readers need from the brokers. Errors are KafkaJS's; callers classify them. */
export interface KafkaWire {
  connect(): Promise<void>;
  /** Metadata for the topic without creating it; false when the broker does not know it. */
  topicExists(topic: string): Promise<boolean>;
  /** Partition 0: first retained offset and the next offset to be written. */
  watermarks(topic: string): Promise<{ low: bigint; high: bigint }>;
  /** Partition 0: first offset whose timestamp is ≥ `unixMs`; undefined when there is none. */
  offsetAtTime(topic: string, unixMs: number): Promise<bigint | undefined>;
  /** One Fetch per leader for partition 0 of each part; resolves with what each returned. */
  fetch(
    parts: readonly FetchPart[],
    opts: {
      readonly maxWaitMs: number;
      readonly partitionMaxBytes: number;
      /** Bytes the broker waits for (up to `maxWaitMs`) before it answers; absent: 1. */
      readonly minBytes?: number;
    },
  ): Promise<FetchOutcome[]>;
  /** After a failed fetch: leaders may have moved. */
  refreshMetadata(): Promise<void>;
  disconnect(): Promise<void>;
}

interface KafkaJsBroker {
  fetch(request: {
    isolationLevel?: number;
    maxWaitTime: number;
    minBytes: number;
    maxBytes: number;
    topics: {
      topic: string;
      partitions: { partition: number; fetchOffset: string; maxBytes: number }[];
    }[];
  }): Promise<{
    responses: {
      topicName: string;
      partitions: {
        partition: number;
        highWatermark?: string;
        lastStableOffset?: string;
        messages: WireMessage[];
      }[];
    }[];
  }>;
}

interface KafkaJsCluster {
  connect(): Promise<void>;
  disconnect(): Promise<void>;
  refreshMetadata(): Promise<void>;
  addTargetTopic(topic: string): Promise<void>;
  metadata(o: { topics: string[] }): Promise<{
    topicMetadata: { topic: string; topicErrorCode: number; partitionMetadata: unknown[] }[];
  }>;
  findLeaderForPartitions(topic: string, partitions: number[]): Record<string, number[]>;
  findBroker(o: { nodeId: string }): Promise<KafkaJsBroker>;
  fetchTopicsOffset(
    topics: {
      topic: string;
      partitions: { partition: number }[];
      fromBeginning?: boolean;
      fromTimestamp?: number;
    }[],
  ): Promise<{ topic: string; partitions: { partition: number; offset: string }[] }[]>;
}

const PARTITION = 0;
/** READ_COMMITTED, as KafkaJS consumers fetch (Milvus writes no transactions). */
const READ_COMMITTED = 1;

function createCluster(kafka: Kafka): KafkaJsCluster {
  const key = Object.getOwnPropertySymbols(kafka).find(
    (s) => s.description === 'private:Kafka:createCluster',
  );
  const create: unknown = key === undefined ? undefined : Reflect.get(kafka, key);
  if (typeof create !== 'function')
    throw new Error('this KafkaJS version has no cluster factory (kafkajs is pinned to 2.2.4)');
  return (create as (o: Record<string, unknown>) => KafkaJsCluster)({
    allowAutoTopicCreation: false,
    isolationLevel: READ_COMMITTED,
    metadataMaxAge: 300_000,
  });
}

export function kafkaWireOf(kafka: Kafka): KafkaWire {
  const cluster = createCluster(kafka);
  const offset = async (
    topic: string,
    at: { fromBeginning?: boolean; fromTimestamp?: number },
  ): Promise<bigint> => {
    await cluster.addTargetTopic(topic);
    const found = await cluster.fetchTopicsOffset([
      { topic, partitions: [{ partition: PARTITION }], ...at },
    ]);
    const p0 = found
      .find((t) => t.topic === topic)
      ?.partitions.find((p) => p.partition === PARTITION);
    if (p0 === undefined) throw new Error(`no partition ${PARTITION} in topic ${topic}`);
    return BigInt(p0.offset);
  };
  return {
    connect: () => cluster.connect(),
    disconnect: () => cluster.disconnect(),
    refreshMetadata: () => cluster.refreshMetadata(),
    async topicExists(topic) {
      try {
        const m = await cluster.metadata({ topics: [topic] });
        return m.topicMetadata.some((t) => t.topic === topic && t.topicErrorCode === 0);
      } catch (err) {
        if ((err as { type?: string }).type === 'UNKNOWN_TOPIC_OR_PARTITION') return false;
        throw err;
      }
    },
    async watermarks(topic) {
      const [low, high] = await Promise.all([
        offset(topic, { fromBeginning: true }),
        offset(topic, { fromBeginning: false }),
      ]);
      return { low, high };
    },
    async offsetAtTime(topic, unixMs) {
      const found = await offset(topic, { fromTimestamp: unixMs });
      return found < 0n ? undefined : found;
    },
    async fetch(parts, opts) {
      const byLeader = new Map<string, FetchPart[]>();
      for (const part of parts) {
        const leaders = cluster.findLeaderForPartitions(part.topic, [PARTITION]);
        const nodeId = Object.keys(leaders)[0];
        if (nodeId === undefined) throw new Error(`no leader for ${part.topic}`);
        byLeader.set(nodeId, [...(byLeader.get(nodeId) ?? []), part]);
      }
      const out: FetchOutcome[] = [];
      await Promise.all(
        [...byLeader].map(async ([nodeId, list]) => {
          const broker = await cluster.findBroker({ nodeId });
          try {
            const res = await broker.fetch({
              isolationLevel: READ_COMMITTED,
              maxWaitTime: opts.maxWaitMs,
              minBytes: opts.minBytes ?? 1,
              maxBytes: list.reduce((sum, p) => sum + (p.maxBytes ?? opts.partitionMaxBytes), 0),
              topics: list.map((p) => ({
                topic: p.topic,
                partitions: [
                  {
                    partition: PARTITION,
                    fetchOffset: p.offset.toString(),
                    maxBytes: p.maxBytes ?? opts.partitionMaxBytes,
                  },
                ],
              })),
            });
            for (const r of res.responses)
              for (const p of r.partitions)
                if (p.partition === PARTITION)
                  out.push({
                    kind: 'records',
                    topic: r.topicName,
                    messages: p.messages,
                    ...readableEnd(p),
                  });
          } catch (err) {
            // KafkaJS fails the whole response for the first partition in error; only this error names its topic.
            const e = err as { name?: string; topic?: string };
            if (e.name === 'KafkaJSOffsetOutOfRange' && e.topic !== undefined) {
              out.push({ kind: 'out-of-range', topic: e.topic });
              return;
            }
            throw err;
          }
        }),
      );
      return out;
    },
  };
}

/**
 * Where a read-committed consumer's records end: the last stable offset (below an open transaction), or the high
 * watermark from brokers that do not send one.
 */
function readableEnd(p: { highWatermark?: string; lastStableOffset?: string }): {
  highWatermark?: bigint;
} {
  const stable = p.lastStableOffset === undefined ? -1n : BigInt(p.lastStableOffset);
  if (stable >= 0n) return { highWatermark: stable };
  return p.highWatermark === undefined ? {} : { highWatermark: BigInt(p.highWatermark) };
}
