// Starts the API: waits for PostgreSQL, runs the migrations, and listens. Temporal may come up later:
// /readyz says so until it does.
import { pathToFileURL } from 'node:url';
import type { Logger } from 'pino';
import { type Config, loadConfigOrExit } from '../config.ts';
import { connectDatabase, runMigrations, waitForDatabase } from '../db/client.ts';
import { createLogger } from '../observability/logger.ts';
import { buildApp } from './app.ts';
import { createTemporalLink } from './temporal.ts';

export async function startApiServer(
  config: Config & { DATABASE_URL: string; TEMPORAL_ADDRESS: string },
  logger: Logger,
) {
  const database = connectDatabase(config.DATABASE_URL, { max: config.DATABASE_POOL_SIZE });
  await waitForDatabase(database, (line) => logger.warn(line));
  await runMigrations(database);
  const temporal = createTemporalLink(config.TEMPORAL_ADDRESS, config.TEMPORAL_NAMESPACE);
  const app = await buildApp({
    config,
    database,
    temporal,
    logger: logger.child({ name: 'api' }),
    processMetrics: true,
  });
  await app.listen({ port: config.PORT, host: config.HOST });
  return {
    app,
    url: `http://${config.HOST.includes(':') ? `[${config.HOST}]` : config.HOST}:${(app.server.address() as { port: number }).port}`,
    async close() {
      await app.close();
      await temporal.close();
      await database.close();
    },
  };
}

async function main() {
  const config = loadConfigOrExit();
  const logger = createLogger('api', config.LOG_LEVEL);
  if (!config.DATABASE_URL) {
    logger.error('DATABASE_URL is required to run the API alone (npm start runs an embedded PostgreSQL)');
    process.exit(1);
  }
  const server = await startApiServer(
    {
      ...config,
      DATABASE_URL: config.DATABASE_URL,
      TEMPORAL_ADDRESS: config.TEMPORAL_ADDRESS ?? `127.0.0.1:${config.TEMPORAL_DEV_PORT}`,
    },
    logger,
  );
  logger.info(`API listening on ${server.url}`);
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      logger.info(`${signal}: closing the API`);
      server.close().then(
        () => process.exit(0),
        () => process.exit(1),
      );
    });
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((error: unknown) => {
    process.stderr.write(`API failed: ${(error as Error).stack ?? String(error)}\n`);
    process.exit(1);
  });
}
