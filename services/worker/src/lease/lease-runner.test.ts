import { describe, expect, it, vi } from 'vitest';
import { CdcError, decodeKafkaMessageId, wholeMessagePosition } from '@cdc/shared';
import type { SourceMetadata } from '@cdc/shared';
import { channelWithoutTopic } from '../ports/source-reader.js';
import type { LeaseGrant, LeaseRef } from '../ports/worker-control.js';
import {
  FakeReplicateTarget,
  FakeDropBarrier,
  FakeSourceMetadata,
  FakeSourceReader,
  FakeTargetWriter,
  FakeWorkerControl,
  RecordLog,
  collectionInfo,
  insertMsg,
  msgBase,
  offsetId,
  silentLogger,
  timeTickMsg,
  waitFor,
} from '../testing/fakes.js';
import type { TargetWriter } from '../ports/target-writer.js';
import type { ReplicateTarget } from '../ports/replicate-target.js';
import type { TaskSpecWire } from '../task-spec.js';
import { leaseStartWire, positionWire, taskSpecWire } from '../testing/wire.js';
import type { Borrowed, LeaseFactories } from './lease-runner.js';
import { LeaseRunner } from './lease-runner.js';

const books = collectionInfo({
  id: 10n,
  name: 'books',
  physicalChannels: ['by-dev-rootcoord-dml_0'],
});

function grant(extra: Partial<LeaseGrant> = {}): LeaseGrant {
  return {
    epoch: '3',
    spec: taskSpecWire(),
    start: leaseStartWire({
      kind: 'START_KIND_EARLIEST',
      position: positionWire({ msg_id: Buffer.from(offsetId(4n)) }),
    }),
    reportIntervalMs: 60_000,
    writeValidityMs: 120_000,
    idleReportIntervalMs: 0,
    applyUntil: 0n,
    targetPositions: new Map(),
    ...extra,
  };
}

class Factories implements LeaseFactories {
  readonly readers: FakeSourceReader[] = [];
  released = { metadata: 0, writer: 0 };
  openFailures: Error[] = [];
  constructor(
    readonly metadata: FakeSourceMetadata,
    readonly writer: FakeTargetWriter,
    private readonly records: RecordLog,
    private readonly onDrained: () => void,
  ) {}
  sourceMetadata(): Promise<Borrowed<SourceMetadata>> {
    return Promise.resolve({
      value: this.metadata,
      release: () => {
        this.released.metadata++;
        return Promise.resolve();
      },
    });
  }
  /** Fan-out targets' writers, by URI; the main target (and any other URI) gets `writer`. */
  readonly fanOutWriters = new Map<string, FakeTargetWriter>();
  targetWriter(_taskId: string, spec: TaskSpecWire): Promise<Borrowed<TargetWriter>> {
    return Promise.resolve({
      value: this.fanOutWriters.get(spec.target?.uri ?? '') ?? this.writer,
      release: () => {
        this.released.writer++;
        return Promise.resolve();
      },
    });
  }
  readonly replicate = new FakeReplicateTarget();
  replicateTarget(): Promise<Borrowed<ReplicateTarget>> {
    return Promise.resolve({ value: this.replicate, release: () => Promise.resolve() });
  }
  sourceReader(): FakeSourceReader {
    const reader = new FakeSourceReader(this.records.records, this.onDrained);
    reader.failOpen = this.openFailures.shift();
    this.readers.push(reader);
    return reader;
  }
  dropBarrier(): FakeDropBarrier {
    return new FakeDropBarrier();
  }
}

function setup(channel: string, log: RecordLog, opts: { writer?: FakeTargetWriter } = {}) {
  const shutdown = new AbortController();
  const control = new FakeWorkerControl();
  control.grant = grant();
  const factories = new Factories(
    new FakeSourceMetadata(books),
    opts.writer ?? new FakeTargetWriter(),
    log,
    () => {
      shutdown.abort();
    },
  );
  const events: string[] = [];
  const runner = new LeaseRunner({
    control,
    factories,
    workerId: 'w1',
    log: silentLogger(),
    settings: { maxBatchRows: 100, readBatchSize: 10, objectWaitMs: 0 },
    hooks: {
      onLeaseStart: (l: LeaseRef) => events.push(`start ${l.epoch}`),
      onLeaseEnd: (_l: LeaseRef, reason: string) => events.push(`end ${reason}`),
    },
  });
  return {
    control,
    factories,
    events,
    shutdown,
    run: () => runner.run({ taskId: 't1', channel }, shutdown.signal),
  };
}

const DML = 'by-dev-rootcoord-dml_0';

describe('LeaseRunner', () => {
  it('refuses a lease the control plane does not grant', async () => {
    for (const code of ['NOT_FOUND', 'FAILED_PRECONDITION'] as const) {
      const h = setup(DML, new RecordLog(DML));
      h.control.grant = new CdcError(code, 'no', { retryable: false });
      expect(await h.run()).toBe('refused');
      expect(h.control.releases).toEqual([]);
      expect(h.events).toEqual([]);
    }
  });

  it('passes other acquisition errors on (after a pause cut short by shutdown)', async () => {
    const h = setup(DML, new RecordLog(DML));
    h.control.grant = new CdcError('UNAVAILABLE', 'control down', { retryable: true });
    h.shutdown.abort();
    await expect(h.run()).rejects.toMatchObject({ code: 'UNAVAILABLE' });
  });

  it('replicates a DML channel from the checkpoint, then reports, releases and closes everything', async () => {
    const log = new RecordLog(DML, 5n).add(
      insertMsg({ collectionId: 10n, ids: [1n], ts: 20n }),
      timeTickMsg(30n),
    );
    const h = setup(DML, log);
    expect(await h.run()).toBe('ended');

    const reader = h.factories.readers[0]!;
    expect(reader.opened).toEqual({ kind: 'after', msgId: offsetId(4n) });
    expect(reader.closed).toBe(true);
    expect(h.factories.writer.ops()).toEqual(['createDatabase', 'createCollection', 'upsert']);
    const last = h.control.reports[h.control.reports.length - 1]!;
    expect(last).toMatchObject({
      taskId: 't1',
      channel: DML,
      epoch: '3',
      workerId: 'w1',
      appliedRows: 1,
    });
    expect(decodeKafkaMessageId(last.position!.msgId)).toBe(6n);
    expect(last.position!.timestamp).toBe(30n);
    expect(h.control.releases).toEqual([{ taskId: 't1', channel: DML, epoch: '3' }]);
    expect(h.factories.released).toEqual({ metadata: 1, writer: 1 });
    expect(h.events).toEqual(['start 3', 'end worker shutting down']);
    expect(h.control.failures).toEqual([]);
  });

  it('keeps the lease confirmed while its connections take longer than the write validity to open', async () => {
    const log = new RecordLog(DML, 5n).add(
      insertMsg({ collectionId: 10n, ids: [1n], ts: 20n }),
      timeTickMsg(30n),
    );
    const h = setup(DML, log);
    h.control.grant = grant({ reportIntervalMs: 20, writeValidityMs: 150 });
    const open = h.factories.targetWriter.bind(h.factories);
    h.factories.targetWriter = async (taskId, spec) => {
      await new Promise((r) => setTimeout(r, 400));
      return open(taskId, spec);
    };
    expect(await h.run()).toBe('ended');
    expect(h.factories.writer.ops()).toContain('upsert');
    expect(h.events).toEqual(['start 3', 'end worker shutting down']);
  });

  it('fans one read out to every target, each from its own checkpoint, and reports each checkpoint', async () => {
    const log = new RecordLog(DML, 5n).add(
      insertMsg({ collectionId: 10n, ids: [1n], ts: 20n }), // 5
      timeTickMsg(25n), // 6
      insertMsg({ collectionId: 10n, ids: [2n], ts: 30n }), // 7
      timeTickMsg(40n), // 8
    );
    const h = setup(DML, log);
    const second = new FakeTargetWriter();
    h.factories.fanOutWriters.set('b:19530', second);
    h.control.grant = grant({
      spec: taskSpecWire({ target: { uri: 'a:19530' }, fan_out: [{ uri: 'b:19530' }] }),
      targetPositions: new Map([['b:19530', wholeMessagePosition(offsetId(6n), 25n)]]),
    });
    const ids = (w: FakeTargetWriter) =>
      w.callsOf('upsert').flatMap((args) => (args[2] as { id: unknown }[]).map((r) => r.id));
    // The shared read runs one batch ahead of the slowest target: stop once both targets applied everything.
    h.factories.sourceReader = () => {
      const r = new FakeSourceReader(log.records, () => {
        void waitFor(() => ids(h.factories.writer).length === 2 && ids(second).length === 1).then(
          () => {
            h.shutdown.abort();
          },
        );
      });
      h.factories.readers.push(r);
      return r;
    };
    let read = 0;
    const runner = new LeaseRunner({
      control: h.control,
      factories: h.factories,
      workerId: 'w1',
      log: silentLogger(),
      settings: { maxBatchRows: 100, readBatchSize: 10, objectWaitMs: 0 },
      hooks: { onRecordsRead: (_l, n) => (read += n) },
    });
    expect(await runner.run({ taskId: 't1', channel: DML }, h.shutdown.signal)).toBe('ended');

    expect(h.factories.readers).toHaveLength(1);
    expect(read).toBe(4);
    expect(ids(h.factories.writer)).toEqual(['1', '2']);
    expect(ids(second)).toEqual(['2']);
    const last = h.control.reports.at(-1)!;
    expect(decodeKafkaMessageId(last.position!.msgId)).toBe(8n);
    const fanOut = h.control.reports.flatMap((r) => [
      ...(r.fanOutPositions ?? new Map<string, never>()),
    ]);
    expect(
      fanOut.map(([uri, p]) => [uri, decodeKafkaMessageId(p.msgId), p.timestamp]),
    ).toContainEqual(['b:19530', 8n, 40n]);
  });

  it('runs the replicate channel with the replicate-channel replicator', async () => {
    const channel = 'by-dev-replicate-msg';
    const log = new RecordLog(channel).add({
      type: 'CreateDatabase',
      base: msgBase(9n),
      dbName: 'media',
      properties: [],
    });
    const h = setup(channel, log);
    await h.run();
    expect(h.factories.writer.callsOf('createDatabase')).toEqual([['media', []]]);
    expect(decodeKafkaMessageId(h.control.reports.at(-1)!.position!.msgId)).toBe(0n);
  });

  it('ends the lease when the control plane says so', async () => {
    const log = new RecordLog(DML);
    const h = setup(DML, log);
    // never drains into a shutdown: only the control plane can end this lease
    h.factories.sourceReader = () => {
      const r = new FakeSourceReader([]);
      h.factories.readers.push(r);
      return r;
    };
    h.control.answers = [{ keepLease: false, reason: 'task paused' }];
    expect(await h.run()).toBe('ended');
    expect(h.events).toEqual(['start 3', 'end task paused']);
    expect(h.control.releases).toHaveLength(1);
    expect(h.factories.readers[0]!.closed).toBe(true);
  });

  it('waits for a channel whose topic does not exist yet, closing each failed reader', async () => {
    const log = new RecordLog(DML).add(timeTickMsg(30n));
    const h = setup(DML, log);
    h.factories.openFailures = [
      new CdcError('SOURCE_UNAVAILABLE', 'no topic', { retryable: true }),
    ];
    expect(await h.run()).toBe('ended');
    expect(h.factories.readers).toHaveLength(2);
    expect(h.factories.readers.map((r) => r.closed)).toEqual([true, true]);
    expect(h.control.reports.at(-1)?.position?.timestamp).toBe(30n);
  });

  it('reports a channel whose topic does not exist yet as caught up while it waits (nothing was written to it)', async () => {
    const log = new RecordLog(DML).add(timeTickMsg(30n));
    const h = setup(DML, log);
    h.factories.openFailures = [1, 2, 3].map(() => channelWithoutTopic(DML));
    h.control.grant = grant({ reportIntervalMs: 20 });
    const run = h.run();
    // A report while the topic is still missing (the fourth open is the one that finds it).
    await vi.waitFor(
      () => {
        expect(h.factories.readers.length).toBeLessThan(4);
        expect(h.control.reports.some((r) => r.caughtUp && r.position === undefined)).toBe(true);
      },
      { timeout: 3000, interval: 20 },
    );
    expect(await run).toBe('ended');
    expect(h.control.reports.at(-1)?.position?.timestamp).toBe(30n);
  });

  it('stops waiting for a missing topic when a report answer brings a pause, and reports the channel paused', async () => {
    const h = setup(DML, new RecordLog(DML));
    h.factories.openFailures = Array.from({ length: 100 }, () => channelWithoutTopic(DML));
    h.control.grant = grant({ reportIntervalMs: 20 });
    h.control.answers = [
      { keepLease: true, reason: '' },
      { keepLease: true, reason: '', pause: { timestamp: 45n, immediate: false } },
    ];
    expect(await h.run()).toBe('ended');
    expect(h.control.reports.at(-1)?.pauseReached).toBe(45n);
    // Well before the 100 looks the backoff would take (minutes): the answer ended the wait.
    expect(h.factories.readers.length).toBeLessThan(10);
  });

  it('waits for a missing topic where the reader watches for it, opening once more only when it appeared', async () => {
    const log = new RecordLog(DML).add(timeTickMsg(30n));
    const h = setup(DML, log);
    let appear: () => void = () => undefined;
    const appeared = new Promise<void>((resolve) => (appear = resolve));
    h.factories.openFailures = [channelWithoutTopic(DML, () => appeared)];
    h.control.grant = grant({ reportIntervalMs: 20 });
    const run = h.run();
    await vi.waitFor(
      () => {
        expect(h.control.reports.some((r) => r.caughtUp && r.position === undefined)).toBe(true);
      },
      { timeout: 3000, interval: 20 },
    );
    // Well past the first backoff (200 ms): still one reader, waiting on the watch.
    await new Promise((r) => setTimeout(r, 400));
    expect(h.factories.readers).toHaveLength(1);
    appear();
    expect(await run).toBe('ended');
    expect(h.factories.readers).toHaveLength(2);
    expect(h.control.reports.at(-1)?.position?.timestamp).toBe(30n);
  });

  it('stops watching for a missing topic when a report answer brings a pause', async () => {
    const h = setup(DML, new RecordLog(DML));
    const never = (signal: AbortSignal): Promise<void> =>
      new Promise((_, reject) => {
        signal.addEventListener('abort', () => {
          reject(new Error('aborted'));
        });
      });
    h.factories.openFailures = [channelWithoutTopic(DML, never)];
    h.control.grant = grant({ reportIntervalMs: 20 });
    h.control.answers = [
      { keepLease: true, reason: '' },
      { keepLease: true, reason: '', pause: { timestamp: 45n, immediate: false } },
    ];
    expect(await h.run()).toBe('ended');
    expect(h.control.reports.at(-1)?.pauseReached).toBe(45n);
    expect(h.factories.readers).toHaveLength(1);
  });

  it('pauses the task with the reason on an error a person must act on', async () => {
    const log = new RecordLog(DML).add(
      insertMsg({ collectionId: 10n, ids: [1n], ts: 20n }),
      timeTickMsg(30n),
    );
    const writer = new FakeTargetWriter().failWith(
      'upsert',
      () => new CdcError('SCHEMA_MISMATCH', 'vec dim differs', { retryable: false }),
    );
    const h = setup(DML, log, { writer });
    expect(await h.run()).toBe('ended');
    expect(h.control.failures).toEqual([
      {
        lease: { taskId: 't1', channel: DML, epoch: '3' },
        reason: 'vec dim differs',
        needsPerson: true,
      },
    ]);
    expect(h.control.reports.every((r) => r.position === undefined)).toBe(true);
    expect(h.control.releases).toHaveLength(1);
    expect(h.events).toEqual(['start 3', 'end vec dim differs']);
  });

  it('reports other failures as not needing a person', async () => {
    const log = new RecordLog(DML).add(
      insertMsg({ collectionId: 10n, ids: [1n], ts: 20n }),
      timeTickMsg(30n),
    );
    const writer = new FakeTargetWriter().failWith('upsert', () => new Error('bug'));
    const h = setup(DML, log, { writer });
    await h.run();
    expect(h.control.failures.map((f) => [f.reason, f.needsPerson])).toEqual([['bug', false]]);
  });
});
