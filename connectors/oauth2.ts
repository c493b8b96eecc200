// The OAuth2 token endpoint as every OAuth platform uses it (RFC 6749 §4.1.3 code exchange, §6 refresh): one
// form POST, and one reading of its refusals, so "reconnect required" means the same on every platform.
import type { z } from 'zod';
import { PlatformError, type PublicationFailure } from '../domain/publication-errors.ts';
import { type HttpAnswer, type HttpRequest, isSuccess, parseRetryAfter, redact } from './http.ts';
import { type Connection, CredentialsRejectedError, type DiscoveredAccount } from './types.ts';

/** What an OAuth adapter is built from: its hosts, the app's credentials (absent where not configured), and
 * what tests inject. */
export interface OAuthAdapterOptions {
  apiBaseUrl: string;
  authBaseUrl?: string;
  clientId?: string;
  clientSecret?: string;
  fetch?: typeof fetch;
  /** One request's time limit; a hung request becomes TRANSIENT instead of holding the caller. */
  requestTimeoutMs?: number;
  now?: () => Date;
}

/** An RFC 6749 §5.2 error body, as far as it was readable. */
export interface OAuthRefusal {
  error: string;
  description?: string | undefined;
  /** TikTok's request id, worth quoting to its support. */
  logId?: string | undefined;
}

export function readOAuthError(body: unknown): OAuthRefusal | undefined {
  if (typeof body !== 'object' || body === null) return undefined;
  const fields = body as Record<string, unknown>;
  if (typeof fields.error !== 'string' || fields.error === '') return undefined;
  const text = (value: unknown) => (typeof value === 'string' && value !== '' ? value : undefined);
  return { error: fields.error, description: text(fields.error_description), logId: text(fields.log_id) };
}

export interface TokenRequest<T> {
  /** The platform's name in messages. */
  platformName: string;
  send: (request: HttpRequest) => Promise<HttpAnswer>;
  url: string;
  form: Record<string, string | undefined>;
  /** E.g. client authentication by HTTP Basic (Canva). */
  headers?: Record<string, string>;
  schema: z.ZodType<T>;
  /** A refused code is the caller's to start over; a refused refresh token may mean a dead grant. */
  purpose: 'code' | 'refresh';
  /** The client secret, the code, the tokens: never in a message. */
  secrets: readonly (string | undefined)[];
  /** Reads a refusal in the platform's own shape too (default: the RFC's `{error, error_description}`). */
  readError?: (body: unknown) => OAuthRefusal | undefined;
  /** Whether a refusal means the grant is dead (reconnect required). Default: `invalid_grant`. */
  deadGrant?: (refusal: OAuthRefusal | undefined, status: number) => boolean;
  /** Whether a refusal is of the app's own client credentials. Default: `invalid_client`. */
  appRefused?: (refusal: OAuthRefusal | undefined, status: number) => boolean;
  /**
   * A 4xx without a readable OAuth error: most likely a proxy's page, so TRANSIENT (Google), unless the
   * platform's token endpoint is known to refuse that way (LinkedIn's bare 401).
   */
  unreadableRefusal?: 'transient' | 'refused';
  /** Success is exactly 200 on some platforms (Canva, Mailchimp); 2xx elsewhere. */
  successStatus?: (status: number) => boolean;
  /** The wait when a 429 names none (a platform that documents no Retry-After). */
  defaultRetryAfterMs?: number;
}

const deadGrantByDefault = (refusal: OAuthRefusal | undefined) => refusal?.error === 'invalid_grant';
const appRefusedByDefault = (refusal: OAuthRefusal | undefined) => refusal?.error === 'invalid_client';

/**
 * POSTs the form to the token endpoint and returns the parsed token answer; every other outcome is a
 * PlatformError. Only a dead grant on refresh is TOKEN_EXPIRED: a network error, a 5xx, a throttle or an
 * odd answer must never flip a connector to "reconnect required".
 */
export async function requestToken<T>(request: TokenRequest<T>): Promise<T> {
  const platform = request.platformName;
  const answer = await request.send({
    method: 'POST',
    url: request.url,
    headers: { accept: 'application/json', ...(request.headers ?? {}) },
    body: { form: request.form },
    secrets: request.secrets,
  });
  const { status, headers, body } = answer;
  // Some platforms (TikTok) put an OAuth error in an HTTP 200: the body's `error` decides, not the status.
  const refusal = (request.readError ?? readOAuthError)(body);
  const succeeded = (request.successStatus ?? isSuccess)(status);
  if (succeeded && !refusal) {
    const parsed = request.schema.safeParse(body);
    if (parsed.success) return parsed.data;
    throw new PlatformError({
      class: 'TRANSIENT',
      message: `${platform} answered the token request in an odd shape`,
    });
  }
  const platformCode = refusal?.error;
  const coded = platformCode ? { platformCode } : {};
  if (status === 429) {
    const retryAfterMs = parseRetryAfter(headers.get('retry-after')) ?? request.defaultRetryAfterMs;
    throw new PlatformError({
      class: 'RATE_LIMITED',
      message: `${platform} rate limit reached on the token request`,
      ...coded,
      ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
    });
  }
  if (
    status >= 500 ||
    status === 408 ||
    (isSuccess(status) && !refusal) ||
    (!refusal && request.unreadableRefusal !== 'refused')
  ) {
    throw new PlatformError({
      class: 'TRANSIENT',
      message: `${platform} answered HTTP ${status} to the token request`,
      ...coded,
    });
  }
  const said = redact(
    refusal
      ? `${refusal.error}${refusal.description ? `: ${refusal.description}` : ''}${refusal.logId ? `, log_id ${refusal.logId}` : ''}`
      : `HTTP ${status}`,
    request.secrets,
  );
  const failure = (errorClass: PublicationFailure['class'], message: string): PlatformError =>
    new PlatformError({ class: errorClass, message, platformCode: platformCode ?? String(status) });
  if ((request.appRefused ?? appRefusedByDefault)(refusal, status)) {
    throw failure(
      'INVALID_REQUEST',
      `${platform} refused this app's client id or secret: check the configuration (${said})`,
    );
  }
  if (request.purpose === 'code') {
    throw failure(
      'INVALID_REQUEST',
      `${platform} refused the authorization code (expired, already used, or not from this sign-in); ` +
        `start the connection again (${said})`,
    );
  }
  if ((request.deadGrant ?? deadGrantByDefault)(refusal, status)) {
    throw failure(
      'TOKEN_EXPIRED',
      `${platform} refused the refresh token (expired, revoked or already used): reconnect required (${said})`,
    );
  }
  // unauthorized_client, invalid_request, invalid_scope: the app or the request, which a reconnect cannot mend.
  throw failure('INVALID_REQUEST', `${platform} refused the token refresh (${said})`);
}

/** A refresh token worth trying: present, and not past the end the platform gave it. */
export function canRefreshWith(
  refreshToken: string | undefined,
  refreshTokenExpiresAt: string | null | undefined,
  now: Date,
): boolean {
  if (!refreshToken) return false;
  const until = refreshTokenExpiresAt ? Date.parse(refreshTokenExpiresAt) : null;
  return until === null || Number.isNaN(until) || until > now.getTime();
}

/** The instant `expires_in` seconds after now; null when the platform gave none. */
export function expiresAfter(now: Date, seconds: number | null | undefined): Date | null {
  return seconds === undefined || seconds === null ? null : new Date(now.getTime() + seconds * 1000);
}

/** Granted scopes as the platforms write them: space- or comma-separated. */
/** The token fields an OAuth platform's answer gives, merged over the credentials they refresh. */
export interface TokenCredentials {
  accessToken: string;
  accessTokenExpiresAt: string | null;
  refreshToken?: string;
  refreshTokenExpiresAt?: string | null;
  scopes: string[];
}

/**
 * Reads a token answer over the credentials it renews. A refresh token the answer leaves out is the one kept
 * (a refresh never wipes it); its expiry comes from the answer when given, else stays — unless the platform
 * rotates refresh tokens (`rotates`), where a new token without an expiry has none known.
 */
export function tokenCredentials(
  now: Date,
  answer: {
    accessToken: string;
    expiresIn?: number | undefined;
    refreshToken?: string | undefined;
    refreshExpiresIn?: number | undefined;
    scope?: string | undefined;
  },
  previous: Partial<TokenCredentials> | undefined,
  options: { rotates: boolean },
): TokenCredentials {
  const refreshToken = answer.refreshToken ?? previous?.refreshToken;
  const expiryFromAnswer =
    answer.refreshExpiresIn !== undefined || (options.rotates && answer.refreshToken !== undefined);
  const refreshTokenExpiresAt = expiryFromAnswer
    ? (expiresAfter(now, answer.refreshExpiresIn)?.toISOString() ?? null)
    : (previous?.refreshTokenExpiresAt ?? null);
  return {
    accessToken: answer.accessToken,
    accessTokenExpiresAt: expiresAfter(now, answer.expiresIn)?.toISOString() ?? null,
    ...(refreshToken ? { refreshToken, refreshTokenExpiresAt } : {}),
    scopes: answer.scope !== undefined ? parseScopes(answer.scope) : (previous?.scopes ?? []),
  };
}

export function parseScopes(scope: string | null | undefined): string[] {
  return (scope ?? '').split(/[\s,]+/).filter((item) => item !== '');
}

/** The app's client id and secret, or an INVALID_REQUEST naming the settings an operator must fill. */
export function appCredentials(
  platformName: string,
  settingsPrefix: string,
  clientId: string | undefined,
  clientSecret: string | undefined,
): { clientId: string; clientSecret: string } {
  if (!clientId || !clientSecret) {
    throw new PlatformError({
      class: 'INVALID_REQUEST',
      message: `${platformName} is not configured here (${settingsPrefix}_CLIENT_ID and ${settingsPrefix}_CLIENT_SECRET)`,
    });
  }
  return { clientId, clientSecret };
}

/** The consent redirect carried `error` (the user declined): said to the user, never sent on as a code. */
export function refuseDeclinedConsent(platformName: string, query: Record<string, string>): void {
  if (query.error) {
    throw new CredentialsRejectedError(
      `The ${platformName} consent was not given (${query.error_description || query.error})`,
    );
  }
}

/**
 * The scopes the platform says it granted; a consent where the user unticked one of ours is refused, since
 * nothing could be posted with it. A platform that does not say what it granted is taken at its word.
 */
export function requireGrantedScopes(
  scope: string | null | undefined,
  required: readonly string[],
): string[] {
  const granted = parseScopes(scope);
  if (scope !== undefined && scope !== null && !required.every((wanted) => granted.includes(wanted)))
    throw new CredentialsRejectedError('Scopes insufficient');
  return granted;
}

/**
 * Runs a call made while connecting or verifying, and says a refused token or a missing scope in the user's
 * words (CredentialsRejectedError); every other failure passes unchanged.
 */
export async function asConnectionRefusal<T>(work: () => Promise<T>, refusedToken?: string): Promise<T> {
  try {
    return await work();
  } catch (error) {
    if (error instanceof PlatformError && refusedToken && error.failure.class === 'TOKEN_EXPIRED')
      throw new CredentialsRejectedError(refusedToken);
    if (error instanceof PlatformError && error.failure.class === 'PERMISSION_REVOKED')
      throw new CredentialsRejectedError('Scopes insufficient');
    throw error;
  }
}

/**
 * The end of a consent for a platform that says what it granted: the code exchanged, the scopes checked, the
 * accounts behind the token discovered (a missing scope there is said as such).
 */
export async function connectWithCode<Answer extends TokenScopes, Credentials>(steps: {
  exchange: () => Promise<Answer>;
  requiredScopes: readonly string[];
  credentialsFrom: (answer: Answer) => Credentials;
  discover: (credentials: Credentials) => Promise<DiscoveredAccount[]>;
  now: Date;
}): Promise<Connection<Credentials>> {
  const answer = await steps.exchange();
  const grantedScopes = requireGrantedScopes(answer.scope, steps.requiredScopes);
  const credentials = steps.credentialsFrom(answer);
  const accounts = await asConnectionRefusal(() => steps.discover(credentials));
  return {
    credentials,
    expiresAt: expiresAfter(steps.now, answer.expires_in),
    accounts,
    ...(answer.scope !== undefined ? { grantedScopes } : {}),
  };
}

interface TokenScopes {
  expires_in?: number | undefined;
  scope?: string | undefined;
}
