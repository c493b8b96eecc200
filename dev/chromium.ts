// Finds a Chromium for the headless screenshots (`npm run screenshot`), or installs Debian's `chromium`
// package: browser builds downloaded by Playwright or Puppeteer themselves are not reachable from every
// machine, Debian's mirrors are. CHROMIUM_PATH picks another browser of the Chromium family.
import { execFile, spawn } from 'node:child_process';
import { promisify } from 'node:util';
import { findOnPath, isExecutable } from './tool-cache.ts';

const execFileAsync = promisify(execFile);
const names = ['chromium', 'chromium-browser', 'google-chrome', 'google-chrome-stable'];
const debianPackage = 'chromium';
const tailLines = 30;

async function found(env: NodeJS.ProcessEnv): Promise<string | null> {
  for (const name of names) {
    const onPath = await findOnPath(name, env.PATH ?? '');
    if (onPath) return onPath;
  }
  return (await isExecutable('/usr/bin/chromium')) ? '/usr/bin/chromium' : null;
}

/** Runs apt-get, keeping its last lines for an error rather than printing its hundreds. */
function aptGet(args: string[], sudo: boolean): Promise<{ code: number | null; tail: string[] }> {
  const [command, commandArgs] = sudo
    ? ['sudo', ['-n', 'env', 'DEBIAN_FRONTEND=noninteractive', 'apt-get', ...args]]
    : ['apt-get', args];
  return new Promise((resolve, reject) => {
    const child = spawn(command as string, commandArgs as string[], {
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const tail: string[] = [];
    const keep = (chunk: Buffer) => {
      tail.push(...chunk.toString('utf8').split('\n').filter(Boolean));
      tail.splice(0, Math.max(0, tail.length - tailLines));
    };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, tail }));
  });
}

/**
 * The path of a Chromium: CHROMIUM_PATH, else one on PATH or /usr/bin/chromium, else Debian's package
 * installed now (apt-get as root, or `sudo -n`), saying so through `log`. Throws, saying what to run, when
 * none can be had.
 */
export async function resolveChromium(
  options: { env?: NodeJS.ProcessEnv; log?: (line: string) => void } = {},
): Promise<string> {
  const env = options.env ?? process.env;
  const log = options.log ?? ((line: string) => console.error(line));
  if (env.CHROMIUM_PATH) {
    if (!(await isExecutable(env.CHROMIUM_PATH)))
      throw new Error(`CHROMIUM_PATH is set to ${env.CHROMIUM_PATH}, but no executable file is there`);
    return env.CHROMIUM_PATH;
  }
  const present = await found(env);
  if (present) return present;

  const manual = `apt-get install -y --no-install-recommends ${debianPackage}`;
  const isRoot = process.getuid?.() === 0;
  const sudo =
    !isRoot &&
    (await execFileAsync('sudo', ['-n', 'true']).then(
      () => true,
      () => null,
    ));
  if (sudo === null) {
    throw new Error(
      `no Chromium found (set CHROMIUM_PATH, or put chromium on PATH), and this user can neither install ` +
        `Debian's package (not root) nor use sudo without a password: as root, run \`${manual}\``,
    );
  }
  log(`installing Debian's ${debianPackage} package for the headless browser (apt-get, about a minute)`);
  // Another process may be installing at the same moment: wait for dpkg's lock instead of failing on it.
  const lock = ['-o', 'DPkg::Lock::Timeout=300'];
  const update = await aptGet(['-q', ...lock, 'update'], sudo === true);
  const install = await aptGet(
    ['-q', '-y', '--no-install-recommends', ...lock, 'install', debianPackage],
    sudo === true,
  );
  const installed = await found(env);
  if (installed) return installed;
  const failed = install.code !== 0 ? install : update;
  throw new Error(
    `could not install Debian's ${debianPackage} (apt-get exited ${failed.code}); try \`${manual}\`. ` +
      `apt-get's last lines:\n${failed.tail.join('\n')}`,
  );
}
