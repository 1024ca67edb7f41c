import { CdcError, invalidArgument, tsToUnixMs, type Logger, type pb } from '@cdc/shared';
import type { TaskRecord, TaskSpec } from '../domain/model.js';
import { targetsOf } from '../domain/model.js';
import { patternText, scopeOverlap } from '../domain/scope.js';
import { checkLength } from '../domain/field-checks.js';
import { validateTaskId } from '../domain/id-validation.js';
import { targetScope } from '../domain/target-scope.js';
import { targetKey } from '../domain/target-validation.js';
import { validateTaskSpec } from '../domain/task-spec-validation.js';
import type { QuarantineService } from '../tasks/quarantine-service.js';
import type { SnapshotService } from '../tasks/snapshot-service.js';
import type { TaskService } from '../tasks/task-service.js';
import type { VerifyService } from '../verify/verify-service.js';
import {
  channelToProto,
  quarantineToProto,
  specFromProto,
  startFromProto,
  taskToProto,
} from './codec.js';
import { unary } from './unary.js';
import { verifyReportToProto, verifyRequestFromProto } from './verify-codec.js';
import { DEFAULT_WATCH_STREAMS_PER_CALLER, WatchLimiter, watchHandler } from './watch-stream.js';

/** PauseTask's free-text reason is stored in the task record; keep it a sentence, not a payload. */
const MAX_REASON_CHARS = 1024;
/** Longer than any channel name ("{prefix of ≤128}-rootcoord-dml_{n}"). */
const MAX_CHANNEL_CHARS = 256;
const MAX_RESETS = 1024;
/** The source's TSO trails its wall clock by up to its update interval (50 ms in Milvus): answer a bit after the point. */
const PAUSE_ANSWER_SLACK_MS = 100;

/**
 * ALREADY_EXISTS when, after name_mapping renames, the new task would write collections another task writes on the
 * same target. TaskService's overlap check compares source-side scopes only, so `db y → x` next to a task
 * replicating `x` went through and both tasks wrote target database x. Validation errors keep TaskService's order.
 */
async function assertNoRenamedOverlap(
  tasks: TaskService,
  taskId: string,
  raw: TaskSpec | undefined,
): Promise<void> {
  if (taskId !== '') validateTaskId(taskId);
  const spec = validateTaskSpec(raw);
  const targets = new Set(targetsOf(spec).map((t) => targetKey(t.uri)));
  const mine = targetScope(spec);
  let token = '';
  do {
    const page = await tasks.list(500, token);
    for (const other of page.tasks) {
      if (other.taskId === taskId || other.state === 'TASK_STATE_DELETING') continue;
      if (spec.name_mapping.length === 0 && other.spec.name_mapping.length === 0) continue;
      const target = targetsOf(other.spec)
        .map((t) => targetKey(t.uri))
        .find((k) => targets.has(k));
      if (target === undefined) continue;
      const hit = scopeOverlap(mine, targetScope(other.spec));
      if (hit !== undefined)
        throw new CdcError(
          'ALREADY_EXISTS',
          `spec.name_mapping: renamed, ${patternText(hit.a)} overlaps ${patternText(hit.b)} of task ${other.taskId} on the same target ${target}`,
          { retryable: false, details: { conflictingTaskId: other.taskId } },
        );
    }
    token = page.nextPageToken;
  } while (token !== '');
}

/** CdcService handlers: decode → TaskService → encode. */
export function cdcHandlers(
  tasks: TaskService,
  verify: VerifyService,
  quarantine: QuarantineService,
  log: Logger,
  snapshots?: SnapshotService,
  watchLimiter = new WatchLimiter(DEFAULT_WATCH_STREAMS_PER_CALLER),
): pb.CdcServiceHandlers {
  /** The task with its initial-sync progress, when it has one. */
  const taskMessage = async (task: TaskRecord): Promise<Required<pb.Task>> =>
    taskToProto(task, await snapshots?.status(task));
  const status = async (taskId: string): Promise<Required<pb.TaskStatus>> => {
    const { task, channels } = await tasks.positions(taskId);
    const lag = channels.reduce((m, c) => Math.max(m, c.lagMs), 0);
    return {
      task: await taskMessage(task),
      channels: channels.map(channelToProto),
      lag_ms: String(lag),
    };
  };
  return {
    CreateTask: unary(
      log,
      'CreateTask',
      async (req: pb.CreateTaskRequest__Output): Promise<Required<pb.CreateTaskResponse>> => {
        const taskId = req.task_id;
        const spec = specFromProto(req.spec);
        await assertNoRenamedOverlap(tasks, taskId, spec);
        const { task, created } = await tasks.create({
          taskId,
          spec,
          startPaused: req.start_paused,
        });
        if (created) log.info({ taskId: task.taskId, state: task.state }, 'task created');
        return { task: await taskMessage(task), created };
      },
    ),
    GetTask: unary(log, 'GetTask', async (req: pb.GetTaskRequest__Output) =>
      taskMessage(await tasks.get(req.task_id)),
    ),
    ListTasks: unary(
      log,
      'ListTasks',
      async (req: pb.ListTasksRequest__Output): Promise<Required<pb.ListTasksResponse>> => {
        const page = await tasks.list(req.page_size, req.page_token);
        const messages = await Promise.all(page.tasks.map(taskMessage));
        return { tasks: messages, next_page_token: page.nextPageToken };
      },
    ),
    PauseTask: unary(log, 'PauseTask', async (req: pb.PauseTaskRequest__Output) => {
      checkLength('reason', req.reason, MAX_REASON_CHARS);
      const task = await tasks.pause(req.task_id, req.reason, 'user', req.immediate);
      log.info({ taskId: task.taskId, state: task.state, pause: task.pause }, 'task pausing');
      // The answer waits for the pause point: whatever the client writes after it is after the pause.
      const pointMs =
        task.pause === undefined || task.pause.immediate
          ? 0
          : tsToUnixMs(BigInt(task.pause.timestamp));
      if (pointMs === 0) return taskMessage(task);
      const waitMs = pointMs - Date.now() + PAUSE_ANSWER_SLACK_MS;
      if (waitMs > 0) await new Promise((r) => setTimeout(r, waitMs));
      return taskMessage(await tasks.get(task.taskId));
    }),
    ResumeTask: unary(log, 'ResumeTask', async (req: pb.ResumeTaskRequest__Output) => {
      const task = await tasks.resume(req.task_id);
      log.info({ taskId: task.taskId }, 'task resumed');
      return taskMessage(task);
    }),
    DeleteTask: unary(
      log,
      'DeleteTask',
      async (req: pb.DeleteTaskRequest__Output): Promise<Required<pb.DeleteTaskResponse>> => {
        const task = await tasks.delete(req.task_id, req.ignore_not_found);
        if (task !== undefined) log.info({ taskId: task.taskId }, 'task deleting');
        return { task: task === undefined ? null : taskToProto(task) };
      },
    ),
    GetTaskPositions: unary(
      log,
      'GetTaskPositions',
      async (
        req: pb.GetTaskPositionsRequest__Output,
      ): Promise<Required<pb.GetTaskPositionsResponse>> => {
        const { task, channels } = await tasks.positions(req.task_id);
        return { task_id: task.taskId, channels: channels.map(channelToProto) };
      },
    ),
    ResetTaskPositions: unary(
      log,
      'ResetTaskPositions',
      async (
        req: pb.ResetTaskPositionsRequest__Output,
      ): Promise<Required<pb.GetTaskPositionsResponse>> => {
        const taskId = req.task_id;
        if (req.resets.length > MAX_RESETS)
          throw invalidArgument(
            'resets',
            `has ${req.resets.length} entries; at most ${MAX_RESETS} allowed`,
          );
        const resets = req.resets.map((r, i) => {
          // The channel is quoted in "not a channel" errors: bound it before TaskService sees it.
          checkLength(`resets[${i}].channel`, r.channel, MAX_CHANNEL_CHARS);
          return { channel: r.channel, start: startFromProto(r.start) };
        });
        await tasks.resetPositions(taskId, resets);
        log.info({ taskId, channels: resets.map((r) => r.channel) }, 'task positions reset');
        const { channels } = await tasks.positions(taskId);
        return { task_id: taskId, channels: channels.map(channelToProto) };
      },
    ),
    ResealSecrets: unary(
      log,
      'ResealSecrets',
      async (): Promise<Required<pb.ResealSecretsResponse>> => {
        const result = await tasks.resealAll();
        log.info(result, 'task secrets resealed under the current key');
        return result;
      },
    ),
    ListQuarantine: unary(
      log,
      'ListQuarantine',
      async (
        req: pb.ListQuarantineRequest__Output,
      ): Promise<Required<pb.ListQuarantineResponse>> => {
        const page = await quarantine.list(req.task_id, req.page_size, req.page_token);
        return {
          records: page.records.map(quarantineToProto),
          next_page_token: page.nextPageToken,
        };
      },
    ),
    PurgeQuarantine: unary(
      log,
      'PurgeQuarantine',
      async (
        req: pb.PurgeQuarantineRequest__Output,
      ): Promise<Required<pb.PurgeQuarantineResponse>> => {
        const purged = await quarantine.purge(req.task_id);
        log.info({ taskId: req.task_id, purged }, 'quarantine purged');
        return { purged: String(purged) };
      },
    ),
    VerifyTask: unary(log, 'VerifyTask', async (req: pb.VerifyTaskRequest__Output) => {
      const { maxKeys, ...request } = verifyRequestFromProto(req);
      const report = await verify.verify(request);
      log.info(
        {
          taskId: report.taskId,
          repair: request.repair,
          clean: report.clean,
          rows: report.rowsCompared,
          ms: report.durationMs,
        },
        'task verified',
      );
      return verifyReportToProto(report, maxKeys);
    }),
    WatchTask: watchHandler(status, watchLimiter, log),
  };
}
