/**
 * The source-side ceilings: the raw Kafka read rate of the bench collection's pchannels with the worker's own reader
 * (KafkaJS + zstd decompression, as the worker runs it), then decode + `insertToRows` of the same records alone.
 */
import { decodeKafkaMessageId, decodeMessage, insertToRows } from '@cdc/shared';
import { createKafkaSourceReaderFactory } from '../../services/worker/dist/adapters/kafka-source-reader.js';
import type { ChannelRecord } from '../../services/worker/dist/ports/source-reader.js';
import { connectKafka, topicHighWatermarks } from '../helpers/kafka.js';

export interface KafkaReadResult {
  readonly records: number;
  readonly bytes: number;
  readonly ms: number;
  /** Insert records of the bench collection, their bytes and rows. */
  readonly insertRecords: number;
  readonly insertBytes: number;
  readonly insertRows: number;
  readonly decodeMs: number;
  readonly toRowsMs: number;
}

/**
 * Reads every record of `channels` from `startMs` (broker time) up to the high watermark taken before the read, all
 * channels concurrently, one reader each. Records are kept for the decode pass.
 */
export async function kafkaReadCeiling(
  brokers: string[],
  channels: readonly string[],
  startMs: number,
  collectionId: bigint,
  timeoutMs: number,
): Promise<KafkaReadResult> {
  const kafka = connectKafka(brokers);
  const prefix = channels[0]?.replace(/_\d+$/, '') ?? '';
  const marks = await topicHighWatermarks(kafka, prefix);
  const factory = createKafkaSourceReaderFactory({ brokers, clientId: 'cdc-bench' });
  const kept: ChannelRecord[][] = [];
  const started = performance.now();
  const deadline = Date.now() + timeoutMs;
  await Promise.all(
    channels.map(async (channel) => {
      const end = marks.get(channel) ?? 0n;
      const reader = factory.create(channel);
      const out: ChannelRecord[] = [];
      kept.push(out);
      await reader.open({ kind: 'timestamp', unixMs: startMs });
      let idle = 0;
      try {
        for (;;) {
          const last = out[out.length - 1];
          if (last !== undefined && decodeKafkaMessageId(last.msgId) >= end - 1n) break;
          if (Date.now() > deadline) throw new Error(`kafka read of ${channel} timed out`);
          const batch = await reader.read(2_000, 500);
          for (const r of batch) out.push(r);
          idle = batch.length === 0 ? idle + 1 : 0;
          if (idle >= 4) break; // nothing after the start on this channel
        }
      } finally {
        await reader.close();
      }
    }),
  );
  const ms = performance.now() - started;
  let records = 0;
  let bytes = 0;
  let insertRecords = 0;
  let insertBytes = 0;
  let insertRows = 0;
  let decodeMs = 0;
  let toRowsMs = 0;
  for (const list of kept) {
    for (const r of list) {
      records++;
      bytes += r.value.byteLength;
      const t0 = performance.now();
      const m = decodeMessage(r.value, r.headers);
      decodeMs += performance.now() - t0;
      if (m.type !== 'Insert' || m.collectionId !== collectionId) continue;
      insertRecords++;
      insertBytes += r.value.byteLength;
      const t1 = performance.now();
      insertRows += insertToRows(m).length;
      toRowsMs += performance.now() - t1;
    }
  }
  return { records, bytes, ms, insertRecords, insertBytes, insertRows, decodeMs, toRowsMs };
}
