import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { SharedSessions } from './shared-sessions.js';

function sessionsOf(lingerMs = 1_000) {
  const created: number[] = [];
  const closed: number[] = [];
  let next = 0;
  const sessions = new SharedSessions<object, number>(
    () => {
      created.push(++next);
      return next;
    },
    (s) => {
      closed.push(s);
      return Promise.resolve();
    },
    lingerMs,
  );
  return { sessions, created, closed };
}

describe('SharedSessions', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('gives the readers of one client one session, and other clients their own', () => {
    const { sessions, created } = sessionsOf();
    const a = {};
    const b = {};
    expect(sessions.join(a).session).toBe(sessions.join(a).session);
    expect(sessions.join(b).session).not.toBe(sessions.join(a).session);
    expect(created).toEqual([1, 2]);
  });

  it('keeps the session while readers come and go within the linger (a lease waiting for its topic)', async () => {
    const { sessions, created, closed } = sessionsOf(1_000);
    const client = {};
    for (let i = 0; i < 20; i++) {
      sessions.join(client).leave();
      await vi.advanceTimersByTimeAsync(500);
    }
    expect(created).toEqual([1]);
    expect(closed).toEqual([]);
  });

  it('closes the session once the linger passed with no reader, and makes a new one for the next', async () => {
    const { sessions, created, closed } = sessionsOf(1_000);
    const client = {};
    const first = sessions.join(client);
    const second = sessions.join(client);
    first.leave();
    first.leave(); // idempotent: the second reader still holds the session
    await vi.advanceTimersByTimeAsync(5_000);
    expect(closed).toEqual([]);
    second.leave();
    await vi.advanceTimersByTimeAsync(999);
    expect(closed).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    expect(closed).toEqual([1]);
    expect(sessions.join(client).session).toBe(2);
    expect(created).toEqual([1, 2]);
  });
});
