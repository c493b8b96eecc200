// A real WordPress for tests and the demo, from Debian's packages: a throwaway MariaDB (its own data directory
// and socket, no TCP), PHP's built-in server with a router script in front of /usr/share/wordpress, and a
// site installed by `wp_install()` from a PHP CLI script, with application passwords for an administrator and
// a Contributor. Everything lives in one temporary directory, plus Debian's per-site config file in
// /etc/wordpress (Debian's wp-config.php reads nothing else), which is removed on close.
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { cp, mkdir, mkdtemp, readdir, rename, rm, stat, symlink, unlink, writeFile } from 'node:fs/promises';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';
import { z } from 'zod';
import { getFreePort } from './temporal-dev-server.ts';
import { discardCacheDir, exists, removeAbandonedTempDirs } from './tool-cache.ts';

const execFileAsync = promisify(execFile);

export const wordPressPackages = ['wordpress', 'php-cli', 'php-mysql', 'mariadb-server'] as const;

const WORDPRESS_ROOT = '/usr/share/wordpress';
// Debian's wp-config.php defaults WP_CONTENT_DIR here (plugins, themes, uploads; Apache aliases it). Each
// instance has its own content directory instead, linking to these, so that its uploads die with it.
const WORDPRESS_CONTENT = '/var/lib/wordpress/wp-content';
const SHARED_CONTENT = ['plugins', 'themes', 'languages'];
const DEBIAN_CONFIG_DIR = '/etc/wordpress';
// Debian's wp-config.php takes the config name from $_SERVER['WORDPRESS_CONFIG'] before the Host header; the
// router sets it, so each instance has its own file whatever host and port it is reached at.
const CONFIG_PREFIX = 'glowtify';
const STOP_GRACE_MS = 5_000;
const TEMPLATE_MARKER = '.complete';
const TEMP_PREFIX = 'glowtify-wp-';
const TAIL_LINES = 40;
const hasProc = existsSync('/proc/self/stat');

// --- the packages -----------------------------------------------------------------------------------------

async function missingPackages(): Promise<string[]> {
  let stdout: string;
  try {
    ({ stdout } = await execFileAsync('dpkg-query', [
      '-W',
      // biome-ignore lint/suspicious/noTemplateCurlyInString: dpkg-query's own field syntax
      '-f=${Package} ${db:Status-Status}\n',
      ...wordPressPackages,
    ]));
  } catch (error) {
    // dpkg-query exits 1 when a package is unknown to dpkg, still printing the ones it knows.
    const printed = (error as { stdout?: unknown }).stdout;
    if (typeof printed !== 'string') {
      throw new Error(
        `cannot tell whether ${wordPressPackages.join(', ')} are installed: dpkg-query failed ` +
          `(${error instanceof Error ? error.message : String(error)}); a real WordPress needs Debian's packages`,
      );
    }
    stdout = printed;
  }
  const installed = new Set(
    stdout
      .split('\n')
      .map((line) => line.trim().split(' '))
      .filter(([, status]) => status === 'installed')
      .map(([name]) => name),
  );
  return wordPressPackages.filter((name) => !installed.has(name));
}

function runLogged(
  command: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  log: (line: string) => void,
): Promise<{ code: number | null; tail: string[] }> {
  return new Promise((resolveRun, reject) => {
    const child = spawn(command, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    const tail: string[] = [];
    for (const stream of [child.stdout, child.stderr]) {
      createInterface({ input: stream, crlfDelay: Number.POSITIVE_INFINITY }).on('line', (line) => {
        tail.push(line);
        if (tail.length > TAIL_LINES) tail.shift();
        log(line);
      });
    }
    child.once('error', reject);
    child.once('close', (code) => resolveRun({ code, tail }));
  });
}

/**
 * Installs Debian's `wordpress php-cli php-mysql mariadb-server` when any is missing (apt-get, as root, or
 * through `sudo -n`); throws, saying what to run, when they cannot be installed. Services the packages would
 * start are not used (on these machines policy-rc.d keeps them from starting at all).
 */
export async function ensureWordPressPackages(options: { log?: (line: string) => void } = {}): Promise<void> {
  const log = options.log ?? (() => {});
  const missing = await missingPackages();
  if (missing.length === 0) return;
  const manual = `apt-get install -y --no-install-recommends ${wordPressPackages.join(' ')}`;
  const isRoot = process.getuid?.() === 0;
  const sudo = isRoot
    ? null
    : await execFileAsync('sudo', ['-n', 'true']).then(
        () => 'sudo',
        () => undefined,
      );
  if (sudo === undefined) {
    throw new Error(
      `a real WordPress needs the Debian packages ${missing.join(', ')}, which are not installed, and this ` +
        `user can neither install them (not root) nor use sudo without a password: as root, run \`${manual}\``,
    );
  }
  const run = (args: string[]) =>
    // apt-get's hundreds of lines are kept for the error only. sudo drops the environment: env passes it on.
    sudo
      ? runLogged(
          'sudo',
          ['-n', 'env', 'DEBIAN_FRONTEND=noninteractive', 'apt-get', ...args],
          process.env,
          () => {},
        )
      : runLogged('apt-get', args, { ...process.env, DEBIAN_FRONTEND: 'noninteractive' }, () => {});
  log(`installing the Debian packages ${wordPressPackages.join(', ')} for a real WordPress (~25 s)`);
  // Another process may be installing at the same moment: wait for dpkg's lock instead of failing on it.
  const lock = ['-o', 'DPkg::Lock::Timeout=300'];
  const update = await run(['-q', ...lock, 'update']);
  const install = await run([
    '-q',
    '-y',
    '--no-install-recommends',
    ...lock,
    'install',
    ...wordPressPackages,
  ]);
  const still = await missingPackages();
  if (still.length > 0) {
    const failed = install.code !== 0 ? install : update;
    throw new Error(
      `could not install the Debian packages ${still.join(', ')} that a real WordPress needs ` +
        `(apt-get exited ${failed.code}); try \`${manual}\`. apt-get's last lines:\n${failed.tail.join('\n')}`,
    );
  }
}

// --- the running site -----------------------------------------------------------------------------------

export interface WordPressLogin {
  username: string;
  applicationPassword: string;
}

export interface RealWordPress extends WordPressLogin {
  /** `http://127.0.0.1:<port>`, no trailing slash; `home` and `siteurl` of the site. */
  siteUrl: string;
  /** The site's title (what the connector names the account). */
  siteTitle: string;
  /** An administrator's user name and application password: `username`, `applicationPassword` above. */
  admin: WordPressLogin;
  /** A Contributor: may write drafts, may not publish (`publish_posts` absent). */
  contributor: WordPressLogin;
  /** The site's time zone (`timezone_string`): local `date` differs from `date_gmt` unless it is UTC. */
  timeZone: string;
  /** A post's `post_status` read straight from the database: no HTTP request, so no WP-Cron run either. */
  postStatus(id: number): Promise<string | null>;
  /**
   * Moves a `future` post's time, and the WP-Cron event that will publish it, to `at`, as if the clock had
   * moved on: WordPress itself publishes at once any `future` post less than 60 s ahead, so a test cannot
   * otherwise have a scheduled post fall due without waiting a minute. Runs from PHP's CLI, not over HTTP.
   */
  makeDue(id: number, at: Date): Promise<void>;
  /** The last lines of the PHP server's and MariaDB's output, for a failing test's message. */
  logTail(): string;
  /** Stops both servers (their whole process groups) and removes every file; idempotent. */
  close(): Promise<void>;
}

export interface StartRealWordPressOptions {
  /** The site's `timezone_string`; default America/Toronto, so that local time and GMT differ. */
  timeZone?: string;
  /** Plain permalinks: only `/?rest_route=` reaches the REST API, `/wp-json/` does not. Default: pretty. */
  plainPermalinks?: boolean;
  /**
   * WordPress's default, where any page load (a REST request too) spawns WP-Cron through a loopback request.
   * Default false: DISABLE_WP_CRON, so due posts are published only by `GET /wp-cron.php`, which is what the
   * adapter's confirmation poll does; a test then shows the adapter's own request publishes the post.
   */
  cronOnPageLoad?: boolean;
  siteTitle?: string;
  /** Receives the servers' output and the install's progress; quiet by default. Never given a secret. */
  log?: (line: string) => void;
  /** How long MariaDB and PHP may take to answer; default 30 s. */
  timeoutMs?: number;
}

interface Server {
  child: ChildProcess;
  tail: string[];
  /** Calls `listener` with each later line of output; answers a function that stops it. */
  onLine(listener: (line: string) => void): () => void;
  exited: Promise<void>;
  stop(): Promise<void>;
}

/**
 * Runs a server. Stopping it stops whatever it forked too (PHP's workers, which outlive a master stopped
 * alone). Not in a process group of its own: a Ctrl-C at the terminal reaches it as it reaches the tests.
 */
function startServer(
  name: string,
  command: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  log: (line: string) => void,
): Server {
  const child = spawn(command, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  const tail: string[] = [];
  const listeners = new Set<(line: string) => void>();
  for (const stream of [child.stdout, child.stderr]) {
    createInterface({ input: stream, crlfDelay: Number.POSITIVE_INFINITY }).on('line', (line) => {
      tail.push(`[${name}] ${line}`);
      if (tail.length > TAIL_LINES) tail.shift();
      log(`[${name}] ${line}`);
      for (const listener of listeners) listener(line);
    });
  }
  const onLine = (listener: (line: string) => void) => {
    listeners.add(listener);
    return () => listeners.delete(listener);
  };
  child.once('error', (error) => tail.push(`[${name}] could not run ${command}: ${error.message}`));
  const signalTree = (signal: NodeJS.Signals): number[] => {
    if (child.pid === undefined) return [];
    const pids = [child.pid, ...descendantsOf(child.pid)];
    for (const pid of pids) {
      try {
        process.kill(pid, signal);
      } catch {
        // Already gone.
      }
    }
    return pids;
  };
  // 'exit' handlers run synchronously: only a signal can be sent there, but it keeps a crashed test run from
  // leaving MariaDB and PHP behind.
  const killOnParentExit = () => signalTree('SIGKILL');
  process.on('exit', killOnParentExit);
  const exited = new Promise<void>((resolveExit) => {
    if (child.exitCode !== null || child.signalCode !== null) resolveExit();
    else child.once('exit', () => resolveExit());
    child.once('error', () => resolveExit());
  });
  let stopping: Promise<void> | undefined;
  const stop = () => {
    stopping ??= (async () => {
      // The master may exit before the workers it forked: wait until none of them runs.
      const pids = signalTree('SIGTERM');
      const deadline = Date.now() + STOP_GRACE_MS;
      while (pids.some(isRunning)) {
        if (Date.now() > deadline) {
          for (const pid of pids.filter(isRunning)) process.kill(pid, 'SIGKILL');
          break;
        }
        await sleep(25);
      }
      await exited;
      process.off('exit', killOnParentExit);
    })();
    return stopping;
  };
  return { child, tail, onLine, exited, stop };
}

/** "pid (comm) state ppid …" of /proc/<pid>/stat, read after the last ')' since comm may hold anything. */
function procStat(pid: number | string): { state: string; ppid: number } | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const [state = '', ppid = ''] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { state, ppid: Number(ppid) };
  } catch {
    return null;
  }
}

/** Every process below `pid` (synchronous: it also runs in an 'exit' handler). None without /proc. */
function descendantsOf(pid: number): number[] {
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return [];
  }
  const children = new Map<number, number[]>();
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = procStat(entry);
    if (stat) children.set(stat.ppid, [...(children.get(stat.ppid) ?? []), Number(entry)]);
  }
  const found: number[] = [];
  const visit = (parent: number) => {
    for (const child of children.get(parent) ?? []) {
      found.push(child);
      visit(child);
    }
  };
  visit(pid);
  return found;
}

/**
 * Whether the process still runs. Workers whose master is gone are reaped by init, which may take a second;
 * as zombies they hold nothing (no port, no file), so they do not count.
 */
function isRunning(pid: number): boolean {
  if (hasProc) {
    const stat = procStat(pid);
    return stat !== null && stat.state !== 'Z' && stat.state !== 'X';
  }
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolveSleep) => setTimeout(resolveSleep, ms));
}

/** Resolves when `line` appears in the server's output; rejects if it exits first or time runs out. */
function waitForLine(server: Server, pattern: RegExp, what: string, timeoutMs: number): Promise<void> {
  return new Promise((resolveWait, reject) => {
    const timer = setTimeout(
      () => finish(new Error(`${what} did not start within ${timeoutMs} ms`)),
      timeoutMs,
    );
    const stopListening = server.onLine((line) => {
      if (pattern.test(line)) finish();
    });
    const finish = (error?: Error) => {
      clearTimeout(timer);
      stopListening();
      if (error) reject(error);
      else resolveWait();
    };
    server.exited.then(() => finish(new Error(`${what} exited before it was ready`)));
  });
}

const phpString = (value: string) => `'${value.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;

function debianConfig(o: {
  socket: string;
  contentDir: string;
  siteUrl: string;
  cronOnPageLoad: boolean;
}): string {
  const salts = ['AUTH', 'SECURE_AUTH', 'LOGGED_IN', 'NONCE']
    .flatMap((name) => [`${name}_KEY`, `${name}_SALT`])
    .map((name) => `define(${phpString(name)}, ${phpString(randomBytes(32).toString('hex'))});`);
  return `<?php
// A throwaway site for Glowtify's tests, written by dev/wordpress.ts and removed when it stops.
define('DB_NAME', 'wordpress');
define('DB_USER', 'root');
define('DB_PASSWORD', '');
define('DB_HOST', ${phpString(`localhost:${o.socket}`)});
define('WP_HOME', ${phpString(o.siteUrl)});
define('WP_SITEURL', ${phpString(o.siteUrl)});
define('WP_CONTENT_DIR', ${phpString(o.contentDir)});
// Application passwords need HTTPS unless the site says it is a local one.
define('WP_ENVIRONMENT_TYPE', 'local');
define('DISABLE_WP_CRON', ${o.cronOnPageLoad ? 'false' : 'true'});
// No internet here: update checks and pings would only hang until they time out. Loopback stays allowed.
define('WP_HTTP_BLOCK_EXTERNAL', true);
define('AUTOMATIC_UPDATER_DISABLED', true);
define('DISALLOW_FILE_MODS', true);
define('WP_DEBUG', false);
${salts.join('\n')}
`;
}

function routerScript(configName: string, contentDir: string): string {
  return `<?php
// PHP's built-in server in front of Debian's WordPress, doing what Apache's rewrite rules and alias do.
$_SERVER['WORDPRESS_CONFIG'] = ${phpString(configName)};
$__glowtify_path = rawurldecode(parse_url($_SERVER['REQUEST_URI'], PHP_URL_PATH) ?? '/');
if (str_contains($__glowtify_path, "\\0") || str_contains($__glowtify_path, '..')) {
  http_response_code(400);
  return true;
}
$__glowtify_content = str_starts_with($__glowtify_path, '/wp-content/');
$__glowtify_file = $__glowtify_content
  ? ${phpString(contentDir)} . substr($__glowtify_path, strlen('/wp-content'))
  : ${phpString(WORDPRESS_ROOT)} . $__glowtify_path;
if (is_dir($__glowtify_file)) {
  $__glowtify_file = rtrim($__glowtify_file, '/') . '/index.php';
  $__glowtify_path = rtrim($__glowtify_path, '/') . '/index.php';
}
if (!is_file($__glowtify_file)) {
  // Everything else is a permalink, /wp-json/ included: WordPress's front controller parses it.
  $__glowtify_file = ${phpString(`${WORDPRESS_ROOT}/index.php`)};
  $__glowtify_path = '/index.php';
  unset($_SERVER['PATH_INFO'], $_SERVER['ORIG_PATH_INFO']);
} elseif (!str_ends_with($__glowtify_file, '.php')) {
  if (!$__glowtify_content) return false;
  // Outside the document root, so the built-in server cannot serve it itself.
  $__glowtify_type = mime_content_type($__glowtify_file);
  header('Content-Type: ' . ($__glowtify_type ?: 'application/octet-stream'));
  readfile($__glowtify_file);
  return true;
}
$_SERVER['SCRIPT_FILENAME'] = $__glowtify_file;
$_SERVER['SCRIPT_NAME'] = $__glowtify_path;
$_SERVER['PHP_SELF'] = $__glowtify_path;
chdir(dirname($__glowtify_file));
require $__glowtify_file;
`;
}

const InstallParams = z.object({
  configName: z.string(),
  socket: z.string(),
  siteTitle: z.string(),
  timeZone: z.string(),
  permalinks: z.string(),
  adminPassword: z.string(),
});

const InstallResult = z.object({
  admin: z.object({ username: z.string(), applicationPassword: z.string() }),
  contributor: z.object({ username: z.string(), applicationPassword: z.string() }),
});

// Run by PHP's CLI: creates the database, installs the site, and prints the application passwords as JSON
// (to the launcher's pipe only).
function installScript(params: z.infer<typeof InstallParams>): string {
  const encoded = Buffer.from(JSON.stringify(params)).toString('base64');
  return `<?php
$p = json_decode(base64_decode('${encoded}'), true);
$db = new mysqli(null, 'root', '', null, 0, $p['socket']);
$db->query('CREATE DATABASE IF NOT EXISTS wordpress CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci');
$db->close();

$_SERVER['WORDPRESS_CONFIG'] = $p['configName'];
$_SERVER['HTTP_HOST'] = 'localhost';
$_SERVER['REQUEST_URI'] = '/';
define('WP_INSTALLING', true);
// Nothing to mail to, and nothing to request while the site is half-installed (its pretty-permalink probe).
function wp_new_blog_notification() {}
require ${phpString(`${WORDPRESS_ROOT}/wp-load.php`)};
require_once ABSPATH . 'wp-admin/includes/upgrade.php';
add_filter('pre_http_request', fn () => new WP_Error('glowtify_offline', 'no HTTP while installing'));

$installed = wp_install($p['siteTitle'], 'glowtify-admin', 'admin@glowtify.test', 0, '', $p['adminPassword']);
update_option('timezone_string', $p['timeZone']);
update_option('permalink_structure', $p['permalinks']);
flush_rewrite_rules(false);

$contributor = wp_insert_user([
  'user_login' => 'glowtify-contributor',
  'user_pass' => wp_generate_password(24, false),
  'user_email' => 'contributor@glowtify.test',
  'role' => 'contributor',
]);
if (is_wp_error($contributor)) { fwrite(STDERR, $contributor->get_error_message() . "\\n"); exit(1); }

$out = [];
foreach (['admin' => $installed['user_id'], 'contributor' => $contributor] as $who => $id) {
  $created = WP_Application_Passwords::create_new_application_password($id, ['name' => 'Glowtify tests']);
  if (is_wp_error($created)) { fwrite(STDERR, $created->get_error_message() . "\\n"); exit(1); }
  $out[$who] = ['username' => get_userdata($id)->user_login, 'applicationPassword' => $created[0]];
}
echo json_encode($out);
`;
}

/**
 * A fresh MariaDB data directory (root@localhost without a password, no test database), made once per
 * MariaDB build in the cache outside the repository; instances copy it. Marker-and-rename, as the other
 * caches: a directory without the marker is debris.
 */
async function mariaDbTemplate(settings: string[]): Promise<string> {
  const binary = await stat('/usr/sbin/mariadbd').catch(() => null);
  // The build and the settings it was made with name it.
  const build = createHash('sha256')
    .update(JSON.stringify([binary?.size, binary?.mtimeMs, settings]))
    .digest('hex')
    .slice(0, 16);
  const cacheRoot = join(
    process.env.XDG_CACHE_HOME || join(process.env.HOME || homedir(), '.cache'),
    'glowtify',
  );
  const cacheDir = join(cacheRoot, `mariadb-data-${build}`);
  if (await exists(join(cacheDir, TEMPLATE_MARKER))) return join(cacheDir, 'data');
  if (await exists(cacheDir)) await discardCacheDir(cacheDir);
  await mkdir(cacheRoot, { recursive: true });
  await removeAbandonedTempDirs(cacheRoot, 'mariadb-data-tmp-');
  const temp = await mkdtemp(join(cacheRoot, 'mariadb-data-tmp-'));
  try {
    const installDb = await runLogged(
      'mariadb-install-db',
      [
        '--no-defaults',
        `--datadir=${join(temp, 'data')}`,
        '--auth-root-authentication-method=normal',
        '--skip-test-db',
        ...settings,
      ],
      process.env,
      () => {},
    );
    if (installDb.code !== 0) {
      throw new Error(`mariadb-install-db exited ${installDb.code}:\n${installDb.tail.join('\n')}`);
    }
    await writeFile(join(temp, TEMPLATE_MARKER), '');
    try {
      await rename(temp, cacheDir);
    } catch (error) {
      // Another process made it meanwhile: theirs is as good.
      if (!(await exists(join(cacheDir, TEMPLATE_MARKER)))) throw error;
    }
  } finally {
    await rm(temp, { recursive: true, force: true });
  }
  return join(cacheDir, 'data');
}

// Run by PHP's CLI with a post id and a Unix time: see RealWordPress.makeDue.
function makeDueScript(configName: string): string {
  return `<?php
$_SERVER['WORDPRESS_CONFIG'] = ${phpString(configName)};
$_SERVER['HTTP_HOST'] = 'localhost';
$_SERVER['REQUEST_URI'] = '/';
require ${phpString(`${WORDPRESS_ROOT}/wp-load.php`)};
[, $id, $at] = array_map('intval', $argv);
$post = get_post($id);
if (!$post || $post->post_status !== 'future') {
  fwrite(STDERR, "post $id is not scheduled (future)\\n");
  exit(1);
}
$gmt = gmdate('Y-m-d H:i:s', $at);
$wpdb->update($wpdb->posts, ['post_date_gmt' => $gmt, 'post_date' => get_date_from_gmt($gmt)], ['ID' => $id]);
clean_post_cache($id);
wp_clear_scheduled_hook('publish_future_post', [$id]);
$scheduled = wp_schedule_single_event($at, 'publish_future_post', [$id], true);
if (is_wp_error($scheduled)) {
  fwrite(STDERR, $scheduled->get_error_message() . "\\n");
  exit(1);
}
`;
}

const isDead = (pid: number) => {
  try {
    process.kill(pid, 0);
    return false;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'ESRCH';
  }
};

/**
 * What instances left behind when their process was killed before close (a Ctrl-C): their config files and
 * temporary directories carry that process's id, and are removed at the next start once it is gone.
 */
async function removeAbandoned(): Promise<void> {
  const configs = await readdir(DEBIAN_CONFIG_DIR).catch(() => [] as string[]);
  for (const name of configs) {
    const pid = new RegExp(`^config-${CONFIG_PREFIX}-(\\d+)-[0-9a-f]+\\.php$`).exec(name)?.[1];
    if (pid && isDead(Number(pid))) await unlink(join(DEBIAN_CONFIG_DIR, name)).catch(() => {});
  }
  const temps = await readdir(tmpdir()).catch(() => [] as string[]);
  for (const name of temps) {
    const pid = new RegExp(`^${TEMP_PREFIX}(\\d+)-`).exec(name)?.[1];
    if (pid && isDead(Number(pid))) await rm(join(tmpdir(), name), { recursive: true, force: true });
  }
}

async function waitForHttp(url: string, timeoutMs: number, server: Server, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (server.child.exitCode !== null || server.child.signalCode !== null) {
      throw new Error(`${what} exited before it answered`);
    }
    try {
      const answer = await fetch(url, { signal: AbortSignal.timeout(5_000) });
      await answer.arrayBuffer();
      if (answer.ok) return;
      throw new Error(`${url} answered ${answer.status}`);
    } catch (error) {
      if (Date.now() > deadline) {
        throw new Error(
          `${what} did not answer within ${timeoutMs} ms: ${error instanceof Error ? error.message : error}`,
        );
      }
    }
    await sleep(50);
  }
}

const isPortTaken = (server: Server) => server.tail.some((line) => /Address already in use/i.test(line));

/**
 * Starts a fresh WordPress (installing Debian's packages first when they are missing). The answer's siteUrl
 * serves the REST API at `/wp-json/` (pretty permalinks) and `/?rest_route=`.
 */
export async function startRealWordPress(options: StartRealWordPressOptions = {}): Promise<RealWordPress> {
  const log = options.log ?? (() => {});
  const timeoutMs = options.timeoutMs ?? 30_000;
  const siteTitle = options.siteTitle ?? 'Glow Journal';
  const timeZone = options.timeZone ?? 'America/Toronto';
  await ensureWordPressPackages({ log });
  await removeAbandoned();

  const dir = await mkdtemp(join(tmpdir(), `${TEMP_PREFIX}${process.pid}-`));
  const configName = `${CONFIG_PREFIX}-${process.pid}-${randomBytes(4).toString('hex')}`;
  const configFile = join(DEBIAN_CONFIG_DIR, `config-${configName}.php`);
  const socket = join(dir, 'mysqld.sock');
  const servers: Server[] = [];
  let closing: Promise<void> | undefined;
  const close = () => {
    closing ??= (async () => {
      await Promise.all(servers.map((server) => server.stop()));
      await rm(configFile, { force: true });
      await rm(dir, { recursive: true, force: true });
    })();
    return closing;
  };
  const logTail = () => servers.flatMap((server) => server.tail).join('\n');

  const isRoot = process.getuid?.() === 0;
  // MariaDB refuses to run as root unless told to; as anyone else it runs as that user.
  const asUser = isRoot ? ['--user=root'] : [];
  // Settings for a throwaway server: a small buffer pool and redo log, no durability.
  const serverSettings = [
    '--innodb-buffer-pool-size=32M',
    '--innodb-log-file-size=8M',
    '--innodb-flush-log-at-trx-commit=0',
    '--innodb-doublewrite=0',
  ];
  const startMariaDb = async () => {
    const dataDir = join(dir, 'data');
    // A copy of a data directory made once: mariadb-install-db takes seconds on a busy machine, a copy a tenth.
    await cp(await mariaDbTemplate([...asUser, ...serverSettings]), dataDir, { recursive: true });
    const mariadb = startServer(
      'mariadb',
      'mariadbd',
      [
        '--no-defaults',
        `--datadir=${dataDir}`,
        `--socket=${socket}`,
        `--pid-file=${join(dir, 'mysqld.pid')}`,
        `--tmpdir=${dir}`,
        '--skip-networking',
        '--skip-log-bin',
        '--performance-schema=OFF',
        ...asUser,
        ...serverSettings,
      ],
      process.env,
      log,
    );
    servers.push(mariadb);
    await waitForLine(mariadb, /ready for connections/, 'MariaDB', timeoutMs);
  };

  const contentDir = join(dir, 'wp-content');
  let siteUrl = '';
  const writeConfig = () =>
    writeFile(
      configFile,
      debianConfig({ socket, contentDir, siteUrl, cronOnPageLoad: options.cronOnPageLoad ?? false }),
      { mode: 0o600 },
    ).catch((error: NodeJS.ErrnoException) => {
      throw new Error(
        `cannot write ${configFile} (${error.code ?? error.message}): Debian's WordPress reads a site's ` +
          `config from ${DEBIAN_CONFIG_DIR} only, so this user must be able to write there (root can)`,
      );
    });
  // PHP answers nothing useful before the site is installed, but it binds its port meanwhile, and the site's
  // URL (with that port) is in its config before the install reads it.
  const startPhp = async (): Promise<Server> => {
    for (let attempt = 1; ; attempt++) {
      const port = await getFreePort();
      siteUrl = `http://127.0.0.1:${port}`;
      await writeConfig();
      const php = startServer(
        'php',
        'php',
        ['-S', `127.0.0.1:${port}`, '-t', WORDPRESS_ROOT, join(dir, 'router.php')],
        // Several workers: a page load's WP-Cron spawn is a request back to this same server.
        { ...process.env, PHP_CLI_SERVER_WORKERS: '4' },
        log,
      );
      servers.push(php);
      try {
        await waitForLine(php, /Development Server \(.*\) started/, 'PHP built-in server', timeoutMs);
        return php;
      } catch (error) {
        // Someone took the port between the check and the bind: another one.
        if (attempt >= 3 || !isPortTaken(php)) throw error;
        await php.stop();
        servers.splice(servers.indexOf(php), 1);
      }
    }
  };

  const installSite = async () => {
    const adminPassword = randomBytes(18).toString('base64url');
    const script = join(dir, 'install.php');
    await writeFile(
      script,
      installScript({
        configName,
        socket,
        siteTitle,
        timeZone,
        permalinks: options.plainPermalinks ? '' : '/%postname%/',
        adminPassword,
      }),
      { mode: 0o600 },
    );
    const install = await new Promise<{ code: number | null; stdout: string; stderr: string }>(
      (resolveInstall, reject) => {
        execFile('php', [script], { cwd: dir }, (error, stdout, stderr) => {
          if (error && typeof (error as { code?: unknown }).code !== 'number') reject(error);
          else
            resolveInstall({ code: error ? Number((error as { code?: unknown }).code) : 0, stdout, stderr });
        });
      },
    );
    await rm(script, { force: true });
    let printed: unknown = null;
    try {
      printed = JSON.parse(install.stdout.slice(install.stdout.indexOf('{')));
    } catch {
      // Reported below.
    }
    const logins = InstallResult.safeParse(printed);
    if (install.code !== 0 || !logins.success) {
      // stdout may hold application passwords: only stderr is shown.
      throw new Error(`installing WordPress failed (php exited ${install.code}):\n${install.stderr.trim()}`);
    }
    return logins.data;
  };

  try {
    await mkdir(join(contentDir, 'uploads'), { recursive: true });
    for (const name of SHARED_CONTENT) {
      if (await exists(join(WORDPRESS_CONTENT, name))) {
        await symlink(join(WORDPRESS_CONTENT, name), join(contentDir, name));
      }
    }
    await writeFile(join(dir, 'router.php'), routerScript(configName, contentDir));
    await writeFile(join(dir, 'make-due.php'), makeDueScript(configName));
    // Both are awaited, so that neither is still starting a server when a failure closes everything.
    const [mariadb, php] = await Promise.allSettled([startMariaDb(), startPhp()]);
    if (mariadb.status === 'rejected') throw mariadb.reason;
    if (php.status === 'rejected') throw php.reason;
    const logins = await installSite();
    await waitForHttp(`${siteUrl}/wp-json/`, timeoutMs, php.value, 'WordPress');

    const postStatus = async (id: number): Promise<string | null> => {
      const { stdout } = await execFileAsync('mariadb', [
        '--no-defaults',
        `--socket=${socket}`,
        '--user=root',
        '--batch',
        '--skip-column-names',
        '--database=wordpress',
        '--execute',
        `SELECT post_status FROM wp_posts WHERE ID = ${Math.trunc(id)}`,
      ]);
      return stdout.trim() || null;
    };

    const makeDue = async (id: number, at: Date): Promise<void> => {
      const unix = Math.floor(at.getTime() / 1000);
      await execFileAsync('php', [join(dir, 'make-due.php'), String(Math.trunc(id)), String(unix)]).catch(
        (error: { stderr?: string; message: string }) => {
          throw new Error(
            `could not move post ${id} to ${at.toISOString()}: ${error.stderr?.trim() || error.message}`,
          );
        },
      );
    };

    return {
      siteUrl,
      siteTitle,
      timeZone,
      ...logins.admin,
      admin: logins.admin,
      contributor: logins.contributor,
      postStatus,
      makeDue,
      logTail,
      close,
    };
  } catch (error) {
    const tail = logTail();
    await close();
    if (error instanceof Error && tail) error.message += `\nlast server output:\n${tail}`;
    throw error;
  }
}
