/** Setup file of the integration and fault projects: a failed test prints its processes' log tails (see log-tails). */
import { afterEach, beforeEach } from 'vitest';
import { printLogTails } from './log-tails.js';

let testStartedMs = 0;

beforeEach(() => {
  testStartedMs = Date.now();
});

afterEach(({ task }) => {
  if (task.result?.state === 'fail') printLogTails(testStartedMs);
});
