import { W } from './wal-descriptors.js';
import { decodeWalProto } from './wal-proto.js';

/**
 * The etcd keys (under `{root}/meta/`) that tell a 2.6 source apart and locate its control channel
 * (milvus `internal/metastore/kv/streamingcoord/constant.go`, `internal/metastore/kv/datacoord`).
 */
export const STREAMING_VERSION_KEY = 'streamingcoord-meta/version';
export const CCHANNEL_KEY = 'streamingcoord-meta/cchannel';
export const fieldIndexKey = (collectionId: bigint, indexId: bigint): string =>
  `field-index/${collectionId}/${indexId}`;

/** `streamingpb.StreamingVersion`: present (version ≥ 1) once a 2.6 streaming service ran on the cluster. */
export function decodeStreamingVersion(b: Uint8Array): bigint {
  const v = decodeWalProto(W.StreamingVersion, b)['version'];
  return BigInt(typeof v === 'string' || typeof v === 'number' ? v : 0);
}

/** `streamingpb.CChannelMeta`: the pchannel the control channel lives on. */
export function decodeCChannelPChannel(b: Uint8Array): string {
  const v = decodeWalProto(W.CChannelMeta, b)['pchannel'];
  return typeof v === 'string' ? v : '';
}

export interface FieldIndexInfo {
  readonly collectionId: bigint;
  readonly fieldId: bigint;
  readonly indexId: bigint;
  readonly indexName: string;
  readonly deleted: boolean;
}

/** `indexpb.FieldIndex` (datacoord `field-index/{collection}/{index}`): names an index id for DropIndex. */
export function decodeFieldIndex(b: Uint8Array): FieldIndexInfo {
  const o = decodeWalProto(W.FieldIndex, b);
  const info = (o['indexInfo'] ?? {}) as Record<string, unknown>;
  const n = (v: unknown): bigint => BigInt(typeof v === 'string' || typeof v === 'number' ? v : 0);
  return {
    collectionId: n(info['collectionID']),
    fieldId: n(info['fieldID']),
    indexId: n(info['indexID']),
    indexName: typeof info['indexName'] === 'string' ? info['indexName'] : '',
    deleted: o['deleted'] === true,
  };
}
