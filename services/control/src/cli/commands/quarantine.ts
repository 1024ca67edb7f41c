import type { pb } from '@cdc/shared';
import { stringOpt, taskIdArg, type Command, type CommandContext } from '../command.js';
import { usage } from '../errors.js';
import { jsonText } from '../format.js';
import { quarantineTable } from '../views.js';

export const quarantine: Command = {
  name: 'quarantine',
  args: 'ID [--limit N] | purge ID',
  summary:
    'list poison messages that workers skipped (oldest first; JSON has the payloads, base64); "purge" deletes them all (a task whose quarantine is full pauses until then)',
  options: { limit: { type: 'string' } },
  async run(ctx) {
    if (ctx.positionals.length === 2 && ctx.positionals[0] === 'purge') return purge(ctx);
    const taskId = taskIdArg(ctx);
    const limitText = stringOpt(ctx, 'limit') ?? '1000';
    const limit = Number(limitText);
    if (!Number.isSafeInteger(limit) || limit < 1)
      throw usage('--limit must be a positive integer');
    const records: pb.QuarantineRecord__Output[] = [];
    let token = '';
    let more = false;
    do {
      const page = await ctx.client.call('ListQuarantine', {
        task_id: taskId,
        page_size: Math.min(500, limit - records.length),
        page_token: token,
      });
      records.push(...page.records);
      token = page.next_page_token;
      more = token !== '';
    } while (more && records.length < limit);
    if (ctx.output === 'json') {
      ctx.print(jsonText({ task_id: taskId, records, truncated: more }));
      return 0;
    }
    if (records.length === 0) ctx.print(`no quarantined messages for task ${taskId}`);
    else ctx.print(quarantineTable(records));
    if (more) ctx.print(`(first ${limit} records; raise --limit for more)`);
    return 0;
  },
};

async function purge(ctx: CommandContext): Promise<number> {
  const taskId = ctx.positionals[1] ?? '';
  if (taskId === '') throw usage('missing task ID');
  const res = await ctx.client.call('PurgeQuarantine', { task_id: taskId });
  if (ctx.output === 'json') ctx.print(jsonText({ task_id: taskId, purged: res.purged }));
  else ctx.print(`purged ${res.purged} quarantined messages of task ${taskId}`);
  return 0;
}
