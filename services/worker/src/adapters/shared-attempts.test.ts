import { describe, expect, it } from 'vitest';
import { SharedAttempts } from './shared-attempts.js';

/** An attempt the test settles by hand, counting how often it was made. */
function manual() {
  let made = 0;
  const settlers: { resolve: () => void; reject: (e: Error) => void }[] = [];
  const attempt = () => {
    made++;
    return new Promise<void>((resolve, reject) => settlers.push({ resolve, reject }));
  };
  return { attempt, settlers, made: () => made };
}

const turn = () => new Promise((r) => setImmediate(r));

describe('SharedAttempts', () => {
  it('concurrent attempts under one key make one, and all succeed with it', async () => {
    const shared = new SharedAttempts();
    const a = manual();
    const all = Promise.all([1, 2, 3].map(() => shared.run('db/c', a.attempt)));
    await turn();
    expect(a.made()).toBe(1);
    a.settlers[0]?.resolve();
    await all;
    expect(a.made()).toBe(1);
  });

  it('followers make an attempt of their own (again one) when the shared one fails', async () => {
    const shared = new SharedAttempts();
    const a = manual();
    const first = shared.run('db/c', a.attempt);
    const followers = [shared.run('db/c', a.attempt), shared.run('db/c', a.attempt)];
    await turn();
    a.settlers[0]?.reject(new Error('first lease lost its write validity'));
    await expect(first).rejects.toThrow('write validity');
    await turn();
    expect(a.made()).toBe(2);
    a.settlers[1]?.resolve();
    await expect(Promise.all(followers)).resolves.toEqual([undefined, undefined]);
    expect(a.made()).toBe(2);
  });

  it('other keys and later attempts are not shared', async () => {
    const shared = new SharedAttempts();
    const a = manual();
    const one = shared.run('db/c', a.attempt);
    const other = shared.run('db/d', a.attempt);
    await turn();
    expect(a.made()).toBe(2);
    a.settlers.forEach((s) => {
      s.resolve();
    });
    await Promise.all([one, other]);
    const later = shared.run('db/c', a.attempt);
    await turn();
    expect(a.made()).toBe(3);
    a.settlers[2]?.resolve();
    await later;
  });
});
