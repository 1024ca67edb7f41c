import { describe, expect, it } from 'vitest';
import { CdcError, decodeKafkaMessageId, decodeMessage, encodeMessage } from '@cdc/shared';
import type { DeleteMessage, InsertMessage } from '@cdc/shared';
import type { TargetLayout } from '../ports/replicate-target.js';
import { books, booksReplicator } from '../testing/dml-replicator.js';
import {
  FakeLeaseProgress,
  FakeReplicateTarget,
  FakeSourceMetadata,
  FakeSourceReader,
  FakeTargetWriter,
  RecordLog,
  collectionInfo,
  createCollectionMsg,
  deleteMsg,
  insertMsg,
  silentLogger,
  sinkUnavailable,
  timeTickMsg,
} from '../testing/fakes.js';
import { TargetTicker } from './target-ticker.js';
import { TaskScope } from './task-scope.js';

const booksOnTarget: TargetLayout = {
  collectionId: 900n,
  virtualChannels: ['t-dml_7_900v0'],
  physicalChannels: ['t-dml_7'],
  partitionIds: new Map([
    ['_default', 901n],
    ['p1', 902n],
  ]),
};

async function replicateIn(log: RecordLog, replica: FakeReplicateTarget) {
  const writer = new FakeTargetWriter();
  const progress = new FakeLeaseProgress();
  const lease = new AbortController();
  const replicator = booksReplicator({
    channel: log.channel,
    reader: new FakeSourceReader(log.records, () => {
      lease.abort(new Error('drained'));
    }),
    writer,
    progress,
    readBatchSize: 3,
    replicateTarget: replica,
  });
  await replicator.run(lease.signal);
  return { writer, progress };
}

const decoded = (bytes: Uint8Array | undefined) => {
  if (bytes === undefined) throw new Error('no message');
  return decodeMessage(bytes, {}) as InsertMessage | DeleteMessage;
};

describe('replicate mode (DmlChannelReplicator with a ReplicateTarget)', () => {
  it('forwards inserts and deletes rewritten to the target ids and shard, keeping source ids and timestamps', async () => {
    const replica = new FakeReplicateTarget();
    replica.layouts.set('default.books', booksOnTarget);
    const log = new RecordLog('dml_0').add(
      createCollectionMsg(books, 10n),
      timeTickMsg(10n),
      insertMsg({ collectionId: 10n, ids: [1n, 2n], ts: 20n, partition: 'p1' }),
      deleteMsg({ collectionId: 10n, ids: [1n], ts: 30n }),
      timeTickMsg(40n),
    );
    const { writer, progress } = await replicateIn(log, replica);

    // DDL still goes through the API (created at the source's creation time); rows never do.
    expect(writer.ops()).toEqual(['createDatabase', 'createCollection', 'createPartition']);
    expect(writer.callsOf('createCollection')[0]?.[0]).toMatchObject({
      sourceCreateTimestamp: books.createTime,
    });
    expect(replica.appended).toHaveLength(1);
    const call = replica.appended[0]!;
    expect(call).toMatchObject({ pchannel: 't-dml_7', beginTs: 20n, endTs: 30n });
    const [insert, del] = call.messages.map(decoded);
    expect(insert).toMatchObject({
      type: 'Insert',
      collectionId: 900n,
      partitionId: 902n,
      shardName: 't-dml_7_900v0',
      collectionName: 'books',
      dbName: 'default',
      timestamps: [20n, 20n],
      rowIds: [1n, 2n],
    });
    expect(del).toMatchObject({
      type: 'Delete',
      collectionId: 900n,
      partitionId: -1n,
      shardName: 't-dml_7_900v0',
      timestamps: [30n],
    });
    expect(progress.checkpoints.map((c) => [decodeKafkaMessageId(c.msgId), c.timestamp])).toEqual([
      [1n, 10n],
      [4n, 40n],
    ]);
    expect(progress.rows).toBe(3);
  });

  it('forwards the columns as bytes, never decoding them (a column the full decoder refuses goes through as it was)', async () => {
    const replica = new FakeReplicateTarget();
    replica.layouts.set('default.books', booksOnTarget);
    // fields_data (13) holding a FieldData with wire type 7: well-formed at the top level, undecodable inside.
    const opaqueColumn = Uint8Array.from([0x6a, 3, 0x0f, 0xff, 0xff]);
    const insert = encodeMessage(insertMsg({ collectionId: 10n, ids: [5n], ts: 20n }));
    expect(() => decodeMessage(Buffer.concat([insert, opaqueColumn]))).toThrow(CdcError);
    const log = new RecordLog('dml_0')
      .add(createCollectionMsg(books, 10n), timeTickMsg(10n))
      .raw(Buffer.concat([insert, opaqueColumn]))
      .add(timeTickMsg(25n));
    const { progress } = await replicateIn(log, replica);
    expect(progress.quarantined).toEqual([]);
    const sent = replica.appended[0]?.messages[0];
    expect(Buffer.from(sent ?? []).subarray(-opaqueColumn.length)).toEqual(
      Buffer.from(opaqueColumn),
    );
    expect(decoded(sent?.subarray(0, -opaqueColumn.length))).toMatchObject({
      type: 'Insert',
      collectionId: 900n,
      partitionId: 901n,
      shardName: 't-dml_7_900v0',
      rowIds: [1n],
    });
    expect(progress.checkpoints.map((c) => c.timestamp)).toEqual([10n, 25n]);
  });

  it('quarantines an Insert whose header cannot be read, and keeps going', async () => {
    const replica = new FakeReplicateTarget();
    replica.layouts.set('default.books', booksOnTarget);
    const insert = encodeMessage(insertMsg({ collectionId: 10n, ids: [5n], ts: 20n }));
    const log = new RecordLog('dml_0')
      .raw(insert.subarray(0, insert.length - 1))
      .add(insertMsg({ collectionId: 10n, ids: [6n], ts: 21n }), timeTickMsg(25n));
    const { progress } = await replicateIn(log, replica);
    expect(progress.quarantined.map((q) => q.reason)).toEqual([
      expect.stringMatching(/^undecodable record: /),
    ]);
    expect(replica.appended.flatMap((a) => a.messages).map((m) => decoded(m).timestamps)).toEqual([
      [21n],
    ]);
    expect(progress.checkpoints.map((c) => c.timestamp)).toEqual([25n]);
  });

  it('retries a target that is down and checkpoints only after the messages were accepted', async () => {
    const replica = new FakeReplicateTarget();
    replica.layouts.set('default.books', booksOnTarget);
    replica.failures = [sinkUnavailable(), sinkUnavailable()];
    const log = new RecordLog('dml_0').add(
      insertMsg({ collectionId: 10n, ids: [5n], ts: 20n }),
      timeTickMsg(25n),
    );
    const { progress } = await replicateIn(log, replica);
    expect(replica.appended).toHaveLength(1);
    expect(progress.checkpoints.map((c) => c.timestamp)).toEqual([25n]);
  });

  it('sends a pack in halves when a ReplicateMessage call ran out of time', async () => {
    const replica = new FakeReplicateTarget();
    replica.layouts.set('default.books', booksOnTarget);
    replica.failures = [
      new CdcError('SINK_UNAVAILABLE', 'replicating messages: Deadline exceeded', {
        retryable: true,
        details: { grpcCode: 4 },
      }),
    ];
    const log = new RecordLog('dml_0').add(
      insertMsg({ collectionId: 10n, ids: [5n], ts: 20n }),
      insertMsg({ collectionId: 10n, ids: [6n], ts: 21n }),
      insertMsg({ collectionId: 10n, ids: [7n], ts: 22n }),
      timeTickMsg(25n),
    );
    const { progress } = await replicateIn(log, replica);
    expect(replica.appended.map((a) => a.messages.length)).toEqual([2, 1]);
    expect(progress.checkpoints.map((c) => c.timestamp)).toEqual([25n]);
  });

  it('quarantines a message for a shard the target collection does not have', async () => {
    const replica = new FakeReplicateTarget();
    replica.layouts.set('default.books', {
      ...booksOnTarget,
      virtualChannels: [],
      physicalChannels: [],
    });
    const log = new RecordLog('dml_0').add(
      insertMsg({ collectionId: 10n, ids: [5n], ts: 20n }),
      timeTickMsg(25n),
    );
    const { progress } = await replicateIn(log, replica);
    expect(replica.appended).toHaveLength(0);
    expect(progress.quarantined.map((q) => q.reason)).toEqual([
      expect.stringContaining('has no counterpart'),
    ]);
    expect(progress.checkpoints.map((c) => c.timestamp)).toEqual([25n]);
  });
});

describe('TargetTicker', () => {
  function ticker(replica: FakeReplicateTarget, progress: { replicateWatermark: bigint }) {
    return new TargetTicker({
      target: replica,
      progress,
      metadata: new FakeSourceMetadata(books, collectionInfo({ id: 11n, name: 'not_there' })),
      scope: new TaskScope({ include: [], exclude: [] }),
      channel: 'src-replicate-msg',
      log: silentLogger(),
    });
  }

  it('ticks every target pchannel of the task once per new watermark, never before the first one', async () => {
    const replica = new FakeReplicateTarget();
    replica.layouts.set('default.books', {
      ...booksOnTarget,
      physicalChannels: ['t-dml_7', 't-dml_8'],
    });
    const progress = { replicateWatermark: 0n };
    const t = ticker(replica, progress);

    await t.tickOnce();
    expect(replica.appended).toHaveLength(0);

    progress.replicateWatermark = 100n;
    await t.tickOnce();
    await t.tickOnce();
    progress.replicateWatermark = 150n;
    await t.tickOnce();

    expect(replica.appended.map((a) => [a.pchannel, a.beginTs, a.endTs])).toEqual([
      ['t-dml_7', 100n, 100n],
      ['t-dml_8', 100n, 100n],
      ['t-dml_7', 150n, 150n],
      ['t-dml_8', 150n, 150n],
    ]);
    const tick = decodeMessage(replica.appended[0]!.messages[0]!, {});
    expect(tick).toMatchObject({ type: 'TimeTick', base: { timestamp: 100n } });
  });
});
