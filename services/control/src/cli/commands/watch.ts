import { CatchUpTracker, summaryLine } from '../catch-up.js';
import type { pb } from '@cdc/shared';
import {
  parseDuration,
  stringOpt,
  taskIdArg,
  type Command,
  type CommandContext,
} from '../command.js';
import { isGrpcFailure, statusName, usage } from '../errors.js';
import { duration, jsonText, time } from '../format.js';
import { initialSyncSummary, positionsTable, snapshotLines, stateOf } from '../views.js';

function render(
  ctx: CommandContext,
  tracker: CatchUpTracker,
  update: pb.TaskStatus__Output,
  tty: boolean,
): void {
  if (ctx.output === 'json') {
    ctx.print(jsonText(update, true));
    return;
  }
  const task = update.task;
  const channels = update.channels;
  const summary = tracker.update(update, Date.now());
  const state = task === null ? 'UNKNOWN' : stateOf(task);
  const taskId = task?.task_id ?? '';
  const line = summaryLine(state, task?.reason ?? '', summary, tracker.syncThresholdMs);
  if (tty) {
    // Redraw in place, like watch(1).
    process.stdout.write('\x1b[H\x1b[2J');
    ctx.print(`task ${taskId}  ${time(Date.now())}  (Ctrl-C to stop)\n${line}\n`);
    const sync = task === null ? '' : initialSyncSummary(task);
    if (task !== null && sync !== '')
      ctx.print(`initial sync ${sync}\n${snapshotLines(task).join('\n')}\n`);
    ctx.print(positionsTable(channels));
    return;
  }
  ctx.print(`${time(Date.now())} ${taskId} ${line}`);
  const sync = task === null ? '' : initialSyncSummary(task);
  if (task !== null && sync !== '')
    ctx.print([`  initial sync ${sync}`, ...snapshotLines(task)].join('\n'));
  for (const c of channels)
    ctx.print(
      `  ${c.channel} lag=${duration(Number(c.lag_ms))} epoch=${c.epoch || '0'} rows=${c.applied_rows || '0'}${c.last_error === '' ? '' : ` error=${c.last_error}`}`,
    );
}

export const watch: Command = {
  name: 'watch',
  args: 'ID [--interval 1s] [--sync-lag 5s]',
  summary: 'follow per-channel progress and lag live (Ctrl-C stops; ends when the task is deleted)',
  options: { interval: { type: 'string' }, 'sync-lag': { type: 'string' } },
  async run(ctx) {
    const taskId = taskIdArg(ctx);
    const intervalMs = parseDuration('--interval', stringOpt(ctx, 'interval') ?? '1s');
    if (intervalMs < 200 || intervalMs > 60_000) throw usage('--interval must be 200ms to 60s');
    const tracker = new CatchUpTracker(
      parseDuration('--sync-lag', stringOpt(ctx, 'sync-lag') ?? '5s'),
    );
    // The stream ends quietly for a missing task; ask first so a wrong id is NOT_FOUND.
    await ctx.client.call('GetTask', { task_id: taskId });
    const tty = ctx.output === 'table' && process.stdout.isTTY;
    const stream = ctx.client.watch(taskId, intervalMs);
    return new Promise<number>((resolve, reject) => {
      let stopping = false;
      let settled = false;
      const finish = (fn: () => void): void => {
        if (settled) return;
        settled = true;
        process.off('SIGINT', stop);
        process.off('SIGTERM', stop);
        fn();
      };
      const stop = (): void => {
        stopping = true;
        stream.cancel();
        finish(() => {
          resolve(0);
        });
      };
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
      stream.on('data', (update: pb.TaskStatus__Output) => {
        render(ctx, tracker, update, tty);
      });
      stream.on('end', () => {
        finish(() => {
          if (!stopping && ctx.output === 'table')
            ctx.print(`task ${taskId} was deleted; watch ended`);
          resolve(0);
        });
      });
      stream.on('error', (err: unknown) => {
        finish(() => {
          if (stopping && isGrpcFailure(err) && statusName(err.code) === 'CANCELLED') resolve(0);
          else reject(err instanceof Error ? err : new Error(String(err)));
        });
      });
    });
  },
};
