/**
 * The replication demo (`bash deploy/local/demo.sh`): starts the control service and a worker, creates a task through
 * the gRPC API, writes to the source Milvus (database, collection, inserts, an upsert, deletes, an index, a load), and
 * shows the target Milvus converge to exactly the same rows. Leaves the stack running; stops its own processes.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { DataType } from '@zilliz/milvus2-sdk-node';
import { CdcTestClient, waitForControl } from '../helpers/cdc-client.js';
import { compareCollection, isConverged, milvusClient } from '../helpers/milvus-compare.js';
import { WORKER_LAUNCHER, freePort, startNodeProcess } from '../helpers/processes.js';
import { kafkaSourceSpec, stackEnv } from '../helpers/stack.js';

const env = stackEnv();
const id = randomUUID().slice(0, 8);
const db = `demo_${id}`;
const collection = 'products';
const say = (line: string): void => {
  process.stdout.write(`${line}\n`);
};

/** Runs a source DDL call until it succeeds (or reports that an earlier attempt did), for at most 2 minutes. */
async function whenSourceReady(
  call: () => Promise<{ error_code?: string | number; reason?: string }>,
): Promise<void> {
  const deadline = Date.now() + 120_000;
  for (;;) {
    let reason: string;
    try {
      const status = await call();
      if (status.error_code === 'Success' || status.error_code === 0) return;
      reason = status.reason ?? String(status.error_code);
    } catch (err) {
      reason = (err as { reason?: string; message?: string }).reason ?? String(err);
    }
    if (/already exist/i.test(reason)) return;
    if (Date.now() > deadline) throw new Error(`source Milvus is not ready: ${reason}`);
    say(`source Milvus not ready yet (${reason}); retrying`);
    await new Promise((r) => setTimeout(r, 2_000));
  }
}

const port = await freePort();
const control = startNodeProcess('demo-control', 'services/control/dist/main.js', {
  CONTROL_GRPC_ADDRESS: `127.0.0.1:${port}`,
  CONTROL_ETCD_ENDPOINTS: env.etcdEndpoints.join(','),
  CONTROL_ETCD_ROOT: `cdc-demo-${id}/`,
  CDC_QUEUE_PREFIX: `cdc-demo-${id}`,
  CDC_REDIS_URL: env.redisUrl,
  CONTROL_SECRET_KEY: randomBytes(32).toString('base64'),
});
const worker = startNodeProcess('demo-worker', WORKER_LAUNCHER, {
  WORKER_CONTROL_ADDRESS: `127.0.0.1:${port}`,
  CDC_QUEUE_PREFIX: `cdc-demo-${id}`,
  CDC_REDIS_URL: env.redisUrl,
  WORKER_METRICS_PORT: String(await freePort()),
});
const cdc = new CdcTestClient(`127.0.0.1:${port}`);
const source = milvusClient(env.sourceMilvusAddress);
const target = milvusClient(env.targetMilvusAddress);

try {
  await waitForControl(cdc);
  say(
    `control service on 127.0.0.1:${port}, worker started (logs: ${control.logFile}, ${worker.logFile})`,
  );
  await cdc.call('CreateTask', {
    task_id: `demo-${id}`,
    spec: {
      source: kafkaSourceSpec(env),
      target: { uri: env.targetMilvusAddress, mode: 'TARGET_MODE_API' },
      scope: { include: [{ database: db, collection: '*' }] },
      start: { kind: 'START_KIND_LATEST' },
    },
  });
  say(`task demo-${id}: ${env.sourceMilvusAddress} (db ${db}) → ${env.targetMilvusAddress}`);

  // A Milvus that has just started passes its health check before its DDL path works (the first create can end with
  // "proxy TaskCondition context Done"), so the first two creates are retried for a while; "already exists" means an
  // earlier attempt went through.
  await whenSourceReady(() => source.createDatabase({ db_name: db }));
  await whenSourceReady(() =>
    source.createCollection({
      db_name: db,
      collection_name: collection,
      shards_num: 2,
      fields: [
        { name: 'sku', data_type: DataType.Int64, is_primary_key: true },
        { name: 'title', data_type: DataType.VarChar, max_length: 64 },
        { name: 'price', data_type: DataType.Double },
        { name: 'embedding', data_type: DataType.FloatVector, dim: 8 },
      ],
    }),
  );
  const rows = Array.from({ length: 2_000 }, (_, i) => ({
    sku: String(9_007_199_254_740_993n + BigInt(i)), // beyond 2^53: int64 keys must stay exact
    title: `product ${i}`,
    price: i * 1.25,
    embedding: Array.from({ length: 8 }, (_, d) => Math.sin(i + d)),
  }));
  for (let i = 0; i < rows.length; i += 500) {
    await source.insert({ db_name: db, collection_name: collection, data: rows.slice(i, i + 500) });
  }
  await source.upsert({
    db_name: db,
    collection_name: collection,
    data: [{ ...rows[7]!, title: 'product 7 (updated)' }],
  });
  await source.delete({
    db_name: db,
    collection_name: collection,
    filter: `sku in [${rows
      .slice(0, 5)
      .map((r) => r.sku)
      .join(',')}]`,
  });
  await source.createIndex({
    db_name: db,
    collection_name: collection,
    field_name: 'embedding',
    index_type: 'FLAT',
    metric_type: 'L2',
  });
  await source.loadCollectionSync({ db_name: db, collection_name: collection });
  say(
    'source: created the database and collection, inserted 2000 rows, upserted 1, deleted 5, indexed, loaded',
  );

  const started = Date.now();
  let diff = await compareCollection(source, target, { db, collection }).catch(() => undefined);
  while (!(diff && isConverged(diff)) && Date.now() - started < 120_000) {
    await new Promise((r) => setTimeout(r, 1_000));
    diff = await compareCollection(source, target, { db, collection }).catch(() => undefined);
  }
  if (!diff || !isConverged(diff))
    throw new Error(`target did not converge: ${JSON.stringify(diff)}`);
  say(
    `target: ${diff.targetRows} rows, identical to the source by primary key and content (${Date.now() - started} ms)`,
  );
  const positions = await cdc.call<{
    channels?: { channel: string; lag_ms?: string; applied_rows?: string }[];
  }>('GetTaskPositions', { task_id: `demo-${id}` });
  for (const c of positions.channels ?? []) {
    if (Number(c.applied_rows ?? 0) > 0) {
      say(`  ${c.channel}: ${c.applied_rows ?? 0} rows applied, lag ${c.lag_ms ?? '?'} ms`);
    }
  }
  say('drive your own tasks with grpcurl: see docs/grpcurl.md');
} finally {
  await source.dropDatabase({ db_name: db }).catch(() => undefined);
  for (const client of [source, target]) {
    await client
      .dropCollection({ db_name: db, collection_name: collection })
      .catch(() => undefined);
    await client.dropDatabase({ db_name: db }).catch(() => undefined);
    await client.closeConnection();
  }
  cdc.close();
  await worker.stop();
  await control.stop();
}
