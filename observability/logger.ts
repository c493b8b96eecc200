// One logger configuration for every process: JSON lines (pino) whose secret-bearing fields are redacted by the
// logger itself, so a line that carries a token by mistake still prints none; and the bridge that sends the
// Temporal SDK's lines (activities', workflows' and the worker's own) through it with their workflow ids.
import type { LogLevel, LogMetadata, Logger as TemporalLogger } from '@temporalio/common';
import { type DestinationStream, type Logger, type LoggerOptions, pino } from 'pino';

/** Field names that hold a credential wherever they appear (at the top of a line or one level down). */
const secretFields = [
  'accessToken',
  'access_token',
  'refreshToken',
  'refresh_token',
  'idToken',
  'id_token',
  'apiKey',
  'api_key',
  'clientSecret',
  'client_secret',
  'password',
  'secret',
  'signingSecret',
  'token',
  'authorization',
  'credentials',
  'Authorization',
];

/** What the logger blanks out: request headers and OAuth query parameters, and every secret field. */
export const redactedPaths = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["x-api-key"]',
  'req.query.code',
  'req.query.state',
  ...secretFields,
  ...secretFields.map((field) => `*.${field}`),
  // Headers wherever a request or an error carries them (an HTTP client's error holds its request's).
  '*.headers.authorization',
  '*.headers.Authorization',
  '*.headers.cookie',
  '*.config.headers.authorization',
  '*.config.headers.Authorization',
];

export const redactedCensor = '[redacted]';

export function loggerOptions(name: string, level: string): LoggerOptions {
  return { name, level, redact: { paths: redactedPaths, censor: redactedCensor } };
}

export function createLogger(name: string, level: string, destination?: DestinationStream): Logger {
  return destination ? pino(loggerOptions(name, level), destination) : pino(loggerOptions(name, level));
}

const pinoLevels: Record<LogLevel, 'trace' | 'debug' | 'info' | 'warn' | 'error'> = {
  TRACE: 'trace',
  DEBUG: 'debug',
  INFO: 'info',
  WARN: 'warn',
  ERROR: 'error',
};

/**
 * The SDK's logger interface over pino. Activity and workflow lines arrive with `workflowId`, `runId` and the
 * activity or workflow type in their metadata; the worker's own info lines (the bundler listing its modules)
 * are kept at warn and above, or they drown the service's lines.
 */
export function temporalLogger(logger: Logger): TemporalLogger {
  const log = (level: LogLevel, message: string, meta?: LogMetadata) => {
    const component = meta?.sdkComponent;
    if (
      (component === 'worker' || component === 'core') &&
      (level === 'INFO' || level === 'DEBUG' || level === 'TRACE')
    )
      return;
    logger[pinoLevels[level]]({ ...meta }, message);
  };
  return {
    log,
    trace: (message, meta) => log('TRACE', message, meta),
    debug: (message, meta) => log('DEBUG', message, meta),
    info: (message, meta) => log('INFO', message, meta),
    warn: (message, meta) => log('WARN', message, meta),
    error: (message, meta) => log('ERROR', message, meta),
  };
}
