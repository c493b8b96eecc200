// The database connection (postgres.js + drizzle) and migrations, shared by the API, the worker and tests.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { drizzle, type PostgresJsDatabase } from 'drizzle-orm/postgres-js';
import { migrate } from 'drizzle-orm/postgres-js/migrator';
import postgres from 'postgres';
import * as schema from './schema.ts';

/** Drizzle over postgres.js; `$client` is the postgres.js pool beneath, for queries written in SQL. */
export type Database = PostgresJsDatabase<typeof schema> & { $client: postgres.Sql };

export interface DatabaseConnection {
  db: Database;
  sql: postgres.Sql;
  close(): Promise<void>;
}

const migrationsFolder = path.join(path.dirname(fileURLToPath(import.meta.url)), 'migrations');

export function connectDatabase(url: string, options: { max?: number } = {}): DatabaseConnection {
  const sql = postgres(url, {
    max: options.max ?? 10,
    onnotice: () => {},
    // A dead server must fail a query quickly so /readyz can say so instead of hanging.
    connect_timeout: 5,
    // Parameters typed from their JavaScript values, as postgres.js 3 did and the queries here were written
    // for (4 leaves them to the server). 4 is here because 3 died of a PostgreSQL restart: a deferred write to
    // a connection the restart had closed threw where nothing could catch it (test/database-restart.test.ts).
    infer: true,
  });
  const db = drizzle(sql, { schema });
  return { db, sql, close: () => sql.end({ timeout: 5 }) };
}

export async function runMigrations(connection: DatabaseConnection): Promise<void> {
  // Two processes starting at once (API and worker) must not both apply a migration.
  const lock = await connection.sql.reserve();
  try {
    await lock`select pg_advisory_lock(7426001)`;
    try {
      await migrate(connection.db, { migrationsFolder });
    } finally {
      await lock`select pg_advisory_unlock(7426001)`;
    }
  } finally {
    // Released even when the unlock failed (a lost connection takes its session lock with it).
    lock.release();
  }
}

/** Resolves once PostgreSQL answers, retrying with capped backoff and one clear log line per failure. */
export async function waitForDatabase(
  connection: DatabaseConnection,
  log: (message: string) => void,
  signal?: AbortSignal,
): Promise<void> {
  let delayMs = 200;
  for (;;) {
    try {
      await connection.sql`select 1`;
      return;
    } catch (error) {
      if (signal?.aborted) throw error;
      log(`waiting for PostgreSQL (${(error as Error).message}); retrying in ${delayMs} ms`);
      await new Promise((resolve) => setTimeout(resolve, delayMs));
      delayMs = Math.min(delayMs * 2, 5_000);
    }
  }
}

export type Transaction = Parameters<Parameters<Database['transaction']>[0]>[0];
/** Either the pool or an open transaction: helpers that write take this so callers choose atomicity. */
export type Executor = Database | Transaction;
