// Canva adapter (a data connector): the OAuth connection with PKCE (code → tokens → the user's team), the
// refresh that rotates the refresh token, and the sync that reads the team's designs through the Connect API.
import { z } from 'zod';
import { platformDescriptors } from '../domain/platforms.ts';
import { PlatformError, type PublicationFailure } from '../domain/publication-errors.ts';
import { createSender, type HttpAnswer, isSuccess, parseRetryAfter, redact } from './http.ts';
import { expiresAfter, readOAuthError, requestToken } from './oauth2.ts';
import {
  CredentialsRejectedError,
  type OAuthConnector,
  type PlatformAdapter,
  type SyncResult,
} from './types.ts';

/** The one Connect API version this adapter speaks (the path prefix `/rest/v1`). */
export const canvaApiVersion = 'v1';

export const canvaScopes = platformDescriptors.canva.scopes;

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
  return parseRetryAfter(headers.get('retry-after')) || defaultRateLimitRetryMs;
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
  const requestTimeoutMs = options.requestTimeoutMs ?? 30_000;
  const now = options.now ?? (() => new Date());
  const apiRoot = `${options.apiBaseUrl.replace(/\/+$/, '')}/rest/${canvaApiVersion}`;
  const authBase = options.authBaseUrl.replace(/\/+$/, '');
  const basic = Buffer.from(`${options.clientId}:${options.clientSecret}`).toString('base64');

  const scrub = (failure: PublicationFailure, secrets: readonly string[]): PublicationFailure => ({
    ...failure,
    message: redact(failure.message, [options.clientSecret, basic, ...secrets]),
  });

  const send = createSender({ fetch: options.fetch, timeoutMs: requestTimeoutMs, platformName: 'Canva' });

  function read<T>(schema: z.ZodType<T>, answer: Answer, what: string): T {
    const parsed = schema.safeParse(answer.body);
    if (!parsed.success)
      throw new PlatformError({ class: 'TRANSIENT', message: `Unexpected answer from Canva (${what})` });
    return parsed.data;
  }

  async function api<T>(schema: z.ZodType<T>, accessToken: string, path: string, what: string): Promise<T> {
    const answer = await send({
      url: `${apiRoot}${path}`,
      method: 'GET',
      headers: { accept: 'application/json', authorization: `Bearer ${accessToken}` },
    });
    if (!isSuccess(answer.status))
      throw new PlatformError(
        scrub(mapCanvaError(answer.status, answer.body, answer.headers), [accessToken]),
      );
    return read(schema, answer, what);
  }

  /**
   * The token endpoint, for a code or a refresh token, with the app authenticated by HTTP Basic. Its refusals
   * come as `{error, error_description}`; Canva's API shape `{code, message}` is read too, and a 401 there is
   * the app's credentials, not the grant.
   */
  const token = (form: Record<string, string>, purpose: 'code' | 'refresh', secrets: readonly string[]) =>
    requestToken({
      platformName: 'Canva',
      send,
      url: `${apiRoot}/oauth/token`,
      headers: { authorization: `Basic ${basic}` },
      form,
      schema: TokenAnswer,
      purpose,
      secrets: [options.clientSecret, basic, ...secrets],
      readError: (body) => {
        const api = ApiErrorBody.safeParse(body).data;
        return (
          readOAuthError(body) ??
          (api ? { error: api.code, description: api.message ?? undefined } : undefined)
        );
      },
      appRefused: (refusal, status) => refusal?.error === 'invalid_client' || status === 401,
      unreadableRefusal: 'refused',
      successStatus: (status) => status === 200,
      defaultRetryAfterMs: defaultRateLimitRetryMs,
    });

  const expiry = (expiresIn: number) => expiresAfter(now(), expiresIn) ?? now();

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
        'code',
        [code, codeVerifier],
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
      // Only a dead grant (a refresh token Canva says is revoked, expired or used) asks for a reconnect.
      const issued = await token(
        { grant_type: 'refresh_token', refresh_token: credentials.refreshToken },
        'refresh',
        [credentials.refreshToken, credentials.accessToken],
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
