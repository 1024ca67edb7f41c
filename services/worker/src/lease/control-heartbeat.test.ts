import { CdcError, type Logger } from '@cdc/shared';
import { describe, expect, it } from 'vitest';
import { ControlHeartbeat } from './control-heartbeat.js';

interface Line {
  level: 'info' | 'warn' | 'error';
  fields: Record<string, unknown>;
  msg: string;
}

/** Records log calls (the pino signature: fields, message). */
function recordingLog(lines: Line[]): Logger {
  const at =
    (level: Line['level']) =>
    (fields: Record<string, unknown>, msg: string): void => {
      lines.push({ level, fields, msg });
    };
  return { info: at('info'), warn: at('warn'), error: at('error') } as unknown as Logger;
}

/** A control plane answering heartbeats from a script: errors to throw, 'ok', or tasks to report now; then 'ok'. */
function scripted(answers: (Error | 'ok' | string[])[]) {
  const calls: number[] = [];
  return {
    calls,
    heartbeat: (): Promise<readonly string[]> => {
      calls.push(Date.now());
      const next = answers.shift() ?? 'ok';
      if (next instanceof Error) return Promise.reject(next);
      return Promise.resolve(next === 'ok' ? [] : next);
    },
  };
}

const refusal = (): CdcError =>
  new CdcError(
    'UNAUTHENTICATED',
    'Heartbeat: invalid credentials: the bearer token is not a worker token',
    {
      retryable: false,
    },
  );

describe('ControlHeartbeat', () => {
  it('logs every refusal as an error, backs off exponentially, and accepts once the control does', async () => {
    const lines: Line[] = [];
    const control = scripted([refusal(), refusal(), refusal(), refusal(), 'ok']);
    const hb = new ControlHeartbeat({
      control,
      workerId: 'w1',
      log: recordingLog(lines),
      intervalMs: 10,
      maxBackoffMs: 40,
    });
    let accepted = false;
    void hb.accepted.then(() => (accepted = true));
    hb.start();
    await hb.accepted;
    hb.stop();
    expect(accepted).toBe(true);
    const errors = lines.filter((l) => l.level === 'error');
    expect(errors.map((l) => l.fields['retryInMs'])).toEqual([10, 20, 40, 40]);
    expect(errors[0]?.msg).toMatch(/refused this worker's credential: WORKER_CONTROL_TOKEN/);
    expect(errors[0]?.fields['reason']).toMatch(/invalid credentials/);
    expect(lines.at(-1)).toMatchObject({ level: 'info', fields: { after: 'refused' } });
    const gaps = control.calls.slice(1).map((t, i) => t - (control.calls[i] ?? 0));
    expect(gaps[2]).toBeGreaterThanOrEqual(35); // waited out the 40 ms backoff
  });

  it('warns once while the control service is unreachable, and is not accepted meanwhile', async () => {
    const lines: Line[] = [];
    const down = (): CdcError => new CdcError('UNAVAILABLE', 'Heartbeat: connect ECONNREFUSED');
    const control = scripted([down(), down(), down()]);
    const hb = new ControlHeartbeat({
      control,
      workerId: 'w1',
      log: recordingLog(lines),
      intervalMs: 5,
      maxBackoffMs: 10,
    });
    let accepted = false;
    void hb.accepted.then(() => (accepted = true));
    hb.start();
    await new Promise((r) => setTimeout(r, 15));
    expect(accepted).toBe(false);
    await hb.accepted;
    hb.stop();
    expect(lines.filter((l) => l.level === 'warn')).toHaveLength(1);
    expect(lines.filter((l) => l.level === 'error')).toHaveLength(0);
  });

  it('says when the control service stops answering after accepting the worker, and when it answers again', async () => {
    const down = (): CdcError => new CdcError('UNAVAILABLE', 'Heartbeat: deadline exceeded');
    const control = scripted([down(), 'ok', down(), down(), 'ok']);
    const reachable: boolean[] = [];
    const hb = new ControlHeartbeat({
      control,
      workerId: 'w1',
      log: recordingLog([]),
      intervalMs: 2,
      maxBackoffMs: 4,
      onReachable: (r) => reachable.push(r),
    });
    hb.start();
    await hb.accepted;
    expect(reachable).toEqual([]); // not accepted before: nothing was taken yet
    while (control.calls.length < 6) await new Promise((r) => setTimeout(r, 2));
    hb.stop();
    expect(reachable).toEqual([false, true]);
  });

  it('passes on the tasks whose idle leases the control service wants to report now', async () => {
    const control = scripted(['ok', ['t1', 't2'], 'ok', ['t3']]);
    const asked: (readonly string[])[] = [];
    const hb = new ControlHeartbeat({
      control,
      workerId: 'w1',
      log: recordingLog([]),
      intervalMs: 2,
      maxBackoffMs: 4,
      onReportNow: (ids) => asked.push(ids),
    });
    hb.start();
    while (control.calls.length < 5) await new Promise((r) => setTimeout(r, 2));
    hb.stop();
    expect(asked).toEqual([['t1', 't2'], ['t3']]);
  });
});
