import { afterEach, describe, expect, it, vi } from 'vitest';
import { Metadata } from '@grpc/grpc-js';
import type { ResStatus } from '@zilliz/milvus2-sdk-node';
import { CdcError } from '@cdc/shared';
import { collectionInfo, silentLogger } from '../testing/fakes.js';
import { TargetMilvusClient } from './milvus-client.js';
import { MilvusTargetWriter } from './milvus-target-writer.js';

/**
 * A slow target, as the SDK reports it: a create that timed out took effect, its replay is refused as "already
 * exists", and the look that would tell a replay from a conflict times out too. The writer must say "retry", never
 * "refused" (a refused DDL is quarantined: a replica once lost an index, then its load, this way).
 */

const target = { db: 'd', collection: 'c' };
const status = (error_code: string, code: number, reason: string): ResStatus => ({
  error_code,
  code,
  reason,
  retriable: false,
  detail: '',
  extra_info: {},
});
const refused = (reason: string) => status('UnexpectedError', 65535, reason);
const ok = status('Success', 0, '');
const deadline = () =>
  Object.assign(new Error('4 DEADLINE_EXCEEDED: Deadline exceeded'), {
    code: 4,
    details: 'Deadline exceeded',
    metadata: new Metadata(),
  });

function writer(): MilvusTargetWriter {
  vi.spyOn(TargetMilvusClient.prototype, 'ensureConnected').mockResolvedValue();
  return new MilvusTargetWriter({ address: '127.0.0.1:1', logger: silentLogger() });
}

async function failureOf(p: Promise<unknown>): Promise<CdcError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(CdcError);
  return err as CdcError;
}

afterEach(() => {
  vi.restoreAllMocks();
});

describe('MilvusTargetWriter on a slow target', () => {
  it('createDatabase: a refused replay whose look times out is retryable', async () => {
    const w = writer();
    vi.spyOn(TargetMilvusClient.prototype, 'createDatabase').mockResolvedValue(
      refused('database already exist: d'),
    );
    const list = vi.spyOn(TargetMilvusClient.prototype, 'listDatabases');
    list.mockRejectedValueOnce(deadline());
    const err = await failureOf(w.createDatabase('d', []));
    expect(err.code).toBe('SINK_UNAVAILABLE');
    expect(err.retryable).toBe(true);

    // Once the look answers, it decides: there is the database (a replay) …
    list.mockResolvedValueOnce({ status: ok, db_names: ['default', 'd'] } as never);
    await expect(w.createDatabase('d', [])).resolves.toBeUndefined();
    // … or there is none (a real refusal).
    list.mockResolvedValueOnce({ status: ok, db_names: ['default'] } as never);
    const refusal = await failureOf(w.createDatabase('d', []));
    expect(refusal.code).toBe('SINK_REJECTED');
    await w.close();
  });

  it('createIndex: a refused replay whose look times out is retryable', async () => {
    const w = writer();
    vi.spyOn(TargetMilvusClient.prototype, 'createIndex').mockResolvedValue(
      refused('at most one distinct index is allowed per field'),
    );
    vi.spyOn(TargetMilvusClient.prototype, 'describeIndex').mockRejectedValueOnce(deadline());
    const err = await failureOf(w.createIndex(target, 'v', 'v_idx', []));
    expect(err.code).toBe('SINK_UNAVAILABLE');
    expect(err.retryable).toBe(true);
    await w.close();
  });

  it('createPartition: a refused replay whose look times out is retryable', async () => {
    const w = writer();
    vi.spyOn(TargetMilvusClient.prototype, 'createPartition').mockResolvedValue(
      refused('partition already exists: p'),
    );
    vi.spyOn(TargetMilvusClient.prototype, 'hasPartition').mockRejectedValueOnce(deadline());
    const err = await failureOf(w.createPartition(target, 'p'));
    expect(err.code).toBe('SINK_UNAVAILABLE');
    expect(err.retryable).toBe(true);
    await w.close();
  });
});

describe('MilvusTargetWriter shared by the channel leases of a new collection', () => {
  it('concurrent creates of one database and one collection make one set of round trips', async () => {
    const w = writer();
    const createDb = vi.spyOn(TargetMilvusClient.prototype, 'createDatabase').mockResolvedValue(ok);
    const describe = vi
      .spyOn(TargetMilvusClient.prototype, 'describeCollection')
      .mockResolvedValue({
        status: status('CollectionNotExists', 100, 'collection not found'),
      } as never);
    const create = vi.spyOn(TargetMilvusClient.prototype, 'createCollection').mockResolvedValue(ok);
    const info = collectionInfo({ id: 7n, name: 'c' });
    const spec = {
      ...target,
      sourceCollectionId: '7',
      schema: info.schema,
      shardsNum: 4,
      consistencyLevel: info.consistencyLevel,
      properties: [],
      partitions: [],
    };
    const channels = [0, 1, 2, 3];
    await Promise.all(channels.map(() => w.createDatabase('d', [])));
    await Promise.all(channels.map(() => w.createCollection(spec)));
    expect(createDb).toHaveBeenCalledTimes(1);
    expect(describe).toHaveBeenCalledTimes(1);
    expect(create).toHaveBeenCalledTimes(1);
    // Once settled, nothing is remembered: a later create looks at the target again.
    await w.createCollection(spec);
    expect(describe).toHaveBeenCalledTimes(2);
    await w.close();
  });
});

describe('MilvusTargetWriter loading a collection', () => {
  it('asks the target to load and returns without waiting for the segments', async () => {
    // The SDK's loadCollection polls the loading progress until 100%: a big collection, or a target without the
    // memory for it, would hold every later op of the replicate channel for as long.
    const w = writer();
    const load = vi
      .spyOn(TargetMilvusClient.prototype, 'loadCollectionAsync')
      .mockResolvedValue(ok);
    const progress = vi
      .spyOn(TargetMilvusClient.prototype, 'getLoadingProgress')
      .mockResolvedValue({ status: ok, progress: '0' });
    await w.loadCollection(target, 2);
    expect(load).toHaveBeenCalledTimes(1);
    expect(load.mock.calls[0]?.[0]).toMatchObject({
      db_name: 'd',
      collection_name: 'c',
      replica_number: 2,
    });
    expect(progress).not.toHaveBeenCalled();
    await w.close();
  });

  it('a refusal the target may lift (not enough resources yet) is retryable, not a rejection', async () => {
    const w = writer();
    vi.spyOn(TargetMilvusClient.prototype, 'loadCollectionAsync').mockResolvedValue(
      status('UnexpectedError', 12, 'resource insufficient: no enough memory to load'),
    );
    const err = await failureOf(w.loadCollection(target, 1));
    expect(err.code).toBe('SINK_UNAVAILABLE');
    await w.close();
  });
});

describe('MilvusTargetWriter dropping a partition', () => {
  const loaded = status(
    'UnexpectedError',
    1100,
    'partition cannot be dropped, partition is loaded, please release it first',
  );

  // Regression: the replicate channel's load of the collection landed between the DML channel's release and drop, and
  // the refused drop failed the lease.
  it('releases again and retries when a load raced in between the release and the drop', async () => {
    const w = writer();
    const drop = vi.spyOn(TargetMilvusClient.prototype, 'dropPartition');
    drop.mockResolvedValueOnce(loaded).mockResolvedValueOnce(ok);
    const release = vi
      .spyOn(TargetMilvusClient.prototype, 'releasePartitions')
      .mockResolvedValue(ok);
    await w.dropPartition(target, 'p');
    expect(drop).toHaveBeenCalledTimes(2);
    expect(release).toHaveBeenCalledTimes(1);
    expect(release.mock.calls[0]?.[0]).toMatchObject({ partition_names: ['p'] });
    await w.close();
  });

  it('gives up after a few refusals, and does not retry other refusals', async () => {
    const w = writer();
    const drop = vi.spyOn(TargetMilvusClient.prototype, 'dropPartition').mockResolvedValue(loaded);
    vi.spyOn(TargetMilvusClient.prototype, 'releasePartitions').mockResolvedValue(ok);
    expect((await failureOf(w.dropPartition(target, 'p'))).code).toBe('SINK_REJECTED');
    expect(drop).toHaveBeenCalledTimes(4);

    drop.mockClear();
    drop.mockResolvedValue(refused('some other refusal'));
    await failureOf(w.dropPartition(target, 'p'));
    expect(drop).toHaveBeenCalledTimes(1);
    await w.close();
  });
});
