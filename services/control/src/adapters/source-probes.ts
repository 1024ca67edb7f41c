import { connect } from 'node:net';
import {
  CdcError,
  createEtcdSourceMetadata,
  dmlChannelName,
  errorMessage,
  etcdGrpcOptions,
  prefixRange,
  etcdTlsOptions,
  milvusTlsOn,
  nodeTlsOptions,
  replicateChannelName,
  scanPages,
  STREAMING_VERSION_KEY,
  tlsRejection,
  tlsRejectionMessage,
} from '@cdc/shared';
import { Etcd3, type IOptions } from 'etcd3';
import type { EtcdSourceSpec, TaskSpec, TlsSpec } from '../domain/model.js';
import { hasReplicateTarget, targetsOf } from '../domain/model.js';
import { scopeMatches } from '../domain/scope.js';
import { KAFKA_API_VERSIONS_REQUEST, tlsProbe, type TlsProbeOptions } from './tls-probe.js';
import type {
  ChannelDiscovery,
  Reachability,
  SnapshotCollection,
  SnapshotPlanner,
} from '../tasks/ports.js';

function precondition(message: string, cause?: unknown): CdcError {
  return new CdcError('FAILED_PRECONDITION', message, { retryable: true, cause });
}

export function sourceEtcdOptions(etcd: EtcdSourceSpec, timeoutMs: number): IOptions {
  const opts: IOptions = {
    hosts: etcd.endpoints,
    dialTimeout: timeoutMs,
    grpcOptions: etcdGrpcOptions(),
    ...etcdTlsOptions(etcd.tls),
  };
  if (etcd.username !== '') opts.auth = { username: etcd.username, password: etcd.password };
  return opts;
}

/** FAILED_PRECONDITION for an endpoint that failed its probe: a refused TLS handshake says so and names `what`. */
function probeFailure(what: string, err: unknown): CdcError {
  const tls = tlsRejection(err);
  return tls === undefined
    ? precondition(`${what} is unreachable: ${errorMessage(err)}`, err)
    : new CdcError('FAILED_PRECONDITION', tlsRejectionMessage(what, tls), {
        retryable: false,
        cause: err,
      });
}

/**
 * Connects to an endpoint as its client will: plain TCP, or with TLS on, a handshake with the spec's CA, client
 * certificate and server name, until the server proves it accepted the session (see tlsProbe).
 */
async function probeEndpoint(
  address: string,
  defaultPort: number,
  tls: TlsSpec,
  kind: 'grpc' | 'kafka' | 'pulsar',
  timeoutMs: number,
): Promise<void> {
  const on = kind === 'grpc' ? milvusTlsOn(tls, address) : tls.enabled;
  if (!on) return tcpProbe(address, defaultPort, timeoutMs);
  const { host, port } = hostPort(address, defaultPort);
  const options = nodeTlsOptions({ ...tls, enabled: true }) ?? { rejectUnauthorized: true };
  const probe: TlsProbeOptions =
    kind === 'grpc'
      ? { alpn: ['h2'], awaitReply: true }
      : kind === 'kafka'
        ? { hello: KAFKA_API_VERSIONS_REQUEST, awaitReply: true }
        : { awaitReply: false };
  await tlsProbe(host, port, options, timeoutMs, probe);
}

async function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      reject(new Error(`${what} timed out after ${ms} ms`));
    }, ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** host:port of an address with or without scheme; `defaultPort` when none is given. */
export function hostPort(address: string, defaultPort: number): { host: string; port: number } {
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(address) ? address : `tcp://${address}`;
  const url = new URL(withScheme);
  const port = url.port !== '' ? Number(url.port) : url.protocol === 'https:' ? 443 : defaultPort;
  return { host: url.hostname.replace(/^\[|\]$/g, ''), port };
}

export function tcpProbe(address: string, defaultPort: number, timeoutMs: number): Promise<void> {
  const { host, port } = hostPort(address, defaultPort);
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port, timeout: timeoutMs });
    socket.once('connect', () => {
      socket.destroy();
      resolve();
    });
    socket.once('timeout', () => {
      socket.destroy();
      reject(new Error(`connecting to ${host}:${port} timed out after ${timeoutMs} ms`));
    });
    socket.once('error', (err) => {
      socket.destroy();
      reject(err);
    });
  });
}

async function withSourceEtcd<T>(
  etcd: EtcdSourceSpec,
  timeoutMs: number,
  fn: (c: Etcd3) => Promise<T>,
): Promise<T> {
  const client = new Etcd3(sourceEtcdOptions(etcd, timeoutMs));
  try {
    return await withTimeout(fn(client), timeoutMs, 'source etcd request');
  } finally {
    client.close();
  }
}

/**
 * Reachability of the source etcd (with Milvus metadata under root_path), the source MQ, every target and the source
 * server: TCP, or with TLS on, a TLS session with the spec's CA, client certificate and server name, so a wrong CA
 * or a refused client certificate fails CreateTask (FAILED_PRECONDITION) instead of the task later.
 */
export class NetworkReachability implements Reachability {
  constructor(private readonly timeoutMs: number) {}

  private checkStreamingSource(spec: TaskSpec): Promise<void> {
    return refuseReplicateModeOn26(spec, this.timeoutMs);
  }

  async check(spec: TaskSpec): Promise<void> {
    const { etcd, mq } = spec.source;
    let keys: number;
    try {
      keys = await withSourceEtcd(etcd, this.timeoutMs, async (c) => {
        const range = prefixRange(`${etcd.root_path}/`);
        for await (const page of scanPages(c.kv, range, { pageKeys: 1, keysOnly: true }))
          return page.kvs.length;
        return 0;
      });
    } catch (err) {
      throw probeFailure(`source etcd ${etcd.endpoints.join(',')}`, err);
    }
    if (keys === 0)
      throw precondition(`source etcd has no Milvus metadata under root_path "${etcd.root_path}/"`);
    await this.checkStreamingSource(spec);
    const pulsar = mq.type === 'MQ_TYPE_PULSAR';
    const brokers = mq.address.split(',').map((a) => a.trim());
    const errors: string[] = [];
    let tlsRefusal: unknown;
    for (const broker of brokers) {
      try {
        const kind = pulsar ? 'pulsar' : 'kafka';
        await probeEndpoint(broker, pulsar ? 6650 : 9092, mq.tls, kind, this.timeoutMs);
        errors.length = 0;
        tlsRefusal = undefined;
        break;
      } catch (err) {
        if (tlsRejection(err) !== undefined) tlsRefusal ??= err;
        errors.push(`${broker}: ${errorMessage(err)}`);
      }
    }
    if (tlsRefusal !== undefined) throw probeFailure('source mq', tlsRefusal);
    if (errors.length > 0) throw precondition(`source mq is unreachable: ${errors.join('; ')}`);
    const milvus: { what: string; uri: string; tls: TlsSpec }[] = targetsOf(spec).map((t) => ({
      what: `target ${t.uri}`,
      uri: t.uri,
      tls: t.tls,
    }));
    // The source server is read only by initial sync (right away) and VerifyTask (later, which reports it if down);
    // its TLS settings, when it has them, are checked now either way.
    const source = spec.source.milvus;
    if (
      source.uri !== '' &&
      (spec.initial_sync?.enabled === true || milvusTlsOn(source.tls, source.uri))
    )
      milvus.push({ what: `source milvus ${source.uri}`, uri: source.uri, tls: source.tls });
    for (const m of milvus) {
      try {
        await probeEndpoint(m.uri, 19530, m.tls, 'grpc', this.timeoutMs);
      } catch (err) {
        throw probeFailure(m.what, err);
      }
    }
  }
}

/** A Milvus 2.6 source writes its streaming WAL, not msgstream messages: replicate mode cannot forward it. */
async function refuseReplicateModeOn26(spec: TaskSpec, timeoutMs: number): Promise<void> {
  if (!hasReplicateTarget(spec)) return;
  const { etcd } = spec.source;
  const version = await withSourceEtcd(etcd, timeoutMs, (c) =>
    c.get(`${etcd.root_path}/meta/${STREAMING_VERSION_KEY}`).buffer(),
  );
  if (version !== null) {
    throw new CdcError(
      'FAILED_PRECONDITION',
      'the source is Milvus 2.6 (streaming WAL): replicate mode forwards msgstream messages, which 2.6 does not write; use TARGET_MODE_API',
      { retryable: false },
    );
  }
}

/** Milvus' `rootCoord.dmlChannelNum` is far below this; the list is part of the stored task record. */
const MAX_DML_CHANNELS = 1024;

/**
 * Channels of a task: every DML pchannel named in the source's collection metadata ("{prefix}-rootcoord-dml_{i}",
 * found in the values under "{root_path}/meta/root-coord/"), plus the replicate channel. Scheduling every used
 * pchannel makes new collections followed without rescheduling; the worker filters by scope.
 * The first `assumedDmlChannels` pchannels (Milvus' `rootCoord.dmlChannelNum`, 16 by default) are always scheduled, so
 * a collection created on a pchannel no collection used before is followed at once, not at the next re-discovery.
 * (Even then nothing would be lost: a new channel starts at the task's start point.)
 */
export class EtcdChannelDiscovery implements ChannelDiscovery {
  constructor(
    private readonly timeoutMs: number,
    private readonly assumedDmlChannels = 16,
  ) {}

  async discover(spec: TaskSpec): Promise<string[]> {
    const { etcd, channel_prefix: prefix } = spec.source;
    // Up to 5 digits: a name is stored with the task, so one from hostile metadata must not be unbounded.
    const pattern = new RegExp(
      `${prefix.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}-rootcoord-dml_\\d{1,5}(?!\\d)`,
      'g',
    );
    const channels = new Set<string>();
    for (let i = 0; i < this.assumedDmlChannels; i++) channels.add(dmlChannelName(prefix, i));
    try {
      // Page by page, keeping only the channel names: the metadata of a large source is many responses long.
      await withSourceEtcd(etcd, this.timeoutMs, async (c) => {
        const range = prefixRange(`${etcd.root_path}/meta/root-coord/`);
        for await (const page of scanPages(c.kv, range))
          for (const kv of page.kvs)
            for (const m of kv.value.toString('latin1').matchAll(pattern)) channels.add(m[0]);
      });
    } catch (err) {
      throw precondition(`reading source etcd metadata: ${errorMessage(err)}`, err);
    }
    if (channels.size > MAX_DML_CHANNELS)
      throw precondition(
        `source etcd metadata names ${channels.size} DML channels; at most ${MAX_DML_CHANNELS} are supported`,
      );
    const dml = [...channels].sort((a, b) => dmlIndex(a) - dmlIndex(b));
    return [...dml, replicateChannelName(prefix)];
  }
}

function dmlIndex(channel: string): number {
  return Number(channel.slice(channel.lastIndexOf('_') + 1));
}

/** The in-scope collections of the source, read from its etcd metadata (what an initial sync copies). */
export class EtcdSnapshotPlanner implements SnapshotPlanner {
  constructor(private readonly timeoutMs: number) {}

  async collections(spec: TaskSpec): Promise<SnapshotCollection[]> {
    const { etcd } = spec.source;
    try {
      return await withSourceEtcd(etcd, this.timeoutMs, async (client) => {
        const meta = createEtcdSourceMetadata({ client, rootPath: etcd.root_path });
        try {
          return (await meta.listCollections())
            .filter((c) => c.state === 'Created' && c.dbName !== '')
            .filter((c) => scopeMatches(spec.scope, c.dbName, c.name))
            .map((c) => ({
              collectionId: c.id.toString(),
              database: c.dbName,
              collection: c.name,
            }));
        } finally {
          await meta.close();
        }
      });
    } catch (err) {
      throw precondition(`listing source collections: ${errorMessage(err)}`, err);
    }
  }
}
