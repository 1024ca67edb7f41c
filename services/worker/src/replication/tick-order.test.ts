import { describe, expect, it } from 'vitest';
import { decodeKafkaMessageId, composeTs } from '@cdc/shared';
import type { CollectionInfo, Row } from '@cdc/shared';
import { books } from '../testing/dml-replicator.js';
import {
  FakeDropBarrier,
  FakeLeaseProgress,
  FakeSourceMetadata,
  FakeSourceReader,
  FakeTargetWriter,
  RecordLog,
  collectionInfo,
  createCollectionMsg,
  insertMsg,
  offsetId,
  silentLogger,
  timeTickMsg,
} from '../testing/fakes.js';
import { CollectionCatalog } from './collection-catalog.js';
import { DmlChannelReplicator } from './dml-channel-replicator.js';
import { PackBuffer } from './pack-buffer.js';
import { TaskScope } from './task-scope.js';

/** Hostile records on a DML channel: out of tick order, out of scope, refused by the reader. */

const T0 = 1_700_000_000_000;
const at = (ms: number): bigint => composeTs(T0 + ms);
const other = collectionInfo({ id: 20n, name: 'other', physicalChannels: ['dml_0'] });

async function replicate(
  log: RecordLog,
  infos: CollectionInfo[],
  scope?: TaskScope,
  metadata = new FakeSourceMetadata(...infos),
) {
  const lease = new AbortController();
  const writer = new FakeTargetWriter();
  const progress = new FakeLeaseProgress();
  const taskScope = scope ?? new TaskScope({ include: [], exclude: [] });
  const replicator = new DmlChannelReplicator({
    channel: log.channel,
    reader: new FakeSourceReader(log.records, () => {
      lease.abort(new Error('drained'));
    }),
    writer,
    catalog: new CollectionCatalog(metadata, taskScope, writer),
    barrier: new FakeDropBarrier(),
    progress,
    log: silentLogger(),
    maxBatchRows: 1000,
    readBatchSize: 5,
    scope: taskScope,
    maxClockLeadMs: 1_000,
    clockMs: () => T0 + 2_000, // the present: just after the log's last tick
  });
  await replicator.run(lease.signal);
  const upserted = writer.calls
    .filter((c) => c.op === 'upsert')
    .flatMap((c) => (c.args[2] as Row[]).map((r) => r['id']));
  return { progress, upserted };
}

const offsets = (p: FakeLeaseProgress): bigint[] =>
  p.checkpoints.map((c) => decodeKafkaMessageId(c.msgId));

describe('PackBuffer tick order', () => {
  const item = (ts: bigint) => ({
    message: insertMsg({ collectionId: 10n, ids: [1n], ts }),
    msgId: offsetId(0n),
    payload: new Uint8Array(0),
  });

  /** A buffer whose present (the worker's clock) is `nowMs` after T0. */
  const bufferAt = (nowMs: number) => new PackBuffer(1_000, () => T0 + nowMs);

  it('expires a message stamped beyond the present at the next tick', () => {
    const buf = bufferAt(0);
    buf.add(item(at(60_000)));
    const pack = buf.close(offsetId(1n), at(0));
    expect(pack.expired.map((e) => e.timestamp)).toEqual([at(60_000)]);
    expect(pack.expired[0]!.reason).toContain('60000 ms ahead');
    expect(pack.checkpointable).toBe(true);
  });

  it('carries a change while the ticks of a long outage catch up to it, then applies it', () => {
    // After a Kafka outage the source published the outage's ticks after a change stamped at its end: they advanced
    // 14 s of tick time before covering it, and a 10 s tick-time limit quarantined the change (fault suite).
    const buf = bufferAt(20_000);
    buf.add(item(at(14_009)));
    for (let ms = 0; ms <= 14_000; ms += 200) {
      const pack = buf.close(offsetId(BigInt(1 + ms / 200)), at(ms));
      expect(pack.expired).toEqual([]);
      expect(pack.changes).toEqual([]);
    }
    expect(buf.close(offsetId(100n), at(14_200)).changes).toHaveLength(1);
  });

  it('expires nothing while ticks stand still (a stalled proxy holds them back)', () => {
    const buf = bufferAt(600);
    buf.add(item(at(500)));
    for (let i = 0; i < 50; i++) expect(buf.close(offsetId(1n), at(0)).expired).toEqual([]);
  });

  it('keeps a message ahead of the worker clock by less than the bound, until a tick covers it', () => {
    const buf = bufferAt(0);
    buf.add(item(at(900)));
    expect(buf.close(offsetId(1n), at(0)).expired).toEqual([]);
    expect(buf.close(offsetId(2n), at(1_000)).changes).toHaveLength(1);
  });

  it('takes a source clock ahead of the worker’s from its ticks', () => {
    const buf = bufferAt(0);
    buf.add(item(at(5_500)));
    buf.add(item(at(7_000)));
    const pack = buf.close(offsetId(1n), at(5_000)); // the source's clock runs 5 s ahead
    expect(pack.expired.map((e) => e.timestamp)).toEqual([at(7_000)]);
    expect(buf.close(offsetId(2n), at(5_600)).changes).toHaveLength(1);
  });

  it('a message one tick ahead is applied with the next pack, not expired', () => {
    const buf = new PackBuffer(1_000);
    buf.add(item(at(250)));
    expect(buf.close(offsetId(1n), at(200)).changes).toHaveLength(0);
    expect(buf.close(offsetId(2n), at(400)).changes).toHaveLength(1);
  });
});

describe('DmlChannelReplicator with hostile records', () => {
  it('quarantines an insert timestamped beyond every later tick and keeps checkpointing', async () => {
    const log = new RecordLog();
    log.add(insertMsg({ collectionId: 10n, ids: [1n], ts: at(5) }));
    log.add(insertMsg({ collectionId: 10n, ids: [666n], ts: at(10_000_000) })); // offset 1
    for (let ms = 100; ms <= 2_000; ms += 100) log.add(timeTickMsg(at(ms)));
    log.add(insertMsg({ collectionId: 10n, ids: [2n], ts: at(2_050) }), timeTickMsg(at(2_100)));
    const { progress, upserted } = await replicate(log, [books]);
    expect(upserted).toEqual(['1', '2']);
    expect(progress.quarantined).toHaveLength(1);
    expect(decodeKafkaMessageId(progress.quarantined[0]!.msgId)).toBe(1n);
    expect(progress.quarantined[0]!.reason).toContain("Insert breaks the channel's tick order");
    // The first tick after it (offset 2) quarantines it: the checkpoint never stays behind it.
    expect(offsets(progress)[0]).toBe(2n);
    expect(offsets(progress).at(-1)).toBe(BigInt(log.records.length - 1));
  });

  it('applies a message older than a tick already passed with the next pack: a forged future tick loses nothing', async () => {
    const log = new RecordLog();
    log.add(timeTickMsg(at(100)), timeTickMsg(at(10_000_000))); // the second tick is forged, far ahead
    log.add(insertMsg({ collectionId: 10n, ids: [9n], ts: at(150) }), timeTickMsg(at(200)));
    const { progress, upserted } = await replicate(log, [books]);
    expect(upserted).toEqual(['9']);
    expect(progress.quarantined).toEqual([]);
  });

  it('drops an out-of-scope insert before buffering: its future timestamp holds nothing back', async () => {
    const log = new RecordLog();
    const outOfScope = { ...insertMsg({ collectionId: 20n, ids: [5n], ts: at(10_000_000) }) };
    log.add({ ...outOfScope, dbName: 'default', collectionName: 'other' });
    log.add(timeTickMsg(at(100)), insertMsg({ collectionId: 10n, ids: [1n], ts: at(150) }));
    log.add(timeTickMsg(at(200)));
    const scope = new TaskScope({
      include: [{ database: 'default', collection: 'books' }],
      exclude: [],
    });
    const { progress, upserted } = await replicate(log, [books, other], scope);
    expect(upserted).toEqual(['1']);
    expect(progress.quarantined).toEqual([]);
    expect(offsets(progress)).toEqual([1n, 3n]);
  });

  it('keeps an insert of a collection the source etcd does not show yet for its pack, beside its create', async () => {
    // Milvus saves a new collection in etcd after it broadcasts the create: resolving the insert ahead of the stream
    // found nothing, cached it, and skipped the collection for good (seen under load in replicate mode).
    const fresh = collectionInfo({ id: 30n, name: 'fresh', physicalChannels: ['dml_0'] });
    const metadata = new FakeSourceMetadata();
    // The first lookup (as the insert is read) finds nothing; once the create is applied, etcd shows it.
    metadata.getCollectionHook = (id, n) => (n > 1 && id === 30n ? fresh : undefined);
    const log = new RecordLog();
    log.add(timeTickMsg(at(100)), createCollectionMsg(fresh, at(110)));
    // Written through an alias: the name in the message is not one the scope names, so its id decides.
    log.add({
      ...insertMsg({ collectionId: 30n, ids: [7n], ts: at(120) }),
      dbName: 'default',
      collectionName: 'fresh_alias',
    });
    log.add(timeTickMsg(at(200)));
    const scope = new TaskScope({
      include: [{ database: 'default', collection: 'fresh' }],
      exclude: [],
    });
    const { upserted } = await replicate(log, [], scope, metadata);
    expect(upserted).toEqual(['7']);
  });

  it('quarantines a record the reader refused, with the reader’s reason', async () => {
    const log = new RecordLog();
    log.add(timeTickMsg(at(100)));
    log.records.push({
      channel: log.channel,
      msgId: offsetId(1n),
      value: new Uint8Array(0),
      headers: {},
      publishTimeMs: 0,
      rejected: 'record batch at offsets 1..1 refused: too big',
    });
    const { progress } = await replicate(log, [books]);
    expect(progress.quarantined.map((q) => q.reason)).toEqual([
      'record batch at offsets 1..1 refused: too big',
    ]);
  });
});
