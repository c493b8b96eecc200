// What every admin command works with, from the worker's environment (config.ts): the database, the Temporal
// client, the API's own epic workflow link and transitions, and the actor the audit records (`admin:<name>`).
// Without DATABASE_URL or TEMPORAL_ADDRESS it joins the stack `npm start` runs on this machine (the embedded
// PostgreSQL under DATA_DIR/pg, the dev server on TEMPORAL_DEV_PORT), as the worker it starts does.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { Client } from '@temporalio/client';
import {
  createEpicTransitionRequests,
  type EpicTransitionRequests,
} from '../api/epic-transition-requests.ts';
import { createEpicWorkflows, type EpicWorkflows } from '../api/epic-workflows.ts';
import { createTemporalLink, type TemporalLink } from '../api/temporal.ts';
import { createSummaryFacts } from '../api/workflow-summary-facts.ts';
import { type Config, ConfigError, epicTransitionWaitMs, loadConfig } from '../config.ts';
import { connectDatabase, type Database, type DatabaseConnection } from '../db/client.ts';
import { refusal, usageError } from './failures.ts';

export interface AdminContext {
  config: Config;
  db: Database;
  /** `admin:<name>`: who the audit log says acted. */
  actor: string;
  temporalAddress: string;
  /** The Temporal client; fails with a refusal (exit 1) when Temporal is not reachable. */
  temporal(): Promise<Client>;
  epicWorkflows: EpicWorkflows;
  transitions: EpicTransitionRequests;
  close(): Promise<void>;
}

/** The URL of the embedded PostgreSQL `npm start` runs, when one runs now (its postmaster.pid says its port). */
async function runningDevDatabaseUrl(dataDir: string): Promise<string | null> {
  const pidFile = await readFile(path.join(dataDir, 'pg', 'postmaster.pid'), 'utf8').catch(() => null);
  const [pid, , , port] = pidFile?.split('\n') ?? [];
  if (!pid || !port || !/^\d+$/.test(port)) return null;
  try {
    process.kill(Number(pid), 0);
  } catch {
    return null;
  }
  // The user and password db/embedded-postgres.ts gives the clusters it creates.
  return `postgres://postgres:postgres@127.0.0.1:${port}/postgres`;
}

/** The URL without its password, for messages. */
const shown = (url: string) => url.replace(/\/\/([^:@/]+):[^@/]*@/, '//$1:***@');

export async function openAdminContext(
  env: NodeJS.ProcessEnv,
  options: { actorName: string },
): Promise<AdminContext> {
  let config: Config;
  try {
    // Neither secret is used here (nothing is sealed or opened, no API is served): absent, they stay absent,
    // rather than generated into DATA_DIR by a command that only reads and asks.
    config = loadConfig(
      {
        CREDENTIALS_KEY: Buffer.alloc(32).toString('base64'),
        ADMIN_TOKEN: 'unused-by-the-admin-command',
        ...Object.fromEntries(Object.entries(env).filter(([, value]) => value !== undefined && value !== '')),
      },
      { generateDevSecrets: false },
    );
  } catch (error) {
    if (error instanceof ConfigError) throw usageError(`invalid configuration:\n${error.message}`);
    throw error;
  }
  const databaseUrl = config.DATABASE_URL ?? (await runningDevDatabaseUrl(config.DATA_DIR));
  if (!databaseUrl) {
    throw usageError(
      `DATABASE_URL is not set and no embedded PostgreSQL of \`npm start\` runs under ${config.DATA_DIR}/pg: ` +
        'set DATABASE_URL (and TEMPORAL_ADDRESS) as for the worker',
    );
  }
  const database: DatabaseConnection = connectDatabase(databaseUrl, { max: 2 });
  try {
    await database.sql`select 1`;
  } catch (error) {
    await database.close().catch(() => {});
    throw refusal(`PostgreSQL at ${shown(databaseUrl)} is not reachable: ${(error as Error).message}`);
  }
  const temporalAddress = config.TEMPORAL_ADDRESS ?? `127.0.0.1:${config.TEMPORAL_DEV_PORT}`;
  const link: TemporalLink = createTemporalLink(temporalAddress, config.TEMPORAL_NAMESPACE);
  const epicWorkflows = createEpicWorkflows(link, {
    namespace: config.TEMPORAL_NAMESPACE,
    taskQueue: config.TEMPORAL_TASK_QUEUE,
    transitionWaitMs: epicTransitionWaitMs(config),
    // A run the admin starts (a retry after the error run closed) reads as one the API starts.
    summaryFacts: createSummaryFacts(database.db),
  });
  let client: Client | undefined;
  return {
    config,
    db: database.db,
    actor: `admin:${options.actorName}`,
    temporalAddress,
    async temporal() {
      if (client) return client;
      try {
        client = new Client({ connection: await link.connection(), namespace: config.TEMPORAL_NAMESPACE });
      } catch (error) {
        throw refusal(
          `Temporal at ${temporalAddress} is not reachable: ${(error as Error).message.split('\n')[0]}`,
        );
      }
      return client;
    },
    epicWorkflows,
    transitions: createEpicTransitionRequests({ db: database.db, workflows: epicWorkflows }),
    async close() {
      await link.close();
      await database.close().catch(() => {});
    },
  };
}
