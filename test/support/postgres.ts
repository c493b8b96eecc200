// A fresh, empty PostgreSQL database for a test file: on TEST_DATABASE_URL/DATABASE_URL's server when set
// (CI), else on an embedded server private to this process, never the developer's DATA_DIR.
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import {
  createDatabase,
  dropDatabase,
  type EmbeddedPostgres,
  startEmbeddedPostgres,
  uniqueDatabaseName,
} from '../../db/embedded-postgres.ts';

export interface TestDatabase {
  url: string;
  close(): Promise<void>;
}

interface SharedServer {
  server: EmbeddedPostgres;
  tempDir: string;
}

// One embedded server per process (node --test runs each file in its own), shared by its databases and
// stopped when the last of them is closed.
let shared: Promise<SharedServer> | undefined;
let users = 0;

async function startSharedServer(): Promise<SharedServer> {
  const tempDir = await fs.mkdtemp(path.join(os.tmpdir(), 'glowtify-test-pg-'));
  try {
    const server = await startEmbeddedPostgres({
      dataDir: path.join(tempDir, 'pg'),
      ephemeral: true,
      log: process.env.TEST_POSTGRES_LOG ? (line) => process.stderr.write(`[postgres] ${line}\n`) : undefined,
    });
    return { server, tempDir };
  } catch (error) {
    await fs.rm(tempDir, { recursive: true, force: true });
    throw error;
  }
}

async function release(): Promise<void> {
  users -= 1;
  if (users > 0 || !shared) return;
  const current = shared;
  shared = undefined;
  const started = await current.catch(() => undefined);
  if (!started) return;
  await started.server.stop();
  await fs.rm(started.tempDir, { recursive: true, force: true });
}

export async function useTestDatabase(): Promise<TestDatabase> {
  const name = uniqueDatabaseName('test');
  const externalUrl = process.env.TEST_DATABASE_URL || process.env.DATABASE_URL;
  if (externalUrl) {
    const url = await createDatabase(externalUrl, name);
    let closing: Promise<void> | undefined;
    return {
      url,
      close: () => {
        closing ??= dropDatabase(externalUrl, name);
        return closing;
      },
    };
  }

  users += 1;
  let url: string;
  try {
    shared ??= startSharedServer();
    const { server } = await shared;
    url = await createDatabase(server.url, name);
  } catch (error) {
    // Also forgets a failed start, so that a later caller tries again.
    await release();
    throw error;
  }
  let closing: Promise<void> | undefined;
  return {
    url,
    close: () => {
      // The database goes with the server's temp directory; it is dropped only when the server stays up.
      closing ??= (async () => {
        if (users > 1) {
          const { server } = await shared!;
          await dropDatabase(server.url, name);
        }
        await release();
      })();
      return closing;
    },
  };
}
