import {
  status as grpcStatus,
  type ServerWritableStream,
  type UntypedServiceImplementation,
} from '@grpc/grpc-js';
import { invalidArgument, type Logger } from '@cdc/shared';
import { toServiceError } from '../grpc-status.js';
import type { TaskService } from '../tasks/task-service.js';
import {
  arr,
  bool,
  channelToProto,
  field,
  num,
  obj,
  quarantineToProto,
  specFromProto,
  startFromProto,
  taskToProto,
} from './codec.js';
import { unary } from './unary.js';

/** CdcService handlers: decode → TaskService → encode. */
export function cdcHandlers(tasks: TaskService, log: Logger): UntypedServiceImplementation {
  const status = async (taskId: string): Promise<Record<string, unknown>> => {
    const { task, channels } = await tasks.positions(taskId);
    const lag = channels.reduce((m, c) => Math.max(m, c.lagMs), 0);
    return { task: taskToProto(task), channels: channels.map(channelToProto), lag_ms: String(lag) };
  };
  return {
    CreateTask: unary(log, 'CreateTask', async (req) => {
      const r = obj(req);
      const { task, created } = await tasks.create({
        taskId: field(req, 'task_id'),
        spec: specFromProto(r['spec']),
        startPaused: bool(r['start_paused']),
      });
      if (created) log.info({ taskId: task.taskId, state: task.state }, 'task created');
      return { task: taskToProto(task), created };
    }),
    GetTask: unary(log, 'GetTask', async (req) =>
      taskToProto(await tasks.get(field(req, 'task_id'))),
    ),
    ListTasks: unary(log, 'ListTasks', async (req) => {
      const page = await tasks.list(num(obj(req)['page_size']), field(req, 'page_token'));
      return { tasks: page.tasks.map(taskToProto), next_page_token: page.nextPageToken };
    }),
    PauseTask: unary(log, 'PauseTask', async (req) => {
      const task = await tasks.pause(field(req, 'task_id'), field(req, 'reason'));
      log.info({ taskId: task.taskId }, 'task paused');
      return taskToProto(task);
    }),
    ResumeTask: unary(log, 'ResumeTask', async (req) => {
      const task = await tasks.resume(field(req, 'task_id'));
      log.info({ taskId: task.taskId }, 'task resumed');
      return taskToProto(task);
    }),
    DeleteTask: unary(log, 'DeleteTask', async (req) => {
      const task = await tasks.delete(field(req, 'task_id'), bool(obj(req)['ignore_not_found']));
      if (task !== undefined) log.info({ taskId: task.taskId }, 'task deleting');
      return { task: task === undefined ? null : taskToProto(task) };
    }),
    GetTaskPositions: unary(log, 'GetTaskPositions', async (req) => {
      const { task, channels } = await tasks.positions(field(req, 'task_id'));
      return { task_id: task.taskId, channels: channels.map(channelToProto) };
    }),
    ResetTaskPositions: unary(log, 'ResetTaskPositions', async (req) => {
      const taskId = field(req, 'task_id');
      const resets = arr(obj(req)['resets']).map((r) => ({
        channel: field(r, 'channel'),
        start: startFromProto(obj(r)['start']),
      }));
      await tasks.resetPositions(taskId, resets);
      log.info({ taskId, channels: resets.map((r) => r.channel) }, 'task positions reset');
      const { channels } = await tasks.positions(taskId);
      return { task_id: taskId, channels: channels.map(channelToProto) };
    }),
    ListQuarantine: unary(log, 'ListQuarantine', async (req) => {
      const page = await tasks.listQuarantine(
        field(req, 'task_id'),
        num(obj(req)['page_size']),
        field(req, 'page_token'),
      );
      return { records: page.records.map(quarantineToProto), next_page_token: page.nextPageToken };
    }),
    WatchTask: (call: ServerWritableStream<unknown, unknown>) => {
      void watch(call, status, log);
    },
  };
}

async function watch(
  call: ServerWritableStream<unknown, unknown>,
  status: (taskId: string) => Promise<Record<string, unknown>>,
  log: Logger,
): Promise<void> {
  const taskId = field(call.request, 'task_id');
  const requested = num(obj(call.request)['interval_ms']);
  try {
    if (requested !== 0 && (requested < 200 || requested > 60_000))
      throw invalidArgument('interval_ms', 'must be between 200 and 60000');
    const intervalMs = requested === 0 ? 1000 : requested;
    let last = '';
    let lastSentAt = 0;
    while (!call.cancelled) {
      const update = await status(taskId);
      const key = JSON.stringify(update);
      // Send on change, and at least every 5 intervals (lag keeps moving even when nothing else does).
      if (key !== last || Date.now() - lastSentAt >= intervalMs * 5) {
        call.write(update);
        last = key;
        lastSentAt = Date.now();
      }
      await new Promise((resolve) => setTimeout(resolve, intervalMs));
    }
  } catch (err) {
    if (call.cancelled) return;
    const e = toServiceError(err);
    if (e.code === grpcStatus.NOT_FOUND && taskId !== '') {
      log.debug({ taskId }, 'watched task is gone; ending stream');
      call.end();
      return;
    }
    call.destroy(Object.assign(new Error(e.details ?? 'error'), e));
  }
}
