import type { Message } from './client.js';
import {
  duration,
  enumLabel,
  fields,
  list,
  num,
  obj,
  orDash,
  str,
  table,
  time,
  tsoMs,
} from './format.js';

/** Human-readable views of API messages (table output). Secrets are never in the messages. */

export function stateOf(task: Message): string {
  return enumLabel(task['state'], 'TASK_STATE_');
}

function pattern(p: unknown): string {
  const o = obj(p);
  return `${str(o['database']) || 'default'}.${str(o['collection']) || '*'}`;
}

function startText(s: unknown): string {
  const o = obj(s);
  const kind = enumLabel(o['kind'], 'START_KIND_') || 'LATEST';
  if (kind === 'TIMESTAMP')
    return `TIMESTAMP ${str(o['timestamp'])} (${time(tsoMs(o['timestamp']))})`;
  if (kind === 'POSITIONS') return `POSITIONS (${Object.keys(obj(o['positions'])).join(', ')})`;
  return kind === 'UNSPECIFIED' ? 'LATEST' : kind;
}

export function tasksTable(tasks: Message[], now = Date.now()): string {
  return table(
    ['ID', 'STATE', 'CHANNELS', 'TARGET', 'UPDATED', 'REASON'],
    tasks.map((t) => [
      str(t['task_id']),
      stateOf(t),
      String(list(t['channels']).length),
      str(obj(obj(t['spec'])['target'])['uri']),
      `${duration(Math.max(0, now - num(t['update_time_ms'])))} ago`,
      orDash(str(t['reason'])),
    ]),
  );
}

export function taskDetail(t: Message): string {
  const spec = obj(t['spec']);
  const source = obj(spec['source']);
  const etcd = obj(source['etcd']);
  const mq = obj(source['mq']);
  const target = obj(spec['target']);
  const scope = obj(spec['scope']);
  const mappings = list(spec['name_mapping']).map((m) => {
    const o = obj(m);
    const colls = Object.entries(obj(o['collections'])).map(([k, v]) => `${k}→${str(v)}`);
    const db = `${str(o['source_database'])}→${str(o['target_database']) || str(o['source_database'])}`;
    return colls.length === 0 ? db : `${db} (${colls.join(', ')})`;
  });
  return fields([
    ['ID', str(t['task_id'])],
    ['State', stateOf(t)],
    ['Reason', orDash(str(t['reason']))],
    ['Created', time(num(t['create_time_ms']))],
    ['Updated', time(num(t['update_time_ms']))],
    [
      'Source etcd',
      `${list(etcd['endpoints']).map(str).join(',')} root=${orDash(str(etcd['root_path']))}`,
    ],
    ['Source MQ', `${enumLabel(mq['type'], 'MQ_TYPE_')} ${str(mq['address'])}`],
    ['Channel prefix', orDash(str(source['channel_prefix']))],
    ['Target', targetText(target)],
    ...(list(spec['fan_out']).length === 0
      ? []
      : ([
          [
            'Fan-out',
            list(spec['fan_out'])
              .map((f) => targetText(obj(f)))
              .join(', '),
          ],
        ] as [string, string][])),
    ['Include', orDash(list(scope['include']).map(pattern).join(', '))],
    ['Exclude', orDash(list(scope['exclude']).map(pattern).join(', '))],
    ['Name mapping', orDash(mappings.join('; '))],
    ['Start', startText(spec['start'])],
    ['Channels', orDash(list(t['channels']).map(str).join(', '))],
    ['Secrets set', orDash(list(t['secret_fields_set']).map(str).join(', '))],
    ...(t['initial_sync'] === null || t['initial_sync'] === undefined
      ? []
      : ([['Initial sync', initialSyncSummary(t)]] as [string, string][])),
  ]).concat(
    snapshotLines(t)
      .map((l) => `\n${l}`)
      .join(''),
  );
}

function targetText(target: Message): string {
  return `${str(target['uri'])} mode=${enumLabel(target['mode'], 'TARGET_MODE_')}`;
}

/** "copying 1/3 collections, from T0 …" or "done …"; '' for a task without initial sync. */
export function initialSyncSummary(t: Message): string {
  const sync = t['initial_sync'];
  if (sync === null || sync === undefined) return '';
  const o = obj(sync);
  const colls = list(o['collections']).map(obj);
  const done = colls.filter((c) => c['state'] === 'SNAPSHOT_STATE_DONE').length;
  const at = time(tsoMs(o['snapshot_timestamp']));
  return o['copying'] === true
    ? `copying: ${done}/${colls.length} collections done; streaming starts after them, from ${at}`
    : `done (${colls.length} collections copied as of ${at}); streaming`;
}

/** One progress line per collection of the initial sync. */
export function snapshotLines(t: Message): string[] {
  const sync = t['initial_sync'];
  if (sync === null || sync === undefined) return [];
  return list(obj(sync)['collections']).map((raw) => {
    const c = obj(raw);
    const copied = num(c['rows_copied']);
    const total = num(c['rows_total']);
    const pct = total > 0 ? ` (${Math.min(100, Math.floor((copied / total) * 100))}%)` : '';
    const where = str(c['partition']) === '' ? '' : ` partition=${str(c['partition'])}`;
    const error = str(c['last_error']) === '' ? '' : ` error=${str(c['last_error'])}`;
    return `  ${str(c['database'])}.${str(c['collection'])} ${enumLabel(c['state'], 'SNAPSHOT_STATE_')} ${copied}/${total} rows${pct}${where}${error}`;
  });
}

export function positionsTable(channels: Message[]): string {
  return table(
    ['CHANNEL', 'EPOCH', 'WORKER', 'CHECKPOINT', 'LAG', 'ROWS', 'REPORTED', 'NOTE'],
    channels.map((c) => {
      const pos = c['position'] === null ? undefined : obj(c['position']);
      const pending = c['pending_start'] === null ? undefined : c['pending_start'];
      const note = [
        pending === undefined ? '' : `next start: ${startText(pending)}`,
        str(c['last_error']),
      ].filter((s) => s !== '');
      return [
        str(c['channel']),
        str(c['epoch']) || '0',
        orDash(str(c['worker_id'])),
        pos === undefined ? '-' : time(tsoMs(pos['timestamp'])),
        duration(num(c['lag_ms'])),
        str(c['applied_rows']) || '0',
        time(num(c['update_time_ms'])),
        orDash(note.join('; ')),
      ];
    }),
  );
}

export function quarantineTable(records: Message[]): string {
  return table(
    ['ID', 'CHANNEL', 'EPOCH', 'TIME', 'MESSAGE TIME', 'BYTES', 'REASON'],
    records.map((r) => {
      const payload = r['payload'];
      const size = Buffer.isBuffer(payload) ? payload.length : 0;
      const pos = obj(r['position']);
      return [
        str(r['quarantine_id']),
        str(r['channel']),
        str(r['epoch']),
        time(num(r['create_time_ms'])),
        time(tsoMs(pos['timestamp'])),
        `${size}${r['truncated'] === true ? '+' : ''}`,
        str(r['reason']),
      ];
    }),
  );
}

function keyCounts(k: Message): string {
  return `${str(k['missing_on_target']) || '0'}/${str(k['extra_on_target']) || '0'}/${str(k['content_differs']) || '0'}`;
}

function keyLines(name: string, k: Message): string[] {
  const line = (label: string, count: string, keys: unknown): string[] => {
    const shown = list(keys).map(str);
    if (shown.length === 0) return [];
    const more = num(count) > shown.length ? `, … (${count} in all)` : '';
    return [`  ${name} ${label}: ${shown.join(', ')}${more}`];
  };
  return [
    ...line('missing on target', str(k['missing_on_target']), k['missing_keys']),
    ...line('extra on target', str(k['extra_on_target']), k['extra_keys']),
    ...line('content differs', str(k['content_differs']), k['differing_keys']),
  ];
}

/** VerifyTask: one summary line, a row per collection, then the differing keys and errors. */
export function verifyView(res: Message): string {
  const collections = list(res['collections']).map(obj);
  const ms = num(res['duration_ms']);
  const rows = num(res['rows_compared']);
  const rate = ms > 0 ? `, ${Math.round((rows * 1000) / ms)} rows/s` : '';
  const head = `task ${str(res['task_id'])}: ${res['clean'] === true ? 'clean' : 'DIFFERENCES REMAIN'} (${rows} rows compared in ${duration(ms)}${rate})`;
  const name = (c: Message, side: 'source' | 'target'): string =>
    `${str(c[`${side}_database`])}.${str(c[`${side}_collection`])}`;
  const body = table(
    ['SOURCE', 'TARGET', 'ROWS (SRC/TGT)', 'MISSING/EXTRA/DIFFERS', 'CAUGHT UP', 'REPAIR'],
    collections.map((c) => {
      const remaining = c['remaining'] === null ? undefined : obj(c['remaining']);
      return [
        name(c, 'source'),
        name(c, 'target'),
        `${str(c['source_rows'])}/${str(c['target_rows'])}`,
        str(c['error']) === '' ? keyCounts(obj(c['differences'])) : `error: ${str(c['error'])}`,
        c['caught_up'] === true ? 'yes' : 'no',
        remaining === undefined
          ? '-'
          : `${str(c['rows_recopied'])} re-copied, ${str(c['rows_deleted'])} deleted; left ${keyCounts(remaining)}`,
      ];
    }),
  );
  const details = collections.flatMap((c) => {
    const remaining = c['remaining'] === null ? undefined : obj(c['remaining']);
    return keyLines(name(c, 'source'), remaining ?? obj(c['differences']));
  });
  return [head, body, ...details].join('\n');
}
