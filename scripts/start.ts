// `npm start`: the whole stack on one machine — a Temporal dev server (unless TEMPORAL_ADDRESS is set), the
// embedded PostgreSQL (unless DATABASE_URL is set), migrations, the worker and the API — and Ctrl-C stops
// every process it started.
import path from 'node:path';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { pino } from 'pino';
import { logRedactions, startApiServer } from '../api/server.ts';
import { loadConfigOrExit } from '../config.ts';
import { startEmbeddedPostgres } from '../db/embedded-postgres.ts';
import { resolveTemporalCli } from '../dev/temporal-cli.ts';
import { startTemporalDevServer } from '../dev/temporal-dev-server.ts';
import { startWorker } from '../worker.ts';

const config = loadConfigOrExit();
const logger = pino({
  level: config.LOG_LEVEL,
  redact: logRedactions,
  transport: process.stdout.isTTY
    ? { target: 'pino-pretty', options: { ignore: 'pid,hostname' } }
    : undefined,
});
const say = (line: string) => process.stdout.write(`${line}\n`);

// This process orders the shutdown itself (API, then worker, then servers), so the SDK must not react to
// the signals on its own.
Runtime.install({ shutdownSignals: [], logger: new DefaultLogger('WARN') });

const stops: (() => Promise<void>)[] = [];
let stopping: Promise<void> | null = null;

function stopAll(reason: string) {
  stopping ??= (async () => {
    say(`\n${reason}: stopping…`);
    for (const stop of stops.reverse()) {
      await stop().catch((error: unknown) => logger.error({ err: error }, 'while stopping'));
    }
    say('stopped; no process left running.');
  })();
  return stopping;
}

for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.on(signal, () => {
    if (stopping) {
      say('stopping already; press Ctrl-C again after a few seconds to force.');
      process.exitCode = 130;
      return;
    }
    stopAll(signal).then(() => process.exit(0));
  });
}

async function main() {
  if (config.generatedSecrets.length > 0) {
    say(
      `WARNING: generated ${config.generatedSecrets.join(' and ')} into ${config.DATA_DIR} for development. ` +
        'Set them in the environment in production.',
    );
  }

  let temporalAddress = config.TEMPORAL_ADDRESS;
  let temporalUi: string | null = null;
  if (!temporalAddress) {
    const cliPath = await resolveTemporalCli({ log: say });
    const server = await startTemporalDevServer({
      cliPath,
      port: config.TEMPORAL_DEV_PORT,
      uiPort: config.TEMPORAL_UI_PORT,
      dbFile: path.join(config.DATA_DIR, 'temporal.db'),
      namespace: config.TEMPORAL_NAMESPACE,
      log: (line) => logger.debug(line),
    });
    stops.push(() => server.stop());
    temporalAddress = server.address;
    temporalUi = server.uiUrl;
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

  const api = await startApiServer(
    { ...config, DATABASE_URL: databaseUrl, TEMPORAL_ADDRESS: temporalAddress },
    logger,
  );
  stops.push(() => api.close());

  const worker = await startWorker(
    { ...config, DATABASE_URL: databaseUrl, TEMPORAL_ADDRESS: temporalAddress },
    { info: (line) => logger.info(line), warn: (line) => logger.warn(line) },
  );
  stops.push(() => worker.shutdown());
  worker.running.catch((error: unknown) => {
    logger.error({ err: error }, 'the worker stopped with an error');
    stopAll('worker failure').then(() => process.exit(1));
  });

  say('');
  say(`Glowtify orchestrator is up.`);
  say(`  API          ${api.url}`);
  say(`  API docs     ${api.url}/docs`);
  say(`  Temporal UI  ${temporalUi ?? `(external Temporal at ${temporalAddress})`}`);
  say(`  Admin token  ${config.ADMIN_TOKEN}`);
  say('  Create a workspace:');
  say(
    `    curl -s -X POST ${api.url}/v1/workspaces -H 'Authorization: Bearer ${config.ADMIN_TOKEN}' ` +
      `-H 'Content-Type: application/json' -d '{"name":"My brand"}'`,
  );
  say('Press Ctrl-C to stop everything.');
}

main().catch(async (error: unknown) => {
  process.stderr.write(`start-up failed: ${(error as Error).stack ?? String(error)}\n`);
  await stopAll('start-up failure');
  process.exit(1);
});
