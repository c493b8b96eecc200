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
  /** Workers that ended without being stopped or killed, and how. */
  crashes(): string[];
  killWorkers(): Promise<number>;
  /** Starts workers until `count` run. */
  startWorkers(): Promise<void>;
  /** False when it was down already (another fault's doing): nothing was killed. */
  killTemporal(): Promise<boolean>;
  startTemporal(): Promise<void>;
  killPostgres(): Promise<boolean>;
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
  const crashes: string[] = [];
  // One change at a time for each kind of process: a start never races another start or a kill of the same
  // server (two servers on one port and one data directory). Worker kills alone go at once: a kill "as the
  // platform answered" must not wait behind a start.
  const queue = () => {
    let last: Promise<unknown> = Promise.resolve();
    return <T>(change: () => Promise<T>): Promise<T> => {
      const next = last.then(change, change);
      last = next.catch(() => undefined);
      return next;
    };
  };
  const workerStarts = queue();
  const temporalChanges = queue();
  const postgresChanges = queue();

  const world: ChaosWorld = {
    stack,
    workers: () => workers.length,
    crashes: () => [...crashes],
    async killWorkers() {
      const killed = workers.splice(0);
      await Promise.all(killed.map((worker) => worker.kill()));
      return killed.length;
    },
    startWorkers: () =>
      workerStarts(async () => {
        while (workers.length < options.workers) {
          workerNumber += 1;
          const name = `worker ${workerNumber}`;
          const worker = await startNodeProcess(
            name,
            'worker.ts',
            { ...stack.workerEnv, MALLOC_ARENA_MAX: '2', LOG_LEVEL: 'info' },
            'worker polling task queue',
            [],
            180_000,
            workerLog(name),
            (how) => {
              // Nobody killed it: it died of something, which the run must not hide behind a restart.
              crashes.push(`${name}: ${how}`);
              options.log(`${name} CRASHED (${how}); see ${options.workerLogFile}`);
              const index = workers.indexOf(worker);
              if (index >= 0) workers.splice(index, 1);
            },
          );
          workers.push(worker);
        }
      }),
    killTemporal: () =>
      temporalChanges(async () => {
        if (!temporal) return false;
        temporal.process.kill('SIGKILL');
        await temporal.stop();
        temporal = null;
        return true;
      }),
    startTemporal: () =>
      temporalChanges(async () => {
        if (temporal) return;
        temporal = await startTemporalDevServer({
          cliPath,
          port: temporalPort,
          uiPort: false,
          dbFile: temporalDbFile,
          timeoutMs: 60_000,
        });
      }),
    killPostgres: () =>
      postgresChanges(async () => {
        if (!postgres) return false;
        const pid = Number(
          (await readFile(path.join(postgres.dataDir, 'postmaster.pid'), 'utf8')).split('\n')[0],
        );
        process.kill(pid, 'SIGKILL');
        // Resolves once its backends are gone too: the port is free for the next start.
        await postgres.stop();
        postgres = null;
        return true;
      }),
    startPostgres: () =>
      postgresChanges(async () => {
        if (postgres) return;
        postgres = await startPostgres();
      }),
    async close() {
      await workerStarts(async () => {
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
