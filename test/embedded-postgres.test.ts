// The embedded PostgreSQL server: data survives restarts, a SIGKILLed run does not block the next start,
// stop() leaves no process behind, and each useTestDatabase() call gets a fresh, empty database.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import postgres from 'postgres';
import { createDatabase, dropDatabase, startEmbeddedPostgres } from '../db/embedded-postgres.ts';
import { useTestDatabase } from './support/postgres.ts';

const tempDirs: string[] = [];

async function tempDir(): Promise<string> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'glowtify-embedded-pg-test-'));
  tempDirs.push(dir);
  return dir;
}

after(async () => {
  for (const dir of tempDirs) await fs.rm(dir, { recursive: true, force: true });
});

/** Live processes whose working directory is the data directory (every PostgreSQL process of a cluster). */
async function clusterProcesses(dataDir: string): Promise<number[]> {
  const pids: number[] = [];
  for (const entry of await fs.readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const cwd = await fs.readlink(`/proc/${entry}/cwd`).catch(() => undefined);
    if (cwd === dataDir) pids.push(Number(entry));
  }
  return pids;
}

async function query<T extends object>(url: string, run: (sql: postgres.Sql) => Promise<T[]>): Promise<T[]> {
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  try {
    return await run(sql);
  } finally {
    await sql.end({ timeout: 5 });
  }
}

test('data persists across a stop and a start on the same data directory', async () => {
  const dataDir = path.join(await tempDir(), 'pg');
  const first = await startEmbeddedPostgres({ dataDir, ephemeral: true });
  assert.match(first.url, /^postgres:\/\/postgres:postgres@127\.0\.0\.1:\d+\/postgres$/);
  assert.ok((await clusterProcesses(first.dataDir)).length > 0, 'the server runs in its data directory');
  await query(first.url, (sql) => sql`create table kept (value text)`);
  await query(first.url, (sql) => sql`insert into kept values ('survives')`);
  await first.stop();
  await first.stop(); // idempotent
  assert.deepEqual(await clusterProcesses(first.dataDir), []);
  assert.equal(existsSync(path.join(first.dataDir, 'postmaster.pid')), false);

  const second = await startEmbeddedPostgres({ dataDir, ephemeral: true });
  try {
    assert.equal(second.dataDir, first.dataDir);
    const rows = await query(second.url, (sql) => sql<{ value: string }[]>`select value from kept`);
    assert.deepEqual(
      rows.map((row) => row.value),
      ['survives'],
    );
  } finally {
    await second.stop();
  }
  assert.deepEqual(await clusterProcesses(second.dataDir), []);
});

test('a postmaster killed with SIGKILL does not prevent the next start', async () => {
  const dataDir = path.join(await tempDir(), 'pg');
  // Not ephemeral: with synchronous_commit off a SIGKILL may lose the last commits, as it should.
  const crashed = await startEmbeddedPostgres({ dataDir });
  await query(crashed.url, (sql) => sql`create table kept (value text)`);
  await query(crashed.url, (sql) => sql`insert into kept values ('committed before the crash')`);
  const pidFile = path.join(crashed.dataDir, 'postmaster.pid');
  const postmaster = Number((await fs.readFile(pidFile, 'utf8')).split('\n')[0]);
  process.kill(postmaster, 'SIGKILL');
  // The owner notices the death (its child exits) and stop() then waits out the orphaned backends.
  await crashed.stop();
  assert.deepEqual(await clusterProcesses(crashed.dataDir), []);
  assert.ok(existsSync(pidFile), 'a SIGKILLed postmaster leaves its postmaster.pid behind');

  const restarted = await startEmbeddedPostgres({ dataDir });
  try {
    const rows = await query(restarted.url, (sql) => sql<{ value: string }[]>`select value from kept`);
    assert.deepEqual(
      rows.map((row) => row.value),
      ['committed before the crash'],
    );
  } finally {
    await restarted.stop();
  }
  assert.deepEqual(await clusterProcesses(restarted.dataDir), []);
});

test('a stale postmaster.pid naming another live process does not prevent start', async () => {
  const dataDir = path.join(await tempDir(), 'pg');
  const server = await startEmbeddedPostgres({ dataDir, ephemeral: true });
  await server.stop();
  // PID reuse after a crash: PostgreSQL alone would refuse to start while that pid is alive.
  const pidFile = path.join(server.dataDir, 'postmaster.pid');
  await fs.writeFile(pidFile, `${process.pid}\n${server.dataDir}\n`);
  const restarted = await startEmbeddedPostgres({ dataDir, ephemeral: true });
  await restarted.stop();
  assert.deepEqual(await clusterProcesses(restarted.dataDir), []);
});

test('createDatabase and dropDatabase', async () => {
  const server = await startEmbeddedPostgres({ dataDir: path.join(await tempDir(), 'pg'), ephemeral: true });
  try {
    const url = await createDatabase(server.url, 'made_here');
    assert.equal(new URL(url).pathname, '/made_here');
    const holder = postgres(url, { max: 1 });
    await holder`select 1`;
    // WITH (FORCE) ends the open session instead of failing.
    await dropDatabase(server.url, 'made_here');
    await holder.end({ timeout: 1 }).catch(() => {});
    const rows = await query(server.url, (sql) => sql`select 1 from pg_database where datname = 'made_here'`);
    assert.equal(rows.length, 0);
    await dropDatabase(server.url, 'made_here'); // absent: no error
  } finally {
    await server.stop();
  }
});

test('useTestDatabase gives a fresh, empty database on each call', async () => {
  const first = await useTestDatabase();
  const second = await useTestDatabase();
  try {
    assert.notEqual(first.url, second.url);
    for (const { url } of [first, second]) {
      const tables = await query(
        url,
        (sql) => sql`select table_name from information_schema.tables where table_schema = 'public'`,
      );
      assert.equal(tables.length, 0);
    }
    await query(first.url, (sql) => sql`create table only_in_first (id int)`);
    const inSecond = await query(
      second.url,
      (sql) => sql`select 1 from information_schema.tables where table_name = 'only_in_first'`,
    );
    assert.equal(inSecond.length, 0);
  } finally {
    await first.close();
    await second.close();
  }
});
