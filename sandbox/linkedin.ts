// LinkedIn simulator (tests and `npm run demo`): one loopback server playing both www.linkedin.com (consent page,
// token endpoint) and api.linkedin.com (organizationAcls, organizations), as strict as LinkedIn about the
// version header and tokens, answering in LinkedIn's shapes.
import { randomBytes } from 'node:crypto';
import {
  type RecordedRequest,
  type SimulatorResponse,
  type SimulatorServer,
  startSimulatorServer,
} from './simulator-server.ts';

export const linkedinSandboxClientId = 'glowtify-sandbox-linkedin';
export const linkedinSandboxClientSecret = 'glowtify-sandbox-linkedin-secret';

// Its own copy on purpose: an adapter that drifts to another version must fail against the simulator.
const simulatedVersion = '202607';
const knownScopes = new Set([
  'openid',
  'profile',
  'email',
  'w_member_social',
  'r_organization_social',
  'w_organization_social',
  'r_organization_admin',
  'rw_organization_admin',
  'r_ads',
  'rw_ads',
  'r_ads_reporting',
]);
// Reading organizations and their ACLs (simplified: LinkedIn's docs list several scopes per finder).
const adminReadScopes = ['r_organization_admin', 'rw_organization_admin'];
const memberUrn = 'urn:li:person:SIMmember01';

export interface LinkedInSimulatorOrganization {
  id: number;
  localizedName: string;
  vanityName: string;
  /** The member's role on it; default ADMINISTRATOR. */
  role?: 'ADMINISTRATOR' | 'DIRECT_SPONSORED_CONTENT_POSTER' | 'CONTENT_ADMINISTRATOR' | 'ANALYST';
  /** Default APPROVED. */
  state?: 'APPROVED' | 'REQUESTED' | 'REJECTED' | 'REVOKED';
}

export interface LinkedInSimulatorOptions {
  port?: number;
  clientId?: string;
  clientSecret?: string;
  /** Redirect URIs registered on the app; absent: any http(s) URL is accepted. */
  redirectUris?: string[];
  organizations?: LinkedInSimulatorOrganization[];
  /** expires_in of access tokens (LinkedIn: 5,184,000 s = 60 days). */
  accessTokenSeconds?: number;
  /** refresh_token_expires_in at consent (LinkedIn: 365 days); a refresh never resets it. */
  refreshTokenSeconds?: number;
  /** LinkedIn gives refresh tokens only to approved partners; false plays an app without them. */
  issueRefreshTokens?: boolean;
  /**
   * Scopes the grant ends up with, whatever is asked (default: what is asked). A LinkedIn member cannot untick
   * scopes; this plays an app whose products lack one.
   */
  grantScopes?: string[];
  /** LinkedIn documents a 30-minute lifespan for authorization codes. */
  codeLifetimeSeconds?: number;
  /** The most elements one organizationAcls answer holds, whatever `count` asks (tests lower it to page). */
  aclsPageLimit?: number;
  /** The simulator's clock: token and code expiry follow it. */
  now?: () => Date;
}

export type LinkedInFailureKind = 'transient' | 'rate_limited' | 'token_expired' | 'permission_revoked';

export type LinkedInSimulator = SimulatorServer & {
  /** The next consent redirects with LinkedIn's denial (error=user_cancelled_authorize). */
  denyNextConsent(): void;
  /** Later consents grant only these scopes (null: what is asked again). */
  grantOnlyScopes(scopes: string[] | null): void;
  /** Every refresh token issued so far answers invalid_grant from now on. */
  revokeRefreshTokens(): void;
  /** Every access token issued so far answers 401 from now on (as after the member revokes the app). */
  revokeAccessTokens(): void;
  /** Makes the next matching requests fail the way LinkedIn fails them (its status and body). */
  failWith(kind: LinkedInFailureKind, rule: { path: string | RegExp; method?: string; times?: number }): void;
};

interface AccessToken {
  scopes: string[];
  expiresAt: number;
  revoked: boolean;
}

interface RefreshToken {
  scopes: string[];
  /** Fixed at consent: LinkedIn does not extend it on refresh. */
  expiresAt: number;
  revoked: boolean;
}

interface AuthorizationCode {
  redirectUri: string;
  scopes: string[];
  issuedAt: number;
  used: boolean;
}

const ok = (body: unknown, headers?: Record<string, string>): SimulatorResponse => ({
  status: 200,
  body,
  ...(headers ? { headers } : {}),
});

/** LinkedIn's REST error body. */
function restError(
  status: number,
  fields: { message: string; serviceErrorCode?: number; code?: string },
): SimulatorResponse {
  return { status, body: { status, ...fields } };
}

/** OAuth errors of the token endpoint: {"error","error_description"}. */
function oauthError(status: number, error: string, description: string): SimulatorResponse {
  return { status, body: { error, error_description: description } };
}

/** What LinkedIn shows in the browser when it cannot trust the redirect_uri (it does not redirect then). */
function errorPage(text: string): SimulatorResponse {
  return {
    status: 400,
    headers: { 'content-type': 'text/html; charset=utf-8' },
    body: `<html><body>${text}</body></html>`,
  };
}

function redirect(to: string, params: Record<string, string>): SimulatorResponse {
  const url = new URL(to);
  for (const [name, value] of Object.entries(params)) url.searchParams.set(name, value);
  return { status: 302, headers: { location: url.toString() } };
}

function formOf(request: RecordedRequest): Record<string, string> | null {
  if (!(request.headers['content-type'] ?? '').includes('application/x-www-form-urlencoded')) return null;
  if (typeof request.body !== 'object' || request.body === null) return {};
  return request.body as Record<string, string>;
}

export async function startLinkedInSimulator(
  options: LinkedInSimulatorOptions = {},
): Promise<LinkedInSimulator> {
  const clientId = options.clientId ?? linkedinSandboxClientId;
  const clientSecret = options.clientSecret ?? linkedinSandboxClientSecret;
  const organizations = options.organizations ?? [
    { id: 2414183, localizedName: 'Glow Café', vanityName: 'glow-cafe' },
    { id: 2414184, localizedName: 'Glow Outlet', vanityName: 'glow-outlet' },
  ];
  const accessTokenSeconds = options.accessTokenSeconds ?? 5_184_000;
  const refreshTokenSeconds = options.refreshTokenSeconds ?? 31_536_000;
  const issueRefreshTokens = options.issueRefreshTokens ?? true;
  const codeLifetimeMs = (options.codeLifetimeSeconds ?? 1800) * 1000;
  const aclsPageLimit = options.aclsPageLimit ?? 100;
  const clock = () => (options.now ?? (() => new Date()))().getTime();

  const accessTokens = new Map<string, AccessToken>();
  const refreshTokens = new Map<string, RefreshToken>();
  const codes = new Map<string, AuthorizationCode>();
  let denyNext = false;
  let grantOnly: string[] | null = options.grantScopes ?? null;

  const issueAccessToken = (scopes: string[]) => {
    const value = `AQV${randomBytes(36).toString('base64url')}`;
    accessTokens.set(value, { scopes, expiresAt: clock() + accessTokenSeconds * 1000, revoked: false });
    return value;
  };

  const redirectAllowed = (uri: string) => {
    if (options.redirectUris) return options.redirectUris.includes(uri);
    try {
      return ['http:', 'https:'].includes(new URL(uri).protocol);
    } catch {
      return false;
    }
  };

  // ——— www.linkedin.com ———

  const authorization = (request: RecordedRequest): SimulatorResponse => {
    const { query } = request;
    if (query.client_id !== clientId) return errorPage('invalid_client: the client_id is unknown');
    const redirectUri = query.redirect_uri ?? '';
    if (!redirectAllowed(redirectUri))
      return errorPage('The redirect_uri does not match the registered value');
    const state: Record<string, string> = query.state === undefined ? {} : { state: query.state };
    if (query.response_type !== 'code') {
      return redirect(redirectUri, {
        error: 'unsupported_response_type',
        error_description: 'response_type must be code',
        ...state,
      });
    }
    // LinkedIn's scope parameter is space-delimited.
    const asked = (query.scope ?? '').split(' ').filter(Boolean);
    if (asked.length === 0) {
      return redirect(redirectUri, {
        error: 'invalid_request',
        error_description: 'A required parameter "scope" is missing',
        ...state,
      });
    }
    const unknown = asked.find((scope) => !knownScopes.has(scope));
    if (unknown) {
      return redirect(redirectUri, {
        error: 'unauthorized_scope_error',
        error_description: `Scope "${unknown}" is not authorized for your application`,
        ...state,
      });
    }
    if (denyNext) {
      denyNext = false;
      return redirect(redirectUri, {
        error: 'user_cancelled_authorize',
        error_description: 'The user cancelled the authorization',
        ...state,
      });
    }
    const scopes = grantOnly ? asked.filter((scope) => grantOnly?.includes(scope)) : asked;
    const code = `AQT${randomBytes(48).toString('base64url')}`;
    codes.set(code, { redirectUri, scopes, issuedAt: clock(), used: false });
    return redirect(redirectUri, { code, ...state });
  };

  const accessToken = (request: RecordedRequest): SimulatorResponse => {
    const form = formOf(request);
    // LinkedIn wants application/x-www-form-urlencoded; anything else reads as no parameters at all.
    const params = form ?? {};
    for (const name of ['grant_type', 'client_id', 'client_secret']) {
      if (!params[name])
        return oauthError(400, 'invalid_request', `A required parameter "${name}" is missing`);
    }
    if (params.client_id !== clientId || params.client_secret !== clientSecret)
      return oauthError(401, 'invalid_client', 'Client authentication failed');

    if (params.grant_type === 'authorization_code') {
      for (const name of ['code', 'redirect_uri']) {
        if (!params[name])
          return oauthError(400, 'invalid_request', `A required parameter "${name}" is missing`);
      }
      const code = codes.get(params.code ?? '');
      if (!code)
        return oauthError(
          401,
          'invalid_request',
          'Unable to retrieve access token: authorization code not found',
        );
      if (code.used || clock() - code.issuedAt > codeLifetimeMs || code.redirectUri !== params.redirect_uri) {
        return oauthError(
          400,
          'invalid_request',
          'Unable to retrieve access token: appid/redirect uri/code verifier does not match authorization ' +
            'code. Or authorization code expired. Or external member binding exists',
        );
      }
      code.used = true;
      const body: Record<string, unknown> = {
        access_token: issueAccessToken(code.scopes),
        expires_in: accessTokenSeconds,
      };
      if (issueRefreshTokens) {
        const refresh = `AQW${randomBytes(48).toString('base64url')}`;
        refreshTokens.set(refresh, {
          scopes: code.scopes,
          expiresAt: clock() + refreshTokenSeconds * 1000,
          revoked: false,
        });
        body.refresh_token = refresh;
        body.refresh_token_expires_in = refreshTokenSeconds;
      }
      body.scope = code.scopes.join(',');
      return ok(body);
    }

    if (params.grant_type === 'refresh_token') {
      if (!params.refresh_token)
        return oauthError(400, 'invalid_request', 'A required parameter "refresh_token" is missing');
      const refresh = refreshTokens.get(params.refresh_token);
      // (unconfirmed) the description LinkedIn gives for a dead refresh token.
      if (!refresh || refresh.revoked || clock() >= refresh.expiresAt)
        return oauthError(400, 'invalid_grant', 'The provided refresh token is invalid, expired or revoked');
      // The same refresh token comes back with what is left of its fixed lifetime.
      return ok({
        access_token: issueAccessToken(refresh.scopes),
        expires_in: accessTokenSeconds,
        refresh_token: params.refresh_token,
        refresh_token_expires_in: Math.floor((refresh.expiresAt - clock()) / 1000),
        scope: refresh.scopes.join(','),
      });
    }
    return oauthError(400, 'unsupported_grant_type', `grant_type ${params.grant_type} is not supported`);
  };

  // ——— api.linkedin.com/rest ———

  const authenticate = (
    request: RecordedRequest,
  ): { token: AccessToken } | { response: SimulatorResponse } => {
    const header = request.headers.authorization ?? '';
    const value = /^Bearer (.+)$/.exec(header)?.[1];
    if (!value)
      return {
        response: restError(401, {
          serviceErrorCode: 65604,
          code: 'EMPTY_ACCESS_TOKEN',
          message: 'Empty oauth2 access token',
        }),
      };
    const token = accessTokens.get(value);
    if (!token)
      return {
        response: restError(401, {
          serviceErrorCode: 65600,
          code: 'INVALID_ACCESS_TOKEN',
          message: 'Invalid access token',
        }),
      };
    if (token.revoked) {
      return {
        response: restError(401, {
          serviceErrorCode: 65601,
          code: 'REVOKED_ACCESS_TOKEN',
          message: 'The token used in the request has been revoked by the user',
        }),
      };
    }
    if (clock() >= token.expiresAt) {
      return {
        response: restError(401, {
          serviceErrorCode: 65602,
          code: 'EXPIRED_ACCESS_TOKEN',
          message: 'The token used in the request has expired',
        }),
      };
    }
    return { token };
  };

  const versionCheck = (request: RecordedRequest): SimulatorResponse | null => {
    const version = request.headers['linkedin-version'];
    if (!version) {
      // (unconfirmed) LinkedIn's exact body for a missing version header.
      return restError(400, {
        code: 'VERSION_MISSING',
        message: 'A version must be present. Please specify a version by adding the LinkedIn-Version header.',
      });
    }
    if (version !== simulatedVersion) {
      const normalised = /^\d{6}$/.test(version) ? `${version}01` : version;
      return restError(426, {
        code: 'NONEXISTENT_VERSION',
        message: `Requested version ${normalised} is not active`,
      });
    }
    return null;
  };

  const accessDenied = (resource: string) =>
    restError(403, {
      serviceErrorCode: 100,
      code: 'ACCESS_DENIED',
      message: `Not enough permissions to access: ${resource}.${simulatedVersion}01`,
    });

  const canReadAdmin = (token: AccessToken) => token.scopes.some((scope) => adminReadScopes.includes(scope));
  const administered = (organization: LinkedInSimulatorOrganization) =>
    (organization.role ?? 'ADMINISTRATOR') === 'ADMINISTRATOR' &&
    (organization.state ?? 'APPROVED') === 'APPROVED';

  const organizationAcls = (request: RecordedRequest, token: AccessToken): SimulatorResponse => {
    const { query } = request;
    if (query.q !== 'roleAssignee') {
      return restError(400, {
        code: 'ILLEGAL_ARGUMENT',
        message: `Invalid query parameter q: ${query.q ?? '(missing)'}`,
      });
    }
    if (!canReadAdmin(token)) return accessDenied('organizationAcls.FINDER-roleAssignee');
    const start = Number(query.start ?? 0);
    const count = Number(query.count ?? 10);
    if (!Number.isInteger(start) || start < 0 || !Number.isInteger(count) || count < 0) {
      return restError(400, { code: 'ILLEGAL_ARGUMENT', message: 'Invalid paging parameters start/count' });
    }
    const matching = organizations.filter(
      (organization) =>
        (!query.role || (organization.role ?? 'ADMINISTRATOR') === query.role) &&
        (!query.state || (organization.state ?? 'APPROVED') === query.state),
    );
    const slice = matching.slice(start, start + Math.min(count, aclsPageLimit));
    return ok({
      paging: { start, count: slice.length, links: [], total: matching.length },
      elements: slice.map((organization) => ({
        roleAssignee: memberUrn,
        state: organization.state ?? 'APPROVED',
        role: organization.role ?? 'ADMINISTRATOR',
        organization: `urn:li:organization:${organization.id}`,
      })),
    });
  };

  const organization = (id: string, token: AccessToken): SimulatorResponse => {
    const found = organizations.find((candidate) => String(candidate.id) === id);
    if (!found) return restError(404, { code: 'NOT_FOUND', message: `Organization ${id} not found` });
    if (!canReadAdmin(token) || !administered(found)) return accessDenied('organizations.GET');
    return ok({
      id: found.id,
      localizedName: found.localizedName,
      vanityName: found.vanityName,
      name: { localized: { en_US: found.localizedName }, preferredLocale: { country: 'US', language: 'en' } },
      primaryOrganizationType: 'NONE',
    });
  };

  const handler = (request: RecordedRequest): SimulatorResponse => {
    const { method, path } = request;
    if (path === '/oauth/v2/authorization' && method === 'GET') return authorization(request);
    if (path === '/oauth/v2/accessToken' && method === 'POST') return accessToken(request);
    if (!path.startsWith('/rest/')) return restError(404, { message: 'No virtual resource found' });

    const badVersion = versionCheck(request);
    if (badVersion) return badVersion;
    const auth = authenticate(request);
    if ('response' in auth) return auth.response;

    if (path === '/rest/organizationAcls' && method === 'GET') return organizationAcls(request, auth.token);
    const organizationPath = /^\/rest\/organizations\/(\d+)$/.exec(path);
    if (organizationPath && method === 'GET') return organization(organizationPath[1]!, auth.token);
    return restError(404, { message: 'No virtual resource found' });
  };

  const failure = (kind: LinkedInFailureKind): SimulatorResponse => {
    switch (kind) {
      case 'transient':
        return restError(500, { message: 'Internal Server Error' });
      case 'rate_limited':
        return restError(429, {
          serviceErrorCode: 101,
          code: 'TOO_MANY_REQUESTS',
          message: 'Resource level throttle APPLICATION DAY limit for calls to this resource is reached.',
        });
      case 'token_expired':
        return restError(401, {
          serviceErrorCode: 65602,
          code: 'EXPIRED_ACCESS_TOKEN',
          message: 'The token used in the request has expired',
        });
      case 'permission_revoked':
        return accessDenied('organizationAcls.FINDER-roleAssignee');
    }
  };

  const server = await startSimulatorServer(handler, {
    ...(options.port === undefined ? {} : { port: options.port }),
  });
  const simulator: LinkedInSimulator = Object.assign(server, {
    denyNextConsent: () => {
      denyNext = true;
    },
    grantOnlyScopes: (scopes: string[] | null) => {
      grantOnly = scopes;
    },
    revokeRefreshTokens: () => {
      for (const token of refreshTokens.values()) token.revoked = true;
    },
    revokeAccessTokens: () => {
      for (const token of accessTokens.values()) token.revoked = true;
    },
    failWith: (
      kind: LinkedInFailureKind,
      rule: { path: string | RegExp; method?: string; times?: number },
    ) => {
      server.failNext({ ...rule, response: failure(kind) });
    },
  });
  return simulator;
}
