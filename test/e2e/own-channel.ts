/**
 * Set-up shared by the e2e tests that write crafted records: a task reading channels of its own prefix, which no
 * Milvus consumes (the source's own consumers share the real topics and would act on crafted records), fed with
 * copies of what the source really wrote for a collection.
 */
import { DataType } from '@zilliz/milvus2-sdk-node';
import type { MilvusClient } from '@zilliz/milvus2-sdk-node';
import { kafkaSourceSpec } from '../helpers/stack.js';
import type { E2eHarness } from './harness.js';
import { env } from './harness.js';

export interface CollectionParams {
  readonly db_name: string;
  readonly collection_name: string;
}

/** The collection the crafted-record tests use: an Int64 primary key `id` and a 4-dim float vector `vec`. */
export async function createIdVecCollection(
  source: MilvusClient,
  coll: CollectionParams,
  shardsNum: number,
): Promise<void> {
  await source.createCollection({
    ...coll,
    shards_num: shardsNum,
    fields: [
      { name: 'id', data_type: DataType.Int64, is_primary_key: true },
      { name: 'vec', data_type: DataType.FloatVector, dim: 4 },
    ],
  });
}

/** A task on channels of `channelPrefix`, from their earliest record, replicating one collection to the target. */
export async function createOwnChannelTask(
  h: E2eHarness,
  taskId: string,
  channelPrefix: string,
  coll: CollectionParams,
): Promise<void> {
  await h.client!.call('CreateTask', {
    task_id: taskId,
    spec: {
      source: kafkaSourceSpec(env, channelPrefix),
      target: { uri: env.targetMilvusAddress },
      scope: { include: [{ database: coll.db_name, collection: coll.collection_name }] },
      start: { kind: 'START_KIND_EARLIEST' },
    },
  });
}

/** The source's DML topic prefix and its replicate (ops) topic. */
export const sourceDmlPrefix = `${env.sourceChannelPrefix}-rootcoord-dml_`;
export const sourceOpsTopic = `${env.sourceChannelPrefix}-replicate-msg`;

/** The topic of `channelPrefix` that stands for the source pchannel `pchannel`. */
export function ownChannel(pchannel: string, channelPrefix: string): string {
  if (!pchannel.startsWith(sourceDmlPrefix))
    throw new Error(`${pchannel} is not a DML channel of ${env.sourceChannelPrefix}`);
  return `${channelPrefix}-rootcoord-dml_${pchannel.slice(sourceDmlPrefix.length)}`;
}

/** A FLAT index on `vec`, then a load, waiting until the collection is loaded. */
export async function indexAndLoad(source: MilvusClient, coll: CollectionParams): Promise<void> {
  await source.createIndex({ ...coll, field_name: 'vec', index_type: 'FLAT', metric_type: 'L2' });
  await source.loadCollectionSync(coll);
}
