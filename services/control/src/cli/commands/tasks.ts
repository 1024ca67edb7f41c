import type { pb } from '@cdc/shared';
import { flagOpt, stringOpt, taskIdArg, type Command, type CommandContext } from '../command.js';
import { usage } from '../errors.js';
import { jsonText } from '../format.js';
import { readTaskFile } from '../task-file.js';
import { stateOf, taskDetail, tasksTable } from '../views.js';

function printTask(ctx: CommandContext, task: pb.Task__Output, verb?: string): void {
  if (ctx.output === 'json') ctx.print(jsonText(task));
  else if (verb !== undefined) ctx.print(`task ${task.task_id} ${verb} (${stateOf(task)})`);
  else ctx.print(taskDetail(task));
}

export const create: Command = {
  name: 'create',
  args: '-f FILE [--id ID] [--paused]',
  summary: 'create a task from a YAML or JSON file ("-" reads stdin)',
  options: {
    file: { type: 'string', short: 'f' },
    id: { type: 'string' },
    paused: { type: 'boolean' },
  },
  async run(ctx) {
    if (ctx.positionals.length > 0)
      throw usage(`unexpected argument "${ctx.positionals[0] ?? ''}"`);
    const file = stringOpt(ctx, 'file');
    if (file === undefined) throw usage('create needs -f FILE');
    const req = readTaskFile(file);
    const id = stringOpt(ctx, 'id');
    if (id !== undefined) req.task_id = id;
    if (flagOpt(ctx, 'paused')) req.start_paused = true;
    const res = await ctx.client.call('CreateTask', req);
    if (ctx.output === 'json') ctx.print(jsonText(res));
    else if (res.task !== null)
      printTask(ctx, res.task, res.created ? 'created' : 'already exists (same spec)');
    return 0;
  },
};

export const listTasks: Command = {
  name: 'list',
  args: '',
  summary: 'list tasks',
  async run(ctx) {
    if (ctx.positionals.length > 0)
      throw usage(`unexpected argument "${ctx.positionals[0] ?? ''}"`);
    const tasks: pb.Task__Output[] = [];
    let token = '';
    do {
      const page = await ctx.client.call('ListTasks', { page_size: 500, page_token: token });
      tasks.push(...page.tasks);
      token = page.next_page_token;
    } while (token !== '');
    if (ctx.output === 'json') ctx.print(jsonText({ tasks }));
    else ctx.print(tasks.length === 0 ? 'no tasks' : tasksTable(tasks));
    return 0;
  },
};

export const get: Command = {
  name: 'get',
  args: 'ID',
  summary: 'show a task (secrets are never returned)',
  async run(ctx) {
    printTask(ctx, await ctx.client.call('GetTask', { task_id: taskIdArg(ctx) }));
    return 0;
  },
};

/** How long `pause` waits for a PAUSING task to become PAUSED before it gives up (exit 3, the task keeps pausing). */
const PAUSE_WAIT_MS = 120_000;

export const pause: Command = {
  name: 'pause',
  args: 'ID [--reason TEXT] [--immediate] [--no-wait]',
  summary:
    'pause a task at a point in time: waits until every channel applied the source up to it and stopped (--immediate: after its current batch)',
  options: {
    reason: { type: 'string' },
    immediate: { type: 'boolean' },
    'no-wait': { type: 'boolean' },
  },
  async run(ctx) {
    const taskId = taskIdArg(ctx);
    const req = {
      task_id: taskId,
      reason: stringOpt(ctx, 'reason') ?? '',
      immediate: flagOpt(ctx, 'immediate'),
    };
    let task = await ctx.client.call('PauseTask', req);
    const deadline = Date.now() + PAUSE_WAIT_MS;
    while (task.state === 'TASK_STATE_PAUSING' && !flagOpt(ctx, 'no-wait')) {
      if (Date.now() > deadline) {
        printTask(ctx, task, 'still pausing; channels have not all stopped (see positions)');
        return 3;
      }
      await new Promise((r) => setTimeout(r, 500));
      task = await ctx.client.call('GetTask', { task_id: taskId });
    }
    printTask(ctx, task, task.state === 'TASK_STATE_PAUSED' ? 'paused' : 'pausing');
    return 0;
  },
};

export const resume: Command = {
  name: 'resume',
  args: 'ID',
  summary: "resume a paused or failed task from each channel's checkpoint",
  async run(ctx) {
    printTask(ctx, await ctx.client.call('ResumeTask', { task_id: taskIdArg(ctx) }), 'resumed');
    return 0;
  },
};

export const remove: Command = {
  name: 'delete',
  args: 'ID [--ignore-not-found]',
  summary: 'delete a task and its checkpoints',
  options: { 'ignore-not-found': { type: 'boolean' } },
  async run(ctx) {
    const taskId = taskIdArg(ctx);
    const res = await ctx.client.call('DeleteTask', {
      task_id: taskId,
      ignore_not_found: flagOpt(ctx, 'ignore-not-found'),
    });
    if (ctx.output === 'json') ctx.print(jsonText(res));
    else if (res.task === null) ctx.print(`task ${taskId} did not exist`);
    else printTask(ctx, res.task, 'deleting');
    return 0;
  },
};
