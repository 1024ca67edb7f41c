import { composeTs, type pb } from '@cdc/shared';
import { flagOpt, listOpt, stringOpt, taskIdArg, type Command } from '../command.js';
import { usage } from '../errors.js';
import { jsonText } from '../format.js';
import { positionsTable } from '../views.js';

function printPositions(
  print: (s: string) => void,
  json: boolean,
  res: pb.GetTaskPositionsResponse__Output,
): void {
  if (json) print(jsonText(res));
  else print(positionsTable(res.channels));
}

export const positions: Command = {
  name: 'positions',
  args: 'ID',
  summary: "show each channel's checkpoint, lease epoch, worker and lag",
  async run(ctx) {
    const res = await ctx.client.call('GetTaskPositions', { task_id: taskIdArg(ctx) });
    printPositions(ctx.print, ctx.output === 'json', res);
    return 0;
  },
};

/** "449..." (a hybrid TSO, as the API) or an RFC 3339 time ("2025-01-31T12:00:00Z") → decimal TSO. */
export function parseTimestamp(text: string): string {
  if (/^\d+$/.test(text)) return text;
  const ms = Date.parse(text);
  if (!/^\d{4}-\d{2}-\d{2}/.test(text) || Number.isNaN(ms) || ms < 0)
    throw usage('--timestamp takes a hybrid TSO or an RFC 3339 time (2025-01-31T12:00:00Z)');
  return composeTs(ms).toString();
}

export const resetPositions: Command = {
  name: 'reset-positions',
  args: 'ID (--channel C ... | --all-channels) (--timestamp T | --earliest | --latest)',
  summary: 'set where channels start on the next resume (task must be paused)',
  options: {
    channel: { type: 'string', multiple: true },
    'all-channels': { type: 'boolean' },
    timestamp: { type: 'string' },
    earliest: { type: 'boolean' },
    latest: { type: 'boolean' },
  },
  async run(ctx) {
    const taskId = taskIdArg(ctx);
    const ts = stringOpt(ctx, 'timestamp');
    const choices: (pb.StartPoint | undefined)[] = [
      ts === undefined
        ? undefined
        : { kind: 'START_KIND_TIMESTAMP', timestamp: parseTimestamp(ts) },
      flagOpt(ctx, 'earliest') ? { kind: 'START_KIND_EARLIEST' } : undefined,
      flagOpt(ctx, 'latest') ? { kind: 'START_KIND_LATEST' } : undefined,
    ];
    const kinds = choices.filter((k) => k !== undefined);
    const start = kinds[0];
    if (start === undefined || kinds.length > 1)
      throw usage('give exactly one of --timestamp, --earliest, --latest');
    let channels = listOpt(ctx, 'channel');
    if (flagOpt(ctx, 'all-channels')) {
      if (channels.length > 0) throw usage('--channel and --all-channels exclude each other');
      channels = (await ctx.client.call('GetTask', { task_id: taskId })).channels;
    }
    if (channels.length === 0) throw usage('give --channel C (repeatable) or --all-channels');
    const res = await ctx.client.call('ResetTaskPositions', {
      task_id: taskId,
      resets: channels.map((channel) => ({ channel, start })),
    });
    printPositions(ctx.print, ctx.output === 'json', res);
    return 0;
  },
};
