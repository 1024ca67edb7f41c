import { pino, type Logger as PinoLogger } from 'pino';

export type Logger = PinoLogger;

/** Paths pino replaces with "[redacted]" wherever they appear in a log line. */
export const REDACTED_PATHS = [
  '*.password',
  '*.token',
  '*.secret',
  '*.saslPassword',
  '*.authParams',
  '*.apiKey',
  'config.*.password',
  'config.*.token',
  'req.headers.authorization',
];

export interface LoggerOptions {
  readonly service: string;
  readonly level?: string;
}

export function createLogger(opts: LoggerOptions): Logger {
  return pino({
    level: opts.level ?? process.env['LOG_LEVEL'] ?? 'info',
    base: { service: opts.service, pid: process.pid },
    redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
  });
}
