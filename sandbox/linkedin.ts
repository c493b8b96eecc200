// LinkedIn simulator (tests and `npm run demo`): one loopback server playing both www.linkedin.com (consent page,
// token endpoint) and api.linkedin.com (organizationAcls, organizations), as strict as LinkedIn about the
// version header and tokens, answering in LinkedIn's shapes.
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

export type LinkedInSimulator = SimulatorServer &
  // The denial is error=user_cancelled_authorize; a revoked access token answers 401.
  ConsentControls & {
    /** Makes the next matching requests fail the way LinkedIn fails them (its status and body). */
    failWith(kind: LinkedInFailureKind, rule: FailureMatch): void;
  };

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

  const grants = createGrantStore({
    clock,
    accessTokenSeconds,
    refreshTokenSeconds,
    codeLifetimeMs,
    // LinkedIn returns the same refresh token on refresh, its end fixed at consent.
    refresh: 'keep',
    mint: {
      access: () => `AQV${randomBytes(36).toString('base64url')}`,
      refresh: () => `AQW${randomBytes(48).toString('base64url')}`,
    },
  });
  const consent = consentSteering(grants, options.grantScopes ?? null);

  // ——— www.linkedin.com ———

  const authorization = (request: RecordedRequest): SimulatorResponse => {
    const { query } = request;
    const opened = openConsent(query, {
      clientParameter: 'client_id',
      clientId,
      redirectUris: options.redirectUris,
      unknownClient: 'invalid_client: the client_id is unknown',
      unregisteredRedirect: 'The redirect_uri does not match the registered value',
    });
    if ('response' in opened) return opened.response;
    const { redirectUri, back } = opened;
    // LinkedIn's scope parameter is space-delimited.
    const asked = (query.scope ?? '').split(' ').filter(Boolean);
    if (asked.length === 0) {
      return back({
        error: 'invalid_request',
        error_description: 'A required parameter "scope" is missing',
      });
    }
    const unknown = asked.find((scope) => !knownScopes.has(scope));
    if (unknown) {
      return back({
        error: 'unauthorized_scope_error',
        error_description: `Scope "${unknown}" is not authorized for your application`,
      });
    }
    if (consent.denies()) {
      return back({
        error: 'user_cancelled_authorize',
        error_description: 'The user cancelled the authorization',
      });
    }
    const scopes = consent.granted(asked);
    const code = `AQT${randomBytes(48).toString('base64url')}`;
    grants.issueCode(code, { redirectUri, scopes, issuedAt: clock(), used: false });
    return back({ code });
  };

  const accessToken = (request: RecordedRequest): SimulatorResponse => {
    // LinkedIn wants application/x-www-form-urlencoded; anything else reads as no parameters at all.
    const params = tokenForm(request) ?? {};
    const missing = missingParameter(params, ['grant_type', 'client_id', 'client_secret']);
    if (missing) return oauthError(400, 'invalid_request', `A required parameter "${missing}" is missing`);
    if (params.client_id !== clientId || params.client_secret !== clientSecret)
      return oauthError(401, 'invalid_client', 'Client authentication failed');

    if (params.grant_type === 'authorization_code') {
      const missingForCode = missingParameter(params, ['code', 'redirect_uri']);
      if (missingForCode)
        return oauthError(400, 'invalid_request', `A required parameter "${missingForCode}" is missing`);
      const code = grants.redeemCode(params.code, params.redirect_uri);
      if (code === 'unknown')
        return oauthError(
          401,
          'invalid_request',
          'Unable to retrieve access token: authorization code not found',
        );
      if (code === 'spent' || code === 'redirect_mismatch') {
        return oauthError(
          400,
          'invalid_request',
          'Unable to retrieve access token: appid/redirect uri/code verifier does not match authorization ' +
            'code. Or authorization code expired. Or external member binding exists',
        );
      }
      grants.spendCode(code);
      const body: Record<string, unknown> = {
        access_token: grants.issueAccessToken(code.scopes),
        expires_in: accessTokenSeconds,
      };
      if (issueRefreshTokens) {
        body.refresh_token = grants.issueRefreshToken(code.scopes);
        body.refresh_token_expires_in = refreshTokenSeconds;
      }
      body.scope = code.scopes.join(',');
      return ok(body);
    }

    if (params.grant_type === 'refresh_token') {
      if (!params.refresh_token)
        return oauthError(400, 'invalid_request', 'A required parameter "refresh_token" is missing');
      const refresh = grants.redeemRefreshToken(params.refresh_token);
      // (unconfirmed) the description LinkedIn gives for a dead refresh token.
      if (!refresh)
        return oauthError(400, 'invalid_grant', 'The provided refresh token is invalid, expired or revoked');
      // The same refresh token comes back with what is left of its fixed lifetime.
      return ok({
        access_token: grants.issueAccessToken(refresh.scopes),
        expires_in: accessTokenSeconds,
        refresh_token: params.refresh_token,
        refresh_token_expires_in: grants.secondsLeft(refresh),
        scope: refresh.scopes.join(','),
      });
    }
    return oauthError(400, 'unsupported_grant_type', `grant_type ${params.grant_type} is not supported`);
  };

  // ——— api.linkedin.com/rest ———

  const authenticate = (
    request: RecordedRequest,
  ): { token: IssuedAccessToken } | { response: SimulatorResponse } => {
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
    const token = grants.findAccessToken(value);
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

  const canReadAdmin = (token: IssuedAccessToken) =>
    token.scopes.some((scope) => adminReadScopes.includes(scope));
  const administered = (organization: LinkedInSimulatorOrganization) =>
    (organization.role ?? 'ADMINISTRATOR') === 'ADMINISTRATOR' &&
    (organization.state ?? 'APPROVED') === 'APPROVED';

  const organizationAcls = (request: RecordedRequest, token: IssuedAccessToken): SimulatorResponse => {
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

  const organization = (id: string, token: IssuedAccessToken): SimulatorResponse => {
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
    ...consent.controls,
    failWith: (kind: LinkedInFailureKind, rule: FailureMatch) => {
      server.failNext({ ...rule, response: failure(kind) });
    },
  });
  return simulator;
}
