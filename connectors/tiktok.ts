// TikTok adapter, connection side: the Login Kit consent (web: no PKCE), code → token, the account behind the
// token, and token refresh, which ROTATES the refresh token (the new one is returned in the credentials).
import { z } from 'zod';
import { platformDescriptors } from '../domain/platforms.ts';
import { PlatformError, type PublicationFailure } from '../domain/publication-errors.ts';
import { createSender, redact, retryAfterField } from './http.ts';
import * as oauth2 from './oauth2.ts';
import type { Connection, DiscoveredAccount, OAuthConnector, PlatformAdapter } from './types.ts';

export const tiktokScopes = platformDescriptors.tiktok.scopes;

/** The real hosts, for when the configuration leaves them out. */
export const tiktokDefaultHosts = {
  apiBaseUrl: 'https://open.tiktokapis.com',
  authBaseUrl: 'https://www.tiktok.com',
} as const;

/** The user fields discovery reads; all are covered by user.info.basic. */
const userInfoFields = 'open_id,union_id,avatar_url,display_name';

export interface TikTokCredentials {
  accessToken: string;
  /** ISO instant from TikTok's `expires_in` (2 hours today). */
  accessTokenExpiresAt: string | null;
  /** Rotated by every refresh: only the newest one works. */
  refreshToken: string;
  /** ISO instant from `refresh_expires_in`. */
  refreshTokenExpiresAt: string | null;
  /** The TikTok user the token speaks for (the tiktok_account's externalId). */
  openId: string;
  /** What TikTok says the user granted (users may untick scopes on the consent page). */
  scopes: string[];
}

export interface TikTokAdapterOptions extends oauth2.OAuthAdapterOptions {
  /** TikTok's name for the client id; `clientId` is accepted too, so every OAuth adapter is configured alike. */
  clientKey?: string;
}

export type TikTokAdapter = PlatformAdapter<TikTokCredentials> &
  Required<
    Pick<PlatformAdapter<TikTokCredentials>, 'refreshCredentials' | 'canRefresh' | 'verifyCredentials'>
  > & {
    connector: OAuthConnector<TikTokCredentials>;
    /** The account behind an access token (GET /v2/user/info/). */
    discover(accessToken: string): Promise<DiscoveredAccount>;
  };

const ApiErrorBody = z.object({
  error: z.object({
    code: z.string().optional(),
    message: z.string().optional(),
    log_id: z.string().optional(),
  }),
});
const TokenAnswer = z.object({
  access_token: z.string().min(1),
  expires_in: z.coerce.number().optional(),
  open_id: z.string().min(1),
  refresh_token: z.string().min(1).optional(),
  refresh_expires_in: z.coerce.number().optional(),
  scope: z.string().optional(),
  token_type: z.string().optional(),
});
type TokenAnswer = z.infer<typeof TokenAnswer>;
const UserInfo = z.object({
  data: z.object({
    user: z.object({
      open_id: z.string().optional(),
      union_id: z.string().optional(),
      avatar_url: z.string().optional(),
      display_name: z.string().optional(),
    }),
  }),
});

/**
 * Maps a TikTok API answer that is not a success onto a publication error class (PLATFORMS.md, TikTok). The
 * error code decides: access_token_invalid and scope_not_authorized are both HTTP 401.
 */
export function mapTikTokError(status: number, body: unknown, headers: Headers): PublicationFailure {
  const error = ApiErrorBody.safeParse(body).data?.error;
  const code = error?.code && error.code !== 'ok' ? error.code : undefined;
  const message = error?.message || `TikTok answered HTTP ${status}`;
  const failure = (errorClass: PublicationFailure['class'], extra: Partial<PublicationFailure> = {}) => ({
    class: errorClass,
    message,
    ...(code === undefined ? {} : { platformCode: code }),
    ...extra,
  });
  if (code?.startsWith('spam_risk')) return failure('CONTENT_REJECTED');
  switch (code) {
    case 'access_token_invalid':
      return failure('TOKEN_EXPIRED');
    case 'scope_not_authorized':
    case 'scope_permission_missed':
      return failure('PERMISSION_REVOKED');
    case 'rate_limit_exceeded': {
      // TikTok counts on a one-minute sliding window; it documents no Retry-After, so use one only if sent.
      return failure('RATE_LIMITED', retryAfterField(headers));
    }
    case 'invalid_params':
    case 'reached_active_user_cap':
    case 'unaudited_client_can_only_post_to_private_accounts':
    case 'url_ownership_unverified':
    case 'privacy_level_option_mismatch':
      // Direct-post refusals (often HTTP 403): the account, the app's audit or the request decide, and a
      // reconnect would change none of them.
      return failure('INVALID_REQUEST');
    case 'internal_error':
      return failure('TRANSIENT');
  }
  if (status === 408 || status >= 500) return failure('TRANSIENT');
  if (status === 429) {
    return failure('RATE_LIMITED', retryAfterField(headers));
  }
  if (status === 401) return failure('TOKEN_EXPIRED');
  // A bare 403 is read as lost access; a 403 naming another code is a refusal a reconnect cannot fix.
  if (status === 403 && code === undefined) return failure('PERMISSION_REVOKED');
  return failure('INVALID_REQUEST');
}

export function createTikTokAdapter(options: TikTokAdapterOptions): TikTokAdapter {
  const requestTimeoutMs = options.requestTimeoutMs ?? 30_000;
  const now = options.now ?? (() => new Date());
  const apiRoot = options.apiBaseUrl.replace(/\/+$/, '');
  const authRoot = (options.authBaseUrl ?? tiktokDefaultHosts.authBaseUrl).replace(/\/+$/, '');
  const clientKey = options.clientKey || options.clientId;

  const app = () => {
    const client = oauth2.appCredentials('TikTok', 'TIKTOK', clientKey, options.clientSecret);
    return { clientKey: client.clientId, clientSecret: client.clientSecret };
  };

  const send = createSender({ fetch: options.fetch, timeoutMs: requestTimeoutMs, platformName: 'TikTok' });

  /** POST /v2/oauth/token/; TikTok asks for `cache-control: no-cache` on it. */
  const tokenRequest = (form: Record<string, string>, purpose: 'code' | 'refresh', secrets: string[]) =>
    oauth2.requestToken({
      platformName: 'TikTok',
      send,
      url: `${apiRoot}/v2/oauth/token/`,
      headers: { 'cache-control': 'no-cache' },
      form,
      schema: TokenAnswer,
      purpose,
      secrets: [options.clientSecret, ...secrets],
      unreadableRefusal: 'refused',
    });

  const at = (seconds: number | undefined) => oauth2.expiresAfter(now(), seconds);

  async function discover(accessToken: string): Promise<DiscoveredAccount> {
    const { status, headers, body } = await send({
      url: `${apiRoot}/v2/user/info/?fields=${userInfoFields}`,
      method: 'GET',
      headers: { accept: 'application/json', authorization: `Bearer ${accessToken}` },
    });
    // A success carries {"error":{"code":"ok"}}; anything else is an error whatever the status says.
    const errorCode = ApiErrorBody.safeParse(body).data?.error.code;
    if (status < 200 || status >= 300 || (errorCode !== undefined && errorCode !== 'ok')) {
      const failure = mapTikTokError(status, body, headers);
      throw new PlatformError({
        ...failure,
        message: redact(failure.message, [accessToken, options.clientSecret]),
      });
    }
    const parsed = UserInfo.safeParse(body);
    if (!parsed.success || !parsed.data.data.user.open_id) {
      throw new PlatformError({
        class: 'TRANSIENT',
        message: 'TikTok answered GET /v2/user/info/ in an odd shape',
      });
    }
    const user = parsed.data.data.user;
    const openId = user.open_id!;
    return { kind: 'tiktok_account', externalId: openId, name: user.display_name || openId };
  }

  function credentialsFrom(answer: TokenAnswer, previous?: TikTokCredentials): TikTokCredentials {
    const { refreshToken, refreshTokenExpiresAt, ...access } = oauth2.tokenCredentials(
      now(),
      {
        accessToken: answer.access_token,
        expiresIn: answer.expires_in,
        refreshToken: answer.refresh_token,
        refreshExpiresIn: answer.refresh_expires_in,
        scope: answer.scope,
      },
      previous,
      // A refresh rotates the refresh token: the spent one stops working (PLATFORMS.md).
      { rotates: true },
    );
    if (!refreshToken) {
      throw new PlatformError({
        class: 'TRANSIENT',
        message: 'TikTok answered the token request without a refresh token',
      });
    }
    return {
      ...access,
      refreshToken,
      refreshTokenExpiresAt: refreshTokenExpiresAt ?? null,
      openId: answer.open_id,
    };
  }

  const connector: OAuthConnector<TikTokCredentials> = {
    kind: 'oauth',
    // TikTok asks PKCE of desktop and mobile apps only; a web app proves itself with its client secret.
    pkce: false,
    scopes: tiktokScopes,

    authorizeUrl({ state, redirectUri }) {
      const url = new URL(`${authRoot}/v2/auth/authorize/`);
      url.searchParams.set('client_key', app().clientKey);
      url.searchParams.set('scope', tiktokScopes.join(','));
      url.searchParams.set('response_type', 'code');
      url.searchParams.set('redirect_uri', redirectUri);
      url.searchParams.set('state', state);
      return url.toString();
    },

    async completeConsent({ code, redirectUri, query }): Promise<Connection<TikTokCredentials>> {
      oauth2.refuseDeclinedConsent('TikTok', query);
      const client = app();
      // The user may untick scopes on TikTok's consent page; without ours nothing can be posted.
      return oauth2.connectWithCode({
        exchange: () =>
          tokenRequest(
            {
              client_key: client.clientKey,
              client_secret: client.clientSecret,
              code,
              grant_type: 'authorization_code',
              redirect_uri: redirectUri,
            },
            'code',
            [code],
          ),
        requiredScopes: tiktokScopes,
        credentialsFrom: (answer) => credentialsFrom(answer),
        discover: async (credentials) => [await discover(credentials.accessToken)],
        now: now(),
      });
    },
  };

  return {
    platform: 'tiktok',
    connector,
    discover,

    canRefresh: (credentials) =>
      oauth2.canRefreshWith(credentials.refreshToken, credentials.refreshTokenExpiresAt, now()),

    async refreshCredentials(credentials) {
      const client = app();
      const answer = await tokenRequest(
        {
          client_key: client.clientKey,
          client_secret: client.clientSecret,
          grant_type: 'refresh_token',
          refresh_token: credentials.refreshToken,
        },
        'refresh',
        [credentials.refreshToken, credentials.accessToken],
      );
      // The old refresh token is dead from here on: the rotated one travels in the returned credentials, which
      // the caller saves in the same write as the new access token.
      return { credentials: credentialsFrom(answer, credentials), expiresAt: at(answer.expires_in) };
    },

    async verifyCredentials(credentials) {
      await oauth2.asConnectionRefusal(async () => {
        await discover(credentials.accessToken);
      }, 'TikTok refused the access token: reconnect TikTok');
    },
  };
}
