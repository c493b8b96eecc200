// WordPress adapter: connects a site with a username and an application password (HTTP Basic), checked with
// `users/me?context=edit` and the `publish_posts` capability. The site URL comes from the user, so every
// request is guarded (public-hosts.ts): http(s) only, no private or loopback address (each redirect hop too,
// followed here one by one), no credentials to another origin. wordpress_article tasks are handed off as posts
// WordPress publishes by itself at their time (`status: future` + `date_gmt`), cancelled back to drafts, and
// confirmed by reading the post (see handOff).
import { z } from 'zod';
import { contentSchemas } from '../domain/content.ts';
import { HandOffLockedError, PlatformError, type PublicationFailure } from '../domain/publication-errors.ts';
import { waitForInstant } from './hand-off-timing.ts';
import { type HttpAnswer, isSuccess, parseRetryAfter, redact, send } from './http.ts';
import {
  checkedFetch,
  guardHost,
  type HostGuard,
  type HostLookup,
  pinnedFetch,
  type Refusal,
  systemLookup,
} from './public-hosts.ts';
import {
  type Connection,
  CredentialsRejectedError,
  type HandOffContext,
  type HandOffStatus,
  type PlatformAdapter,
  type PublicationProgress,
  type Published,
  type SiteConnector,
} from './types.ts';

/** The REST namespace this adapter speaks (WordPress core's only one; its shapes are stable across 5.x–6.x). */
export const wordPressRestNamespace = 'wp/v2';
/** The discovered account kind: the site itself. */
export const wordPressSiteKind = 'wordpress_site';

export interface WordPressCredentials {
  /** The normalised site URL (scheme, host, optional sub-directory; no trailing slash). */
  siteUrl: string;
  /**
   * Where the REST API answered at connect time: `{siteUrl}/wp-json` (pretty permalinks), or
   * `{siteUrl}/?rest_route=` (plain permalinks). A route is appended to it as is: `/wp/v2/users/me`.
   */
  restBase: string;
  username: string;
  applicationPassword: string;
}

export { type HostLookup, isPrivateAddress } from './public-hosts.ts';

export interface WordPressAdapterOptions {
  /** Lets a site on a private or loopback address be connected (tests, the demo); never in production. */
  allowPrivateHosts?: boolean;
  /**
   * Tests only: replaces the pinned connection under the shared transport. Each hop's host is still checked
   * first, but the injected fetch resolves the name itself, so the checked address is not pinned: never in
   * production.
   */
  fetch?: typeof fetch;
  /** One request's time limit, redirects included; a hung site becomes TRANSIENT. */
  requestTimeoutMs?: number;
  /** Resolves host names, for the check and for the connection alike (default: the system resolver). */
  lookup?: HostLookup;
  /** How many redirects one request follows (each hop checked); default 5. */
  maxRedirects?: number;
  /** Our clock (tests move it); WordPress keeps its own. */
  now?: () => Date;
}

export type WordPressAdapter = PlatformAdapter<WordPressCredentials> &
  Required<
    Pick<
      PlatformAdapter<WordPressCredentials>,
      'verifyCredentials' | 'handOff' | 'cancelHandOff' | 'handOffStatus'
    >
  > & {
    readonly connector: SiteConnector<WordPressCredentials>;
  };

export const wordPressMessages = {
  notHttp: 'The site URL must start with http:// or https://',
  credentialsInUrl: 'The site URL must not contain a user name or password',
  privateAddress: 'The site URL points at a private or loopback address',
  redirectToPrivate: 'The site redirects to a private or loopback address',
  redirectNotHttp: 'The site redirects to an address that is not http:// or https://',
  tooManyRedirects: 'The site redirects too many times',
  invalidLogin: 'Invalid username or application password',
  cannotPublish: 'This WordPress user cannot publish posts (publish_posts)',
} as const;

const meRoute = `/${wordPressRestNamespace}/users/me`;
const plainMarker = '?rest_route=';
const redirectStatuses = new Set([301, 302, 303, 307, 308]);

// --- site URLs ------------------------------------------------------------------------------------------

function rejected(message: string): CredentialsRejectedError {
  return new CredentialsRejectedError(message);
}

/**
 * The site URL as stored: http(s) only, no user name or password, no query or fragment, no trailing slash
 * (and a pasted `/wp-admin`, `/wp-json` or `/wp-login.php` tail dropped). Throws CredentialsRejectedError.
 */
export function normaliseSiteUrl(raw: string): string {
  const text = raw.trim();
  if (!/^https?:\/\//i.test(text)) throw rejected(wordPressMessages.notHttp);
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw rejected(wordPressMessages.notHttp);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw rejected(wordPressMessages.notHttp);
  if (url.username !== '' || url.password !== '') throw rejected(wordPressMessages.credentialsInUrl);
  const path = url.pathname
    .replace(/\/+$/, '')
    .replace(/\/(?:wp-admin|wp-json|wp-login\.php)(?:\/.*)?$/i, '')
    .replace(/\/+$/, '');
  return `${url.origin}${path}`;
}

/**
 * The pure-with-DNS check of a site URL a user typed: normalised (see normaliseSiteUrl), then refused when its
 * host is or resolves to a non-public address, unless `allowPrivateHosts`. Returns the normalised URL;
 * throws CredentialsRejectedError with the message the user sees.
 */
export async function checkSiteUrl(
  siteUrl: string,
  options: { allowPrivateHosts?: boolean; lookup?: HostLookup } = {},
): Promise<string> {
  const normalised = normaliseSiteUrl(siteUrl);
  await guardHost(
    new URL(normalised),
    { allowPrivateHosts: options.allowPrivateHosts ?? false, lookup: options.lookup ?? systemLookup },
    { message: wordPressMessages.privateAddress, unknownHost: 'reject' },
  );
  return normalised;
}

/** A REST route's URL under either base: `{site}/wp-json/wp/v2/x?a=b` or `{site}/?rest_route=/wp/v2/x&a=b`. */
export function wordPressRestUrl(
  restBase: string,
  route: string,
  query: Record<string, string> = {},
): string {
  const params = new URLSearchParams(query).toString();
  const joiner = restBase.endsWith(plainMarker) ? '&' : '?';
  return `${restBase}${route}${params === '' ? '' : `${joiner}${params}`}`;
}

// --- errors ---------------------------------------------------------------------------------------------

const WordPressErrorBody = z.object({
  code: z.string(),
  message: z.string().nullish(),
  data: z
    .object({
      status: z.number().optional(),
      // rest_invalid_param: each refused argument, and (WordPress 5.6+) the error each one raised. Read when
      // they have that shape (rest_missing_callback_param lists names instead), never failing the body.
      params: z.record(z.string(), z.unknown()).nullish().catch(null),
      details: z
        .record(
          z.string(),
          z
            .object({ code: z.string().nullish(), data: z.object({ status: z.number() }).nullish() })
            .nullish()
            .catch(null),
        )
        .nullish()
        .catch(null),
    })
    .nullish(),
});

/** Arguments that carry what the user wrote: WordPress refusing one of them refuses the content. */
const contentParams = new Set(['title', 'content', 'excerpt']);

const entities: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'", nbsp: ' ' };

/** WordPress escapes site names and puts HTML in some error messages: plain text for people. */
export function plainText(html: string): string {
  return html
    .replace(/<[^>]*>/g, '')
    .replace(/&(#x[0-9a-f]+|#\d+|[a-z]+);/gi, (whole, entity: string) => {
      if (entity.startsWith('#x') || entity.startsWith('#X')) {
        return String.fromCodePoint(Number.parseInt(entity.slice(2), 16));
      }
      if (entity.startsWith('#')) return String.fromCodePoint(Number.parseInt(entity.slice(1), 10));
      return entities[entity.toLowerCase()] ?? whole;
    })
    .replace(/\s+/g, ' ')
    .trim();
}

/**
 * Maps a WordPress answer that is not a success (status 0: no answer at all) onto a publication error, from
 * its `{"code","message","data":{"status"}}` body where there is one (a proxy or WAF may answer in HTML).
 */
/** The refusals of a user's capabilities, which a user with the right role fixes. */
const capabilityRefusals = new Set(['rest_cannot_publish', 'rest_cannot_create', 'rest_forbidden_status']);

export function mapWordPressError(status: number, body: unknown, headers: Headers): PublicationFailure {
  const error = WordPressErrorBody.safeParse(body).data;
  const said = error?.message ? plainText(error.message).slice(0, 500) : '';
  const failure = (rest: PublicationFailure): PublicationFailure =>
    error ? { ...rest, platformCode: error.code } : rest;
  // WordPress checks arguments before permissions: listing non-public statuses anonymously (a revoked or
  // wrong application password makes a request anonymous) answers 400 rest_invalid_param whose detail is
  // rest_forbidden_status with the 401 (anonymous) or 403 (logged in) it stands for.
  const forbidden = Object.values(error?.data?.details ?? {}).find(
    (detail) => detail?.code === 'rest_forbidden_status',
  );
  const effective = status === 400 && forbidden?.data ? forbidden.data.status : status;
  if (effective === 401) return failure({ class: 'TOKEN_EXPIRED', message: wordPressMessages.invalidLogin });
  // Only WordPress's own capability refusals ask for another user: a 403 page from a firewall or the host
  // (no WordPress error body) or a refusal about one post (rest_cannot_edit) is not fixed by reconnecting.
  if (effective === 403 && (forbidden || (error && capabilityRefusals.has(error.code)))) {
    return failure({
      class: 'PERMISSION_REVOKED',
      message: forbidden
        ? 'This WordPress user may no longer edit posts'
        : said || 'WordPress refused the request',
    });
  }
  if (effective === 403 && !error) {
    return {
      class: 'TRANSIENT',
      message: 'The WordPress site (or a firewall before it) refused the request (HTTP 403)',
    };
  }
  if (status === 429) {
    const retryAfterMs = parseRetryAfter(headers.get('retry-after'));
    return failure({
      class: 'RATE_LIMITED',
      message: said || 'The WordPress site is rate limiting requests',
      ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
    });
  }
  if (status === 0 || status === 408 || status >= 500) {
    return failure({
      class: 'TRANSIENT',
      message:
        said ||
        (status === 0
          ? 'The WordPress site could not be reached'
          : `The WordPress site answered HTTP ${status}`),
    });
  }
  const refusedParams = Object.keys(error?.data?.params ?? {});
  if (
    error?.code === 'empty_content' ||
    (refusedParams.length > 0 && refusedParams.every((param) => contentParams.has(param)))
  ) {
    return failure({ class: 'CONTENT_REJECTED', message: said || 'WordPress refused the article' });
  }
  return failure({
    class: 'INVALID_REQUEST',
    message: said || `WordPress refused the request (HTTP ${status})`,
  });
}

// --- posts (real scheduling) ----------------------------------------------------------------------------

/**
 * How far ahead a post must be handed over as `future`. wp_insert_post publishes a `future` post at once when
 * its date is less than 60 s ahead of the site's clock at the moment it saves it; the margin covers the
 * request's way there and a site clock somewhat ahead of ours. Closer than this, the hand-off waits for the
 * time and publishes then (see handOff): never earlier than the time.
 */
export const wordPressFutureLeadMs = 70_000;

/**
 * Around its time a `future` post is not taken back: WP-Cron may be publishing it at that very moment (any page
 * load runs it), and moving a post that has just gone live back to draft would unpublish a live article. The
 * cancel is refused (HandOffLockedError → 409, the epic stays scheduled) within this much of the time.
 */
export const wordPressCancelLockMs = 5_000;

/** What a task's post is looked up by: every status a post we created may have, trash aside. */
const ownStatuses = 'future,draft,pending,private,publish';

/** ASCII letters and digits, dashes between words: what WordPress's sanitize_title leaves as it is. */
function slugWords(text: string): string {
  return text
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase()
    .replace(/[^a-z0-9_]+/g, '-')
    .replace(/-+/g, '-')
    .replace(/^-+|-+$/g, '');
}

/**
 * The post's slug: readable words of the title, then the hand-off key, which is how a retry (or a cancel)
 * finds a post whose creation answer was lost. It is written the way WordPress's sanitize_title keeps it
 * (lower case, `a-z 0-9 _ -`, single dashes), so the slug WordPress stores is exactly this one; 60 characters
 * of title keep it far from the 200 a slug may have.
 */
export function wordPressPostSlug(title: string, handOffKey: string): string {
  const words = slugWords(title).slice(0, 60).replace(/-+$/, '');
  const key = slugWords(handOffKey);
  return words === '' ? key : `${words}-${key}`;
}

/**
 * `date_gmt` as WordPress takes it (`YYYY-MM-DDTHH:MM:SS`, read as UTC). WordPress keeps whole seconds and
 * WP-Cron publishes once that second has begun, so a time with a fraction is rounded up: never early.
 */
export function wordPressDateGmt(date: Date): string {
  const whole = new Date(Math.ceil(date.getTime() / 1000) * 1000);
  return whole.toISOString().replace(/\.\d{3}Z$/, '');
}

/** A `date_gmt` WordPress wrote (no offset: the name says GMT) as an instant. */
function instantOf(dateGmt: string | null | undefined): number | null {
  if (!dateGmt) return null;
  const parsed = Date.parse(/(?:Z|[+-]\d{2}:?\d{2})$/.test(dateGmt) ? dateGmt : `${dateGmt}Z`);
  return Number.isNaN(parsed) ? null : parsed;
}

// Only the fields the adapter reads; a post carries many more.
const Post = z.object({
  id: z.number().int(),
  status: z.string(),
  slug: z.string(),
  date_gmt: z.string().nullish(),
  link: z.string().nullish(),
});
type Post = z.infer<typeof Post>;

/** Keys in progress, written before the request they make possible or the moment WordPress answers. */
interface WordPressProgress {
  /** Saved before the post is created: what a retry or a cancel looks the post up by. */
  slug?: string;
  postId?: string;
}

// --- the adapter ----------------------------------------------------------------------------------------

const Me = z.object({
  id: z.number(),
  // PHP writes an empty capability map as [], so both shapes are read.
  capabilities: z.union([z.record(z.string(), z.unknown()), z.array(z.unknown())]).nullish(),
});
const Index = z.object({ name: z.string().nullish() });

interface Login {
  username: string;
  applicationPassword: string;
}

interface Answer {
  status: number;
  ok: boolean;
  body: unknown;
  headers: Headers;
  /** The origin of the last hop when a redirect left the site's origin (credentials were not sent there). */
  leftOriginTo: string | null;
}

type Mode = 'connect' | 'verify';

const isJsonObject = (body: unknown) => typeof body === 'object' && body !== null && !Array.isArray(body);

export function createWordPressAdapter(options: WordPressAdapterOptions = {}): WordPressAdapter {
  const requestTimeoutMs = options.requestTimeoutMs ?? 30_000;
  const maxRedirects = options.maxRedirects ?? 5;
  const guard: HostGuard = {
    allowPrivateHosts: options.allowPrivateHosts ?? false,
    lookup: options.lookup ?? systemLookup,
  };
  const hopFetch = options.fetch ? checkedFetch(options.fetch, guard) : pinnedFetch(guard);
  const now = options.now ?? (() => new Date());

  const secretsOf = (login: Login) => {
    const basic = Buffer.from(`${login.username}:${login.applicationPassword}`, 'utf8').toString('base64');
    return { basic, secrets: [login.applicationPassword, basic].filter((secret) => secret.length >= 4) };
  };

  /**
   * One request without following redirects, through the shared transport. The transport names every failure
   * as the site being unreachable; a refused host is not that, so the refusal is rethrown as the check raised it.
   */
  async function hop(
    url: URL,
    request: { method: string; headers: Record<string, string>; json?: unknown; signal?: AbortSignal },
    refusal: Refusal,
    timeoutMs: number,
    secrets: string[],
  ): Promise<HttpAnswer> {
    const reach = hopFetch(refusal);
    let refused: unknown;
    const noting: typeof fetch = (input, init) =>
      reach(input, init).catch((error: unknown) => {
        if (error instanceof CredentialsRejectedError || error instanceof PlatformError) refused = error;
        throw error;
      });
    try {
      return await send(
        { platformName: 'The WordPress site', timeoutMs, fetch: noting },
        {
          method: request.method,
          url: url.toString(),
          headers: request.headers,
          ...(request.json === undefined ? {} : { body: { json: request.json } }),
          signal: request.signal,
          secrets,
        },
      );
    } catch (error) {
      throw refused ?? error;
    }
  }

  /**
   * One request, following redirects by hand: each hop's host is checked, and connected to only at an address
   * that was checked (see pinnedFetch); the Authorization header goes only to the site's own origin, and not at
   * all with `anonymous`. A GET follows every redirect; a write follows only a same-origin 307/308 (which keep
   * the method and body): any other redirect would turn it into a GET, or send the post to another origin.
   * Answers every status; throws only when no answer came (TRANSIENT) or a hop is refused
   * (CredentialsRejectedError).
   */
  async function call(
    target: string,
    login: Login,
    mode: Mode,
    options: { method?: string; json?: unknown; signal?: AbortSignal; anonymous?: boolean } = {},
  ): Promise<Answer> {
    const method = options.method ?? 'GET';
    const { basic, secrets } = secretsOf(login);
    // The time limit covers the redirects too: each hop gets what is left of it.
    const started = Date.now();
    let url = new URL(target);
    const siteOrigin = url.origin;
    let leftOriginTo: string | null = null;
    for (let hops = 0; ; hops += 1) {
      const refusal: Refusal = {
        message: hops === 0 ? wordPressMessages.privateAddress : wordPressMessages.redirectToPrivate,
        unknownHost: mode === 'connect' ? 'reject' : 'transient',
      };
      const headers: Record<string, string> = { Accept: 'application/json' };
      if (url.origin === siteOrigin && !options.anonymous) headers.Authorization = `Basic ${basic}`;
      const timeoutMs = Math.max(0, requestTimeoutMs - (Date.now() - started));
      const answer = await hop(
        url,
        {
          method,
          headers,
          ...(options.json === undefined ? {} : { json: options.json }),
          ...(options.signal ? { signal: options.signal } : {}),
        },
        refusal,
        timeoutMs,
        secrets,
      );
      const location = answer.headers.get('location');
      if (redirectStatuses.has(answer.status) && location) {
        if (hops >= maxRedirects) throw rejected(wordPressMessages.tooManyRedirects);
        let next: URL;
        try {
          next = new URL(location, url);
        } catch {
          throw rejected(wordPressMessages.redirectNotHttp);
        }
        if (next.protocol !== 'http:' && next.protocol !== 'https:') {
          throw rejected(wordPressMessages.redirectNotHttp);
        }
        // Credentials in a Location are dropped: only the Authorization header authenticates.
        next.username = '';
        next.password = '';
        next.hash = '';
        if (
          method !== 'GET' &&
          (next.origin !== siteOrigin || (answer.status !== 307 && answer.status !== 308))
        ) {
          throw new PlatformError({
            class: 'INVALID_REQUEST',
            message: `The WordPress site redirected the ${method} to ${next.origin}${next.pathname}: reconnect the site at the address it uses`,
          });
        }
        leftOriginTo = next.origin === siteOrigin ? null : next.origin;
        url = next;
        continue;
      }
      const { status, headers: answerHeaders, body } = answer;
      return { status, ok: isSuccess(status), body, headers: answerHeaders, leftOriginTo };
    }
  }

  const get = (target: string, login: Login, mode: Mode) => call(target, login, mode);

  const failureOf = (answer: Answer, login: Login): PlatformError => {
    const failure = mapWordPressError(answer.status, answer.body, answer.headers);
    return new PlatformError({ ...failure, message: redact(failure.message, secretsOf(login).secrets) });
  };

  /** Answers that say the REST API is not at this base (a theme's 404 page, a non-JSON page). */
  const notRest = (answer: Answer) => answer.status === 404 || !isJsonObject(answer.body);
  /** Answers no other base would change: the site is down or throttling. */
  const unavailable = (answer: Answer) =>
    answer.status === 408 || answer.status === 429 || answer.status >= 500;

  /** `users/me?context=edit` at the first base that has the REST API; returns which base answered. */
  async function readMe(bases: string[], login: Login, mode: Mode, siteUrl: string) {
    for (const restBase of bases) {
      const answer = await get(wordPressRestUrl(restBase, meRoute, { context: 'edit' }), login, mode);
      if (unavailable(answer)) throw failureOf(answer, login);
      if (notRest(answer)) continue;
      return { restBase, answer };
    }
    const message = `No WordPress REST API answers at ${siteUrl} (tried /wp-json/ and ?rest_route=)`;
    if (mode === 'connect') throw rejected(message);
    throw new PlatformError({ class: 'INVALID_REQUEST', message });
  }

  /** Reads users/me: throws unless the user is logged in and may publish posts. */
  function requirePublisher(answer: Answer, login: Login, mode: Mode): void {
    if (answer.status === 401 || answer.status === 403) {
      if (answer.leftOriginTo) {
        // Credentials never follow a redirect to another origin, so the login could not be checked.
        throw rejected(`The site redirects to ${answer.leftOriginTo}: enter that address as the site URL`);
      }
      if (answer.status === 401) throw rejected(wordPressMessages.invalidLogin);
      const failure = failureOf(answer, login);
      if (mode === 'connect') throw rejected(`WordPress refused access: ${failure.failure.message}`);
      throw failure;
    }
    if (!answer.ok) throw failureOf(answer, login);
    const me = Me.safeParse(answer.body);
    if (!me.success) {
      const message = 'The site answered users/me, but not like WordPress';
      if (mode === 'connect') throw rejected(message);
      throw new PlatformError({ class: 'TRANSIENT', message });
    }
    const capabilities = me.data.capabilities;
    // A Contributor's map has no publish_posts key at all: only an explicit true counts.
    const canPublish = !!capabilities && !Array.isArray(capabilities) && capabilities.publish_posts === true;
    if (!canPublish) {
      if (mode === 'connect') throw rejected(wordPressMessages.cannotPublish);
      throw new PlatformError({ class: 'PERMISSION_REVOKED', message: wordPressMessages.cannotPublish });
    }
  }

  /** The site's title from the REST index (`GET {restBase}/` → `{name, description, url, …}`). */
  async function siteName(restBase: string, login: Login, siteUrl: string): Promise<string> {
    const answer = await get(wordPressRestUrl(restBase, '/'), login, 'connect');
    const name = answer.ok ? Index.safeParse(answer.body).data?.name : undefined;
    const text = name ? plainText(name) : '';
    return text || siteUrl.replace(/^https?:\/\//, '');
  }

  async function connectWithSite(input: {
    siteUrl: string;
    username: string;
    applicationPassword: string;
  }): Promise<Connection<WordPressCredentials>> {
    const siteUrl = await checkSiteUrl(input.siteUrl, guard);
    const login: Login = {
      username: input.username.trim(),
      applicationPassword: input.applicationPassword.trim(),
    };
    if (login.username === '' || login.applicationPassword === '')
      throw rejected(wordPressMessages.invalidLogin);
    const { restBase, answer } = await readMe(
      [`${siteUrl}/wp-json`, `${siteUrl}/${plainMarker}`],
      login,
      'connect',
      siteUrl,
    );
    requirePublisher(answer, login, 'connect');
    const name = await siteName(restBase, login, siteUrl);
    return {
      credentials: { siteUrl, restBase, ...login },
      // Application passwords do not expire; the periodic check notices a revoked one.
      expiresAt: null,
      accounts: [{ kind: wordPressSiteKind, externalId: siteUrl, name }],
    };
  }

  async function verifyCredentials(credentials: WordPressCredentials): Promise<void> {
    const { siteUrl, restBase } = credentials;
    // The base that worked first; the other one too, should the site's permalinks have changed since.
    const other = restBase.endsWith(plainMarker) ? `${siteUrl}/wp-json` : `${siteUrl}/${plainMarker}`;
    const { answer } = await readMe([restBase, other], credentials, 'verify', siteUrl);
    requirePublisher(answer, credentials, 'verify');
  }

  // --- posts ----------------------------------------------------------------------------------------

  /**
   * One request to the site's REST API with the stored credentials. A hop refused now (the site's address
   * became private) is no longer a connect-time refusal: WordPress cannot be reached for this publication.
   */
  async function rest(
    credentials: WordPressCredentials,
    route: string,
    request: { method?: string; json?: unknown; query?: Record<string, string>; signal?: AbortSignal } = {},
  ): Promise<Answer> {
    try {
      return await call(wordPressRestUrl(credentials.restBase, route, request.query), credentials, 'verify', {
        ...(request.method ? { method: request.method } : {}),
        ...(request.json === undefined ? {} : { json: request.json }),
        ...(request.signal ? { signal: request.signal } : {}),
      });
    } catch (error) {
      if (error instanceof CredentialsRejectedError) {
        throw new PlatformError({ class: 'INVALID_REQUEST', message: error.message });
      }
      throw error;
    }
  }

  function readAs<T>(schema: z.ZodType<T>, body: unknown, what: string): T {
    const parsed = schema.safeParse(body);
    if (!parsed.success) {
      // Most likely a cache's or a proxy's page: another attempt may reach WordPress itself.
      throw new PlatformError({
        class: 'TRANSIENT',
        message: `The WordPress site answered, but not like WordPress (${what})`,
      });
    }
    return parsed.data;
  }

  /** `rest_post_invalid_id`: the post does not exist (any other 404 says the REST API is not there). */
  const postIsGone = (answer: Answer) =>
    answer.status === 404 && WordPressErrorBody.safeParse(answer.body).data?.code === 'rest_post_invalid_id';

  const postRoute = (id: string) => `/${wordPressRestNamespace}/posts/${encodeURIComponent(id)}`;

  /** The post in the edit context (its raw status and date), or null when it does not exist. */
  async function readPost(credentials: WordPressCredentials, id: string, signal?: AbortSignal) {
    const answer = await rest(credentials, postRoute(id), {
      query: { context: 'edit' },
      ...(signal ? { signal } : {}),
    });
    if (postIsGone(answer)) return null;
    if (!answer.ok) throw failureOf(answer, credentials);
    return readAs(Post, answer.body, 'post');
  }

  /**
   * The posts carrying this slug, in any status but trash (a trashed post's slug gets `__trashed`, so it is
   * never found: it is not live and cannot become so by itself). WordPress gives a second post with a taken
   * slug `-2` (then `-3`…): two attempts creating at once (one that outlived its time-out) would leave one of
   * those, so they are asked for in the same request. Statuses other than `publish` are listed only to a user
   * who may edit posts, in the edit context. Live ones first.
   */
  async function findPosts(credentials: WordPressCredentials, slug: string, signal?: AbortSignal) {
    const variants = [slug, ...[2, 3, 4, 5].map((suffix) => `${slug}-${suffix}`)];
    const answer = await rest(credentials, `/${wordPressRestNamespace}/posts`, {
      query: { slug: variants.join(','), status: ownStatuses, context: 'edit', per_page: '100' },
      ...(signal ? { signal } : {}),
    });
    if (!answer.ok) throw failureOf(answer, credentials);
    const live = ['publish', 'private', 'future'];
    return readAs(z.array(Post), answer.body, 'posts')
      .filter((post) => variants.includes(post.slug))
      .sort((a, b) => Number(live.includes(b.status)) - Number(live.includes(a.status)));
  }

  async function writePost(
    credentials: WordPressCredentials,
    id: string | null,
    json: Record<string, unknown>,
    signal?: AbortSignal,
  ): Promise<Answer> {
    return rest(credentials, id === null ? `/${wordPressRestNamespace}/posts` : postRoute(id), {
      method: 'POST',
      json,
      ...(signal ? { signal } : {}),
    });
  }

  const handedOver = (post: Post): Published => ({
    externalId: String(post.id),
    // A scheduled post's link is `?p=ID`, which leads to the article once it is published.
    externalUrl: post.link ?? null,
  });

  /**
   * Hands a wordpress_article task to WordPress: a post `future` at the epic's time, which WordPress publishes
   * by itself (through WP-Cron). The slug carries the hand-off key and is saved before the post is created, so
   * a retry after a lost answer finds the post instead of creating a second one; the post id is saved the
   * moment WordPress answers.
   *
   * WordPress publishes a `future` post at once when its time is less than a minute ahead. We never publish
   * early: when the time is closer than wordPressFutureLeadMs (or past, a hand-off retried late), the hand-off
   * waits until the time (heartbeating; an unschedule cancels the wait), then, after beforeGoingLive, creates the
   * post `publish`: it goes live at its time, not before. That wait is at most ~70 s of the
   * activity's 3 minutes.
   *
   * Tags are not sent: WordPress takes tag ids, not names, and creating missing tags needs a capability
   * (manage_categories) an Author lacks; the post gets the site's default category, as any new post. The
   * author is the connected user (WordPress authors are users, not names).
   */
  async function handOff(context: HandOffContext<WordPressCredentials>): Promise<Published> {
    if (context.channel !== 'wordpress_article') {
      throw new PlatformError({
        class: 'INVALID_REQUEST',
        message: `WordPress cannot hand off ${context.channel}`,
      });
    }
    const parsed = contentSchemas.wordpress_article.safeParse(context.content);
    if (!parsed.success) {
      throw new PlatformError({
        class: 'INVALID_REQUEST',
        message: 'The wordpress_article content is not valid',
      });
    }
    const content = parsed.data;
    const { credentials, signal } = context;
    // An empty value is how progress forgets a key (it is merged, never replaced).
    const progress: WordPressProgress = Object.fromEntries(
      Object.entries(context.progress).filter(([, value]) => value !== ''),
    );
    const save = async (update: WordPressProgress) => {
      Object.assign(progress, update);
      await context.saveProgress(update as PublicationProgress);
    };
    const at = Date.parse(`${wordPressDateGmt(context.scheduledAt)}Z`);

    let post: Post | null = null;
    if (progress.postId) {
      post = await readPost(credentials, progress.postId, signal);
      // Deleted or trashed since (by a person, or a cancel whose answer was lost): this hand-off starts over.
      if (!post || post.status === 'trash') {
        await save({ postId: '' });
        delete progress.postId;
        post = null;
      }
    }
    const slug = progress.slug ?? wordPressPostSlug(content.title, context.handOffKey);
    if (!post) {
      if (progress.slug) {
        [post = null] = await findPosts(credentials, slug, signal);
        if (post) await save({ postId: String(post.id) });
      } else {
        // Nothing was created before the slug was saved: no look-up needed.
        await save({ slug });
      }
    }
    if (post && (post.status === 'publish' || post.status === 'private')) return handedOver(post);
    if (post?.status === 'future' && instantOf(post.date_gmt) === at) return handedOver(post);

    const publishAtOnce = at - now().getTime() < wordPressFutureLeadMs;
    if (publishAtOnce) await waitForInstant(at, context, now);
    await context.beforeGoingLive();
    const schedule = publishAtOnce
      ? // Dated the second it goes live (never after it: WordPress would make a date ahead `future` again).
        {
          status: 'publish',
          date_gmt: wordPressDateGmt(new Date(Math.max(at, Math.floor(now().getTime() / 1000) * 1000))),
        }
      : { status: 'future', date_gmt: wordPressDateGmt(new Date(at)) };
    // Not aborted by a cancellation: the platform may apply a request whose connection we dropped after the
    // cancel that follows has looked for it. Waiting for its answer (bounded by the request time-out) lets
    // the transition's cancel, which waits for this attempt to settle, find what it made.
    const answer = post
      ? await writePost(credentials, String(post.id), schedule)
      : await writePost(credentials, null, {
          title: content.title,
          content: content.html,
          ...(content.excerpt ? { excerpt: content.excerpt } : {}),
          slug,
          ...schedule,
        });
    if (post && postIsGone(answer)) {
      // Deleted between our read and this update: the next attempt creates it anew.
      await save({ postId: '' });
      throw new PlatformError({ class: 'TRANSIENT', message: 'The post was deleted in WordPress meanwhile' });
    }
    if (!answer.ok) throw failureOf(answer, credentials);
    const written = readAs(Post, answer.body, 'written post');
    await save({ postId: String(written.id) });
    // A `publish` answer to a `future` request means the site's clock ran more than the margin ahead of ours:
    // it is live already, and the confirmation will say so.
    return handedOver(written);
  }

  /** Takes one post back to draft; resolves once WordPress will not publish it by itself. */
  async function unschedulePost(credentials: WordPressCredentials, id: string, seen?: Post): Promise<void> {
    const post = seen ?? (await readPost(credentials, id));
    if (!post) return;
    if (post.status === 'publish' || post.status === 'private') {
      throw new HandOffLockedError('The article is already published on WordPress', String(post.id));
    }
    // Drafts, pending posts and trashed ones are never published by WordPress itself.
    if (post.status !== 'future') return;
    // Long past its time on a site nobody visited, it has not gone live yet: taken back like any other.
    const at = instantOf(post.date_gmt);
    if (at !== null && Math.abs(at - now().getTime()) < wordPressCancelLockMs) {
      throw new HandOffLockedError(
        'WordPress is publishing the article at this very moment',
        String(post.id),
      );
    }
    // Back to draft (date kept, WP-Cron's job then publishes nothing): the writer's article stays in their
    // WordPress, not public, as SPEC §4 says. It is not trashed: deleting content from the user's site is not
    // ours to do. Each unschedule or move leaves one such draft.
    const answer = await writePost(credentials, String(post.id), { status: 'draft' });
    if (postIsGone(answer)) return;
    if (!answer.ok) throw failureOf(answer, credentials);
    const after = readAs(Post, answer.body, 'post');
    if (after.status === 'future') {
      throw new PlatformError({ class: 'TRANSIENT', message: 'WordPress kept the article scheduled' });
    }
  }

  async function cancelHandOff(context: {
    externalId: string | null;
    handOffKey: string | null;
    credentials: WordPressCredentials;
    progress: PublicationProgress;
  }): Promise<void> {
    const { credentials, progress } = context;
    const known = context.externalId || progress.postId || null;
    if (known) await unschedulePost(credentials, known);
    // Whatever else carries the hand-off's slug goes too: a post no answer ever named (created, then the answer
    // was lost). The slug is saved before any post is created, so without it there is nothing to look for.
    if (!context.handOffKey || !progress.slug) return;
    for (const post of await findPosts(credentials, progress.slug)) {
      if (String(post.id) !== known) await unschedulePost(credentials, String(post.id), post);
    }
  }

  /**
   * WP-Cron runs only when the site gets a request: `GET {site}/wp-cron.php` runs the due jobs before it
   * answers. No credentials: it needs none. Whether it answered (if not, someone else's visit may still have
   * published the post). On a site whose WordPress lives in a sub-directory the request reaches the home
   * page's 404, which is a page load too, and page loads spawn WP-Cron.
   */
  async function requestCron(credentials: WordPressCredentials): Promise<boolean> {
    try {
      return (await call(`${credentials.siteUrl}/wp-cron.php`, credentials, 'verify', { anonymous: true }))
        .ok;
    } catch (error) {
      if (error instanceof PlatformError || error instanceof CredentialsRejectedError) return false;
      throw error;
    }
  }

  function statusOf(post: Post | null): HandOffStatus {
    if (!post) {
      return {
        state: 'failed',
        platformStatus: 'Not found',
        message: 'The post no longer exists in WordPress',
      };
    }
    switch (post.status) {
      case 'publish':
        return { state: 'sent', sentAt: null };
      case 'draft':
      case 'pending':
      case 'trash':
        // Someone took it back in WordPress (or sent it for review, or deleted it).
        return { state: 'cancelled', platformStatus: post.status };
      case 'private':
        return {
          state: 'failed',
          platformStatus: post.status,
          message: 'The post was published privately, not publicly',
        };
      default:
        return { state: 'pending', platformStatus: post.status };
    }
  }

  /**
   * Reads the post. A `future` post whose time has passed is still `future` on a site nobody visited since:
   * WP-Cron publishes it on the next request. So wp-cron.php is requested once, and the post read again; if it
   * is published now, it was published by that request, so its time is when the article went live, and the
   * lateness on record is how late the site published. Found published at the first read, the moment is
   * unknown (sentAt null: the caller records when it saw it).
   *
   * Still `future` once `overdue` (earlier polls requested WP-Cron for at least the grace, and it did not
   * publish: WP-Cron is off, broken or blocked — WordPress's "missed schedule"), the post is published by our
   * request, as the missed-schedule fixes site owners install do. That poll requests no cron: on PHP-FPM
   * wp-cron.php answers before it runs its jobs, and a cron run racing our request could publish it twice
   * over (the publish hooks of plugins would fire twice). Only a post still dated for the epic's time: a date
   * someone moved in WordPress is theirs.
   */
  async function handOffStatus(context: {
    externalId: string;
    credentials: WordPressCredentials;
    overdue?: { scheduledAt: Date; mayGoLive(): Promise<boolean> };
  }): Promise<HandOffStatus> {
    const { credentials, externalId, overdue } = context;
    const post = await readPost(credentials, externalId);
    const at = instantOf(post?.date_gmt);
    const due = post?.status === 'future' && (at ?? Number.POSITIVE_INFINITY) <= now().getTime();
    if (!due) return statusOf(post);
    const ours = overdue !== undefined && at === Date.parse(`${wordPressDateGmt(overdue.scheduledAt)}Z`);
    if (!ours) {
      const cronAt = now();
      const ran = await requestCron(credentials);
      const again = await readPost(credentials, externalId);
      if (again?.status === 'publish') return { state: 'sent', sentAt: ran ? cronAt : null };
      return statusOf(again);
    }
    if (!(await overdue.mayGoLive())) return statusOf(post);
    const publishedAt = now();
    const answer = await writePost(credentials, externalId, { status: 'publish' });
    if (postIsGone(answer)) return statusOf(null);
    if (!answer.ok) throw failureOf(answer, credentials);
    const written = readAs(Post, answer.body, 'post');
    return written.status === 'publish' ? { state: 'sent', sentAt: publishedAt } : statusOf(written);
  }

  return {
    platform: 'wordpress',
    connector: { kind: 'site_credentials', connectWithSite },
    verifyCredentials,
    handOff,
    cancelHandOff,
    handOffStatus,
  };
}
