// Finds or installs the pinned schemathesis (the API fuzzer `npm run fuzz` runs) from PyPI into a venv in the
// cache outside the repo, as dev/temporal-cli.ts does for the Temporal CLI, so the fuzz run and its test need
// no set-up beyond `npm install` and Python 3.
import { spawn } from 'node:child_process';
import { chmod, mkdir, mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import {
  completedInstall,
  INSTALL_MARKER,
  isErrno,
  isExecutable,
  removeAbandonedTempDirs,
} from './tool-cache.ts';

export const SCHEMATHESIS_VERSION = '4.32.5';

// Every distribution pip resolved for schemathesis==4.32.5 (Python 3.11, Linux), pinned so that a new release
// of one of them cannot change what the fuzzer generates or checks. Versions, not hashes: several are native
// wheels (jsonschema_rs, PyYAML, MarkupSafe, charset-normalizer) with one hash per platform and Python.
const PINNED_DEPENDENCIES = [
  'anyio==4.16.0',
  'certifi==2026.10.19.post1',
  'charset-normalizer==3.5.3',
  'click==8.5.1',
  'graphql-core==3.3.2',
  'harfile==0.6.0',
  'hypothesis==6.170.27',
  'hypothesis-graphql==0.13.5',
  'idna==3.20',
  'iniconfig==2.3.1',
  'jsonschema_rs==0.60.3',
  'markdown-it-py==4.3.0',
  'MarkupSafe==3.0.4',
  'mdurl==0.1.2',
  'packaging==26.4',
  'pluggy==1.7.0',
  'Pygments==2.21.0',
  'pyrate-limiter==4.6.0',
  'pytest==9.2.0',
  'PyYAML==6.0.4',
  'requests==2.34.2',
  'rich==15.0.0',
  'sortedcontainers==2.4.0',
  'typing_extensions==4.16.0',
  'urllib3==2.8.0',
  'Werkzeug==3.1.9',
] as const;

/** How to run schemathesis: `python` with `args` in front of schemathesis's own (`run …`). */
export interface Schemathesis {
  python: string;
  args: string[];
  version: string;
}

export interface ResolveSchemathesisOptions {
  log?: (line: string) => void;
  env?: NodeJS.ProcessEnv;
}

/** The cached schemathesis, installed first if the cache has none. */
export async function resolveSchemathesis(options: ResolveSchemathesisOptions = {}): Promise<Schemathesis> {
  const env = options.env ?? process.env;
  const log = options.log ?? ((line: string) => console.error(line));
  const cacheRoot = join(env.XDG_CACHE_HOME || join(env.HOME || homedir(), '.cache'), 'glowtify');
  const cacheDir = join(cacheRoot, `schemathesis-${SCHEMATHESIS_VERSION}`);
  return (await usableCache(cacheDir, env)) ?? install(cacheRoot, cacheDir, env, log);
}

/** The cached schemathesis if it is there and complete, else null (nothing installed yet, or debris removed). */
export async function findSchemathesis(env: NodeJS.ProcessEnv = process.env): Promise<Schemathesis | null> {
  const cacheRoot = join(env.XDG_CACHE_HOME || join(env.HOME || homedir(), '.cache'), 'glowtify');
  return usableCache(join(cacheRoot, `schemathesis-${SCHEMATHESIS_VERSION}`), env);
}

// A venv is not relocatable in general: pip writes the venv's absolute path into the shebang of every script
// it installs (bin/st, bin/schemathesis, bin/pip). What does move with it is the interpreter: bin/python is a
// symlink to the base Python, and Python finds its venv by the pyvenv.cfg beside the path it was started
// from, so sys.prefix and site-packages follow a rename. Hence the venv is built in a temporary sibling and
// renamed into place (one atomic step, no lock to leave stale, as the Temporal CLI's install), and
// schemathesis is only ever run as `<cacheDir>/venv/bin/python -m schemathesis.cli`, never through the
// scripts whose shebangs still name the temporary directory.
function schemathesisIn(cacheDir: string): Schemathesis {
  return {
    python: join(cacheDir, 'venv', 'bin', 'python'),
    args: ['-m', 'schemathesis.cli'],
    version: SCHEMATHESIS_VERSION,
  };
}

async function usableCache(cacheDir: string, env: NodeJS.ProcessEnv): Promise<Schemathesis | null> {
  const found = schemathesisIn(cacheDir);
  const works = async () =>
    (await isExecutable(found.python)) && (await reportedVersion(found, env)) === found.version;
  return (await completedInstall(cacheDir, works)) ? found : null;
}

async function install(
  cacheRoot: string,
  cacheDir: string,
  env: NodeJS.ProcessEnv,
  log: (line: string) => void,
): Promise<Schemathesis> {
  await mkdir(cacheRoot, { recursive: true });
  const prefix = `.schemathesis-${SCHEMATHESIS_VERSION}.tmp-`;
  await removeAbandonedTempDirs(cacheRoot, prefix);
  // Two processes on a cold cache each install into their own sibling and race to rename it into place; the
  // loser throws its copy away (a duplicate download, but never a stale lock after a kill).
  const tmp = await mkdtemp(join(cacheRoot, prefix));
  await chmod(tmp, 0o755); // mkdtemp makes it private; the installed cache is not secret
  const started = Date.now();
  try {
    log(`installing schemathesis ${SCHEMATHESIS_VERSION} from PyPI into ${cacheDir} (one time, about 15 MB)`);
    const venv = join(tmp, 'venv');
    await run('python3', ['-m', 'venv', venv], env, 'creating a Python venv (python3 -m venv)');
    const requirements = join(tmp, 'requirements.txt');
    await writeFile(
      requirements,
      `schemathesis==${SCHEMATHESIS_VERSION}\n${PINNED_DEPENDENCIES.join('\n')}\n`,
    );
    await run(
      join(venv, 'bin', 'python'),
      [
        '-m',
        'pip',
        'install',
        '--disable-pip-version-check',
        '--no-input',
        '--only-binary=:all:',
        '-r',
        requirements,
      ],
      env,
      `pip install schemathesis==${SCHEMATHESIS_VERSION}`,
    );
    const installed = schemathesisIn(tmp);
    const version = await reportedVersion(installed, env);
    if (version !== SCHEMATHESIS_VERSION) {
      throw new Error(`the installed schemathesis reports version ${version ?? 'unknown'}`);
    }
    await writeFile(
      join(tmp, INSTALL_MARKER),
      `${JSON.stringify({ package: `schemathesis==${SCHEMATHESIS_VERSION}`, installedAt: new Date().toISOString() })}\n`,
    );
    try {
      await rename(tmp, cacheDir);
    } catch (err) {
      if (!isErrno(err, 'ENOTEMPTY') && !isErrno(err, 'EEXIST')) throw err;
      const winner = await usableCache(cacheDir, env);
      if (!winner) throw new Error(`another process installed ${cacheDir}, but it is not usable`);
      log(`schemathesis ${SCHEMATHESIS_VERSION} was installed by another process meanwhile; using it`);
      return winner;
    }
    const moved = schemathesisIn(cacheDir);
    if ((await reportedVersion(moved, env)) !== SCHEMATHESIS_VERSION) {
      throw new Error(`schemathesis does not run from ${cacheDir} after the venv was moved there`);
    }
    log(`installed schemathesis ${SCHEMATHESIS_VERSION} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    return moved;
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

// pip's output goes straight to our stderr so its progress stays visible.
function run(command: string, args: string[], env: NodeJS.ProcessEnv, what: string): Promise<void> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(command, args, { env, stdio: ['ignore', 2, 2] });
    child.on('error', (err) => {
      const hint = isErrno(err, 'ENOENT') ? ` (${command} not found: install Python 3.9 or newer)` : '';
      reject(new Error(`${what} failed: ${err.message}${hint}`));
    });
    child.on('exit', (code, signal) => {
      if (code === 0) resolvePromise();
      else reject(new Error(`${what} failed (${signal ? `signal ${signal}` : `exit code ${code}`})`));
    });
  });
}

/**
 * The version the installed distribution records (its METADATA via importlib), asked of the venv's Python:
 * this also proves the interpreter finds its venv from where it now lies.
 */
async function reportedVersion(found: Schemathesis, env: NodeJS.ProcessEnv): Promise<string | null> {
  const output = await new Promise<string | null>((resolvePromise) => {
    const child = spawn(
      found.python,
      ['-c', 'import importlib.metadata as m, schemathesis.cli; print(m.version("schemathesis"))'],
      { env, stdio: ['ignore', 'pipe', 'ignore'] },
    );
    let stdout = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.on('error', () => resolvePromise(null));
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolvePromise(code === 0 ? stdout.trim() : null);
    });
  });
  return output || null;
}
