// Starts the Temporal worker: waits for Temporal and PostgreSQL with backoff (never a crash, never a silent
// idle), registers the workflow bundle and the activities, and shuts down gracefully on SIGINT/SIGTERM.
import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Client } from '@temporalio/client';
import { NativeConnection, Runtime, Worker, type WorkerOptions } from '@temporalio/worker';
import { createActivities, publishPolicyFrom } from './activities/index.ts';
import { createWebhookActivities } from './activities/webhooks.ts';
import { type Config, loadConfigOrExit, stuckPublicationAfterMs } from './config.ts';
import { createMediaProbe } from './connectors/media.ts';
import { type AdapterRegistry, createAdapters } from './connectors/registry.ts';
import { connectDatabase, type DatabaseConnection, waitForDatabase } from './db/client.ts';
import { scheduleOperationsSweep } from './events/operations-sweep-schedule.ts';
import { startWebhookPump } from './events/webhook-pump.ts';
import { createLogger, temporalLogger } from './observability/logger.ts';
import { createWorkerMetrics, type WorkerMetrics } from './observability/metrics.ts';
import { freeLoopbackPort, serveMetrics } from './observability/metrics-server.ts';
import { webhookTaskQueue } from './workflows/webhook-delivery-messages.ts';

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
  /** What its activities count (served at the worker's /metrics). */
  metrics: WorkerMetrics;
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
    metrics?: WorkerMetrics;
  } = {},
): Promise<StartedWorker> {
  const database = connectDatabase(config.DATABASE_URL, { max: config.DATABASE_POOL_SIZE });
  await waitForDatabase(database, (line) => log.warn(line), options.signal);
  const connection = await connectToTemporal(config.TEMPORAL_ADDRESS, log, options.signal);
  const metrics = options.metrics ?? createWorkerMetrics();
  const identity = options.identity ?? `glowtify-worker@${os.hostname()}:${process.pid}`;
  if (!options.workflowBundlePath && !existsSync(workflowsPath)) {
    // A compiled build (dist/) has no workflow sources to bundle: it runs the bundle `npm run build` wrote.
    throw new Error(
      `no workflow sources at ${workflowsPath}: set WORKFLOW_BUNDLE_PATH to the bundle npm run build wrote (dist/workflow-bundle.js)`,
    );
  }
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
      metrics,
      operations: {
        overdueThresholdMs: config.OVERDUE_THRESHOLD_MS,
        stuckAfterMs: stuckPublicationAfterMs(config),
      },
    }),
  });
  // Webhook deliveries on a task queue of their own, with their own slots: receivers that hang never hold
  // the slots publications are tried in.
  const webhookWorker = await Worker.create({
    connection,
    namespace: config.TEMPORAL_NAMESPACE,
    taskQueue: webhookTaskQueue(config.TEMPORAL_TASK_QUEUE),
    identity,
    maxConcurrentActivityTaskExecutions: config.WEBHOOK_MAX_CONCURRENT_ROUNDS,
    activities: createWebhookActivities({
      sql: database.sql,
      credentialsKeys: config.CREDENTIALS_KEY,
      allowPrivateHosts: config.WEBHOOK_ALLOW_PRIVATE_HOSTS,
      metrics,
    }),
  });
  log.info(
    `worker polling task queue ${config.TEMPORAL_TASK_QUEUE} in namespace ${config.TEMPORAL_NAMESPACE}`,
  );
  const client = new Client({ connection, namespace: config.TEMPORAL_NAMESPACE });
  // Webhooks wait for a notification or the pump's sweep; publishing never waits for them.
  const pump = await startWebhookPump({
    sql: database.sql,
    client,
    taskQueue: config.TEMPORAL_TASK_QUEUE,
    log,
  }).catch((error: Error) => {
    log.warn(`webhook notifications not listened to (${error.message}); deliveries wait for the sweep`);
    return null;
  });
  await scheduleOperationsSweep(client, {
    taskQueue: config.TEMPORAL_TASK_QUEUE,
    everyMs: config.OPERATIONS_SWEEP_INTERVAL_MS,
  }).catch((error: Error) =>
    // The next worker to start tries again; the missing-run guarantee waits for it, nothing else does.
    log.warn(`could not schedule the operations sweep: ${error.message.split('\n')[0]}`),
  );
  // Either worker stopping (shutdown, a fatal error) stops the other.
  const stopBoth = () => {
    for (const each of [worker, webhookWorker]) if (each.getState() === 'RUNNING') each.shutdown();
  };
  const running = Promise.allSettled([worker.run().finally(stopBoth), webhookWorker.run().finally(stopBoth)])
    .then((results) => {
      const failed = results.find((result) => result.status === 'rejected');
      if (failed) throw failed.reason;
    })
    .finally(async () => {
      await pump?.stop();
      await connection.close().catch(() => {});
      await database.close().catch(() => {});
    });
  return {
    worker,
    database,
    metrics,
    running,
    async shutdown() {
      stopBoth();
      await running;
    },
  };
}

async function main() {
  const config = loadConfigOrExit();
  const logger = createLogger('worker', config.LOG_LEVEL);
  if (!config.TEMPORAL_ADDRESS || !config.DATABASE_URL) {
    logger.error(
      'TEMPORAL_ADDRESS and DATABASE_URL are required to run the worker alone (npm start sets both)',
    );
    process.exit(1);
  }
  // Activity and workflow lines go through the service's logger with their workflow ids; the SDK's worker
  // metrics are exported on a loopback port and served with the worker's own at WORKER_METRICS_PORT.
  const sdkMetricsPort = config.WORKER_METRICS_PORT === 0 ? undefined : await freeLoopbackPort();
  Runtime.install({
    logger: temporalLogger(logger),
    ...(sdkMetricsPort === undefined
      ? {}
      : { telemetryOptions: { metrics: { prometheus: { bindAddress: `127.0.0.1:${sdkMetricsPort}` } } } }),
  });
  const log: WorkerLog = { info: (line) => logger.info(line), warn: (line) => logger.warn(line) };
  const metrics = createWorkerMetrics({ processMetrics: true });
  // A metrics port already taken (another worker on this host) costs the figures, never the publishing.
  const served =
    sdkMetricsPort === undefined
      ? undefined
      : await serveMetrics({
          host: config.WORKER_METRICS_HOST,
          port: config.WORKER_METRICS_PORT,
          registry: metrics.registry,
          sdkMetricsUrl: `http://127.0.0.1:${sdkMetricsPort}/metrics`,
        }).catch((error: Error) => {
          logger.error(
            `worker metrics not served on ${config.WORKER_METRICS_HOST}:${config.WORKER_METRICS_PORT} (${error.message}); set WORKER_METRICS_PORT to a free port, or 0`,
          );
          return undefined;
        });
  if (served) logger.info(`worker metrics at ${served.url}`);
  const started = await startWorker(
    { ...config, TEMPORAL_ADDRESS: config.TEMPORAL_ADDRESS, DATABASE_URL: config.DATABASE_URL },
    log,
    { workflowBundlePath: process.env.WORKFLOW_BUNDLE_PATH || undefined, metrics },
  );
  // The SDK's runtime turns SIGINT/SIGTERM into a graceful shutdown: in-flight activities finish first.
  await started.running;
  await served?.close();
  logger.info('worker stopped');
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((error: unknown) => {
    process.stderr.write(`worker failed: ${(error as Error).stack ?? String(error)}\n`);
    process.exit(1);
  });
}
