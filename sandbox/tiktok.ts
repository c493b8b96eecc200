// TikTok simulator (tests and `npm run demo`): one loopback server playing both www.tiktok.com (the Login Kit
// consent page) and open.tiktokapis.com (token endpoint with refresh-token rotation, user info), as strict as
// TikTok about tokens and scopes, answering in TikTok's shapes.
import { randomBytes } from 'node:crypto';
import {
  type ConsentControls,
  consentSteering,
  createGrantStore,
  type IssuedAccessToken,
  missingParameter,
  openConsent,
  tokenForm,
} from './oauth2.ts';
import {
  type FailureMatch,
  type RecordedRequest,
  type SimulatorResponse,
  type SimulatorServer,
  startSimulatorServer,
} from './simulator-server.ts';

/** The client key `npm run demo` uses (TikTok calls the client id a client key). */
export const tiktokSandboxClientId = 'glowtifysandboxkey';
export const tiktokSandboxClientSecret = 'glowtify-sandbox-tiktok-secret';

const knownScopes = new Set([
  'user.info.basic',
  'user.info.profile',
  'user.info.stats',
  'video.list',
  'video.publish',
  'video.upload',
]);
// Which scope each user/info field needs.
const fieldScopes: Record<string, string> = {
  open_id: 'user.info.basic',
  union_id: 'user.info.basic',
  avatar_url: 'user.info.basic',
  avatar_url_100: 'user.info.basic',
  avatar_large_url: 'user.info.basic',
  display_name: 'user.info.basic',
  bio_description: 'user.info.profile',
  profile_deep_link: 'user.info.profile',
  is_verified: 'user.info.profile',
  username: 'user.info.profile',
  follower_count: 'user.info.stats',
  following_count: 'user.info.stats',
  likes_count: 'user.info.stats',
  video_count: 'user.info.stats',
};

export interface TikTokSimulatorUser {
  openId: string;
  unionId: string;
  displayName: string;
  avatarUrl: string;
}

export interface TikTokSimulatorOptions {
  port?: number;
  clientKey?: string;
  clientSecret?: string;
  /** Redirect URIs registered on the app; absent: any http(s) URL is accepted. */
  redirectUris?: string[];
  user?: TikTokSimulatorUser;
  /** expires_in of access tokens (TikTok: 7,200 s). */
  accessTokenSeconds?: number;
  /** refresh_expires_in of each refresh token issued (TikTok: 15,552,000 s = 180 days). */
  refreshTokenSeconds?: number;
  /** Scopes the user leaves ticked, whatever is asked (default: what is asked). */
  grantScopes?: string[];
  /** (unconfirmed) TikTok does not document a code lifetime; 10 minutes here. */
  codeLifetimeSeconds?: number;
  /** The simulator's clock: token and code expiry follow it. */
  now?: () => Date;
}

export type TikTokFailureKind =
  | 'transient'
  | 'rate_limited'
  | 'token_expired'
  | 'permission_revoked'
  | 'invalid_params';

export type TikTokSimulator = SimulatorServer &
  // The denial is error=access_denied; a revoked access token answers access_token_invalid.
  ConsentControls & {
    /** Makes the next matching requests fail the way TikTok fails them (its status and body). */
    failWith(kind: TikTokFailureKind, rule: FailureMatch): void;
  };

/** TikTok's log ids: a timestamp followed by hex. */
function logId(): string {
  const stamp = new Date()
    .toISOString()
    .replace(/[-:TZ.]/g, '')
    .slice(0, 14);
  return `${stamp}${randomBytes(10).toString('hex').toUpperCase()}`;
}

/** OAuth errors: {"error","error_description","log_id"} (the HTTP status TikTok uses is unconfirmed). */
function oauthError(status: number, error: string, description: string): SimulatorResponse {
  return { status, body: { error, error_description: description, log_id: logId() } };
}

/** API errors: {"data":{},"error":{"code","message","log_id"}}, with TikTok's documented status per code. */
function apiError(code: string, message: string): SimulatorResponse {
  const status =
    code === 'access_token_invalid' || code === 'scope_not_authorized' || code === 'scope_permission_missed'
      ? 401
      : code === 'rate_limit_exceeded'
        ? 429
        : code === 'internal_error'
          ? 500
          : code === 'not_found'
            ? 404
            : 400;
  return { status, body: { data: {}, error: { code, message, log_id: logId() } } };
}

export async function startTikTokSimulator(options: TikTokSimulatorOptions = {}): Promise<TikTokSimulator> {
  const clientKey = options.clientKey ?? tiktokSandboxClientId;
  const clientSecret = options.clientSecret ?? tiktokSandboxClientSecret;
  const user = options.user ?? {
    openId: '-000OhbDkAaAbCdEfGhIjKlMnOpQrStUvWx',
    unionId: 'c9c60f44-a68e-4f5d-84dd-ce22faeb0ba1',
    displayName: 'Glow Café',
    avatarUrl: 'https://p16-sign.tiktokcdn-us.com/sandbox/avatar.jpeg',
  };
  const accessTokenSeconds = options.accessTokenSeconds ?? 7200;
  const refreshTokenSeconds = options.refreshTokenSeconds ?? 15_552_000;
  const codeLifetimeMs = (options.codeLifetimeSeconds ?? 600) * 1000;
  const clock = () => (options.now ?? (() => new Date()))().getTime();

  const grants = createGrantStore({
    clock,
    accessTokenSeconds,
    refreshTokenSeconds,
    codeLifetimeMs,
    // A refresh spends the refresh token it was given: only the newest one works.
    refresh: 'rotate',
    mint: {
      access: () => `act.${randomBytes(36).toString('base64url')}!${randomBytes(2).readUInt16BE()}`,
      refresh: () => `rft.${randomBytes(36).toString('base64url')}!${randomBytes(2).readUInt16BE()}`,
    },
  });
  const consent = consentSteering(grants, options.grantScopes ?? null);

  /** A fresh access + refresh token pair, as both the code exchange and a refresh answer it. */
  const tokenAnswer = (scopes: string[]): SimulatorResponse => ({
    status: 200,
    body: {
      access_token: grants.issueAccessToken(scopes),
      expires_in: accessTokenSeconds,
      open_id: user.openId,
      refresh_expires_in: refreshTokenSeconds,
      refresh_token: grants.issueRefreshToken(scopes),
      scope: scopes.join(','),
      token_type: 'Bearer',
    },
  });

  // ——— www.tiktok.com ———

  const authorize = (request: RecordedRequest): SimulatorResponse => {
    const { query } = request;
    const opened = openConsent(query, {
      clientParameter: 'client_key',
      clientId: clientKey,
      redirectUris: options.redirectUris,
      unknownClient: 'client_key: Client info is illegal or malformed.',
      unregisteredRedirect: 'redirect_uri: the redirect URI is not registered.',
    });
    if ('response' in opened) return opened.response;
    const { redirectUri, back } = opened;
    // TikTok's scope parameter is comma-separated.
    const asked = (query.scope ?? '').split(',').filter(Boolean);
    const unknown = asked.find((scope) => !knownScopes.has(scope));
    if (asked.length === 0 || unknown) {
      return back({
        error: 'invalid_scope',
        error_description: unknown ? `The scope ${unknown} is invalid.` : 'The scope is missing.',
      });
    }
    if (query.code_challenge && query.code_challenge_method !== 'S256') {
      return back({
        error: 'invalid_request',
        error_description: 'code_challenge_method must be S256',
      });
    }
    if (consent.denies()) {
      // (unconfirmed) TikTok's exact error_description for a declined consent.
      return back({
        error: 'access_denied',
        error_description: 'The user denied the authorization request.',
      });
    }
    const scopes = consent.granted(asked);
    // TikTok's codes carry characters that must be URL-decoded before the exchange, as this one does.
    const code = `${randomBytes(36).toString('base64url')}*!${randomBytes(2).readUInt16BE()}`;
    grants.issueCode(code, { redirectUri, scopes, issuedAt: clock(), used: false });
    return back({ code, scopes: scopes.join(',') });
  };

  // ——— open.tiktokapis.com ———

  const token = (request: RecordedRequest): SimulatorResponse => {
    const params = tokenForm(request);
    if (!params)
      return oauthError(400, 'invalid_request', 'Content-Type must be application/x-www-form-urlencoded.');
    const missing = missingParameter(params, ['client_key', 'client_secret', 'grant_type']);
    if (missing) return oauthError(400, 'invalid_request', `The parameter ${missing} is missing.`);
    if (params.client_key !== clientKey || params.client_secret !== clientSecret)
      return oauthError(401, 'invalid_client', 'Client key or secret is invalid.');

    if (params.grant_type === 'authorization_code') {
      const missingForCode = missingParameter(params, ['code', 'redirect_uri']);
      if (missingForCode)
        return oauthError(400, 'invalid_request', `The parameter ${missingForCode} is missing.`);
      const code = grants.redeemCode(params.code, params.redirect_uri);
      if (code === 'unknown' || code === 'spent')
        return oauthError(400, 'invalid_grant', 'Authorization code is expired.');
      if (code === 'redirect_mismatch')
        return oauthError(400, 'invalid_grant', 'The redirect_uri does not match the authorization request.');
      grants.spendCode(code);
      return tokenAnswer(code.scopes);
    }

    if (params.grant_type === 'refresh_token') {
      if (!params.refresh_token)
        return oauthError(400, 'invalid_request', 'The parameter refresh_token is missing.');
      const refresh = grants.redeemRefreshToken(params.refresh_token);
      if (!refresh) return oauthError(400, 'invalid_grant', 'Refresh token is invalid or expired.');
      return tokenAnswer(refresh.scopes);
    }
    return oauthError(400, 'unsupported_grant_type', `The grant_type ${params.grant_type} is not supported.`);
  };

  const authenticate = (
    request: RecordedRequest,
  ): { token: IssuedAccessToken } | { response: SimulatorResponse } => {
    const found = grants.authenticate(request.headers.authorization);
    if (!found) {
      return {
        response: apiError(
          'access_token_invalid',
          'The access token is invalid or not found in the request.',
        ),
      };
    }
    return { token: found };
  };

  const userInfo = (request: RecordedRequest, accessToken: IssuedAccessToken): SimulatorResponse => {
    const fields = (request.query.fields ?? '').split(',').filter(Boolean);
    if (fields.length === 0) return apiError('invalid_params', 'The fields parameter is required.');
    const unknown = fields.find((field) => !(field in fieldScopes));
    if (unknown) return apiError('invalid_params', `Invalid field: ${unknown}`);
    const missing = fields.find((field) => !accessToken.scopes.includes(fieldScopes[field] ?? ''));
    if (missing) {
      return apiError(
        'scope_not_authorized',
        `The user did not authorize the scope required for completing this request (${fieldScopes[missing]}).`,
      );
    }
    const all: Record<string, unknown> = {
      open_id: user.openId,
      union_id: user.unionId,
      avatar_url: user.avatarUrl,
      avatar_url_100: user.avatarUrl,
      avatar_large_url: user.avatarUrl,
      display_name: user.displayName,
      bio_description: '',
      profile_deep_link: `https://vm.tiktok.com/sandbox/${user.openId}`,
      is_verified: false,
      username: 'glowcafe',
      follower_count: 0,
      following_count: 0,
      likes_count: 0,
      video_count: 0,
    };
    const view = Object.fromEntries(fields.map((field) => [field, all[field]]));
    return {
      status: 200,
      body: { data: { user: view }, error: { code: 'ok', message: '', log_id: logId() } },
    };
  };

  const handler = (request: RecordedRequest): SimulatorResponse => {
    const { method, path } = request;
    if (path === '/v2/auth/authorize/' && method === 'GET') return authorize(request);
    if (path === '/v2/oauth/token/' && method === 'POST') return token(request);
    if (path === '/v2/user/info/' && method === 'GET') {
      const auth = authenticate(request);
      if ('response' in auth) return auth.response;
      return userInfo(request, auth.token);
    }
    return apiError('not_found', `No route for ${method} ${path}`);
  };

  const failure = (kind: TikTokFailureKind): SimulatorResponse => {
    switch (kind) {
      case 'transient':
        return apiError('internal_error', 'Something went wrong. Please try again later.');
      case 'rate_limited':
        return apiError('rate_limit_exceeded', 'The API rate limit was exceeded. Please try again later.');
      case 'token_expired':
        return apiError('access_token_invalid', 'The access token is invalid or not found in the request.');
      case 'permission_revoked':
        return apiError(
          'scope_not_authorized',
          'The user did not authorize the scope required for completing this request.',
        );
      case 'invalid_params':
        return apiError('invalid_params', 'One or more fields in the request are invalid.');
    }
  };

  const server = await startSimulatorServer(handler, {
    ...(options.port === undefined ? {} : { port: options.port }),
  });
  const simulator: TikTokSimulator = Object.assign(server, {
    ...consent.controls,
    failWith: (kind: TikTokFailureKind, rule: FailureMatch) => {
      server.failNext({ ...rule, response: failure(kind) });
    },
  });
  return simulator;
}
