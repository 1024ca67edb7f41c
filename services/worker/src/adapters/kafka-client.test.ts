import { describe, expect, it } from 'vitest';
import { logLevel } from 'kafkajs';
import type { LogEntry } from 'kafkajs';
import type { Logger } from '@cdc/shared';
import { pinoLogCreator } from './kafka-client.js';

function capture() {
  const lines: { level: string; msg: string }[] = [];
  const at = (level: string) => (_obj: unknown, msg: string) => lines.push({ level, msg });
  const logger = { warn: at('warn'), debug: at('debug') } as unknown as Logger;
  return { lines, log: pinoLogCreator(logger)(logLevel.INFO) };
}

const entry = (level: logLevel, message: string, error?: string): LogEntry => ({
  namespace: 'Connection',
  level,
  label: 'ERROR',
  log: { timestamp: '', message, ...(error === undefined ? {} : { error }) },
});

describe('KafkaJS log entries in the worker log', () => {
  it('keeps errors as warnings, the rest at debug', () => {
    const { lines, log } = capture();
    log(entry(logLevel.ERROR, 'Connection error', 'connect ECONNREFUSED'));
    log(entry(logLevel.INFO, 'Starting'));
    expect(lines).toEqual([
      { level: 'warn', msg: 'Connection error' },
      { level: 'debug', msg: 'Starting' },
    ]);
  });

  it('logs a request for a topic not created yet (an unused pchannel) at debug', () => {
    const { lines, log } = capture();
    log(
      entry(
        logLevel.ERROR,
        'Response Metadata(key: 3, version: 6)',
        'This server does not host this topic-partition',
      ),
    );
    expect(lines).toEqual([{ level: 'debug', msg: 'Response Metadata(key: 3, version: 6)' }]);
  });
});
