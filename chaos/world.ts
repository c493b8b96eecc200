// The chaos run's world: the test stack (API in this process, the Meta, LinkedIn and Klaviyo simulators), on a
// Temporal dev server and a PostgreSQL server that can be SIGKILLed and started again on their own files, and
// worker processes (as in production) that can be SIGKILLed and started again.
import { appendFileSync, mkdirSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { type BenchProcess, startNodeProcess } from '../bench/processes.ts';
import { type EmbeddedPostgres, startEmbeddedPostgres } from '../db/embedded-postgres.ts';
import { resolveTemporalCli } from '../dev/temporal-cli.ts';
import { getFreePort, startTemporalDevServer, type TemporalDevServer } from '../dev/temporal-dev-server.ts';
import { type Stack, startStack } from '../test/support/stack.ts';

/**
 * Retries come back within seconds and outlast a platform outage of a minute (1, 2, 4, 8, then every 15 s:
 * ten attempts span about two minutes); a dead worker's attempt is given up after 5 s without a heartbeat.
 */
export const chaosConfig: Record<string, string> = {
  PUBLICATION_ATTEMPTS_LIMIT: '10',
  PUBLICATION_RETRY_INITIAL_INTERVAL_MS: '1000',
  PUBLICATION_RETRY_MAX_INTERVAL_MS: '15000',
  PUBLICATION_HEARTBEAT_TIMEOUT_MS: '5000',
  HANDOFF_CONFIRMATION_POLL_MS: '1000',
  HANDOFF_CONFIRMATION_WINDOW_MS: '600000',
};

export interface ChaosWorld {
  stack: Stack;
  /** Alive worker processes. */
  workers(): number;
  killWorkers(): Promise<number>;
  /** Starts workers until `count` run. */
  startWorkers(): Promise<void>;
  killTemporal(): Promise<void>;
  startTemporal(): Promise<void>;
  killPostgres(): Promise<void>;
  startPostgres(): Promise<void>;
  close(): Promise<void>;
}

export async function startChaosWorld(options: {
  workers: number;
  log: (line: string) => void;
  /** Where the workers' warnings go (their failed attempts are expected here, by the hundred). */
  workerLogFile: string;
}): Promise<ChaosWorld> {
  mkdirSync(path.dirname(options.workerLogFile), { recursive: true });
  const workerLog = (name: string) => (line: string) =>
    appendFileSync(options.workerLogFile, `${name}: ${line}\n`);
  const tempDir = await mkdtemp(path.join(os.tmpdir(), 'glowtify-chaos-'));
  const pgDataDir = path.join(tempDir, 'pg');
  const pgPort = await getFreePort();
  // Durable, as in production: the tests' throwaway clusters turn synchronous_commit off, and a server killed
  // then loses the transactions it committed in its last few hundred milliseconds (measured: 2,951 of 54,042
  // commits across four kills), which the first chaos runs took for publications the product had lost.
  const startPostgres = () => startEmbeddedPostgres({ dataDir: pgDataDir, port: pgPort, ephemeral: false });
  let postgres: EmbeddedPostgres | null = await startPostgres();
  // The stack's API harness makes its database on this server (test/support/postgres.ts).
  process.env.TEST_DATABASE_URL = postgres.url;

  const temporalDbFile = path.join(tempDir, 'temporal.db');
  const stack = await startStack({
    withWorker: false,
    platforms: {},
    config: chaosConfig,
    temporalDbFile,
  });
  const cliPath = await resolveTemporalCli();
  const temporalPort = Number(stack.temporal.address.split(':').at(-1));
  let temporal: TemporalDevServer | null = stack.temporal;

  const workers: BenchProcess[] = [];
  let workerNumber = 0;
  // Kills and starts of workers never overlap: a kill waits for a start under way, and the other way round.
  let workerChanges: Promise<unknown> = Promise.resolve();
  const serially = <T>(change: () => Promise<T>): Promise<T> => {
    const next = workerChanges.then(change, change);
    workerChanges = next.catch(() => undefined);
    return next;
  };

  const world: ChaosWorld = {
    stack,
    workers: () => workers.length,
    killWorkers: () =>
      serially(async () => {
        const killed = workers.splice(0);
        await Promise.all(killed.map((worker) => worker.kill()));
        return killed.length;
      }),
    startWorkers: () =>
      serially(async () => {
        while (workers.length < options.workers) {
          workerNumber += 1;
          workers.push(
            await startNodeProcess(
              `worker ${workerNumber}`,
              'worker.ts',
              { ...stack.workerEnv, MALLOC_ARENA_MAX: '2', LOG_LEVEL: 'info' },
              'worker polling task queue',
              [],
              180_000,
              workerLog(`worker ${workerNumber}`),
            ),
          );
        }
      }),
    async killTemporal() {
      if (!temporal) return;
      temporal.process.kill('SIGKILL');
      await temporal.stop();
      temporal = null;
    },
    async startTemporal() {
      if (temporal) return;
      temporal = await startTemporalDevServer({
        cliPath,
        port: temporalPort,
        uiPort: false,
        dbFile: temporalDbFile,
        timeoutMs: 60_000,
      });
    },
    async killPostgres() {
      if (!postgres) return;
      const pid = Number(
        (await readFile(path.join(postgres.dataDir, 'postmaster.pid'), 'utf8')).split('\n')[0],
      );
      process.kill(pid, 'SIGKILL');
      // Resolves once its backends are gone too: the port is free for the next start.
      await postgres.stop();
      postgres = null;
    },
    async startPostgres() {
      if (postgres) return;
      postgres = await startPostgres();
    },
    async close() {
      await serially(async () => {
        await Promise.all(workers.splice(0).map((worker) => worker.stop()));
      });
      await world.startTemporal().catch(() => undefined);
      await world.startPostgres().catch(() => undefined);
      await stack.close().catch((error: unknown) => options.log(`closing the stack: ${String(error)}`));
      if (temporal !== stack.temporal) await temporal?.stop();
      await postgres?.stop();
      delete process.env.TEST_DATABASE_URL;
      await rm(tempDir, { recursive: true, force: true });
    },
  };
  await world.startWorkers();
  return world;
}
