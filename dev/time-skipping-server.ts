// Finds or installs Temporal's time-skipping test server (Java, from Maven Central) in a cache outside the
// repo, for tests whose timers are days long (SPEC §10): the answer is a launcher for `createTimeSkipping`.
import { spawn } from 'node:child_process';
import { chmod, mkdir, mkdtemp, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import {
  completedInstall,
  exists,
  findOnPath,
  INSTALL_MARKER,
  isErrno,
  isExecutable,
  removeAbandonedTempDirs,
} from './tool-cache.ts';

export const TEST_SERVER_VERSION = '1.31.0';
const SLF4J_NOP_VERSION = '1.7.36';
// Pinned so that a Maven upgrade cannot change what resolves the jars; 3.8.1 runs on Maven ≥ 3.6.3.
const DEPENDENCY_PLUGIN_VERSION = '3.8.1';

const LAUNCHER = 'temporal-test-server';
const SERVER_JAR = `temporal-test-server-${TEST_SERVER_VERSION}.jar`;

export interface ResolveTimeSkippingServerOptions {
  log?: (line: string) => void;
  env?: NodeJS.ProcessEnv;
}

/** The absolute path of an executable that starts the test server on the port given as its one argument. */
export async function resolveTimeSkippingServer(
  options: ResolveTimeSkippingServerOptions = {},
): Promise<string> {
  const env = options.env ?? process.env;
  const log = options.log ?? ((line: string) => console.error(line));

  const explicit = env.TEMPORAL_TEST_SERVER_PATH;
  if (explicit) {
    const path = resolve(explicit);
    if (!(await isExecutable(path))) {
      throw new Error(`TEMPORAL_TEST_SERVER_PATH is set to ${explicit}, but no executable file is there`);
    }
    return path;
  }

  // Checked before the cache too: without java, a cached launcher fails only as the SDK's bare port timeout.
  const java = await javaCommand(env);
  if (!java) {
    throw new Error(
      'the Temporal time-skipping test server needs Java (8 or later): install a JDK or JRE, ' +
        'set JAVA_HOME, or set TEMPORAL_TEST_SERVER_PATH to a launcher of your own',
    );
  }

  const cacheRoot = join(env.XDG_CACHE_HOME || join(env.HOME || homedir(), '.cache'), 'glowtify');
  const cacheDir = join(cacheRoot, `temporal-test-server-${TEST_SERVER_VERSION}`);
  const cached = await usableCache(cacheDir);
  if (cached) return cached;
  return install(cacheRoot, cacheDir, env, log);
}

// A directory without the launcher or the server jar is not a completed install.
async function usableCache(cacheDir: string): Promise<string | null> {
  const launcher = join(cacheDir, LAUNCHER);
  const works = async () =>
    (await isExecutable(launcher)) && (await exists(join(cacheDir, 'jars', SERVER_JAR)));
  return (await completedInstall(cacheDir, works)) ? launcher : null;
}

async function install(
  cacheRoot: string,
  cacheDir: string,
  env: NodeJS.ProcessEnv,
  log: (line: string) => void,
): Promise<string> {
  await mkdir(cacheRoot, { recursive: true });
  await removeAbandonedTempDirs(cacheRoot, `.temporal-test-server-${TEST_SERVER_VERSION}.tmp-`);
  // Each process installs into its own temporary sibling and races to rename it into place; the loser throws
  // its copy away. No lock, so a process killed mid-install never blocks the next one.
  const tmp = await mkdtemp(join(cacheRoot, `.temporal-test-server-${TEST_SERVER_VERSION}.tmp-`));
  await chmod(tmp, 0o755); // mkdtemp makes it private; the installed cache is not secret
  const started = Date.now();
  try {
    log(
      `installing the Temporal time-skipping test server ${TEST_SERVER_VERSION} from Maven Central into ` +
        `${cacheDir} (one time, about 33 MB of jars)`,
    );
    await writeFile(join(tmp, 'pom.xml'), throwawayPom());
    // The local repository is private to this install (concurrent Maven runs may corrupt a shared one) and is
    // dropped afterwards: only the copied jars are kept.
    await runMaven(
      [
        '-B',
        '--strict-checksums',
        '-f',
        join(tmp, 'pom.xml'),
        `-Dmaven.repo.local=${join(tmp, 'm2')}`,
        // Full coordinates rather than the `dependency:` prefix: resolving a prefix offline fails with a
        // misleading "no plugin found", while this names the download that failed.
        `org.apache.maven.plugins:maven-dependency-plugin:${DEPENDENCY_PLUGIN_VERSION}:copy-dependencies`,
        `-DoutputDirectory=${join(tmp, 'jars')}`,
        '-DincludeScope=runtime',
      ],
      env,
      log,
    );
    const jars = await readdir(join(tmp, 'jars'));
    if (!jars.includes(SERVER_JAR)) throw new Error(`Maven finished, but ${SERVER_JAR} was not copied`);
    await rm(join(tmp, 'm2'), { recursive: true, force: true });
    await rm(join(tmp, 'target'), { recursive: true, force: true });
    await rm(join(tmp, 'pom.xml'), { force: true });
    // `exec` hands the SDK the JVM's own pid, so teardown stops the server instead of leaving it behind; the
    // jar path is relative to the script, which is only ever written here and renamed with its directory.
    await writeFile(
      join(tmp, LAUNCHER),
      [
        '#!/bin/sh',
        `# Temporal time-skipping test server ${TEST_SERVER_VERSION} (from dev/time-skipping-server.ts)`,
        'dir=$(dirname -- "$0")',
        'java=java',
        'if [ -n "$JAVA_HOME" ]; then java="$JAVA_HOME/bin/java"; fi',
        'exec "$java" -XX:-UsePerfData -cp "$dir/jars/*" io.temporal.testserver.TestServer "$@"',
        '',
      ].join('\n'),
      { mode: 0o755 },
    );
    await writeFile(
      join(tmp, INSTALL_MARKER),
      `${JSON.stringify({
        artifact: `io.temporal:temporal-test-server:${TEST_SERVER_VERSION}`,
        jars: jars.length,
        installedAt: new Date().toISOString(),
      })}\n`,
    );
    try {
      await rename(tmp, cacheDir);
    } catch (err) {
      if (!isErrno(err, 'ENOTEMPTY') && !isErrno(err, 'EEXIST')) throw err;
      const winner = await usableCache(cacheDir);
      if (!winner) throw new Error(`another process installed ${cacheDir}, but it is not usable`);
      log('the test server was installed by another process meanwhile; using it');
      return winner;
    }
    log(
      `installed the time-skipping test server (${jars.length} jars) in ` +
        `${((Date.now() - started) / 1000).toFixed(1)} s`,
    );
    return join(cacheDir, LAUNCHER);
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

function throwawayPom(): string {
  const dependency = (groupId: string, artifactId: string, version: string) =>
    `    <dependency><groupId>${groupId}</groupId><artifactId>${artifactId}</artifactId>` +
    `<version>${version}</version></dependency>`;
  return `<?xml version="1.0" encoding="UTF-8"?>
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>glowtify.local</groupId>
  <artifactId>temporal-test-server-fetch</artifactId>
  <version>0</version>
  <packaging>pom</packaging>
  <dependencies>
${dependency('io.temporal', 'temporal-test-server', TEST_SERVER_VERSION)}
${dependency('org.slf4j', 'slf4j-nop', SLF4J_NOP_VERSION)}
  </dependencies>
</project>
`;
}

// Maven prints one line per downloaded file (hundreds, mostly its own plugins): they are condensed into a
// progress line every couple of seconds, and Maven's own output is shown only when it fails.
function runMaven(args: string[], env: NodeJS.ProcessEnv, log: (line: string) => void): Promise<void> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn('mvn', args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    const tail: string[] = [];
    let files = 0;
    let bytes = 0;
    let lastReport = Date.now();
    const onLine = (line: string) => {
      tail.push(line);
      if (tail.length > 60) tail.shift();
      const downloaded = line.match(/Downloaded from [^:]+: \S+ \((\d+(?:\.\d+)?) (B|kB|MB|GB)/);
      if (!downloaded) return;
      files += 1;
      bytes += Number(downloaded[1]) * ({ B: 1, kB: 1e3, MB: 1e6, GB: 1e9 }[downloaded[2]!] ?? 1);
      if (Date.now() - lastReport >= 2_000) {
        lastReport = Date.now();
        log(`  maven: ${files} files, ${(bytes / 1e6).toFixed(1)} MB downloaded so far`);
      }
    };
    createInterface({ input: child.stdout }).on('line', onLine);
    createInterface({ input: child.stderr }).on('line', onLine);
    log('  maven: resolving io.temporal:temporal-test-server and its runtime dependencies');
    child.on('error', (err) => {
      const hint = isErrno(err, 'ENOENT')
        ? ' (mvn not found: install Maven, or set TEMPORAL_TEST_SERVER_PATH to a test server launcher)'
        : '';
      reject(new Error(`running Maven failed: ${err.message}${hint}`));
    });
    // 'close' rather than 'exit': it comes after the last line of output has been read.
    child.on('close', (code, signal) => {
      if (code === 0) {
        log(`  maven: done, ${files} files (${(bytes / 1e6).toFixed(1)} MB) downloaded`);
        resolvePromise();
        return;
      }
      // Maven's error block ends with a blank `[ERROR]` line followed by generic advice on re-running it.
      const errors = tail.filter((line) => line.startsWith('[ERROR]'));
      const blank = errors.findIndex((line) => line.trim() === '[ERROR]');
      if (blank > 0) errors.length = blank;
      const how = signal ? `signal ${signal}` : `exit code ${code}`;
      const output = (errors.length > 0 ? errors : tail).join('\n');
      reject(new Error(`Maven failed to fetch the test server (${how}):\n${output}`));
    });
  });
}

// A killed install leaves its temporary directory behind; an install takes seconds, so one older than an hour
// belongs to nobody.

async function javaCommand(env: NodeJS.ProcessEnv): Promise<string | null> {
  if (env.JAVA_HOME) {
    const fromHome = join(env.JAVA_HOME, 'bin', 'java');
    return (await isExecutable(fromHome)) ? fromHome : null;
  }
  return findOnPath('java', env.PATH ?? '');
}
