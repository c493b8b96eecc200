// The service's configuration: one zod schema over the environment (SPEC §9). A bad value stops start-up
// with one line naming the variable and what is wrong; dev secrets are generated into DATA_DIR once.
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { isIP } from 'node:net';
import path from 'node:path';
import { z } from 'zod';
import {
  type AnyPlatformSetting,
  type OAuthAppVariable,
  oauthApps,
  type PlatformSetting,
  platformSettings,
  type SettingValue,
} from './domain/platforms.ts';
import { isValidTimeZone } from './domain/time.ts';

export class ConfigError extends Error {
  override name = 'ConfigError';
}

const integer = (name: string, min: number, max: number, fallback: number) =>
  z
    .string()
    .optional()
    .transform((raw, ctx) => {
      if (raw === undefined || raw === '') return fallback;
      const value = Number(raw);
      if (!/^-?\d+$/.test(raw.trim()) || !Number.isSafeInteger(value) || value < min || value > max) {
        ctx.addIssue({
          code: 'custom',
          message: `${name} must be an integer from ${min} to ${max}, got "${raw}"`,
        });
        return z.NEVER;
      }
      return value;
    });

const decimal = (name: string, min: number, max: number, fallback: number) =>
  z
    .string()
    .optional()
    .transform((raw, ctx) => {
      if (raw === undefined || raw === '') return fallback;
      const value = Number(raw);
      if (raw.trim() === '' || !Number.isFinite(value) || value < min || value > max) {
        ctx.addIssue({
          code: 'custom',
          message: `${name} must be a number from ${min} to ${max}, got "${raw}"`,
        });
        return z.NEVER;
      }
      return value;
    });

const url = (name: string, fallback?: string) =>
  z
    .string()
    .optional()
    .transform((raw, ctx) => {
      const value = raw === undefined || raw === '' ? fallback : raw;
      if (value === undefined) return undefined;
      let parsed: URL;
      try {
        parsed = new URL(value);
      } catch {
        ctx.addIssue({ code: 'custom', message: `${name} must be an absolute http(s) URL, got "${raw}"` });
        return z.NEVER;
      }
      if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
        ctx.addIssue({ code: 'custom', message: `${name} must be an absolute http(s) URL, got "${raw}"` });
        return z.NEVER;
      }
      return value.replace(/\/+$/, '');
    });

/** A base URL with a placeholder (Shopify's `{shop}`: every store is its own host). */
const hostTemplate = (name: string, placeholder: string, fallback: string) =>
  z
    .string()
    .optional()
    .transform((raw, ctx) => {
      const value = raw === undefined || raw === '' ? fallback : raw;
      let valid = value.includes(placeholder);
      try {
        const parsed = new URL(value.replaceAll(placeholder, 'example'));
        valid &&= parsed.protocol === 'http:' || parsed.protocol === 'https:';
      } catch {
        valid = false;
      }
      if (!valid) {
        ctx.addIssue({
          code: 'custom',
          message: `${name} must be an http(s) URL containing ${placeholder}, got "${raw}"`,
        });
        return z.NEVER;
      }
      return value.replace(/\/+$/, '');
    });

const flag = (name: string) =>
  z
    .string()
    .optional()
    .transform((raw, ctx) => {
      if (raw === undefined || raw === '' || raw === 'false' || raw === '0') return false;
      if (raw === 'true' || raw === '1') return true;
      ctx.addIssue({ code: 'custom', message: `${name} must be true or false, got "${raw}"` });
      return z.NEVER;
    });

const timeZone = (name: string, fallback: string) =>
  z
    .string()
    .optional()
    .transform((raw, ctx) => {
      const value = raw === undefined || raw === '' ? fallback : raw;
      if (!isValidTimeZone(value)) {
        ctx.addIssue({ code: 'custom', message: `${name} must be an IANA time zone, got "${raw}"` });
        return z.NEVER;
      }
      return value;
    });

const optionalText = z
  .string()
  .optional()
  .transform((raw) => (raw === undefined || raw === '' ? undefined : raw));

const credentialsKey = z
  .string()
  .optional()
  .transform((raw, ctx) => {
    if (raw === undefined || raw === '') return undefined;
    const key = parseCredentialsKeys(raw);
    if (typeof key === 'string') {
      ctx.addIssue({ code: 'custom', message: `CREDENTIALS_KEY ${key}` });
      return z.NEVER;
    }
    return key;
  });

/**
 * CREDENTIALS_KEY is either one base64 key (key id "k1") or a rotation list "id2:base64,id1:base64": the first
 * encrypts new rows, every listed key still decrypts old ones.
 */
/** An address or CIDR range proxy-addr takes (or one of its named ranges). */
function isProxyAddress(entry: string): boolean {
  if (['loopback', 'linklocal', 'uniquelocal'].includes(entry)) return true;
  const [address = '', bits, ...rest] = entry.split('/');
  const version = isIP(address);
  if (version === 0 || rest.length > 0) return false;
  if (bits === undefined) return true;
  return /^\d+$/.test(bits) && Number(bits) <= (version === 4 ? 32 : 128);
}

export function parseCredentialsKeys(raw: string): CredentialsKeys | string {
  const entries = raw.split(',').map((part) => part.trim());
  const keys: { id: string; key: Buffer }[] = [];
  for (const entry of entries) {
    const colon = entry.indexOf(':');
    const id = colon === -1 ? 'k1' : entry.slice(0, colon);
    const encoded = colon === -1 ? entry : entry.slice(colon + 1);
    if (!/^[A-Za-z0-9_-]{1,32}$/.test(id)) return `has an invalid key id "${id}" (letters, digits, _ or -)`;
    if (!/^[A-Za-z0-9+/]+={0,2}$/.test(encoded)) return 'must be base64 of 32 bytes (or "id:base64,…")';
    const key = Buffer.from(encoded, 'base64');
    if (key.length !== 32) return `must be base64 of 32 bytes, got ${key.length} bytes`;
    if (keys.some((existing) => existing.id === id)) return `lists the key id "${id}" twice`;
    keys.push({ id, key });
  }
  const [current] = keys;
  if (!current) return 'is empty';
  return { currentId: current.id, keys: new Map(keys.map(({ id, key }) => [id, key])) };
}

export interface CredentialsKeys {
  currentId: string;
  keys: Map<string, Buffer>;
}

/** Each platform's hosts and OAuth app, as its descriptor declares them (SPEC §9). */
function platformSettingSchema(setting: PlatformSetting) {
  switch (setting.kind) {
    case 'url':
      return url(setting.variable, setting.default);
    case 'url_template':
      return hostTemplate(setting.variable, setting.placeholder, setting.default);
    case 'text':
      return optionalText;
    case 'flag':
      return flag(setting.variable);
    case 'time_zone':
      return timeZone(setting.variable, setting.default);
    case 'milliseconds':
      return integer(setting.variable, setting.min, setting.max, setting.default);
  }
}

// What the platform variables parse to, spelled from the descriptors' types, since Object.fromEntries below
// cannot keep the names.
type PlatformEnvironment = { [S in AnyPlatformSetting as S['variable']]: SettingValue<S> } & {
  [V in OAuthAppVariable]: string | undefined;
};

const platformShape = Object.fromEntries([
  ...platformSettings.map((setting) => [setting.variable, platformSettingSchema(setting)]),
  ...oauthApps.flatMap((app) => [
    [`${app}_CLIENT_ID`, optionalText],
    [`${app}_CLIENT_SECRET`, optionalText],
  ]),
]) as { [V in keyof PlatformEnvironment]: z.ZodType<PlatformEnvironment[V], string | undefined> };

const environmentSchema = z.object({
  NODE_ENV: z
    .enum(['development', 'production', 'test'], {
      error: (issue) => `NODE_ENV must be one of development, production, test, got "${String(issue.input)}"`,
    })
    .default('development'),
  PORT: integer('PORT', 0, 65535, 3000),
  HOST: z
    .string()
    .optional()
    .transform((raw) => (raw === undefined || raw === '' ? '127.0.0.1' : raw)),
  DATABASE_URL: z
    .string()
    .optional()
    .transform((raw, ctx) => {
      if (raw === undefined || raw === '') return undefined;
      if (!/^postgres(ql)?:\/\//.test(raw)) {
        ctx.addIssue({
          code: 'custom',
          message: 'DATABASE_URL must start with postgres:// or postgresql://',
        });
        return z.NEVER;
      }
      return raw;
    }),
  DATA_DIR: z
    .string()
    .optional()
    .transform((raw) => path.resolve(raw === undefined || raw === '' ? '.data' : raw)),
  TEMPORAL_ADDRESS: z
    .string()
    .optional()
    .transform((raw, ctx) => {
      if (raw === undefined || raw === '') return undefined;
      if (!/^[A-Za-z0-9.[\]:_-]+:\d{1,5}$/.test(raw)) {
        ctx.addIssue({ code: 'custom', message: `TEMPORAL_ADDRESS must be host:port, got "${raw}"` });
        return z.NEVER;
      }
      return raw;
    }),
  TEMPORAL_DEV_PORT: integer('TEMPORAL_DEV_PORT', 1, 65535, 7233),
  TEMPORAL_UI_PORT: integer('TEMPORAL_UI_PORT', 1, 65535, 8233),
  TEMPORAL_NAMESPACE: z
    .string()
    .optional()
    .transform((raw) => (raw === undefined || raw === '' ? 'default' : raw)),
  TEMPORAL_TASK_QUEUE: z
    .string()
    .optional()
    .transform((raw) => (raw === undefined || raw === '' ? 'glowtify' : raw)),
  /** Connections each process (API, worker) keeps to PostgreSQL. */
  DATABASE_POOL_SIZE: integer('DATABASE_POOL_SIZE', 1, 1_000, 10),
  /**
   * Workflows a worker keeps in memory between their tasks (the sticky cache). A sleeping epic evicted from it
   * costs nothing until it wakes, then replays its short history: this bounds the worker's memory however many
   * epics are scheduled (the SDK's default grows with the machine's memory, about 1 MiB per epic).
   */
  WORKER_MAX_CACHED_WORKFLOWS: integer('WORKER_MAX_CACHED_WORKFLOWS', 0, 100_000, 250),
  /** Activities (platform calls, db work) a worker runs at once. */
  WORKER_MAX_CONCURRENT_ACTIVITIES: integer('WORKER_MAX_CONCURRENT_ACTIVITIES', 1, 10_000, 100),
  /**
   * Where the worker serves /metrics (its activities' counters and the Temporal SDK's worker metrics); 0: not
   * served. Loopback by default: put it on 0.0.0.0 only where the network in front is the collector's.
   */
  WORKER_METRICS_PORT: integer('WORKER_METRICS_PORT', 0, 65535, 9464),
  WORKER_METRICS_HOST: z
    .string()
    .optional()
    .transform((raw) => (raw === undefined || raw === '' ? '127.0.0.1' : raw)),
  /** Workflow tasks a worker runs at once. */
  WORKER_MAX_CONCURRENT_WORKFLOW_TASKS: integer('WORKER_MAX_CONCURRENT_WORKFLOW_TASKS', 2, 10_000, 40),
  PUBLICATION_ATTEMPTS_LIMIT: integer('PUBLICATION_ATTEMPTS_LIMIT', 1, 20, 5),
  PUBLICATION_RETRY_INITIAL_INTERVAL_MS: integer(
    'PUBLICATION_RETRY_INITIAL_INTERVAL_MS',
    1,
    86_400_000,
    10_000,
  ),
  PUBLICATION_RETRY_MAX_INTERVAL_MS: integer('PUBLICATION_RETRY_MAX_INTERVAL_MS', 1, 86_400_000, 600_000),
  PUBLICATION_RETRY_BACKOFF: decimal('PUBLICATION_RETRY_BACKOFF', 1, 10, 2),
  /**
   * How late a publication may go out because a platform asked us to wait (Retry-After, usage headers):
   * a wait that would publish later than scheduledAt + this fails with RATE_LIMITED instead.
   */
  PUBLICATION_MAX_LATENESS_MS: integer('PUBLICATION_MAX_LATENESS_MS', 1_000, 7 * 86_400_000, 1_800_000),
  /**
   * How long an unschedule, edit or reschedule may spend cancelling on the platforms once the hand-offs in
   * flight have let go (and as much again undoing a refusal); see epicTransitionWaitMs for the API's wait.
   */
  TRANSITION_TIMEOUT_MS: integer('TRANSITION_TIMEOUT_MS', 5_000, 600_000, 30_000),
  /** A publish attempt that stops heartbeating this long (its worker died) is retried elsewhere. */
  PUBLICATION_HEARTBEAT_TIMEOUT_MS: integer('PUBLICATION_HEARTBEAT_TIMEOUT_MS', 1_000, 3_600_000, 30_000),
  /** How long an epic in error keeps its run open for retry, edit or unschedule. */
  EPIC_ERROR_RUN_OPEN_DAYS: decimal('EPIC_ERROR_RUN_OPEN_DAYS', 0.0001, 365, 30),
  /** How long after the send time a real hand-off may take to be confirmed sent before it is marked unconfirmed. */
  HANDOFF_CONFIRMATION_WINDOW_MS: integer(
    'HANDOFF_CONFIRMATION_WINDOW_MS',
    1_000,
    7 * 86_400_000,
    6 * 3_600_000,
  ),
  /** How often API-key connectors' credentials are checked (a Temporal Schedule per connector). */
  CREDENTIAL_CHECK_INTERVAL_MS: integer('CREDENTIAL_CHECK_INTERVAL_MS', 1_000, 7 * 86_400_000, 3_600_000),
  /** An epic due for longer than this with nothing attempted is reported overdue by /readyz. */
  OVERDUE_THRESHOLD_MS: integer('OVERDUE_THRESHOLD_MS', 1_000, 86_400_000, 300_000),
  /**
   * Webhook URLs on private, loopback or link-local hosts, over plain http (tests, the demo, an intranet
   * receiver); never in production, where a webhook URL would otherwise reach inside the network (SSRF).
   */
  WEBHOOK_ALLOW_PRIVATE_HOSTS: flag('WEBHOOK_ALLOW_PRIVATE_HOSTS'),
  /** Webhook delivery rounds a worker runs at once (their own task queue and slots, apart from publishing). */
  WEBHOOK_MAX_CONCURRENT_ROUNDS: integer('WEBHOOK_MAX_CONCURRENT_ROUNDS', 1, 1_000, 20),
  /** How often the operations sweep runs (overdue epics, stuck publications, missing epic runs). */
  OPERATIONS_SWEEP_INTERVAL_MS: integer('OPERATIONS_SWEEP_INTERVAL_MS', 1_000, 3_600_000, 60_000),
  HANDOFF_CONFIRMATION_POLL_MS: integer('HANDOFF_CONFIRMATION_POLL_MS', 100, 3_600_000, 60_000),
  /**
   * How long past its time a hand-off may still wait on the platform's own scheduler before Glowtify publishes
   * it by request, where the platform allows (a WordPress post WP-Cron missed, a Shopify article left hidden).
   */
  HANDOFF_MISSED_SCHEDULE_GRACE_MS: integer('HANDOFF_MISSED_SCHEDULE_GRACE_MS', 1_000, 86_400_000, 300_000),
  /**
   * How long before an epic's time its soft publications are checked against their platforms without
   * publishing (they are also checked when the epic is scheduled): what fails is flagged at risk in time to fix.
   */
  PREFLIGHT_AHEAD_MS: integer('PREFLIGHT_AHEAD_MS', 1_000, 7 * 86_400_000, 3_600_000),
  /**
   * How long before an epic's time the soft publications whose platform can hold them unpublished (a PAUSED
   * Google Ads campaign) are prepared there, so that the time itself takes one request each.
   */
  PUBLICATION_PREPARE_AHEAD_MS: integer('PUBLICATION_PREPARE_AHEAD_MS', 0, 7 * 86_400_000, 3_600_000),
  /**
   * A post published before its platform named it publicly (TikTok, whose moderation takes minutes to hours) is
   * asked about after this, then at doubling intervals (at most 6 h apart) for PUBLICATION_FOLLOW_UP_FOR_MS.
   */
  /**
   * The reading schedules' delays (1 h, 6 h, … 30 days after publication) are multiplied by this: 1 in
   * production; the demo shows a published epic's first metrics within seconds with a small one.
   */
  METRICS_SCHEDULE_SCALE: decimal('METRICS_SCHEDULE_SCALE', 0.0001, 1, 1),
  PUBLICATION_FOLLOW_UP_FIRST_MS: integer('PUBLICATION_FOLLOW_UP_FIRST_MS', 1_000, 86_400_000, 60_000),
  PUBLICATION_FOLLOW_UP_FOR_MS: integer(
    'PUBLICATION_FOLLOW_UP_FOR_MS',
    60_000,
    30 * 86_400_000,
    3 * 86_400_000,
  ),
  // MEDIA_ALLOW_PRIVATE_HOSTS (media URLs on private or loopback hosts: tests, the demo; never in production)
  // is declared with LinkedIn's settings, whose adapter downloads media; the pre-flight reads it too.
  CREDENTIALS_KEY: credentialsKey,
  ADMIN_TOKEN: z
    .string()
    .optional()
    .transform((raw, ctx) => {
      if (raw === undefined || raw === '') return undefined;
      if (raw.length < 16) {
        ctx.addIssue({ code: 'custom', message: 'ADMIN_TOKEN must be at least 16 characters' });
        return z.NEVER;
      }
      return raw;
    }),
  PUBLIC_URL: url('PUBLIC_URL'),
  FRONTEND_URL: url('FRONTEND_URL'),
  LOG_LEVEL: z
    .enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], {
      error: (issue) =>
        `LOG_LEVEL must be one of fatal, error, warn, info, debug, trace, silent, got "${String(issue.input)}"`,
    })
    .default('info'),
  ...platformShape,
  /**
   * Requests one workspace may make in a minute with its API keys (all of them together), per API process;
   * past it the API answers 429 with Retry-After. Generous: it stops a runaway script, not a busy frontend.
   */
  RATE_LIMIT_PER_WORKSPACE_PER_MINUTE: integer('RATE_LIMIT_PER_WORKSPACE_PER_MINUTE', 1, 1_000_000, 6_000),
  /**
   * Requests one IP address (an IPv6 /64) may make in a minute, per API process, to the routes without a
   * workspace key (the OAuth callback, workspace creation), and credentials it may have refused (a workspace
   * key or the admin token, on any route). The probes themselves are not limited.
   */
  RATE_LIMIT_PER_IP_PER_MINUTE: integer('RATE_LIMIT_PER_IP_PER_MINUTE', 1, 1_000_000, 300),
  /**
   * Which proxies' X-Forwarded-For to believe for the caller's IP address (Fastify's trustProxy): a number of
   * hops, or addresses and CIDR ranges separated by commas. Unset: the connection's own address, so behind a
   * load balancer every anonymous caller shares one per-IP limit.
   */
  TRUST_PROXY: z
    .string()
    .optional()
    .transform((raw, ctx) => {
      const value = raw?.trim();
      if (!value) return undefined;
      if (/^\d+$/.test(value)) return Number(value);
      const entries = value
        .split(',')
        .map((entry) => entry.trim())
        .filter(Boolean);
      const wrong = entries.filter((entry) => !isProxyAddress(entry));
      if (wrong.length > 0) {
        ctx.addIssue({
          code: 'custom',
          message:
            'TRUST_PROXY must be a hop count or addresses and CIDR ranges separated by commas (or loopback, ' +
            `linklocal, uniquelocal), got ${wrong.map((entry) => `"${entry}"`).join(', ')}`,
        });
        return z.NEVER;
      }
      return entries;
    }),
  /** How often data connectors (Shopify, Google Analytics, Canva) sync (a Temporal Schedule per connector). */
  DATA_SYNC_INTERVAL_MS: integer('DATA_SYNC_INTERVAL_MS', 1_000, 7 * 86_400_000, 6 * 3_600_000),
});

type Environment = z.infer<typeof environmentSchema>;

export interface Config extends Omit<Environment, 'CREDENTIALS_KEY' | 'ADMIN_TOKEN' | 'PUBLIC_URL'> {
  CREDENTIALS_KEY: CredentialsKeys;
  ADMIN_TOKEN: string;
  PUBLIC_URL: string;
  /** Secrets that were generated into DATA_DIR by this call (development only), so start-up can say so once. */
  generatedSecrets: ('CREDENTIALS_KEY' | 'ADMIN_TOKEN')[];
}

export interface LoadConfigOptions {
  /** In development, write missing secrets into DATA_DIR (default true); tests of pure parsing turn it off. */
  generateDevSecrets?: boolean;
}

/** Parses the environment; throws a ConfigError whose message is one line per bad variable. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env, options: LoadConfigOptions = {}): Config {
  const parsed = environmentSchema.safeParse(env);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((issue) => {
      const variable = String(issue.path[0] ?? '');
      return issue.message.startsWith(variable) ? issue.message : `${variable}: ${issue.message}`;
    });
    throw new ConfigError(lines.join('\n'));
  }
  const environment = parsed.data;
  const generatedSecrets: Config['generatedSecrets'] = [];
  let credentialsKeys = environment.CREDENTIALS_KEY;
  let adminToken = environment.ADMIN_TOKEN;

  if (environment.NODE_ENV === 'production') {
    const missing = [
      credentialsKeys ? null : 'CREDENTIALS_KEY is required in production (base64 of 32 bytes)',
      adminToken ? null : 'ADMIN_TOKEN is required in production (at least 16 characters)',
    ].filter((line): line is string => line !== null);
    if (missing.length > 0) throw new ConfigError(missing.join('\n'));
  } else if (options.generateDevSecrets !== false) {
    if (!credentialsKeys) {
      const stored = readOrCreateSecret(environment.DATA_DIR, 'credentials.key', () =>
        randomBytes(32).toString('base64'),
      );
      if (stored.created) generatedSecrets.push('CREDENTIALS_KEY');
      const keys = parseCredentialsKeys(stored.value);
      if (typeof keys === 'string') {
        throw new ConfigError(`CREDENTIALS_KEY stored in ${environment.DATA_DIR}/credentials.key ${keys}`);
      }
      credentialsKeys = keys;
    }
    if (!adminToken) {
      const stored = readOrCreateSecret(environment.DATA_DIR, 'admin.token', () =>
        randomBytes(24).toString('hex'),
      );
      if (stored.created) generatedSecrets.push('ADMIN_TOKEN');
      adminToken = stored.value;
    }
  }
  if (!credentialsKeys || !adminToken) {
    throw new ConfigError('CREDENTIALS_KEY and ADMIN_TOKEN must be set');
  }

  return {
    ...environment,
    CREDENTIALS_KEY: credentialsKeys,
    ADMIN_TOKEN: adminToken,
    PUBLIC_URL: environment.PUBLIC_URL ?? `http://${environment.HOST}:${environment.PORT}`,
    generatedSecrets,
  };
}

function readOrCreateSecret(dataDir: string, file: string, create: () => string) {
  const location = path.join(dataDir, file);
  if (existsSync(location)) return { value: readFileSync(location, 'utf8').trim(), created: false };
  mkdirSync(dataDir, { recursive: true });
  const value = create();
  // 'wx' fails if another process created it meanwhile; then we read theirs, so both agree on one secret.
  try {
    writeFileSync(location, `${value}\n`, { mode: 0o600, flag: 'wx' });
    return { value, created: true };
  } catch {
    return { value: readFileSync(location, 'utf8').trim(), created: false };
  }
}

/** Start-up helper: parse the config or print the one-line reasons and exit. */
export function loadConfigOrExit(env: NodeJS.ProcessEnv = process.env): Config {
  try {
    return loadConfig(env);
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`Invalid configuration:\n${error.message}\n`);
      process.exit(1);
    }
    throw error;
  }
}

/**
 * The longest the API waits for a transition's answer before 503 TRANSITION_PENDING: attempts in flight let
 * go within their heartbeat time-out, then the cancels and, after a refusal, the undo each have
 * TRANSITION_TIMEOUT_MS; 10 s more for the writes and the round trips.
 */
export function epicTransitionWaitMs(
  config: Pick<Config, 'TRANSITION_TIMEOUT_MS' | 'PUBLICATION_HEARTBEAT_TIMEOUT_MS'>,
) {
  return config.PUBLICATION_HEARTBEAT_TIMEOUT_MS + 2 * config.TRANSITION_TIMEOUT_MS + 10_000;
}

/**
 * How long a publication may stay `publishing` with no try touching it before it counts as stuck: one try's
 * start-to-close time-out (3 minutes, workflows/epic.ts), the longest wait between tries, a heartbeat time-out.
 */
export function stuckPublicationAfterMs(
  config: Pick<Config, 'PUBLICATION_RETRY_MAX_INTERVAL_MS' | 'PUBLICATION_HEARTBEAT_TIMEOUT_MS'>,
) {
  return 180_000 + config.PUBLICATION_RETRY_MAX_INTERVAL_MS + config.PUBLICATION_HEARTBEAT_TIMEOUT_MS;
}
