import type { pb } from '@cdc/shared';
import { duration, enumLabel, fields, orDash, table, time, tsoMs } from './format.js';

/** Human-readable views of API messages (table output). Secrets are never in the messages. */

export function stateOf(task: Pick<pb.Task__Output, 'state'>): string {
  return enumLabel(task.state, 'TASK_STATE_');
}

function pattern(p: pb.CollectionPattern__Output): string {
  return `${p.database || 'default'}.${p.collection || '*'}`;
}

function startText(s: pb.StartPoint__Output | null): string {
  const kind = enumLabel(s?.kind ?? '', 'START_KIND_') || 'LATEST';
  if (kind === 'TIMESTAMP')
    return `TIMESTAMP ${s?.timestamp ?? ''} (${time(tsoMs(s?.timestamp ?? ''))})`;
  if (kind === 'POSITIONS') return `POSITIONS (${Object.keys(s?.positions ?? {}).join(', ')})`;
  return kind === 'UNSPECIFIED' ? 'LATEST' : kind;
}

export function tasksTable(tasks: pb.Task__Output[], now = Date.now()): string {
  return table(
    ['ID', 'STATE', 'CHANNELS', 'TARGET', 'UPDATED', 'REASON'],
    tasks.map((t) => [
      t.task_id,
      stateOf(t),
      String(t.channels.length),
      t.spec?.target?.uri ?? '',
      `${duration(Math.max(0, now - Number(t.update_time_ms)))} ago`,
      orDash(t.reason),
    ]),
  );
}

function mappingText(m: pb.NameMapping__Output): string {
  const colls = Object.entries(m.collections).map(([k, v]) => `${k}→${v}`);
  const db = `${m.source_database}→${m.target_database || m.source_database}`;
  return colls.length === 0 ? db : `${db} (${colls.join(', ')})`;
}

export function taskDetail(t: pb.Task__Output): string {
  const spec = t.spec;
  const source = spec?.source;
  const etcd = source?.etcd;
  const mq = source?.mq;
  const fanOut = spec?.fan_out ?? [];
  return fields([
    ['ID', t.task_id],
    ['State', stateOf(t)],
    ['Reason', orDash(t.reason)],
    ['Created', time(Number(t.create_time_ms))],
    ['Updated', time(Number(t.update_time_ms))],
    ['Source etcd', `${(etcd?.endpoints ?? []).join(',')} root=${orDash(etcd?.root_path ?? '')}`],
    ['Source MQ', `${enumLabel(mq?.type ?? '', 'MQ_TYPE_')} ${mq?.address ?? ''}`],
    ['Channel prefix', orDash(source?.channel_prefix ?? '')],
    ['Target', targetText(spec?.target ?? null)],
    ...(fanOut.length === 0
      ? []
      : ([['Fan-out', fanOut.map(targetText).join(', ')]] as [string, string][])),
    ['Include', orDash((spec?.scope?.include ?? []).map(pattern).join(', '))],
    ['Exclude', orDash((spec?.scope?.exclude ?? []).map(pattern).join(', '))],
    ['Name mapping', orDash((spec?.name_mapping ?? []).map(mappingText).join('; '))],
    ['Start', startText(spec?.start ?? null)],
    ['Channels', orDash(t.channels.join(', '))],
    ['Secrets set', orDash(t.secret_fields_set.join(', '))],
    ...(t.initial_sync === null
      ? []
      : ([['Initial sync', initialSyncSummary(t)]] as [string, string][])),
    ...(t.standby === null
      ? []
      : ([
          ['Needs a person', orDash(t.standby.users_needing_person.join(', '))],
          ['Not applied', orDash(t.standby.skipped.join('; '))],
        ] as [string, string][])),
  ]).concat(
    snapshotLines(t)
      .map((l) => `\n${l}`)
      .join(''),
  );
}

function targetText(target: pb.TargetSpec__Output | null): string {
  return `${target?.uri ?? ''} mode=${enumLabel(target?.mode ?? '', 'TARGET_MODE_')}`;
}

/** "copying 1/3 collections, from T0 …" or "done …"; '' for a task without initial sync. */
export function initialSyncSummary(t: Pick<pb.Task__Output, 'initial_sync'>): string {
  const sync = t.initial_sync;
  if (sync === null) return '';
  const done = sync.collections.filter((c) => c.state === 'SNAPSHOT_STATE_DONE').length;
  const at = time(tsoMs(sync.snapshot_timestamp));
  return sync.copying
    ? `copying: ${done}/${sync.collections.length} collections done; streaming starts after them, from ${at}`
    : `done (${sync.collections.length} collections copied as of ${at}); streaming`;
}

/** One progress line per collection of the initial sync. */
export function snapshotLines(t: Pick<pb.Task__Output, 'initial_sync'>): string[] {
  return (t.initial_sync?.collections ?? []).map((c) => {
    const copied = Number(c.rows_copied);
    const total = Number(c.rows_total);
    const pct = total > 0 ? ` (${Math.min(100, Math.floor((copied / total) * 100))}%)` : '';
    const where = c.partition === '' ? '' : ` partition=${c.partition}`;
    const error = c.last_error === '' ? '' : ` error=${c.last_error}`;
    return `  ${c.database}.${c.collection} ${enumLabel(c.state, 'SNAPSHOT_STATE_')} ${copied}/${total} rows${pct}${where}${error}`;
  });
}

export function positionsTable(channels: pb.ChannelStatus__Output[]): string {
  return table(
    ['CHANNEL', 'EPOCH', 'WORKER', 'CHECKPOINT', 'LAG', 'ROWS', 'REPORTED', 'NOTE'],
    channels.map((c) => {
      const note = [
        c.pending_start === null ? '' : `next start: ${startText(c.pending_start)}`,
        c.last_error,
      ].filter((s) => s !== '');
      return [
        c.channel,
        c.epoch || '0',
        orDash(c.worker_id),
        c.position === null ? '-' : time(tsoMs(c.position.timestamp)),
        duration(Number(c.lag_ms)),
        c.applied_rows || '0',
        time(Number(c.update_time_ms)),
        orDash(note.join('; ')),
      ];
    }),
  );
}

export function quarantineTable(records: pb.QuarantineRecord__Output[]): string {
  return table(
    ['ID', 'CHANNEL', 'EPOCH', 'TIME', 'MESSAGE TIME', 'BYTES', 'REASON'],
    records.map((r) => [
      r.quarantine_id,
      r.channel,
      r.epoch,
      time(Number(r.create_time_ms)),
      time(tsoMs(r.position?.timestamp ?? '')),
      `${r.payload.length}${r.truncated ? '+' : ''}`,
      r.reason,
    ]),
  );
}

function keyCounts(k: pb.KeyDifferences__Output | null): string {
  return `${k?.missing_on_target || '0'}/${k?.extra_on_target || '0'}/${k?.content_differs || '0'}`;
}

function keyLines(name: string, k: pb.KeyDifferences__Output | null): string[] {
  const line = (label: string, count: string, shown: string[]): string[] => {
    if (shown.length === 0) return [];
    const more = Number(count) > shown.length ? `, … (${count} in all)` : '';
    return [`  ${name} ${label}: ${shown.join(', ')}${more}`];
  };
  if (k === null) return [];
  return [
    ...line('missing on target', k.missing_on_target, k.missing_keys),
    ...line('extra on target', k.extra_on_target, k.extra_keys),
    ...line('content differs', k.content_differs, k.differing_keys),
  ];
}

/** VerifyTask: one summary line, a row per collection, then the differing keys and errors. */
export function verifyView(res: pb.VerifyTaskResponse__Output): string {
  const ms = Number(res.duration_ms);
  const rows = Number(res.rows_compared);
  const rate = ms > 0 ? `, ${Math.round((rows * 1000) / ms)} rows/s` : '';
  const head = `task ${res.task_id}: ${res.clean ? 'clean' : 'DIFFERENCES REMAIN'} (${rows} rows compared in ${duration(ms)}${rate})`;
  const source = (c: pb.CollectionVerification__Output): string =>
    `${c.source_database}.${c.source_collection}`;
  const body = table(
    ['SOURCE', 'TARGET', 'ROWS (SRC/TGT)', 'MISSING/EXTRA/DIFFERS', 'CAUGHT UP', 'REPAIR'],
    res.collections.map((c) => [
      source(c),
      `${c.target_database}.${c.target_collection}`,
      `${c.source_rows}/${c.target_rows}`,
      c.error === '' ? keyCounts(c.differences) : `error: ${c.error}`,
      c.caught_up ? 'yes' : 'no',
      c.remaining === null
        ? '-'
        : `${c.rows_recopied} re-copied, ${c.rows_deleted} deleted; left ${keyCounts(c.remaining)}`,
    ]),
  );
  const details = res.collections.flatMap((c) => keyLines(source(c), c.remaining ?? c.differences));
  const metadata = res.metadata_differences.map(
    (d) => `${d.kind} ${d.name}: source ${orDash(d.source)}, target ${orDash(d.target)}`,
  );
  return [head, body, ...details, ...metadata].join('\n');
}
