// The production engine without Docker (SPEC §10): finds or builds the real Temporal server and its
// `temporal-sql-tool` from the Go module proxy into a cache outside the repo, and runs it on PostgreSQL with
// the schema set up as docker-compose's auto-setup does, the namespace created and the search attributes
// of SPEC §8 registered. `npm run topology` runs the app's processes against it.
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { chmod, mkdir, mkdtemp, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';
import { parse, stringify } from 'yaml';
import { isPortFree, searchAttributes } from './temporal-dev-server.ts';
import {
  completedInstall,
  exists,
  findOnPath,
  INSTALL_MARKER,
  isErrno,
  isExecutable,
  removeAbandonedTempDirs,
} from './tool-cache.ts';

export const TEMPORAL_SERVER_VERSION = '1.32.0';
const MODULE = 'go.temporal.io/server';
/** The module's packages built, and the names the binaries get (those of Temporal's own releases). */
const BINARIES = [
  { pkg: `${MODULE}/cmd/server`, built: 'server', name: 'temporal-server' },
  { pkg: `${MODULE}/cmd/tools/sql`, built: 'sql', name: 'temporal-sql-tool' },
] as const;
/** The module's files the server needs at run time beside its binaries, copied into the install. */
const CONFIG_TEMPLATE = 'config/development-postgres12.yaml';
const DYNAMIC_CONFIG_TEMPLATE = 'config/dynamicconfig/development-sql.yaml';
const SCHEMA_DIR = 'schema/postgresql/v12';
const ENVIRONMENT = 'development-postgres12';

const run = promisify(execFile);

/** A built server: `<dir>/bin/temporal-server`, `<dir>/bin/temporal-sql-tool`, the schema and config templates. */
export interface TemporalServerInstall {
  dir: string;
  server: string;
  sqlTool: string;
  /** `schema/postgresql/v12`: `temporal/versioned` and `visibility/versioned` */
  schemaDir: string;
  configTemplate: string;
  dynamicConfigTemplate: string;
}

const layout = (dir: string): TemporalServerInstall => ({
  dir,
  server: join(dir, 'bin', 'temporal-server'),
  sqlTool: join(dir, 'bin', 'temporal-sql-tool'),
  schemaDir: join(dir, SCHEMA_DIR),
  configTemplate: join(dir, CONFIG_TEMPLATE),
  dynamicConfigTemplate: join(dir, DYNAMIC_CONFIG_TEMPLATE),
});

export interface ResolveTemporalServerOptions {
  log?: (line: string) => void;
  env?: NodeJS.ProcessEnv;
}

/**
 * `TEMPORAL_SERVER_DIR` (a directory laid out as the cache is); else the cache
 * `~/.cache/glowtify/temporal-server-1.32.0/`; else `go install` builds it there (about 7 minutes on 2 cores
 * with empty Go caches, which are kept under `~/.cache/glowtify/go/` for the next build).
 */
export async function resolveTemporalServer(
  options: ResolveTemporalServerOptions = {},
): Promise<TemporalServerInstall> {
  const env = options.env ?? process.env;
  const log = options.log ?? ((line: string) => console.error(line));

  const explicit = env.TEMPORAL_SERVER_DIR;
  if (explicit) {
    const install = layout(resolve(explicit));
    if (!(await isComplete(install))) {
      throw new Error(
        `TEMPORAL_SERVER_DIR is set to ${explicit}, but it does not hold bin/temporal-server, ` +
          `bin/temporal-sql-tool, ${SCHEMA_DIR}/ and ${CONFIG_TEMPLATE}`,
      );
    }
    return install;
  }

  const cacheRoot = join(env.XDG_CACHE_HOME || join(env.HOME || homedir(), '.cache'), 'glowtify');
  const cacheDir = join(cacheRoot, `temporal-server-${TEMPORAL_SERVER_VERSION}`);
  const cached = await usableCache(cacheDir, env);
  if (cached) return cached;
  return install(cacheRoot, cacheDir, env, log);
}

async function isComplete(install: TemporalServerInstall): Promise<boolean> {
  return (
    (await isExecutable(install.server)) &&
    (await isExecutable(install.sqlTool)) &&
    (await exists(join(install.schemaDir, 'temporal', 'versioned'))) &&
    (await exists(join(install.schemaDir, 'visibility', 'versioned'))) &&
    (await exists(install.configTemplate)) &&
    (await exists(install.dynamicConfigTemplate))
  );
}

async function usableCache(cacheDir: string, env: NodeJS.ProcessEnv): Promise<TemporalServerInstall | null> {
  const install = layout(cacheDir);
  const works = async () =>
    (await isComplete(install)) && (await serverVersion(install.server, env)) === TEMPORAL_SERVER_VERSION;
  return (await completedInstall(cacheDir, works)) ? install : null;
}

async function serverVersion(server: string, env: NodeJS.ProcessEnv): Promise<string | null> {
  // e.g. "temporal version 1.32.0"
  const output = await run(server, ['--version'], { env, timeout: 15_000 }).then(
    ({ stdout }) => stdout,
    () => '',
  );
  return /version v?(\d+\.\d+\.\d+)/.exec(output)?.[1] ?? null;
}

async function install(
  cacheRoot: string,
  cacheDir: string,
  env: NodeJS.ProcessEnv,
  log: (line: string) => void,
): Promise<TemporalServerInstall> {
  const go = await findOnPath('go', env.PATH ?? '');
  if (!go) {
    throw new Error(
      `building Temporal server ${TEMPORAL_SERVER_VERSION} needs Go on PATH (its module asks for 1.26.8; an older ` +
        'Go fetches that toolchain from the module proxy itself); or set ' +
        'TEMPORAL_SERVER_DIR to a directory holding bin/temporal-server, bin/temporal-sql-tool, schema/ and config/',
    );
  }
  await mkdir(cacheRoot, { recursive: true });
  await removeAbandonedTempDirs(cacheRoot, `.temporal-server-${TEMPORAL_SERVER_VERSION}.tmp-`);
  // As the other installers: each process builds into its own temporary sibling and races to rename it into
  // place; no lock is left behind by a killed build. The Go caches are shared (Go locks them itself).
  const tmp = await mkdtemp(join(cacheRoot, `.temporal-server-${TEMPORAL_SERVER_VERSION}.tmp-`));
  await chmod(tmp, 0o755);
  const goCaches = join(cacheRoot, 'go');
  const goEnv: NodeJS.ProcessEnv = {
    ...env,
    GOBIN: join(tmp, 'bin'),
    GOMODCACHE: join(goCaches, 'mod'),
    GOCACHE: join(goCaches, 'build'),
    // Go makes its module cache read-only; writable, `rm -rf ~/.cache/glowtify` can clear it.
    GOFLAGS: `${env.GOFLAGS ?? ''} -modcacherw`.trim(),
  };
  const started = Date.now();
  try {
    log(
      `building Temporal server ${TEMPORAL_SERVER_VERSION} and temporal-sql-tool from the Go module proxy into ` +
        `${cacheDir} (one time: about 7 minutes on 2 cores and 3 GB of Go caches in ${goCaches})`,
    );
    await goInstall(
      go,
      BINARIES.map(({ pkg }) => `${pkg}@v${TEMPORAL_SERVER_VERSION}`),
      goEnv,
      log,
    );
    for (const binary of BINARIES) {
      await rename(join(tmp, 'bin', binary.built), join(tmp, 'bin', binary.name));
    }
    const moduleDir = join(goCaches, 'mod', `${MODULE}@v${TEMPORAL_SERVER_VERSION}`);
    for (const part of [SCHEMA_DIR, CONFIG_TEMPLATE, DYNAMIC_CONFIG_TEMPLATE]) {
      await copyWritable(join(moduleDir, part), join(tmp, part));
    }
    const version = await serverVersion(join(tmp, 'bin', 'temporal-server'), env);
    if (version !== TEMPORAL_SERVER_VERSION) {
      throw new Error(`the built temporal-server reports version ${version ?? 'unknown'}`);
    }
    await writeFile(
      join(tmp, INSTALL_MARKER),
      `${JSON.stringify({ module: `${MODULE}@v${TEMPORAL_SERVER_VERSION}`, installedAt: new Date().toISOString() })}\n`,
    );
    try {
      await rename(tmp, cacheDir);
    } catch (err) {
      if (!isErrno(err, 'ENOTEMPTY') && !isErrno(err, 'EEXIST')) throw err;
      const winner = await usableCache(cacheDir, env);
      if (!winner) throw new Error(`another process installed ${cacheDir}, but it is not usable`);
      log(`Temporal server ${TEMPORAL_SERVER_VERSION} was built by another process meanwhile; using it`);
      return winner;
    }
    log(
      `built Temporal server ${TEMPORAL_SERVER_VERSION} and temporal-sql-tool in ` +
        `${((Date.now() - started) / 1000).toFixed(0)} s`,
    );
    return layout(cacheDir);
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

/** Copies a file or a tree out of Go's read-only module cache with ordinary (writable) modes. */
async function copyWritable(from: string, to: string): Promise<void> {
  const entries = await readdir(from, { withFileTypes: true }).catch((err: unknown) => {
    if (isErrno(err, 'ENOTDIR')) return null;
    throw err;
  });
  if (entries === null) {
    await mkdir(join(to, '..'), { recursive: true });
    await writeFile(to, await readFile(from));
    return;
  }
  await mkdir(to, { recursive: true });
  for (const entry of entries) await copyWritable(join(from, entry.name), join(to, entry.name));
}

// `go install -v` names each package it compiles and Go each module it downloads (hundreds of each): they are
// condensed into a progress line every 15 s, and Go's own output is shown only when it fails.
function goInstall(
  go: string,
  packages: string[],
  env: NodeJS.ProcessEnv,
  log: (line: string) => void,
): Promise<void> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(go, ['install', '-v', ...packages], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    const tail: string[] = [];
    let modules = 0;
    let compiled = 0;
    const started = Date.now();
    const report = () =>
      log(
        `  go: ${modules} modules downloaded, ${compiled} packages compiled ` +
          `(${((Date.now() - started) / 1000).toFixed(0)} s)`,
      );
    const timer = setInterval(report, 15_000);
    const onLine = (line: string) => {
      tail.push(line);
      if (tail.length > 60) tail.shift();
      if (line.startsWith('go: downloading ')) modules += 1;
      else if (/^[\w.-]+(\/[\w.~-]+)*$/.test(line)) compiled += 1;
    };
    createInterface({ input: child.stdout }).on('line', onLine);
    createInterface({ input: child.stderr }).on('line', onLine);
    log(`  go install ${packages.join(' ')}`);
    child.on('error', (err) => {
      clearInterval(timer);
      reject(new Error(`running ${go} failed: ${err.message}`));
    });
    child.on('close', (code, signal) => {
      clearInterval(timer);
      if (code === 0) {
        report();
        resolvePromise();
        return;
      }
      const how = signal ? `signal ${signal}` : `exit code ${code}`;
      reject(new Error(`go install failed (${how}):\n${tail.join('\n')}`));
    });
  });
}

// ---- running it --------------------------------------------------------------------------------------------

export interface TemporalServerPostgres {
  host: string;
  port: number;
  user: string;
  password: string;
}

export interface StartTemporalServerOptions {
  install: TemporalServerInstall;
  /** The Temporal CLI (dev/temporal-cli.ts): health, namespace and search attributes, as operators do it. */
  cliPath: string;
  postgres: TemporalServerPostgres;
  /** Where its configuration and its log file go. */
  workDir: string;
  namespace?: string;
  log?: (line: string) => void;
  /** How long to wait for SERVING; default 120 s. */
  timeoutMs?: number;
}

export interface TemporalServer {
  /** The frontend, `127.0.0.1:port`. */
  address: string;
  namespace: string;
  process: ChildProcess;
  /** Every line the server wrote. */
  logFile: string;
  stop(): Promise<void>;
}

const STOP_GRACE_MS = 10_000;

/**
 * Sets up the `temporal` and `temporal_visibility` databases on the PostgreSQL server, starts the server on
 * free ports with the module's development-postgres12.yaml (ports, user and log level edited), and resolves
 * once it answers SERVING with the namespace and the search attributes of SPEC §8 in place.
 */
export async function startTemporalServer(options: StartTemporalServerOptions): Promise<TemporalServer> {
  const log = options.log ?? (() => {});
  const namespace = options.namespace ?? 'default';
  const timeoutMs = options.timeoutMs ?? 120_000;
  const started = Date.now();
  await setUpSchema(options.install, options.postgres, log);
  const { configFile, frontendPort } = await writeConfig(options);
  const address = `127.0.0.1:${frontendPort}`;

  const logFile = join(options.workDir, 'temporal-server.log');
  const logStream = createWriteStream(logFile, { flags: 'a' });
  const child = spawn(options.install.server, ['--config-file', configFile, '--allow-no-auth', 'start'], {
    cwd: options.workDir,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const tail: string[] = [];
  for (const stream of [child.stdout, child.stderr]) {
    stream.pipe(logStream, { end: false });
    createInterface({ input: stream, crlfDelay: Number.POSITIVE_INFINITY }).on('line', (line) => {
      tail.push(withoutStack(line));
      if (tail.length > 20) tail.shift();
    });
  }
  const killOnParentExit = () => {
    child.kill('SIGKILL');
  };
  process.on('exit', killOnParentExit);
  const exited = new Promise<void>((resolveExit) => child.once('exit', () => resolveExit()));
  let stopping: Promise<void> | null = null;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
        await exited;
        clearTimeout(timer);
      }
      process.off('exit', killOnParentExit);
      logStream.end();
    })();
    return stopping;
  };

  const cli = (...args: string[]) =>
    run(options.cliPath, [...args, '--address', address], { timeout: 20_000 }).then(({ stdout }) => stdout);
  const failure = (what: string, cause?: unknown) =>
    new Error(
      `${what}${cause instanceof Error ? `: ${cause.message}` : ''}\nlast server output (${logFile}):\n${tail.join('\n')}`,
    );
  try {
    const deadline = started + timeoutMs;
    await until(deadline, async () => {
      if (child.exitCode !== null || child.signalCode !== null) {
        throw failure(`temporal-server exited (${child.signalCode ?? `exit code ${child.exitCode}`})`);
      }
      return /SERVING/.test(await cli('operator', 'cluster', 'health').catch(() => ''));
    }).catch((err: unknown) => {
      throw err instanceof Error && err.message.startsWith('temporal-server exited')
        ? err
        : failure(`Temporal server at ${address} did not answer SERVING within ${timeoutMs} ms`, err);
    });
    log(`Temporal server ${TEMPORAL_SERVER_VERSION} SERVING at ${address} (${Date.now() - started} ms)`);
    await cli('operator', 'namespace', 'create', '--namespace', namespace, '--retention', '168h');
    // A namespace reaches every service's registry within seconds: retried until the attributes are in.
    const attributeArgs = Object.entries(searchAttributes).flatMap(([name, type]) => [
      '--name',
      name,
      '--type',
      type,
    ]);
    let lastError: unknown;
    await until(deadline, async () => {
      lastError = await cli(
        'operator',
        'search-attribute',
        'create',
        '--namespace',
        namespace,
        ...attributeArgs,
      ).then(
        () => null,
        (err: unknown) => err,
      );
      if (lastError) return false;
      const listed = await cli('operator', 'search-attribute', 'list', '--namespace', namespace);
      return Object.keys(searchAttributes).every((name) => new RegExp(`\\b${name}\\b`).test(listed));
    }).catch((err: unknown) => {
      throw failure(`the search attributes could not be registered on ${namespace}`, lastError ?? err);
    });
    log(
      `namespace ${namespace} with search attributes ${Object.keys(searchAttributes).join(', ')} ` +
        `(${Date.now() - started} ms)`,
    );
  } catch (err) {
    await stop();
    throw err;
  }
  return { address, namespace, process: child, logFile, stop };
}

/** A server log line (JSON) without its Go stack trace, which the log file keeps. */
function withoutStack(line: string): string {
  try {
    const { level, msg, error } = JSON.parse(line) as { level?: string; msg?: string; error?: string };
    return `${level ?? '?'}: ${msg ?? ''}${error ? ` (${error})` : ''}`;
  } catch {
    return line;
  }
}

/**
 * What docker-compose's auto-setup does for `DB=postgres12`: each database created, its schema set to 0.0,
 * then brought up to the newest version from the module's versioned schema directory.
 */
async function setUpSchema(
  install: TemporalServerInstall,
  postgres: TemporalServerPostgres,
  log: (line: string) => void,
): Promise<void> {
  const started = Date.now();
  for (const [database, schema] of [
    ['temporal', 'temporal'],
    ['temporal_visibility', 'visibility'],
  ] as const) {
    const sqlTool = (...args: string[]) =>
      run(
        install.sqlTool,
        [
          '--plugin',
          'postgres12',
          '--endpoint',
          postgres.host,
          '--port',
          String(postgres.port),
          '--user',
          postgres.user,
          '--database',
          database,
          ...args,
        ],
        // The password in the environment, not on a command line every process can read.
        { env: { ...process.env, SQL_PASSWORD: postgres.password }, timeout: 120_000 },
      ).catch((err: { stderr?: string; message: string }) => {
        throw new Error(`temporal-sql-tool ${args[0]} on ${database} failed: ${err.stderr || err.message}`);
      });
    await sqlTool('create-database');
    await sqlTool('setup-schema', '--version', '0.0');
    await sqlTool('update-schema', '--schema-dir', join(install.schemaDir, schema, 'versioned'));
  }
  log(`Temporal schema set up in temporal and temporal_visibility (${Date.now() - started} ms)`);
}

/** The module's development-postgres12.yaml with free ports, the given database user, and warnings only. */
async function writeConfig(options: StartTemporalServerOptions) {
  type Rpc = { grpcPort: number; membershipPort: number; httpPort?: number };
  type Sql = { connectAddr: string; user: string; password: string };
  const config = parse(await readFile(options.install.configTemplate, 'utf8')) as {
    log: { level: string };
    persistence: { datastores: Record<string, { sql: Sql }> };
    global: Record<string, unknown>;
    services: Record<string, { rpc: Rpc }>;
    clusterMetadata: { clusterInformation: Record<string, { rpcAddress: string }> };
    dynamicConfigClient: { filepath: string };
  };
  config.log.level = 'warn';
  for (const { sql } of Object.values(config.persistence.datastores)) {
    sql.connectAddr = `${options.postgres.host}:${options.postgres.port}`;
    sql.user = options.postgres.user;
    sql.password = options.postgres.password;
  }
  // Neither a profiler nor a metrics endpoint on fixed ports that another run on this machine may hold.
  delete config.global.pprof;
  delete config.global.metrics;
  const taken = new Set<number>();
  for (const service of Object.values(config.services)) {
    service.rpc.grpcPort = await freeLowPort(taken);
    service.rpc.membershipPort = await freeLowPort(taken);
    if (service.rpc.httpPort !== undefined) service.rpc.httpPort = await freeLowPort(taken);
  }
  const frontend = config.services.frontend!.rpc;
  for (const cluster of Object.values(config.clusterMetadata.clusterInformation)) {
    cluster.rpcAddress = `127.0.0.1:${frontend.grpcPort}`;
  }
  const configDir = join(options.workDir, 'config');
  await mkdir(join(configDir, 'dynamicconfig'), { recursive: true });
  const dynamicConfigFile = join(configDir, 'dynamicconfig', 'development-sql.yaml');
  await writeFile(
    dynamicConfigFile,
    (await readFile(options.install.dynamicConfigTemplate, 'utf8')).replace(
      /localhost:7243/g,
      `localhost:${frontend.httpPort}`,
    ),
  );
  config.dynamicConfigClient.filepath = dynamicConfigFile;
  const configFile = join(configDir, `${ENVIRONMENT}.yaml`);
  await writeFile(configFile, stringify(config), { mode: 0o600 });
  return { configFile, frontendPort: frontend.grpcPort };
}

/**
 * A free port below 32768: the cluster_membership table keeps ports in a smallint, so one from the kernel's
 * ephemeral range (32768 and up) stops the server at start ("value out of range for type smallint").
 */
async function freeLowPort(taken: Set<number>): Promise<number> {
  for (;;) {
    const port = 10_000 + Math.floor(Math.random() * 22_000);
    if (taken.has(port) || !(await isPortFree('127.0.0.1', port))) continue;
    taken.add(port);
    return port;
  }
}

async function until(deadline: number, done: () => Promise<boolean>): Promise<void> {
  for (;;) {
    if (await done()) return;
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((resolveWait) => setTimeout(resolveWait, 500));
  }
}
