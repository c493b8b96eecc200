// Canva adapter (a data connector): the OAuth connection with PKCE (code → tokens → the user's team), the
// refresh that rotates the refresh token, and the sync that reads the team's designs through the Connect API.
import { z } from 'zod';
import { PlatformError, type PublicationFailure } from '../domain/publication-errors.ts';
import { type HttpAnswer, redact, sendOnce } from './http.ts';
import {
  CredentialsRejectedError,
  type OAuthConnector,
  type PlatformAdapter,
  type SyncResult,
} from './types.ts';

/** The one Connect API version this adapter speaks (the path prefix `/rest/v1`). */
export const canvaApiVersion = 'v1';

/** Read only: design metadata for the sync, the profile to name the account. */
export const canvaScopes = ['design:meta:read', 'profile:read'] as const;

export interface CanvaCredentials {
  accessToken: string;
  /** Single use: each refresh answers a new one, and the old one stops working. */
  refreshToken: string;
  userId: string;
  teamId: string;
}

export interface CanvaAdapterOptions {
  /** https://api.canva.com (token endpoint and Connect API). */
  apiBaseUrl: string;
  /** https://www.canva.com (the consent page). */
  authBaseUrl: string;
  clientId: string;
  clientSecret: string;
  fetch?: typeof fetch;
  /** One request's time limit; a hung request becomes TRANSIENT. */
  requestTimeoutMs?: number;
  now?: () => Date;
}

export type CanvaAdapter = PlatformAdapter<CanvaCredentials> &
  Required<Pick<PlatformAdapter<CanvaCredentials>, 'refreshCredentials' | 'sync'>> & {
    connector: OAuthConnector<CanvaCredentials>;
  };

// (unconfirmed) Canva's 429 carries no documented Retry-After: wait this long before the next attempt.
const defaultRateLimitRetryMs = 60_000;
// Far beyond any team's designs at Canva's page size; reaching it means the continuation chain does not end.
const maxDesignPages = 1000;

const ApiErrorBody = z.object({ code: z.string(), message: z.string().nullish() });
const OAuthErrorBody = z.object({ error: z.string(), error_description: z.string().nullish() });

const TokenAnswer = z.object({
  access_token: z.string().min(1),
  refresh_token: z.string().min(1),
  token_type: z.string().nullish(),
  expires_in: z.coerce.number().positive(),
  scope: z.string().nullish(),
});
const Me = z.object({ team_user: z.object({ user_id: z.string(), team_id: z.string() }) });
const Profile = z.object({ profile: z.object({ display_name: z.string().nullish() }) });
const DesignsPage = z.object({
  items: z.array(z.object({ id: z.string(), title: z.string().nullish() })),
  continuation: z.string().nullish(),
});

function retryAfterMs(headers: Headers): number {
  const seconds = Number(headers.get('retry-after'));
  return Number.isFinite(seconds) && seconds > 0 ? Math.round(seconds * 1000) : defaultRateLimitRetryMs;
}

/** Maps a Connect API answer that is not a success (`{code, message}`) onto a publication error. */
export function mapCanvaError(status: number, body: unknown, headers: Headers): PublicationFailure {
  const error = ApiErrorBody.safeParse(body).data;
  const failure = (errorClass: PublicationFailure['class'], fallback: string, delayMs?: number) => ({
    class: errorClass,
    message: (error?.message || fallback).slice(0, 500),
    ...(error?.code ? { platformCode: error.code } : {}),
    ...(delayMs === undefined ? {} : { retryAfterMs: delayMs }),
  });
  if (status === 401) return failure('TOKEN_EXPIRED', 'Canva refused the access token');
  if (status === 403) return failure('PERMISSION_REVOKED', 'Canva refused the request (HTTP 403)');
  if (status === 429) return failure('RATE_LIMITED', 'Canva rate limit reached', retryAfterMs(headers));
  if (status === 408 || status >= 500) return failure('TRANSIENT', `Canva answered HTTP ${status}`);
  return failure('INVALID_REQUEST', `Canva refused the request (HTTP ${status})`);
}

type Answer = HttpAnswer;

export function createCanvaAdapter(options: CanvaAdapterOptions): CanvaAdapter {
  const doFetch = options.fetch ?? fetch;
  const requestTimeoutMs = options.requestTimeoutMs ?? 30_000;
  const now = options.now ?? (() => new Date());
  const apiRoot = `${options.apiBaseUrl.replace(/\/+$/, '')}/rest/${canvaApiVersion}`;
  const authBase = options.authBaseUrl.replace(/\/+$/, '');
  const basic = Buffer.from(`${options.clientId}:${options.clientSecret}`).toString('base64');

  const scrub = (failure: PublicationFailure, secrets: readonly string[]): PublicationFailure => ({
    ...failure,
    message: redact(failure.message, [options.clientSecret, basic, ...secrets]),
  });

  /** One HTTP try (connectors/http.ts), asking for JSON on every call. */
  const send = (
    url: string,
    init: { method: 'GET' | 'POST'; headers: Record<string, string>; body?: URLSearchParams },
  ) =>
    sendOnce(
      doFetch,
      url,
      {
        method: init.method,
        headers: { accept: 'application/json', ...init.headers },
        ...(init.body ? { body: init.body } : {}),
      },
      { timeoutMs: requestTimeoutMs, platformName: 'Canva' },
    );

  function read<T>(schema: z.ZodType<T>, answer: Answer, what: string): T {
    const parsed = schema.safeParse(answer.body);
    if (!parsed.success)
      throw new PlatformError({ class: 'TRANSIENT', message: `Unexpected answer from Canva (${what})` });
    return parsed.data;
  }

  async function api<T>(schema: z.ZodType<T>, accessToken: string, path: string, what: string): Promise<T> {
    const answer = await send(`${apiRoot}${path}`, {
      method: 'GET',
      headers: { authorization: `Bearer ${accessToken}` },
    });
    if (answer.status < 200 || answer.status >= 300)
      throw new PlatformError(
        scrub(mapCanvaError(answer.status, answer.body, answer.headers), [accessToken]),
      );
    return read(schema, answer, what);
  }

  /**
   * The token endpoint, for a code or a refresh token. Its refusals come as `{error, error_description}`
   * (Canva's API shape `{code, message}` is read too). `refusal` says what a definitive no means here.
   */
  async function token(
    form: Record<string, string>,
    secrets: readonly string[],
    refusal: (platformCode: string | undefined, status: number) => PublicationFailure,
  ) {
    const answer = await send(`${apiRoot}/oauth/token`, {
      method: 'POST',
      headers: {
        authorization: `Basic ${basic}`,
        'content-type': 'application/x-www-form-urlencoded',
      },
      body: new URLSearchParams(form),
    });
    if (answer.status === 200) return read(TokenAnswer, answer, 'token');
    if (answer.status === 429 || answer.status === 408 || answer.status >= 500)
      throw new PlatformError(scrub(mapCanvaError(answer.status, answer.body, answer.headers), secrets));
    const oauth = OAuthErrorBody.safeParse(answer.body).data;
    const platformCode = oauth?.error ?? ApiErrorBody.safeParse(answer.body).data?.code;
    if (platformCode === 'invalid_client' || answer.status === 401) {
      throw new PlatformError({
        class: 'INVALID_REQUEST',
        message: "Canva refused Glowtify's app credentials (CANVA_CLIENT_ID / CANVA_CLIENT_SECRET)",
        ...(platformCode ? { platformCode } : {}),
      });
    }
    throw new PlatformError(scrub(refusal(platformCode, answer.status), secrets));
  }

  const expiry = (expiresIn: number) => new Date(now().getTime() + expiresIn * 1000);

  const connector: OAuthConnector<CanvaCredentials> = {
    kind: 'oauth',
    pkce: true,
    scopes: canvaScopes,
    authorizeUrl({ state, redirectUri, codeChallenge }) {
      if (!codeChallenge) throw new Error('Canva requires PKCE: authorizeUrl needs a codeChallenge');
      // The parameters in the order Canva documents them; it spells the method `s256`.
      const url = new URL(`${authBase}/api/oauth/authorize`);
      url.searchParams.set('code_challenge', codeChallenge);
      url.searchParams.set('code_challenge_method', 's256');
      url.searchParams.set('scope', canvaScopes.join(' '));
      url.searchParams.set('response_type', 'code');
      url.searchParams.set('client_id', options.clientId);
      url.searchParams.set('state', state);
      url.searchParams.set('redirect_uri', redirectUri);
      return url.toString();
    },
    async completeConsent({ code, redirectUri, codeVerifier }) {
      if (!codeVerifier)
        throw new PlatformError({ class: 'INVALID_REQUEST', message: 'The PKCE code verifier is missing' });
      const issued = await token(
        { grant_type: 'authorization_code', code_verifier: codeVerifier, code, redirect_uri: redirectUri },
        [code, codeVerifier],
        (platformCode, status) => ({
          class: 'INVALID_REQUEST',
          message:
            platformCode === 'invalid_grant'
              ? 'The Canva authorization code is invalid, expired or already used: connect again'
              : `Canva refused the authorization code (HTTP ${status})`,
          ...(platformCode ? { platformCode } : {}),
        }),
      );
      const grantedScopes = issued.scope ? issued.scope.split(/\s+/).filter(Boolean) : [...canvaScopes];
      if (!canvaScopes.every((scope) => grantedScopes.includes(scope)))
        throw new CredentialsRejectedError('Scopes insufficient');
      const me = await api(Me, issued.access_token, '/users/me', 'users/me');
      const profile = await api(Profile, issued.access_token, '/users/me/profile', 'profile');
      return {
        credentials: {
          accessToken: issued.access_token,
          refreshToken: issued.refresh_token,
          userId: me.team_user.user_id,
          teamId: me.team_user.team_id,
        },
        expiresAt: expiry(issued.expires_in),
        accounts: [
          {
            kind: 'canva_team',
            externalId: me.team_user.team_id,
            name: profile.profile.display_name || me.team_user.team_id,
          },
        ],
        grantedScopes,
      };
    },
  };

  return {
    platform: 'canva',
    connector,
    canRefresh: (credentials) => credentials.refreshToken !== '',

    async refreshCredentials(credentials) {
      const issued = await token(
        { grant_type: 'refresh_token', refresh_token: credentials.refreshToken },
        [credentials.refreshToken, credentials.accessToken],
        (platformCode, status) =>
          // Only a dead grant (a refresh token Canva says is revoked, expired or used) asks for a reconnect;
          // any other refusal is about the request or the app, which a reconnect would not mend.
          platformCode === 'invalid_grant'
            ? {
                class: 'TOKEN_EXPIRED',
                message: 'Canva refused the refresh token (revoked, expired or already used): reconnect',
                platformCode,
              }
            : {
                class: 'INVALID_REQUEST',
                message: `Canva refused the refresh (HTTP ${status}${platformCode ? ` ${platformCode}` : ''})`,
                ...(platformCode ? { platformCode } : {}),
              },
      );
      return {
        // The rotated refresh token is part of the credentials: the caller saves them in one write.
        credentials: { ...credentials, accessToken: issued.access_token, refreshToken: issued.refresh_token },
        expiresAt: expiry(issued.expires_in),
      };
    },

    async sync({ credentials, account }): Promise<SyncResult> {
      if (account.kind !== 'canva_team' || account.externalId !== credentials.teamId) {
        throw new PlatformError({
          class: 'INVALID_REQUEST',
          message: `Canva syncs its team (${credentials.teamId}), not ${account.kind} ${account.externalId}`,
        });
      }
      // The designs list has no date filter: every design the user can see is read.
      let itemsRead = 0;
      let continuation: string | null | undefined;
      for (let page = 0; page < maxDesignPages; page += 1) {
        const query = continuation ? `?${new URLSearchParams({ continuation })}` : '';
        const answer = await api(DesignsPage, credentials.accessToken, `/designs${query}`, 'designs');
        itemsRead += answer.items.length;
        continuation = answer.continuation;
        if (!continuation) return { itemsRead };
      }
      throw new PlatformError({
        class: 'INVALID_REQUEST',
        message: `Canva's design list did not end after ${maxDesignPages} pages`,
      });
    },
  };
}
