import { createHash } from 'node:crypto';
import { Etcd3 } from 'etcd3';
import {
  CCHANNEL_KEY,
  STREAMING_VERSION_KEY,
  decodeCChannelPChannel,
  etcdGrpcOptions,
} from '@cdc/shared';
import type { TaskSpecWire } from '../../task-spec.js';

/** What the source etcd says about the cluster's log: msgstream (2.3–2.5) or the 2.6 streaming WAL. */
export interface SourceLog {
  readonly streaming: boolean;
  /** 2.6: the pchannel of the control channel (database, index and load operations). */
  readonly controlPChannel: string;
}

/** An etcd client for the task's source etcd (credentials and TLS as configured; secrets never logged). */
export function sourceEtcd(spec: TaskSpecWire): Etcd3 {
  const etcd = spec.source?.etcd;
  const tls = etcd?.tls;
  return new Etcd3({
    hosts: [...(etcd?.endpoints ?? [])],
    grpcOptions: etcdGrpcOptions(),
    ...(etcd?.username ? { auth: { username: etcd.username, password: etcd.password ?? '' } } : {}),
    ...(tls?.enabled && tls.ca_pem
      ? {
          credentials: {
            rootCertificate: Buffer.from(tls.ca_pem),
            ...(tls.key_pem ? { privateKey: Buffer.from(tls.key_pem) } : {}),
            ...(tls.cert_pem ? { certChain: Buffer.from(tls.cert_pem) } : {}),
          },
        }
      : {}),
  });
}

/**
 * A 2.6 cluster has run its streaming service once it wrote `streamingcoord-meta/version`; a 2.3–2.5 cluster never
 * writes it (a 2.5 cluster with the preview streaming service enabled is read as 2.6, which is what it writes).
 */
export async function detectSourceLog(
  client: Etcd3,
  rootPath: string,
  channelPrefix: string,
): Promise<SourceLog> {
  const meta = `${rootPath}/meta/`;
  const version = await client.get(`${meta}${STREAMING_VERSION_KEY}`).buffer();
  if (version === null) return { streaming: false, controlPChannel: '' };
  const cchannel = await client.get(`${meta}${CCHANNEL_KEY}`).buffer();
  const pchannel = cchannel === null ? '' : decodeCChannelPChannel(new Uint8Array(cchannel));
  return { streaming: true, controlPChannel: pchannel || `${channelPrefix}-rootcoord-dml_0` };
}

/**
 * How long a detection holds. A lease waiting for its channel's topic (a pchannel no collection used yet) opens its
 * reader again every few seconds; without this each look built an etcd connection (a gRPC channel, a DNS lookup) for
 * the same answer: 120 such leases on a fresh 16-channel source cost a worker ~0.1 core doing nothing else.
 */
const DETECTION_TTL_MS = 30_000;
/** Distinct sources remembered (one per source etcd a task names); the oldest is forgotten past it. */
const MAX_DETECTIONS = 256;
const detections = new Map<string, { readonly at: number; readonly found: Promise<SourceLog> }>();

/** `detectSourceLog` for the task's source, asked of etcd at most once per `DETECTION_TTL_MS` per source. */
export function detectTaskSourceLog(spec: TaskSpecWire, now = Date.now()): Promise<SourceLog> {
  const root = spec.source?.etcd?.root_path || 'by-dev';
  const prefix = spec.source?.channel_prefix || 'by-dev';
  // Hashed: no credential is kept in a key.
  const key = createHash('sha256')
    .update(JSON.stringify([spec.source?.etcd, root, prefix]))
    .digest('hex');
  const hit = detections.get(key);
  if (hit !== undefined && now - hit.at < DETECTION_TTL_MS) return hit.found;
  const etcd = sourceEtcd(spec);
  const found = detectSourceLog(etcd, root, prefix).finally(() => {
    etcd.close();
  });
  detections.delete(key);
  detections.set(key, { at: now, found });
  if (detections.size > MAX_DETECTIONS) detections.delete(detections.keys().next().value ?? '');
  // A failed look is not remembered: the next open asks again.
  found.catch(() => {
    if (detections.get(key)?.found === found) detections.delete(key);
  });
  return found;
}
