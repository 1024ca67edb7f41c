/**
 * Extra TLS servers for the TLS tests, started beside the shared stack from the same cached downloads and stopped
 * by pid afterwards (they share nothing with it: own ports, data dirs, etcd root and channel prefix):
 * - etcd with a plaintext client URL (for Milvus) and an https one that requires a client certificate;
 * - a KRaft Kafka broker with a PLAINTEXT listener (for Milvus) and an SSL one that requires a client certificate;
 * - the embedded Milvus 2.3.5 with `tlsMode` 1 (server TLS) or 2 (mutual TLS), on the two above.
 * Everything lives under one temp dir, removed by `remove()`.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  createWriteStream,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { createServer } from 'node:net';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Etcd3 } from 'etcd3';
import kafkajs from 'kafkajs';
import { REPO_ROOT, freePort, waitUntil } from './processes.js';
import type { TestPki } from './tls-certs.js';

const run = promisify(execFile);
const { Kafka, logLevel } = kafkajs;
const CACHE = process.env['CDC_CACHE_DIR'] ?? join(homedir(), '.cache', 'milvus-cdc-ts');
const PYTHON = join(CACHE, 'venv', 'bin', 'python');
const KAFKA_LIBS = join(CACHE, 'kafka-libs');
/** The Milvus package's binaries, unpacked once (lzma) and hard-linked into every test server's dir. */
const MILVUS_BIN_CACHE = join(CACHE, 'milvus-bin-2.3.5');

/** Why the TLS servers cannot start here, or undefined when everything they need is installed. */
export function missingTlsPrerequisite(): string | undefined {
  if (!existsSync(PYTHON)) return `no Milvus venv at ${PYTHON} (run deploy/local/up.sh once)`;
  if (!existsSync(KAFKA_LIBS) || readdirSync(KAFKA_LIBS).length === 0)
    return `no Kafka jars in ${KAFKA_LIBS} (run deploy/local/up.sh once)`;
  for (const tool of ['etcd', 'java', 'openssl'])
    if (!process.env['PATH']?.split(':').some((d) => existsSync(join(d, tool))))
      return `${tool} is not installed`;
  return undefined;
}

export interface ServerProcess {
  readonly logFile: string;
  /** SIGTERM, then SIGKILL after `graceMs` (0: at once). */
  stop(graceMs?: number): Promise<void>;
}

function startProcess(
  dir: string,
  name: string,
  cmd: string,
  args: readonly string[],
  env: Record<string, string> = {},
): { child: ChildProcess; proc: ServerProcess } {
  const logFile = join(dir, `${name}.log`);
  const log = createWriteStream(logFile, { flags: 'a' });
  const child = spawn(cmd, [...args], {
    cwd: dir,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout?.pipe(log);
  child.stderr?.pipe(log);
  const exited = new Promise<void>((resolve) =>
    child.once('exit', () => {
      resolve();
    }),
  );
  return {
    child,
    proc: {
      logFile,
      async stop(graceMs = 10_000) {
        if (child.exitCode !== null || child.signalCode !== null) return;
        child.kill(graceMs === 0 ? 'SIGKILL' : 'SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
        await exited;
        clearTimeout(timer);
      },
    },
  };
}

/**
 * Waits until the server serves, and fails at once if its process exits first: a port picked free can be taken by
 * another process of the parallel test run before the server binds it, and the server then exits.
 */
async function untilServing(
  what: string,
  started: { child: ChildProcess; proc: ServerProcess },
  serves: () => Promise<boolean>,
  timeoutMs: number,
  everyMs: number,
): Promise<void> {
  const { child, proc } = started;
  const gone = () => child.exitCode !== null || child.signalCode !== null;
  try {
    await waitUntil(
      `${what} (log ${proc.logFile})`,
      async () => gone() || serves(),
      timeoutMs,
      everyMs,
    );
  } catch (err) {
    await proc.stop(0);
    throw err;
  }
  if (gone()) throw new Error(`${what} exited before serving (log ${proc.logFile})`);
}

/** Starts a server on freshly picked ports until one start serves (see `untilServing`), at most `tries` times. */
async function onFreshPorts<T>(
  what: string,
  start: (attempt: number) => Promise<T>,
  tries = 3,
): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await start(attempt);
    } catch (err) {
      if (attempt >= tries) throw err;
      console.log(`${what}: ${(err as Error).message}; starting again on other ports`);
    }
  }
}

/** `n` consecutive free ports on 127.0.0.1 (Milvus takes a base port and the next nine). */
async function freePortRange(n: number): Promise<number> {
  const isFree = (port: number): Promise<boolean> =>
    new Promise((resolve) => {
      const srv = createServer();
      srv.once('error', () => {
        resolve(false);
      });
      srv.listen(port, '127.0.0.1', () =>
        srv.close(() => {
          resolve(true);
        }),
      );
    });
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = 20_000 + Math.floor(Math.random() * 30_000);
    let ok = true;
    for (let p = base; p < base + n && ok; p++) ok = await isFree(p);
    if (ok) return base;
  }
  throw new Error(`no ${n} consecutive free ports found`);
}

export interface TlsTestDir {
  readonly dir: string;
  remove(): void;
}

export function tlsTestDir(): TlsTestDir {
  const base = join(REPO_ROOT, '.stack', 'tls-test');
  mkdirSync(base, { recursive: true });
  const dir = mkdtempSync(join(base, 'run-'));
  return {
    dir,
    remove: () => {
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface TlsEtcd extends ServerProcess {
  /** For Milvus: no TLS. */
  readonly plainEndpoint: string;
  /** For the CDC: https, client certificate required. */
  readonly tlsEndpoint: string;
}

export async function startTlsEtcd(dir: string, pki: TestPki): Promise<TlsEtcd> {
  return onFreshPorts('test etcd', async (attempt) => {
    const [plain, secure, peer] = [await freePort(), await freePort(), await freePort()];
    const started = startProcess(dir, `etcd-${attempt}`, 'etcd', [
      '--name=tls-test',
      `--data-dir=${join(dir, `etcd-data-${attempt}`)}`,
      `--listen-client-urls=http://127.0.0.1:${plain},https://127.0.0.1:${secure}`,
      `--advertise-client-urls=https://127.0.0.1:${secure}`,
      `--listen-peer-urls=http://127.0.0.1:${peer}`,
      `--initial-advertise-peer-urls=http://127.0.0.1:${peer}`,
      `--initial-cluster=tls-test=http://127.0.0.1:${peer}`,
      `--cert-file=${pki.serverCert}`,
      `--key-file=${pki.serverKey}`,
      `--trusted-ca-file=${pki.caCert}`,
      '--client-cert-auth',
    ]);
    const plainEndpoint = `127.0.0.1:${plain}`;
    await untilServing(
      'test etcd',
      started,
      async () => (await fetch(`http://${plainEndpoint}/health`)).ok,
      30_000,
      100,
    );
    return { ...started.proc, plainEndpoint, tlsEndpoint: `127.0.0.1:${secure}` };
  });
}

export interface TlsKafka extends ServerProcess {
  readonly plainBroker: string;
  /** SSL listener, client certificate required. */
  readonly tlsBroker: string;
}

/**
 * A Kafka cluster id: 16 random bytes in base64url, as `kafka-storage random-uuid` makes them, and, as Kafka's own
 * Uuid does, never one that starts with '-': the tool's argument parser takes that for an option (1 run in 64 failed).
 */
function kafkaClusterId(): string {
  for (;;) {
    const id = randomBytes(16).toString('base64url');
    if (!id.startsWith('-')) return id;
  }
}

export function startTlsKafka(dir: string, pki: TestPki): Promise<TlsKafka> {
  return onFreshPorts('test Kafka', (attempt) =>
    startTlsKafkaOnce(join(dir, `kafka-${attempt}`), pki),
  );
}

async function startTlsKafkaOnce(kdir: string, pki: TestPki): Promise<TlsKafka> {
  const [plain, ssl, controller] = [await freePort(), await freePort(), await freePort()];
  const clusterId = kafkaClusterId();
  mkdirSync(kdir, { recursive: true });
  // A PEM key store holds the private key (PKCS#8) and the certificate chain in one file.
  const keystore = join(kdir, 'server.pem');
  writeFileSync(
    keystore,
    readFileSync(pki.serverKey, 'utf8') + readFileSync(pki.serverCert, 'utf8'),
    { mode: 0o600 },
  );
  const props = join(kdir, 'server.properties');
  writeFileSync(
    props,
    [
      'process.roles=broker,controller',
      'node.id=1',
      `controller.quorum.voters=1@127.0.0.1:${controller}`,
      `listeners=PLAINTEXT://127.0.0.1:${plain},SSL://127.0.0.1:${ssl},CONTROLLER://127.0.0.1:${controller}`,
      `advertised.listeners=PLAINTEXT://127.0.0.1:${plain},SSL://127.0.0.1:${ssl}`,
      'controller.listener.names=CONTROLLER',
      'listener.security.protocol.map=PLAINTEXT:PLAINTEXT,SSL:SSL,CONTROLLER:PLAINTEXT',
      'inter.broker.listener.name=PLAINTEXT',
      `log.dirs=${join(kdir, 'data')}`,
      'num.partitions=1',
      'auto.create.topics.enable=true',
      'offsets.topic.replication.factor=1',
      'transaction.state.log.replication.factor=1',
      'transaction.state.log.min.isr=1',
      'group.initial.rebalance.delay.ms=0',
      'message.max.bytes=10485760',
      'ssl.keystore.type=PEM',
      `ssl.keystore.location=${keystore}`,
      'ssl.truststore.type=PEM',
      `ssl.truststore.location=${pki.caCert}`,
      'ssl.client.auth=required',
      '',
    ].join('\n'),
  );
  const java = [
    '-cp',
    `${KAFKA_LIBS}/*`,
    // A small, quick-starting JVM: this broker carries a few test topics.
    '-Xms64m',
    '-Xmx384m',
    '-XX:+UseSerialGC',
    '-XX:TieredStopAtLevel=1',
    '-Djava.awt.headless=true',
    `-Dlog4j.configuration=file:${join(REPO_ROOT, 'deploy/local/kafka/log4j.properties')}`,
  ];
  await run('java', [...java, 'kafka.tools.StorageTool', 'format', '-t', clusterId, '-c', props], {
    cwd: kdir,
  });
  const started = startProcess(kdir, 'kafka', 'java', [...java, 'kafka.Kafka', props]);
  const plainBroker = `127.0.0.1:${plain}`;
  // Serving means answering a metadata request as the cluster formatted above (not just a bound port, which another
  // process may hold).
  await untilServing(
    'test Kafka',
    started,
    async () => (await kafkaClusterIdAt(plainBroker)) === clusterId,
    90_000,
    200,
  );
  return { ...started.proc, plainBroker, tlsBroker: `127.0.0.1:${ssl}` };
}

/** The cluster id the broker at `broker` answers with; undefined when it does not answer. */
async function kafkaClusterIdAt(broker: string): Promise<string | undefined> {
  const admin = new Kafka({
    clientId: 'tls-test-probe',
    brokers: [broker],
    connectionTimeout: 1_000,
    retry: { retries: 0 },
    logLevel: logLevel.NOTHING,
  }).admin();
  try {
    await admin.connect();
    return (await admin.describeCluster()).clusterId;
  } catch {
    return undefined;
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}

export interface TlsMilvusOptions {
  readonly dir: string;
  readonly pki: TestPki;
  readonly etcd: string;
  readonly kafka: string;
  /** etcd.rootPath and msgChannel prefix of this server. */
  readonly name: string;
  readonly dmlChannels: number;
}

export interface TlsMilvus extends ServerProcess {
  readonly address: string;
  /** Restarts the server (same data) with another tlsMode: 1 server TLS, 2 mutual TLS. */
  restart(tlsMode: 1 | 2): Promise<void>;
}

/**
 * Deletes a stopped Milvus's component sessions (`{root}/meta/session/*`, not the id counter): left behind, they stay
 * valid until their etcd lease expires, and the restarted query coordinator keeps the old query node in its resource
 * group and fails loads ("node not found: unrecoverable error") until then.
 */
async function forgetSessions(etcdEndpoint: string, root: string): Promise<void> {
  const etcd = new Etcd3({ hosts: [etcdEndpoint] });
  try {
    const prefix = `${root}/meta/session/`;
    for (const key of await etcd.getAll().prefix(prefix).keys())
      if (key !== `${prefix}id`) await etcd.delete().key(key);
  } finally {
    etcd.close();
  }
}

async function milvusBinaries(): Promise<string> {
  // Idempotent and quick once unpacked (it compares checksums).
  await run(PYTHON, [
    '-c',
    'import sys; from milvus import _initialize_data_files as init; init(sys.argv[1])',
    MILVUS_BIN_CACHE,
  ]);
  return join(MILVUS_BIN_CACHE, 'bin');
}

export async function startTlsMilvus(opts: TlsMilvusOptions, tlsMode: 1 | 2): Promise<TlsMilvus> {
  const mdir = join(opts.dir, 'milvus');
  mkdirSync(join(mdir, 'logs'), { recursive: true });
  // Hard links: no copy of ~250 MB of binaries per test run.
  if (!existsSync(join(mdir, 'bin')))
    await run('cp', ['-al', await milvusBinaries(), join(mdir, 'bin')]);
  let base = 0;
  let metrics = 0;
  let current: ServerProcess | undefined;
  const start = async (mode: 1 | 2): Promise<void> => {
    const { stdout } = await run(PYTHON, [
      join(REPO_ROOT, 'deploy/local/milvus_config.py'),
      mdir,
      String(base),
      'etcd.use.embed=false',
      `etcd.endpoints=${opts.etcd}`,
      `etcd.rootPath=${opts.name}`,
      `common.chanNamePrefix.cluster=${opts.name}`,
      'mq.type=kafka',
      `kafka.brokerList=${opts.kafka}`,
      `rootCoord.dmlChannelNum=${opts.dmlChannels}`,
      `log.file.rootPath=${join(mdir, 'logs')}`,
      'log.stdout=false',
      `tls.serverPemPath=${opts.pki.serverCert}`,
      `tls.serverKeyPath=${opts.pki.serverKey}`,
      `tls.caPemPath=${opts.pki.caCert}`,
      `common.security.tlsMode=${mode}`,
    ]);
    const exe = stdout.trim();
    const started = startProcess(mdir, 'milvus', exe, ['run', 'standalone'], {
      DEPLOY_MODE: 'STANDALONE',
      METRICS_PORT: String(metrics),
      MILVUS_RUN_DIR: join(mdir, 'run'),
      LD_LIBRARY_PATH: join(mdir, 'bin'),
    });
    current = started.proc;
    await untilServing(
      'test Milvus',
      started,
      async () => (await fetch(`http://127.0.0.1:${metrics}/healthz`)).ok,
      180_000,
      200,
    );
  };
  await onFreshPorts('test Milvus', async (attempt) => {
    // A start that exited left its sessions behind (see forgetSessions).
    if (attempt > 1) await forgetSessions(opts.etcd, opts.name);
    base = await freePortRange(10);
    metrics = await freePort();
    await start(tlsMode);
  });
  return {
    address: `127.0.0.1:${base}`,
    get logFile() {
      return current?.logFile ?? '';
    },
    // Killed: a graceful stop of a busy Milvus takes longer than the whole test needs it, and its data is throwaway.
    stop: async () => current?.stop(0),
    restart: async (mode) => {
      await current?.stop(0);
      await forgetSessions(opts.etcd, opts.name);
      await start(mode);
    },
  };
}
