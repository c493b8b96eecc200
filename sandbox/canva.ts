// Canva simulator (tests and `npm run demo`): one loopback server playing www.canva.com's consent page and
// api.canva.com's token endpoint and Connect API (users, profile, designs): PKCE (S256) checked, refresh tokens
// single use and rotated, access tokens expiring, errors in Canva's shapes.
import { createHash, randomBytes } from 'node:crypto';
import { createGrantStore, type IssuedAccessToken, type IssuedCode, tokenForm } from './oauth2.ts';
import {
  type FailureMatch,
  type RecordedRequest,
  type SimulatorResponse,
  type SimulatorServer,
  startSimulatorServer,
} from './simulator-server.ts';

// Its own copy on purpose: an adapter that drifts to another version must fail against the simulator.
const simulatedApiPrefix = '/rest/v1';
const codeLifetimeMs = 10 * 60 * 1000;
const knownScopes = new Set([
  'app:read',
  'app:write',
  'asset:read',
  'asset:write',
  'brandtemplate:content:read',
  'brandtemplate:meta:read',
  'comment:read',
  'comment:write',
  'design:content:read',
  'design:content:write',
  'design:meta:read',
  'design:permission:read',
  'design:permission:write',
  'folder:read',
  'folder:write',
  'folder:permission:read',
  'folder:permission:write',
  'profile:read',
]);

export const canvaSandboxClientId = 'OC-glowtify-sandbox';
export const canvaSandboxClientSecret = 'cnvca-glowtify-sandbox-secret';

export interface CanvaSimulatorDesign {
  id: string;
  title: string;
  /** Unix seconds, as Canva gives them. */
  updatedAt?: number;
}

export interface CanvaSimulatorOptions {
  port?: number;
  clientId?: string;
  clientSecret?: string;
  user?: { userId: string; teamId: string; displayName: string };
  designs?: CanvaSimulatorDesign[];
  /** Designs per `/designs` answer before a `continuation` (tests lower it to page). */
  designsPageSize?: number;
  /** expires_in of an access token (Canva: 14,400 s); tests use 60 s or less. */
  accessTokenSeconds?: number;
  /** What the user grants at consent; default: every scope asked for. */
  grantScopes?: string[];
  /** The simulator's clock: code and token expiry follow it. */
  now?: () => Date;
}

export type CanvaFailureKind = 'transient' | 'rate_limited' | 'token_invalid' | 'forbidden';

export type CanvaSimulator = SimulatorServer & {
  /** What the next consents grant (null: every scope asked for). */
  grantScopes: string[] | null;
  /** The next visit of the consent page redirects with `error=access_denied` and no code. */
  denyNextConsent(): void;
  /** Every refresh token issued so far is refused (invalid_grant), as after a revocation. */
  revokeRefreshTokens(): void;
  /** Every access token issued so far is refused (401 invalid_access_token). */
  expireAccessTokens(): void;
  /** Makes the next matching requests fail the way Canva fails them (its status and body). */
  failWith(kind: CanvaFailureKind, rule: FailureMatch): void;
};

interface AuthorizationCode extends IssuedCode {
  challenge: string;
}

const apiError = (status: number, code: string, message: string): SimulatorResponse => ({
  status,
  body: { code, message },
});
const oauthError = (status: number, error: string, description: string): SimulatorResponse => ({
  status,
  body: { error, error_description: description },
});

function base64Url(buffer: Buffer): string {
  return buffer.toString('base64url');
}

export async function startCanvaSimulator(options: CanvaSimulatorOptions = {}): Promise<CanvaSimulator> {
  const clientId = options.clientId ?? canvaSandboxClientId;
  const clientSecret = options.clientSecret ?? canvaSandboxClientSecret;
  const user = options.user ?? {
    userId: 'oUnPjZ2k2yuhftbWF7873o',
    teamId: 'oBpVhLW22VrqtwKgaayRbP',
    displayName: 'Glow Studio',
  };
  const designs: CanvaSimulatorDesign[] =
    options.designs ??
    Array.from({ length: 3 }, (_, index) => ({
      id: `DAF${String(index + 1).padStart(8, '0')}`,
      title: `Spring post ${index + 1}`,
    }));
  const pageSize = options.designsPageSize ?? 25;
  const accessTokenSeconds = options.accessTokenSeconds ?? 14_400;
  const clock = () => (options.now ?? (() => new Date()))().getTime();
  const grants = createGrantStore<AuthorizationCode>({
    clock,
    accessTokenSeconds,
    codeLifetimeMs,
    // Single use, and no end of its own: each refresh answers a new refresh token.
    refresh: 'rotate',
    mint: {
      access: () => `eyJ${randomBytes(32).toString('base64url')}`,
      refresh: () => `rt_${randomBytes(32).toString('base64url')}`,
    },
  });
  let denyNext = false;

  const issueTokens = (scopes: string[]) => ({
    status: 200,
    body: {
      access_token: grants.issueAccessToken(scopes),
      refresh_token: grants.issueRefreshToken(scopes),
      token_type: 'Bearer',
      expires_in: accessTokenSeconds,
      scope: scopes.join(' '),
    },
  });

  const consent = (request: RecordedRequest): SimulatorResponse => {
    const q = request.query;
    // Canva shows an error page (no redirect) when the integration or its redirect URL is wrong.
    if (q.client_id !== clientId) return { status: 400, body: 'Invalid client_id' };
    if (!q.redirect_uri || !/^https?:\/\//.test(q.redirect_uri))
      return { status: 400, body: 'Invalid redirect_uri' };
    const back = new URL(q.redirect_uri);
    if (q.state !== undefined) back.searchParams.set('state', q.state);
    const refuse = (error: string, description: string) => {
      back.searchParams.set('error', error);
      back.searchParams.set('error_description', description);
      return { status: 302, headers: { location: back.toString() } };
    };
    if (q.response_type !== 'code') return refuse('unsupported_response_type', 'response_type must be code');
    // Canva documents `s256`; (unconfirmed) whether it also takes `S256`, so both are accepted here.
    if (q.code_challenge_method?.toLowerCase() !== 's256')
      return refuse('invalid_request', 'code_challenge_method must be s256');
    if (!q.code_challenge || !/^[A-Za-z0-9_-]{43}$/.test(q.code_challenge))
      return refuse('invalid_request', 'code_challenge must be a base64url SHA-256 digest');
    const asked = (q.scope ?? '').split(' ').filter(Boolean);
    if (asked.length === 0 || asked.some((scope) => !knownScopes.has(scope)))
      return refuse('invalid_scope', `Unknown scope in "${q.scope ?? ''}"`);
    if (denyNext) {
      denyNext = false;
      return refuse('access_denied', 'The user denied the authorization request');
    }
    const granted = simulator.grantScopes
      ? asked.filter((scope) => simulator.grantScopes?.includes(scope))
      : asked;
    const code = randomBytes(24).toString('base64url');
    grants.issueCode(code, {
      redirectUri: q.redirect_uri,
      challenge: q.code_challenge,
      scopes: granted,
      issuedAt: clock(),
      used: false,
    });
    back.searchParams.set('code', code);
    return { status: 302, headers: { location: back.toString() } };
  };

  /** Basic (recommended) or body client credentials, as Canva accepts both. */
  const clientOf = (request: RecordedRequest, form: Record<string, string>) => {
    const basic = /^Basic\s+(.+)$/i.exec(request.headers.authorization ?? '');
    if (basic?.[1]) {
      const decoded = Buffer.from(basic[1], 'base64').toString('utf8');
      const colon = decoded.indexOf(':');
      return { id: decoded.slice(0, colon), secret: decoded.slice(colon + 1) };
    }
    return { id: form.client_id, secret: form.client_secret };
  };

  const token = (request: RecordedRequest): SimulatorResponse => {
    const form = tokenForm(request);
    if (!form) return oauthError(400, 'invalid_request', 'The request must be form encoded');
    const client = clientOf(request, form);
    if (client.id !== clientId || client.secret !== clientSecret)
      return oauthError(401, 'invalid_client', 'Client authentication failed');
    if (form.grant_type === 'authorization_code') {
      const code = grants.redeemCode(form.code, form.redirect_uri);
      if (code === 'unknown' || code === 'spent')
        return oauthError(400, 'invalid_grant', 'The authorization code is invalid or expired');
      if (code === 'redirect_mismatch')
        return oauthError(400, 'invalid_grant', 'redirect_uri does not match the authorization request');
      const verifier = form.code_verifier ?? '';
      if (!/^[A-Za-z0-9._~-]{43,128}$/.test(verifier))
        return oauthError(400, 'invalid_request', 'code_verifier is missing or malformed');
      if (base64Url(createHash('sha256').update(verifier).digest()) !== code.challenge)
        return oauthError(400, 'invalid_grant', 'code_verifier does not match the code_challenge');
      grants.spendCode(code);
      return issueTokens(code.scopes);
    }
    if (form.grant_type === 'refresh_token') {
      // Single use: the old refresh token dies as the new pair is issued.
      const refresh = grants.redeemRefreshToken(form.refresh_token);
      if (!refresh)
        return oauthError(400, 'invalid_grant', 'The refresh token is invalid, revoked or already used');
      return issueTokens(refresh.scopes);
    }
    return oauthError(
      400,
      'unsupported_grant_type',
      'grant_type must be authorization_code or refresh_token',
    );
  };

  const authenticate = (request: RecordedRequest): IssuedAccessToken | SimulatorResponse => {
    const found = grants.authenticate(request.headers.authorization);
    if (!found) return apiError(401, 'invalid_access_token', 'Access token is invalid');
    return found;
  };

  const needScope = (token: IssuedAccessToken, scope: string) =>
    token.scopes.includes(scope) ? null : apiError(403, 'missing_scope', `Missing scope: [${scope}]`);

  const designsPage = (request: RecordedRequest): SimulatorResponse => {
    const continuation = request.query.continuation;
    let start = 0;
    if (continuation !== undefined) {
      start = Number(Buffer.from(continuation, 'base64url').toString('utf8'));
      if (!Number.isInteger(start) || start <= 0 || start > designs.length)
        return apiError(400, 'invalid_field', 'Invalid continuation');
    }
    const slice = designs.slice(start, start + pageSize);
    const next = start + slice.length;
    return {
      status: 200,
      body: {
        items: slice.map((design) => ({
          id: design.id,
          title: design.title,
          owner: { user_id: user.userId, team_id: user.teamId },
          urls: {
            edit_url: `https://www.canva.com/design/${design.id}/edit`,
            view_url: `https://www.canva.com/design/${design.id}/view`,
          },
          created_at: design.updatedAt ?? 1_700_000_000,
          updated_at: design.updatedAt ?? 1_700_000_000,
          page_count: 1,
        })),
        ...(next < designs.length ? { continuation: Buffer.from(String(next)).toString('base64url') } : {}),
      },
    };
  };

  const handler = (request: RecordedRequest): SimulatorResponse => {
    const { method, path } = request;
    if (path === '/api/oauth/authorize' && method === 'GET') return consent(request);
    if (!path.startsWith(`${simulatedApiPrefix}/`)) return apiError(404, 'not_found', `No route for ${path}`);
    const route = path.slice(simulatedApiPrefix.length);
    if (route === '/oauth/token' && method === 'POST') return token(request);
    const auth = authenticate(request);
    if ('status' in auth) return auth;
    if (route === '/users/me' && method === 'GET')
      return { status: 200, body: { team_user: { user_id: user.userId, team_id: user.teamId } } };
    if (route === '/users/me/profile' && method === 'GET')
      return (
        needScope(auth, 'profile:read') ?? {
          status: 200,
          body: { profile: { display_name: user.displayName } },
        }
      );
    if (route === '/designs' && method === 'GET')
      return needScope(auth, 'design:meta:read') ?? designsPage(request);
    return apiError(404, 'not_found', `No route for ${method} ${path}`);
  };

  const failure = (kind: CanvaFailureKind): SimulatorResponse => {
    switch (kind) {
      case 'transient':
        return apiError(503, 'internal_error', 'Service temporarily unavailable');
      case 'rate_limited':
        // (unconfirmed) whether Canva sends Retry-After; it is not documented, so none is sent here.
        return apiError(429, 'too_many_requests', 'Too many requests');
      case 'token_invalid':
        return apiError(401, 'invalid_access_token', 'Access token is invalid');
      case 'forbidden':
        return apiError(403, 'permission_denied', 'Not allowed');
    }
  };

  const server = await startSimulatorServer(handler, {
    ...(options.port === undefined ? {} : { port: options.port }),
  });
  const simulator: CanvaSimulator = Object.assign(server, {
    grantScopes: options.grantScopes ?? null,
    denyNextConsent() {
      denyNext = true;
    },
    revokeRefreshTokens() {
      grants.revokeRefreshTokens();
    },
    expireAccessTokens() {
      // Canva answers an expired token as it answers a revoked one.
      grants.revokeAccessTokens();
    },
    failWith(kind: CanvaFailureKind, rule: FailureMatch) {
      server.failNext({ ...rule, response: failure(kind) });
    },
  });
  return simulator;
}
