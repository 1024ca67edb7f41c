export { CdcError, isCdcError, isRetryable, invalidArgument, errorMessage } from './errors.js';
export type { ErrorCode, CdcErrorOptions } from './errors.js';
export { createLogger, REDACTED_PATHS } from './logger.js';
export type { Logger, LoggerOptions } from './logger.js';
