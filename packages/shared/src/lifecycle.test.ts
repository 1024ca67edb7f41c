import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import { closeAll, handleShutdown, type ProcessLike } from './lifecycle.js';
import { createLogger } from './logger.js';

const log = createLogger({ service: 'lifecycle-test', level: 'silent' });

class FakeProcess extends EventEmitter implements ProcessLike {
  readonly codes: number[] = [];
  exit(code: number): void {
    this.codes.push(code);
  }
}

const step = (name: string, ran: string[], fail = false) => ({
  name,
  run: async () => {
    await new Promise((resolve) => setTimeout(resolve, 1));
    ran.push(name);
    if (fail) throw new Error(`${name} broke`);
  },
});

describe('closeAll', () => {
  it('runs every step even after a failure, in order and stage by stage, and names the failures', async () => {
    const ran: string[] = [];
    const failed = await closeAll(
      [[step('server', ran), step('election', ran, true)], step('queue', ran), step('etcd', ran)],
      log,
    );
    expect(ran.slice(2)).toEqual(['queue', 'etcd']);
    expect(new Set(ran.slice(0, 2))).toEqual(new Set(['server', 'election']));
    expect(failed).toEqual(['election']);
  });
});

describe('handleShutdown', () => {
  const setup = (fail = false) => {
    const proc = new FakeProcess();
    const ran: string[] = [];
    let before = 0;
    handleShutdown({
      log,
      process: proc,
      forceAfterMs: 5_000,
      beforeSteps: () => {
        before++;
      },
      plan: () => [step('a', ran), step('b', ran, fail)],
    });
    const exited = () =>
      new Promise<number>((resolve) => {
        const poll = setInterval(() => {
          const code = proc.codes[0];
          if (code !== undefined) {
            clearInterval(poll);
            resolve(code);
          }
        }, 1);
      });
    return { proc, ran, before: () => before, exited };
  };

  it('exits 0 after a signal when every step succeeded', async () => {
    const s = setup();
    s.proc.emit('SIGTERM');
    expect(await s.exited()).toBe(0);
    expect(s.ran).toEqual(['a', 'b']);
    expect(s.before()).toBe(1);
  });

  it('exits 1 when a step failed', async () => {
    const s = setup(true);
    s.proc.emit('SIGINT');
    expect(await s.exited()).toBe(1);
    expect(s.ran).toEqual(['a', 'b']);
  });

  it('exits 1 after an unhandled rejection, having closed everything', async () => {
    const s = setup();
    s.proc.emit('unhandledRejection', new Error('lost promise'));
    expect(await s.exited()).toBe(1);
    expect(s.ran).toEqual(['a', 'b']);
  });

  it('exits 1 at once on a second signal and runs the plan only once', async () => {
    const s = setup();
    s.proc.emit('SIGTERM');
    s.proc.emit('SIGTERM');
    expect(s.proc.codes[0]).toBe(1);
    // (A real process is gone by now; here the first shutdown still finishes, once.)
    for (let i = 0; i < 500 && s.proc.codes.length < 2; i++)
      await new Promise((resolve) => setTimeout(resolve, 2));
    expect(s.ran).toEqual(['a', 'b']);
    expect(s.before()).toBe(1);
  });
});
