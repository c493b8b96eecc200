// Runs the whole stack in this process, as `npm start` and `npm run demo` do: a Temporal dev server (unless
// TEMPORAL_ADDRESS is set), the embedded PostgreSQL (unless DATABASE_URL is set), migrations, the worker and
// the API. Signals stop everything in order (API, worker, servers), so no process is left behind.
import path from 'node:path';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { type DestinationStream, type Logger, pino } from 'pino';
import { startApiServer } from '../api/server.ts';
import type { Config } from '../config.ts';
import { startEmbeddedPostgres } from '../db/embedded-postgres.ts';
import { loggerOptions } from '../observability/logger.ts';
import { startWorker } from '../worker.ts';
import { resolveTemporalCli } from './temporal-cli.ts';
import { startTemporalDevServer } from './temporal-dev-server.ts';

export const say = (line: string) => process.stdout.write(`${line}\n`);

export interface RunningStack {
  apiUrl: string;
  temporalAddress: string;
  temporalUiUrl: string | null;
  logger: Logger;
  /** Adds something to stop first on the way out (e.g. simulators started before the stack). */
  onStop(stop: () => Promise<void>): void;
  stopAll(reason: string): Promise<void>;
}

/**
 * A terminal that tells a story (`npm run demo`) gets one short line per warning or error, pointing at the
 * log file that holds the whole line.
 */
function oneLinePerWarning(logFile: string): DestinationStream {
  const names: Record<number, string> = { 40: 'warning', 50: 'error', 60: 'fatal' };
  return {
    write(line: string) {
      let entry: { level?: number; msg?: string; err?: { message?: string } };
      try {
        entry = JSON.parse(line);
      } catch {
        entry = { msg: line.trim() };
      }
      const cause = entry.err?.message ? `: ${entry.err.message.split('\n')[0]}` : '';
      process.stderr.write(
        `${names[entry.level ?? 50] ?? 'log'}: ${entry.msg ?? ''}${cause} (the whole line is in ${logFile})\n`,
      );
    },
  };
}

export async function runStack(
  config: Config,
  options: {
    /**
     * Where the log lines (the API's requests, the worker's, the servers') go instead of the terminal, which
     * then shows only a line per warning or error: `npm run demo` prints its own story.
     */
    logFile?: string;
  } = {},
): Promise<RunningStack> {
  const logger = options.logFile
    ? pino(
        loggerOptions('stack', config.LOG_LEVEL),
        pino.multistream([
          {
            level: config.LOG_LEVEL,
            stream: pino.destination({ dest: options.logFile, mkdir: true, sync: true, append: false }),
          },
          { level: 'warn', stream: oneLinePerWarning(options.logFile) },
        ]),
      )
    : pino({
        ...loggerOptions('stack', config.LOG_LEVEL),
        transport: process.stdout.isTTY
          ? { target: 'pino-pretty', options: { ignore: 'pid,hostname' } }
          : undefined,
      });
  // This process orders the shutdown itself, so the SDK must not react to the signals on its own. Its
  // warnings (an activity's failed attempt, with its ids) go where the stack's lines go.
  const levels = { TRACE: 'trace', DEBUG: 'debug', INFO: 'info', WARN: 'warn', ERROR: 'error' } as const;
  Runtime.install({
    shutdownSignals: [],
    logger: new DefaultLogger(
      'WARN',
      options.logFile ? ({ level, message, meta }) => logger[levels[level]]({ ...meta }, message) : undefined,
    ),
  });

  const stops: (() => Promise<void>)[] = [];
  let stopping: Promise<void> | null = null;
  const stopAll = (reason: string) => {
    stopping ??= (async () => {
      say(`\n${reason}: stopping…`);
      for (const stop of stops.reverse()) {
        await stop().catch((error: unknown) => logger.error({ err: error }, 'while stopping'));
      }
      say('stopped; no process left running.');
    })();
    return stopping;
  };
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(signal, () => {
      if (stopping) return say('stopping already…');
      // 0 unless the program set its own code for a run cut short (scripts/fuzz.ts does).
      stopAll(signal).then(() => process.exit());
    });
  }

  try {
    let temporalAddress = config.TEMPORAL_ADDRESS;
    let temporalUiUrl: string | null = null;
    if (!temporalAddress) {
      const server = await startTemporalDevServer({
        cliPath: await resolveTemporalCli({ log: say }),
        port: config.TEMPORAL_DEV_PORT,
        uiPort: config.TEMPORAL_UI_PORT,
        dbFile: path.join(config.DATA_DIR, 'temporal.db'),
        namespace: config.TEMPORAL_NAMESPACE,
        log: (line) => logger.debug(line),
      });
      stops.push(() => server.stop());
      temporalAddress = server.address;
      temporalUiUrl = server.uiUrl;
    }

    let databaseUrl = config.DATABASE_URL;
    if (!databaseUrl) {
      const postgres = await startEmbeddedPostgres({
        dataDir: path.join(config.DATA_DIR, 'pg'),
        log: (line) => logger.debug(line),
      });
      stops.push(() => postgres.stop());
      databaseUrl = postgres.url;
    }

    const wired = { ...config, DATABASE_URL: databaseUrl, TEMPORAL_ADDRESS: temporalAddress };
    const api = await startApiServer(wired, logger);
    stops.push(() => api.close());
    const worker = await startWorker(wired, {
      info: (line) => logger.info(line),
      warn: (line) => logger.warn(line),
    });
    stops.push(() => worker.shutdown());
    worker.running.catch((error: unknown) => {
      logger.error({ err: error }, 'the worker stopped with an error');
      stopAll('worker failure').then(() => process.exit(1));
    });
    return {
      apiUrl: api.url,
      temporalAddress,
      temporalUiUrl,
      logger,
      onStop: (stop) => stops.push(stop),
      stopAll,
    };
  } catch (error) {
    process.stderr.write(`start-up failed: ${(error as Error).stack ?? String(error)}\n`);
    await stopAll('start-up failure');
    process.exit(1);
  }
}
