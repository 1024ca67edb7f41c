/**
 * The task specification as the control service sends it to workers (proto `cdc.v1.TaskSpec`, loaded with
 * keepCase/longs-as-strings/enums-as-names), and the typed settings the worker derives from it.
 */
import type { NameMapping, ScopeSpec } from './replication/task-scope.js';

interface PatternWire {
  readonly database?: string;
  readonly collection?: string;
}

export interface TlsWire {
  readonly enabled?: boolean;
  readonly ca_pem?: string;
  readonly cert_pem?: string;
  readonly key_pem?: string;
  readonly server_name?: string;
  readonly insecure_skip_verify?: boolean;
}

/** How to reach a Milvus server: the task's target, or the source server for initial sync and verification. */
export interface MilvusEndpointWire {
  readonly uri?: string;
  readonly token?: string;
  readonly username?: string;
  readonly password?: string;
  readonly tls?: TlsWire | null;
}

export interface TargetWire extends MilvusEndpointWire {
  readonly mode?: string;
}

export interface TaskSpecWire {
  readonly source?: {
    readonly etcd?: {
      readonly endpoints?: readonly string[];
      readonly root_path?: string;
      readonly username?: string;
      readonly password?: string;
      readonly tls?: TlsWire | null;
    } | null;
    readonly mq?: {
      readonly type?: string;
      readonly address?: string;
      readonly tls?: TlsWire | null;
      readonly sasl?: {
        readonly mechanism?: string;
        readonly username?: string;
        readonly password?: string;
      } | null;
      readonly token?: string;
    } | null;
    readonly channel_prefix?: string;
    readonly milvus?: MilvusEndpointWire | null;
  } | null;
  readonly target?: TargetWire | null;
  /** Fan-out targets, fed from the same read. */
  readonly fan_out?: readonly TargetWire[];
  readonly scope?: {
    readonly include?: readonly PatternWire[];
    readonly exclude?: readonly PatternWire[];
  } | null;
  readonly name_mapping?: readonly {
    readonly source_database?: string;
    readonly target_database?: string;
    readonly collections?: Readonly<Record<string, string>>;
  }[];
  readonly initial_sync?: { readonly enabled?: boolean; readonly batch_rows?: number } | null;
}

/** The target is in replicate mode: changes go through ReplicateMessage (see ReplicateForwarder). */
export function isReplicateMode(spec: TaskSpecWire): boolean {
  return spec.target?.mode === 'TARGET_MODE_REPLICATE';
}

/** The task's targets: the main one first, then the fan-out targets. */
export function targetsOf(spec: TaskSpecWire): TargetWire[] {
  return [spec.target ?? {}, ...(spec.fan_out ?? [])];
}

export function scopeOf(spec: TaskSpecWire): ScopeSpec {
  const patterns = (list: readonly PatternWire[] | undefined) =>
    (list ?? []).map((p) => ({ database: p.database ?? '', collection: p.collection ?? '' }));
  return { include: patterns(spec.scope?.include), exclude: patterns(spec.scope?.exclude) };
}

export function mappingsOf(spec: TaskSpecWire): NameMapping[] {
  return (spec.name_mapping ?? []).map((m) => ({
    sourceDatabase: m.source_database ?? '',
    targetDatabase: m.target_database ?? '',
    collections: m.collections ?? {},
  }));
}
