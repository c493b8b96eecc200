// Runs `temporal server start-dev` as a child process with the project's search attributes (SPEC §8) and the
// SQLite pragmas measured in SPEC §10, and resolves only once it answers and has those attributes registered.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import { createServer } from 'node:net';
import { dirname, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { Connection } from '@temporalio/client';

export const searchAttributes = {
  EpicId: 'Keyword',
  EpicStatus: 'Keyword',
  WorkspaceId: 'Keyword',
  ConnectorId: 'Keyword',
  ConnectorStatus: 'Keyword',
  ScheduledAt: 'Datetime',
  Channels: 'KeywordList',
} as const;

// Wire values of temporal.api.enums.v1.IndexedValueType, which listSearchAttributes returns; the proto
// package is only a transitive dependency, and protobuf enum numbers never change.
const indexedValueType = { Keyword: 2, Datetime: 6, KeywordList: 7 } as const;

export interface TemporalDevServer {
  address: string;
  uiUrl: string | null;
  namespace: string;
  process: ChildProcess;
  stop(): Promise<void>;
}

export interface StartTemporalDevServerOptions {
  cliPath: string;
  /** 0 or undefined: a free port. */
  port?: number;
  /** false: no Web UI (--headless); 0 or undefined: a free port. */
  uiPort?: number | false;
  /** Persistent SQLite file; absent: in-memory. */
  dbFile?: string;
  namespace?: string;
  log?: (line: string) => void;
  ip?: string;
  /** How long to wait for the server to answer; default 30 s. */
  timeoutMs?: number;
  /** Dynamic config values (e.g. `limit.historyCount.suggestContinueAsNew`), JSON-encoded for the CLI. */
  dynamicConfig?: Record<string, string | number | boolean>;
}

const STOP_GRACE_MS = 5_000;
const TAIL_LINES = 40;

export async function startTemporalDevServer(
  options: StartTemporalDevServerOptions,
): Promise<TemporalDevServer> {
  // A free port found beforehand can be taken by someone else before the server binds it; only then is
  // another attempt worthwhile (on new ports; on the same one when it was given, since the port taken may
  // have been one of the ports the dev server picks for itself).
  const attempts = 3;
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOnce(options);
    } catch (err) {
      if (attempt >= attempts || !(err instanceof PortInUseError)) throw err;
    }
  }
}

class PortInUseError extends Error {}

async function startOnce(options: StartTemporalDevServerOptions): Promise<TemporalDevServer> {
  const ip = options.ip ?? '127.0.0.1';
  const namespace = options.namespace ?? 'default';
  const log = options.log ?? (() => {});
  const timeoutMs = options.timeoutMs ?? 30_000;
  const port = options.port || (await getFreePort(ip));
  const uiPort = options.uiPort === false ? null : options.uiPort || (await getFreePort(ip));
  // Another server already on the port would answer our readiness checks in place of the child, which then
  // exits; refuse up front instead.
  for (const [what, value, chosen] of [
    ['gRPC', port, options.port],
    ['Web UI', uiPort, options.uiPort],
  ] as const) {
    if (value !== null && chosen && !(await isPortFree(ip, value))) {
      throw new Error(
        `cannot start the Temporal dev server: ${what} port ${value} on ${ip} is already in use`,
      );
    }
  }

  const args = ['server', 'start-dev', '--ip', ip, '--port', String(port), '--log-level', 'warn'];
  // No internet here: the UI's news feed would only produce failed requests.
  args.push(...(uiPort === null ? ['--headless'] : ['--ui-port', String(uiPort), '--ui-disable-news-fetch']));
  if (options.dbFile) {
    const dbFile = resolve(options.dbFile);
    await mkdir(dirname(dbFile), { recursive: true });
    args.push('--db-filename', dbFile);
  }
  args.push('--namespace', namespace);
  args.push('--sqlite-pragma', 'journal_mode=wal', '--sqlite-pragma', 'synchronous=normal');
  for (const [name, type] of Object.entries(searchAttributes))
    args.push('--search-attribute', `${name}=${type}`);
  for (const [key, value] of Object.entries(options.dynamicConfig ?? {}))
    args.push('--dynamic-config-value', `${key}=${JSON.stringify(value)}`);

  const child = spawn(options.cliPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const tail: string[] = [];
  // A bind failure panics with a long Go stack trace after it: remembered here, as the tail may lose it.
  let addressInUse = false;
  // Stopping start-dev makes it log a burst of harmless 'context canceled' errors; they would only alarm.
  let quiet = false;
  for (const stream of [child.stdout, child.stderr]) {
    createInterface({ input: stream, crlfDelay: Number.POSITIVE_INFINITY }).on('line', (line) => {
      tail.push(line);
      if (tail.length > TAIL_LINES) tail.shift();
      if (/address already in use/i.test(line)) addressInUse = true;
      if (!quiet) log(`[temporal] ${line}`);
    });
  }
  // 'exit' handlers run synchronously, so only a signal can be sent there; without it a crashed or
  // process.exit()-ing parent would leave the server holding its ports and database file.
  const killOnParentExit = () => {
    child.kill('SIGKILL');
  };
  process.on('exit', killOnParentExit);

  const exited = new Promise<void>((resolveExit) => {
    if (child.exitCode !== null || child.signalCode !== null) resolveExit();
    else child.once('exit', () => resolveExit());
  });
  let stopping: Promise<void> | null = null;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      // No pid: the spawn itself failed, so there is nothing to wait for.
      if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) {
        quiet = true;
        child.kill('SIGTERM');
        const timer = setTimeout(() => {
          log(`[temporal] still running ${STOP_GRACE_MS / 1000} s after SIGTERM; sending SIGKILL`);
          child.kill('SIGKILL');
        }, STOP_GRACE_MS);
        await exited;
        clearTimeout(timer);
      }
      process.off('exit', killOnParentExit);
    })();
    return stopping;
  };

  // A wildcard bind address is not something to connect to or show in a browser.
  const host = ip === '0.0.0.0' ? '127.0.0.1' : ip === '::' ? '::1' : ip;
  const hostPart = host.includes(':') ? `[${host}]` : host;
  const address = `${hostPart}:${port}`;
  const abort = new AbortController();
  const spawnFailed = new Promise<never>((_, reject) => {
    child.once('error', (err) => {
      abort.abort();
      reject(new Error(`could not run ${options.cliPath}: ${err.message}`));
    });
  });
  const outputClosed = new Promise<void>((resolveClose) => child.once('close', () => resolveClose()));
  const exitedEarly = exited.then(async (): Promise<never> => {
    if (stopping) throw new Error('temporal server start-dev was stopped');
    // The last lines, which usually hold the reason, may still be in the pipes when 'exit' fires; the
    // readiness polling goes on meanwhile so that its abort error does not win the race.
    await Promise.race([outputClosed, sleep(500)]);
    abort.abort();
    const output = tail.join('\n');
    const message =
      `temporal server start-dev exited early (${child.signalCode ?? `exit code ${child.exitCode}`})` +
      (output ? `:\n${output}` : ' without output');
    throw addressInUse ? new PortInUseError(message) : new Error(message);
  });
  const ready = (async () => {
    try {
      const connection = await connectWhenReady(address, namespace, { timeoutMs, signal: abort.signal });
      try {
        await waitForSearchAttributes(connection, namespace, Date.now() + timeoutMs, abort.signal);
      } finally {
        await connection.close();
      }
    } catch (err) {
      if (abort.signal.aborted || !(err instanceof Error)) throw err;
      throw new Error(`${err.message}${tail.length ? `\nlast server output:\n${tail.join('\n')}` : ''}`, {
        cause: err,
      });
    }
  })();

  try {
    await Promise.race([ready, spawnFailed, exitedEarly]);
    if (child.exitCode !== null || child.signalCode !== null) await exitedEarly;
  } catch (err) {
    abort.abort();
    ready.catch(() => {});
    await stop();
    throw err;
  } finally {
    exitedEarly.catch(() => {});
    spawnFailed.catch(() => {});
  }
  return {
    address,
    uiUrl: uiPort === null ? null : `http://${hostPart}:${uiPort}`,
    namespace,
    process: child,
    stop,
  };
}

export async function getFreePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, host, () => {
      const info = server.address();
      const port = typeof info === 'object' && info ? info.port : 0;
      server.close(() => (port ? resolvePort(port) : reject(new Error('could not find a free port'))));
    });
  });
}

export function isPortFree(host: string, port: number): Promise<boolean> {
  return new Promise((resolveFree) => {
    const server = createServer();
    server.unref();
    server.once('error', () => resolveFree(false));
    server.listen(port, host, () => server.close(() => resolveFree(true)));
  });
}

export async function waitForTemporal(
  address: string,
  namespace: string,
  options: { timeoutMs?: number; signal?: AbortSignal } = {},
): Promise<void> {
  const connection = await connectWhenReady(address, namespace, options);
  await connection.close();
}

const RETRY_MS = 150;
const ATTEMPT_TIMEOUT_MS = 2_000;

// A new Connection per attempt, with a private subchannel pool and short reconnect backoff, because gRPC's
// default backoff (1 s, growing) would otherwise add up to seconds to a server that is up in ~0.6 s.
async function connectWhenReady(
  address: string,
  namespace: string,
  options: { timeoutMs?: number; signal?: AbortSignal },
): Promise<Connection> {
  const timeoutMs = options.timeoutMs ?? 30_000;
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    options.signal?.throwIfAborted();
    const attemptTimeout = Math.max(1, Math.min(ATTEMPT_TIMEOUT_MS, deadline - Date.now()));
    let connection: Connection | undefined;
    try {
      const connecting = Connection.connect({
        address,
        connectTimeout: attemptTimeout,
        channelArgs: {
          'grpc.use_local_subchannel_pool': 1,
          'grpc.initial_reconnect_backoff_ms': 100,
          'grpc.max_reconnect_backoff_ms': 200,
        },
      });
      connection = await abortable(connecting, options.signal, (c) => c.close());
      const live = connection;
      await live.withDeadline(Date.now() + attemptTimeout, () =>
        live.workflowService.describeNamespace({ namespace }),
      );
      return live;
    } catch (err) {
      await connection?.close().catch(() => {});
      options.signal?.throwIfAborted();
      lastError = err;
    }
    if (Date.now() + RETRY_MS >= deadline) {
      const reason = lastError instanceof Error ? lastError.message : String(lastError);
      throw new Error(
        `Temporal at ${address} did not answer describeNamespace(${namespace}) within ${timeoutMs} ms: ${reason}`,
      );
    }
    await sleep(RETRY_MS, options.signal);
  }
}

async function waitForSearchAttributes(
  connection: Connection,
  namespace: string,
  deadline: number,
  signal: AbortSignal,
): Promise<void> {
  for (;;) {
    const { customAttributes } = await connection.operatorService.listSearchAttributes({ namespace });
    const problems: string[] = [];
    for (const [name, type] of Object.entries(searchAttributes)) {
      const actual = customAttributes?.[name];
      if (actual === undefined || actual === null) problems.push(`${name} is missing`);
      else if (actual !== indexedValueType[type])
        problems.push(`${name} has type ${actual}, expected ${type} (${indexedValueType[type]})`);
    }
    if (problems.length === 0) return;
    // A wrong type cannot fix itself (it comes from an older persistent database file): fail at once.
    if (problems.some((p) => !p.endsWith('missing')) || Date.now() + RETRY_MS >= deadline) {
      throw new Error(
        `Temporal search attributes in namespace ${namespace} are wrong: ${problems.join('; ')}`,
      );
    }
    await sleep(RETRY_MS, signal);
  }
}

async function abortable<T>(
  promise: Promise<T>,
  signal: AbortSignal | undefined,
  dispose: (value: T) => unknown,
): Promise<T> {
  if (!signal) return promise;
  signal.throwIfAborted();
  let onAbort: () => void = () => {};
  const aborted = new Promise<never>((_, reject) => {
    onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
  });
  try {
    return await Promise.race([promise, aborted]);
  } catch (err) {
    // The connect may still succeed after the abort; its connection must not leak.
    promise.then(dispose, () => {});
    throw err;
  } finally {
    signal.removeEventListener('abort', onAbort);
  }
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolveSleep, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolveSleep();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
