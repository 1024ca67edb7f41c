import { invalidArgument } from '@cdc/shared';
import { checkMilvusEndpoint } from './endpoint-validation.js';
import type { InitialSyncSpec, StartPoint, TaskSpec } from './model.js';
import { checkRbacReplication } from './rbac-validation.js';
import { checkSpecSize } from './record-limits.js';
import { checkNameMapping, checkPatterns } from './scope-validation.js';
import { checkChannelPrefix, checkSourceEtcd, checkSourceMq } from './source-validation.js';
import { checkKafkaMsgIds, validateStartPoint } from './start-point-validation.js';
import { checkFanOut, checkTargetMode } from './target-validation.js';

/**
 * Validates and normalizes (defaults filled in) a spec from a create request. Every failure is INVALID_ARGUMENT with
 * the dotted field path first; the parts are checked in their own modules, in the order of the spec.
 */
export function validateTaskSpec(spec: TaskSpec | undefined): TaskSpec {
  if (spec === undefined) throw invalidArgument('spec', 'is required');
  const { source, target } = spec;
  const etcd = checkSourceEtcd(source.etcd);
  const mq = checkSourceMq(source.mq);
  const prefix = checkChannelPrefix(source.channel_prefix);

  if (target.uri === '') throw invalidArgument('spec.target.uri', 'is required');
  checkMilvusEndpoint('spec.target', target);
  const sourceMilvus = source.milvus;
  if (sourceMilvus.uri !== '') checkMilvusEndpoint('spec.source.milvus', sourceMilvus);
  else if (
    sourceMilvus.token !== '' ||
    sourceMilvus.username !== '' ||
    sourceMilvus.password !== ''
  )
    throw invalidArgument('spec.source.milvus.uri', 'is required when credentials are set');
  const mode = checkTargetMode('spec.target', target);
  const fanOut = checkFanOut(spec.fan_out ?? [], target);

  if (spec.scope.include.length === 0)
    throw invalidArgument(
      'spec.scope.include',
      'needs at least one pattern ({database:"*", collection:"*"} for everything)',
    );
  const include = checkPatterns('spec.scope.include', spec.scope.include);
  const exclude = checkPatterns('spec.scope.exclude', spec.scope.exclude);
  const start = validateStartPoint('spec.start', spec.start, prefix);
  if (mq.type === 'MQ_TYPE_KAFKA') checkKafkaMsgIds('spec.start', start);
  const initialSync = checkInitialSync(spec.initial_sync, sourceMilvus.uri, start);
  // The copy writes rows through ordinary SDK calls, which a target running with ttMsgEnabled=false refuses.
  if (initialSync !== undefined && mode === 'TARGET_MODE_REPLICATE')
    throw invalidArgument(
      'spec.initial_sync',
      'is not available with TARGET_MODE_REPLICATE (the target refuses ordinary writes); copy existing data in API mode first',
    );
  if (initialSync !== undefined && fanOut.length > 0)
    throw invalidArgument('spec.initial_sync', 'is not available with spec.fan_out');
  const rbac = checkRbacReplication(spec.replicate_rbac);

  const validated: TaskSpec = {
    source: {
      etcd,
      mq,
      channel_prefix: prefix,
      milvus: sourceMilvus,
    },
    target: { ...target, mode },
    scope: { include, exclude },
    name_mapping: checkNameMapping(spec.name_mapping),
    start,
    ...(initialSync === undefined ? {} : { initial_sync: initialSync }),
    ...(fanOut.length === 0 ? {} : { fan_out: fanOut }),
    ...(rbac === undefined ? {} : { replicate_rbac: rbac }),
  };
  checkSpecSize(validated);
  return validated;
}

/** Largest page Milvus 2.3 answers (its query window). */
const MAX_SNAPSHOT_BATCH_ROWS = 16_384;

/**
 * Initial sync copies what exists at the task's creation (T0) and then streams from T0, so it needs the source
 * server (to read rows) and a LATEST start (any other start would stream from a point the copy does not match).
 */
function checkInitialSync(
  sync: InitialSyncSpec | undefined,
  sourceUri: string,
  start: StartPoint,
): InitialSyncSpec | undefined {
  if (sync === undefined || !sync.enabled) return undefined;
  if (sourceUri === '')
    throw invalidArgument(
      'spec.source.milvus.uri',
      'is required with initial_sync (the copy reads rows from the source server)',
    );
  if (start.kind !== 'START_KIND_LATEST')
    throw invalidArgument(
      'spec.start.kind',
      'must be START_KIND_LATEST (or unset) with initial_sync: the copy is taken when the task is created',
    );
  if (sync.batch_rows > MAX_SNAPSHOT_BATCH_ROWS)
    throw invalidArgument(
      'spec.initial_sync.batch_rows',
      `is ${sync.batch_rows}; at most ${MAX_SNAPSHOT_BATCH_ROWS} allowed`,
    );
  return { enabled: true, batch_rows: sync.batch_rows };
}
