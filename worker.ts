// Starts the Temporal worker: waits for Temporal and PostgreSQL with backoff (never a crash, never a silent
// idle), registers the workflow bundle and the activities, and shuts down gracefully on SIGINT/SIGTERM.
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { DefaultLogger, NativeConnection, Runtime, Worker, type WorkerOptions } from '@temporalio/worker';
import { pino } from 'pino';
import { createActivities, publishPolicyFrom } from './activities/index.ts';
import { type Config, loadConfigOrExit } from './config.ts';
import { createMediaProbe } from './connectors/media.ts';
import { type AdapterRegistry, createAdapters } from './connectors/registry.ts';
import { connectDatabase, type DatabaseConnection, waitForDatabase } from './db/client.ts';

const workflowsPath = path.join(path.dirname(fileURLToPath(import.meta.url)), 'workflows', 'index.ts');

export interface WorkerLog {
  info(message: string): void;
  warn(message: string): void;
}

/** Connects to Temporal, retrying with capped backoff and one clear line per failed try. */
export async function connectToTemporal(address: string, log: WorkerLog, signal?: AbortSignal) {
  let delayMs = 250;
  for (;;) {
    try {
      const connection = await NativeConnection.connect({ address });
      log.info(`connected to Temporal at ${address}`);
      return connection;
    } catch (error) {
      if (signal?.aborted) throw error;
      log.warn(
        `waiting for Temporal at ${address} (${(error as Error).message.split('\n')[0]}); retrying in ${delayMs} ms`,
      );
      await new Promise((resolve) => setTimeout(resolve, delayMs));
      delayMs = Math.min(delayMs * 2, 5_000);
    }
  }
}

export interface StartedWorker {
  worker: Worker;
  database: DatabaseConnection;
  /** Settles when the worker stops (after shutdown() or a fatal error). */
  running: Promise<void>;
  shutdown(): Promise<void>;
}

export async function startWorker(
  config: Config & { TEMPORAL_ADDRESS: string; DATABASE_URL: string },
  log: WorkerLog,
  options: {
    signal?: AbortSignal;
    workflowBundlePath?: string;
    identity?: string;
    adapters?: AdapterRegistry;
  } = {},
): Promise<StartedWorker> {
  const database = connectDatabase(config.DATABASE_URL, { max: config.DATABASE_POOL_SIZE });
  await waitForDatabase(database, (line) => log.warn(line), options.signal);
  const connection = await connectToTemporal(config.TEMPORAL_ADDRESS, log, options.signal);
  const identity = options.identity ?? `glowtify-worker@${os.hostname()}:${process.pid}`;
  const workflowSource: Pick<WorkerOptions, 'workflowsPath' | 'workflowBundle'> = options.workflowBundlePath
    ? { workflowBundle: { codePath: options.workflowBundlePath } }
    : { workflowsPath };
  const worker = await Worker.create({
    connection,
    namespace: config.TEMPORAL_NAMESPACE,
    taskQueue: config.TEMPORAL_TASK_QUEUE,
    identity,
    ...workflowSource,
    // Heartbeats reach the server at least every 2 s, so an unschedule's cancellation reaches a hand-off
    // attempt in seconds (by default the SDK waits up to 0.8 × the heartbeat time-out).
    maxHeartbeatThrottleInterval: '2 seconds',
    maxCachedWorkflows: config.WORKER_MAX_CACHED_WORKFLOWS,
    maxConcurrentActivityTaskExecutions: config.WORKER_MAX_CONCURRENT_ACTIVITIES,
    maxConcurrentWorkflowTaskExecutions: config.WORKER_MAX_CONCURRENT_WORKFLOW_TASKS,
    activities: createActivities({
      db: database.db,
      workerIdentity: identity,
      credentialsKeys: config.CREDENTIALS_KEY,
      adapters: options.adapters ?? createAdapters(config),
      policy: publishPolicyFrom(config),
      mediaProbe: createMediaProbe({ allowPrivateHosts: config.MEDIA_ALLOW_PRIVATE_HOSTS }),
    }),
  });
  log.info(
    `worker polling task queue ${config.TEMPORAL_TASK_QUEUE} in namespace ${config.TEMPORAL_NAMESPACE}`,
  );
  const running = worker.run().finally(async () => {
    await connection.close().catch(() => {});
    await database.close().catch(() => {});
  });
  return {
    worker,
    database,
    running,
    async shutdown() {
      if (worker.getState() === 'RUNNING') worker.shutdown();
      await running;
    },
  };
}

async function main() {
  const config = loadConfigOrExit();
  const logger = pino({ level: config.LOG_LEVEL, name: 'worker' });
  if (!config.TEMPORAL_ADDRESS || !config.DATABASE_URL) {
    logger.error(
      'TEMPORAL_ADDRESS and DATABASE_URL are required to run the worker alone (npm start sets both)',
    );
    process.exit(1);
  }
  // The SDK's own info lines (the bundler's module list) drown the service's; warnings still show.
  Runtime.install({ logger: new DefaultLogger('WARN') });
  const log: WorkerLog = { info: (line) => logger.info(line), warn: (line) => logger.warn(line) };
  const started = await startWorker(
    { ...config, TEMPORAL_ADDRESS: config.TEMPORAL_ADDRESS, DATABASE_URL: config.DATABASE_URL },
    log,
    { workflowBundlePath: process.env.WORKFLOW_BUNDLE_PATH || undefined },
  );
  // The SDK's runtime turns SIGINT/SIGTERM into a graceful shutdown: in-flight activities finish first.
  await started.running;
  logger.info('worker stopped');
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((error: unknown) => {
    process.stderr.write(`worker failed: ${(error as Error).stack ?? String(error)}\n`);
    process.exit(1);
  });
}
