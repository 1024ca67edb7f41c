/**
 * TLS to every endpoint of a task, on real servers with certificates generated at test time: an extra etcd (https,
 * client certificate required), an extra Kafka broker (SSL listener, client certificate required) and an extra
 * Milvus 2.3.5 with tlsMode 1 (server TLS), later restarted with tlsMode 2 (mutual TLS). That Milvus is the source of
 * the tasks (its metadata in the extra etcd, its channels on the extra Kafka) and, through name mapping, a target too.
 * - CreateTask probes every endpoint with the spec's TLS settings: a wrong CA, a missing client certificate or a
 *   wrong server name is FAILED_PRECONDITION naming the endpoint; the worker's adapters say the same at run time.
 * - With the right CA: a streaming task whose fan-out target is the TLS Milvus, and an initial-sync task that copies
 *   from the TLS source server into the TLS target, replicate every row; VerifyTask reads both over TLS.
 * - Switched to mutual TLS, the running tasks (no client certificate) pause with the TLS reason; a task with one
 *   replicates.
 */
import { readFileSync } from 'node:fs';
import { MilvusClient, DataType } from '@zilliz/milvus2-sdk-node';
import { Etcd3 } from 'etcd3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEtcdSourceMetadata, createLogger, etcdTlsOptions } from '@cdc/shared';
import { createKafkaClient } from '../../services/worker/src/adapters/kafka-client.js';
import { KafkaSourceReader } from '../../services/worker/src/adapters/kafka-source-reader.js';
import { MilvusTargetWriter } from '../../services/worker/src/adapters/milvus-target-writer.js';
import { allRows, countRows, type CollectionRef } from '../helpers/milvus-compare.js';
import { waitUntil } from '../helpers/processes.js';
import { createTestPki, type TestPki } from '../helpers/tls-certs.js';
import {
  missingTlsPrerequisite,
  startTlsEtcd,
  startTlsKafka,
  startTlsMilvus,
  tlsTestDir,
  type TlsEtcd,
  type TlsKafka,
  type TlsMilvus,
  type TlsTestDir,
} from '../helpers/tls-servers.js';
import { E2eHarness, env } from './harness.js';

const missing = missingTlsPrerequisite();
if (missing !== undefined) console.log(`skipping the TLS end-to-end tests: ${missing}`);

const FAILED_PRECONDITION = 9;
const h = new E2eHarness();
/** etcd root and channel prefix of the TLS Milvus. */
const NAME = `tls${h.id}`;
const timings: Record<string, number> = {};
let pki: TestPki;
let dir: TlsTestDir;
let etcdT: TlsEtcd;
let kafkaT: TlsKafka;
let milvusT: TlsMilvus;
let m: MilvusClient;
let pem: { ca: string; stranger: string; cert: string; key: string };

async function timed<T>(label: string, fn: () => Promise<T>): Promise<T> {
  const t0 = Date.now();
  try {
    return await fn();
  } finally {
    timings[label] = Date.now() - t0;
  }
}

/** TLS with the right CA and the client certificate; `over` replaces parts. */
const mutual = (over: Record<string, unknown> = {}): Record<string, unknown> => ({
  enabled: true,
  ca_pem: pem.ca,
  cert_pem: pem.cert,
  key_pem: pem.key,
  ...over,
});
const serverOnly = (over: Record<string, unknown> = {}): Record<string, unknown> => ({
  enabled: true,
  ca_pem: pem.ca,
  ...over,
});

function source(
  over: { etcd?: object; mq?: object; milvus?: object } = {},
): Record<string, unknown> {
  return {
    etcd: { endpoints: [etcdT.tlsEndpoint], root_path: NAME, tls: mutual(), ...over.etcd },
    mq: { type: 'MQ_TYPE_KAFKA', address: kafkaT.tlsBroker, tls: mutual(), ...over.mq },
    channel_prefix: NAME,
    milvus: { uri: milvusT.address, tls: serverOnly({ server_name: 'localhost' }), ...over.milvus },
  };
}

function client(): MilvusClient {
  return new MilvusClient({
    address: milvusT.address,
    logLevel: 'error',
    // A Milvus started moments ago, beside the rest of the suite: its first DDL can take longer than the SDK's 15 s.
    timeout: 60_000,
    tls: {
      rootCert: Buffer.from(pem.ca),
      certChain: Buffer.from(pem.cert),
      privateKey: Buffer.from(pem.key),
    },
  });
}

async function createCollection(db: string): Promise<CollectionRef> {
  const ref = { db, collection: 'c' };
  await m.createDatabase({ db_name: db });
  await m.createCollection({
    db_name: db,
    collection_name: ref.collection,
    fields: [
      { name: 'id', data_type: DataType.Int64, is_primary_key: true },
      { name: 'vec', data_type: DataType.FloatVector, dim: 2 },
      { name: 'label', data_type: DataType.VarChar, max_length: 32 },
    ],
  });
  await m.createIndex({
    db_name: db,
    collection_name: ref.collection,
    field_name: 'vec',
    index_type: 'FLAT',
    metric_type: 'L2',
  });
  await m.loadCollectionSync({ db_name: db, collection_name: ref.collection });
  return ref;
}

async function insert(ref: CollectionRef, from: number, to: number): Promise<void> {
  const data = Array.from({ length: to - from }, (_, k) => ({
    id: String(from + k),
    vec: [from + k, 1],
    label: `row ${from + k}`,
  }));
  const res = await m.insert({ db_name: ref.db, collection_name: ref.collection, data });
  if (res.status.error_code !== 'Success') throw new Error(res.status.reason);
}

/** Waits until `target` holds exactly the source rows of `from` (by key and content) under `to`. */
async function expectReplicated(
  from: CollectionRef,
  target: MilvusClient,
  to: CollectionRef,
  rows: number,
): Promise<void> {
  await waitUntil(
    `${rows} rows in ${to.db}.${to.collection}`,
    async () => (await countRows(target, to)) === rows,
    120_000,
    1_000,
  );
  const [want, got] = await Promise.all([allRows(m, from), allRows(target, to)]);
  expect(got.size).toBe(rows);
  expect([...got.entries()].sort()).toEqual([...want.entries()].sort());
}

async function createTask(taskId: string, spec: Record<string, unknown>): Promise<void> {
  await h.client!.call('CreateTask', { task_id: taskId, spec }, 30_000);
}

async function expectRefused(spec: Record<string, unknown>, details: RegExp): Promise<void> {
  await expect(
    h.client!.call('CreateTask', { task_id: `bad-${h.id}`, spec }, 30_000),
  ).rejects.toMatchObject({
    code: FAILED_PRECONDITION,
    details: expect.stringMatching(details) as unknown,
  });
}

const TLS_FAILED = /TLS handshake failed/;

describe.skipIf(missing !== undefined)('TLS to every endpoint', () => {
  const dbS = `${h.prefix}_s`;
  const dbI = `${h.prefix}_i`;
  const dbM = `${h.prefix}_m`;
  let refS: CollectionRef;
  let refI: CollectionRef;

  beforeAll(async () => {
    const t0 = Date.now();
    pki = createTestPki();
    pem = {
      ca: readFileSync(pki.caCert, 'utf8'),
      stranger: readFileSync(pki.strangerCaCert, 'utf8'),
      cert: readFileSync(pki.clientCert, 'utf8'),
      key: readFileSync(pki.clientKey, 'utf8'),
    };
    dir = tlsTestDir();
    [etcdT, kafkaT] = await Promise.all([
      timed('etcd start', () => startTlsEtcd(dir.dir, pki)),
      timed('kafka start', () => startTlsKafka(dir.dir, pki)),
    ]);
    milvusT = await timed('milvus start (tlsMode 1)', () =>
      startTlsMilvus(
        {
          dir: dir.dir,
          pki,
          etcd: etcdT.plainEndpoint,
          kafka: kafkaT.plainBroker,
          name: NAME,
          dmlChannels: 2,
        },
        1,
      ),
    );
    m = client();
    refI = await createCollection(dbI);
    await insert(refI, 0, 100); // copied by the initial sync
    await h.startControl({ CONTROL_ASSUMED_DML_CHANNELS: '2' });
    await h.startWorker('worker-a');
    timings['set-up'] = Date.now() - t0;
  }, 300_000);

  afterAll(async () => {
    const t0 = Date.now();
    await h.cleanup();
    await m.closeConnection().catch(() => undefined);
    await timed('milvus stop (end)', () => milvusT.stop());
    await timed('kafka and etcd stop', () => Promise.all([kafkaT.stop(), etcdT.stop()]));
    // KEEP_TLS_TEST_DIR=1 keeps the servers' logs and data for a post-mortem.
    if (process.env['KEEP_TLS_TEST_DIR'] === '1')
      console.log(`TLS test servers' files: ${dir.dir}`);
    else dir.remove();
    pki.remove();
    timings['tear-down'] = Date.now() - t0;
    console.log(`TLS test timings (ms): ${JSON.stringify(timings)}`);
  }, 120_000);

  it('refuses a wrong CA, a missing client certificate or a wrong name at CreateTask, naming the endpoint', async () => {
    const t0 = Date.now();
    const target = { uri: env.targetMilvusAddress };
    const scope = { include: [{ database: `${h.prefix}_none`, collection: '*' }] };
    const spec = (src: Record<string, unknown>, extra: Record<string, unknown> = {}) => ({
      source: src,
      target,
      scope,
      ...extra,
    });
    const stranger = { ca_pem: pem.stranger };
    await expectRefused(
      spec(source({ etcd: { tls: mutual(stranger) } })),
      /^source etcd .*: TLS handshake failed \((unable to verify|self-signed)/,
    );
    await expectRefused(
      spec(source({ etcd: { tls: serverOnly() } })),
      /^source etcd .*: TLS handshake failed \(.*alert/,
    );
    await expectRefused(
      spec(source({ mq: { tls: mutual(stranger) } })),
      /^source mq: TLS handshake failed/,
    );
    await expectRefused(
      spec(source({ mq: { tls: serverOnly() } })),
      /^source mq: TLS handshake failed/,
    );
    await expectRefused(
      spec(source({ milvus: { tls: serverOnly(stranger) } })),
      /^source milvus .*: TLS handshake failed/,
    );
    await expectRefused(
      spec(source({ milvus: { tls: serverOnly({ server_name: 'evil.example' }) } })),
      /^source milvus .*: TLS handshake failed \(Hostname\/IP does not match/,
    );
    await expectRefused(
      spec(source(), { target: { uri: milvusT.address, tls: serverOnly(stranger) } }),
      new RegExp(`^target ${milvusT.address}: TLS handshake failed`),
    );
    await expectRefused(
      spec(source(), { fan_out: [{ uri: milvusT.address, tls: serverOnly(stranger) }] }),
      new RegExp(`^target ${milvusT.address}: TLS handshake failed`),
    );
    timings['CreateTask refusals (8)'] = Date.now() - t0;
  }, 120_000);

  it('worker adapters report a refused TLS handshake as FAILED_PRECONDITION, not an outage', async () => {
    const t0 = Date.now();
    const kafka = createKafkaClient({
      brokers: [kafkaT.tlsBroker],
      retries: 0,
      connectionTimeoutMs: 3_000,
      tls: { ca: pem.stranger, cert: pem.cert, key: pem.key, rejectUnauthorized: true },
    });
    const reader = new KafkaSourceReader({ kafka, channel: `${NAME}-rootcoord-dml_0` });
    await expect(reader.open({ kind: 'earliest' })).rejects.toMatchObject({
      code: 'FAILED_PRECONDITION',
      retryable: false,
      message: expect.stringMatching(/source Kafka: TLS handshake failed/) as unknown,
    });
    await reader.close();

    const etcd = new Etcd3({
      hosts: [etcdT.tlsEndpoint],
      dialTimeout: 3_000,
      ...etcdTlsOptions({
        enabled: true,
        ca_pem: pem.stranger,
        cert_pem: pem.cert,
        key_pem: pem.key,
      }),
    });
    const meta = createEtcdSourceMetadata({ client: etcd, rootPath: NAME });
    await expect(meta.listCollections()).rejects.toMatchObject({
      code: 'FAILED_PRECONDITION',
      message: expect.stringMatching(/source etcd: TLS handshake failed/) as unknown,
    });
    await meta.close();
    etcd.close();

    const writer = new MilvusTargetWriter({
      address: milvusT.address,
      tls: { enabled: true, ca_pem: pem.stranger },
      logger: createLogger({ service: 'tls-test', level: 'silent' }),
    });
    await expect(writer.hasCollection({ db: 'default', collection: 'x' })).rejects.toMatchObject({
      code: 'FAILED_PRECONDITION',
      message: expect.stringMatching(
        new RegExp(`^Milvus ${milvusT.address}: TLS handshake failed`),
      ) as unknown,
    });
    await writer.close();
    timings['adapter refusals'] = Date.now() - t0;
  }, 120_000);

  it('replicates over server TLS: a TLS fan-out target, initial sync from and into TLS Milvus; VerifyTask over TLS', async () => {
    const t0 = Date.now();
    const dst = (db: string): string => `${db}_dst`;
    await createTask(`tls-s-${h.id}`, {
      source: source(),
      target: { uri: env.targetMilvusAddress },
      fan_out: [{ uri: milvusT.address, tls: serverOnly({ server_name: 'localhost' }) }],
      scope: { include: [{ database: dbS, collection: '*' }] },
      name_mapping: [{ source_database: dbS, target_database: dst(dbS) }],
    });
    await createTask(`tls-i-${h.id}`, {
      source: source(),
      target: { uri: `https://${milvusT.address}`, tls: serverOnly() },
      scope: { include: [{ database: dbI, collection: '*' }] },
      name_mapping: [{ source_database: dbI, target_database: dst(dbI) }],
      initial_sync: { enabled: true },
    });
    // Created after the task, so its DDL (create, index, load) is replicated too and the targets can be queried.
    refS = await createCollection(dbS);
    await insert(refS, 0, 50);
    await insert(refI, 100, 150);
    const toS = { db: dst(dbS), collection: 'c' };
    const toI = { db: dst(dbI), collection: 'c' };
    await expectReplicated(refS, m, toS, 50); // the TLS fan-out target
    await expectReplicated(refS, h.target, toS, 50); // the plaintext main target, same read
    await expectReplicated(refI, m, toI, 150); // copied, then streamed, into the TLS target
    timings['replication over TLS (tlsMode 1)'] = Date.now() - t0;

    const t1 = Date.now();
    for (const taskId of [`tls-s-${h.id}`, `tls-i-${h.id}`]) {
      const report = await h.client!.call<{ clean: boolean; rows_compared: string }>(
        'VerifyTask',
        { task_id: taskId },
        120_000,
      );
      expect(report.clean, taskId).toBe(true);
      expect(Number(report.rows_compared), taskId).toBeGreaterThan(0);
    }
    timings['VerifyTask over TLS (2 tasks)'] = Date.now() - t1;
  }, 400_000);

  it('with mutual TLS, tasks without a client certificate pause with the reason; one with it replicates', async () => {
    const t0 = Date.now();
    await m.closeConnection();
    await timed('milvus restart (tlsMode 2)', () => milvusT.restart(2));
    const t1 = Date.now();
    m = client();
    // Writes make the tasks' pipelines call the TLS Milvus, which now wants a client certificate.
    await insert(refS, 50, 60);
    await insert(refI, 150, 160);
    for (const taskId of [`tls-s-${h.id}`, `tls-i-${h.id}`]) {
      await waitUntil(
        `${taskId} paused`,
        async () => {
          const task = await h.client!.call<{ state: string }>('GetTask', { task_id: taskId });
          return task.state === 'TASK_STATE_PAUSED';
        },
        120_000,
        500,
      );
      const task = await h.client!.call<{ reason: string }>('GetTask', { task_id: taskId });
      expect(task.reason, taskId).toMatch(TLS_FAILED);
    }
    timings['tasks paused after the switch'] = Date.now() - t1;
    const t2 = Date.now();

    await expectRefused(
      {
        source: source({ milvus: { tls: mutual({ server_name: 'localhost' }) } }),
        target: { uri: milvusT.address, tls: serverOnly() },
        scope: { include: [{ database: dbM, collection: '*' }] },
      },
      new RegExp(`^target ${milvusT.address}: TLS handshake failed`),
    );
    const taskId = `tls-m-${h.id}`;
    await createTask(taskId, {
      source: source({ milvus: { tls: mutual({ server_name: 'localhost' }) } }),
      target: { uri: milvusT.address, tls: mutual() },
      scope: { include: [{ database: dbM, collection: '*' }] },
      name_mapping: [{ source_database: dbM, target_database: `${dbM}_dst` }],
    });
    const refM = await createCollection(dbM);
    await insert(refM, 0, 40);
    await expectReplicated(refM, m, { db: `${dbM}_dst`, collection: 'c' }, 40);
    timings['replication over mutual TLS'] = Date.now() - t2;
    const report = await h.client!.call<{ clean: boolean }>(
      'VerifyTask',
      { task_id: taskId },
      120_000,
    );
    expect(report.clean).toBe(true);
    timings['mutual TLS phase'] = Date.now() - t0;
  }, 400_000);
});
