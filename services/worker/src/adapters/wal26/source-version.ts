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
