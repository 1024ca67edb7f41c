/**
 * The task specification as the control service sends it to workers: the generated proto type `cdc.v1.TaskSpec` as
 * the loader decodes it (every field present, unset messages null, 64-bit integers and enums as strings), and the
 * typed settings the worker derives from it. No hand-written mirror: a proto change reaches this code through `pb`.
 */
import type { pb } from '@cdc/shared';
import type { NameMapping, ScopeSpec } from './replication/task-scope.js';

export type TaskSpecWire = pb.TaskSpec__Output;
export type TargetWire = pb.TargetSpec__Output;
export type TlsWire = pb.TlsConfig__Output;
/** How to reach a Milvus server: the task's target, or the source server for initial sync and verification. */
export type MilvusEndpointWire = Pick<
  pb.TargetSpec__Output & pb.SourceMilvus__Output,
  'uri' | 'token' | 'username' | 'password' | 'tls'
>;

/** The target is in replicate mode: changes go through ReplicateMessage (see ReplicateForwarder). */
export function isReplicateMode(spec: TaskSpecWire): boolean {
  return spec.target?.mode === 'TARGET_MODE_REPLICATE';
}

const NO_TARGET: TargetWire = {
  uri: '',
  token: '',
  username: '',
  password: '',
  tls: null,
  mode: 'TARGET_MODE_UNSPECIFIED',
};

/** The task's targets: the main one first, then the fan-out targets. */
export function targetsOf(spec: TaskSpecWire): TargetWire[] {
  return [spec.target ?? NO_TARGET, ...spec.fan_out];
}

export function scopeOf(spec: TaskSpecWire): ScopeSpec {
  return { include: spec.scope?.include ?? [], exclude: spec.scope?.exclude ?? [] };
}

export function mappingsOf(spec: TaskSpecWire): NameMapping[] {
  return spec.name_mapping.map((m) => ({
    sourceDatabase: m.source_database,
    targetDatabase: m.target_database,
    collections: m.collections,
  }));
}
