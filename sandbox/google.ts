// Google simulator (tests and `npm run demo`): one loopback server playing every Google host the adapters use
// (their paths differ): the consent page, the token endpoint, the GA4 Admin and Data APIs and the Google Ads
// API (v26), as strict as Google about tokens and scopes, in Google's error shapes.
import { createHash, randomBytes } from 'node:crypto';
import { searchCampaignMetrics } from './google-ads-reports.ts';
import { createGrantStore, type IssuedAccessToken, type IssuedCode } from './oauth2.ts';
import {
  type FailureMatch,
  type RecordedRequest,
  type SimulatorResponse,
  type SimulatorServer,
  startSimulatorServer,
} from './simulator-server.ts';

// Its own copy on purpose: an adapter that drifts to another version must fail against the simulator.
const simulatedAdsVersion = 'v26';
const codeLifetimeMs = 10 * 60 * 1000;
const scopePrefix = 'https://www.googleapis.com/auth/';
const analyticsReadonly = `${scopePrefix}analytics.readonly`;
const analyticsFull = `${scopePrefix}analytics`;
const analyticsEdit = `${scopePrefix}analytics.edit`;
const adwords = `${scopePrefix}adwords`;
const knownScopes = new Set([
  analyticsReadonly,
  analyticsFull,
  analyticsEdit,
  `${scopePrefix}analytics.manage.users.readonly`,
  adwords,
  `${scopePrefix}userinfo.email`,
  `${scopePrefix}userinfo.profile`,
  'openid',
  'email',
  'profile',
]);
const analyticsReadScopes = [analyticsReadonly, analyticsFull, analyticsEdit];
const reportDimensions = new Set(['date', 'sessionSourceMedium', 'sessionCampaignName']);
const reportMetrics = new Set(['sessions']);
const customerFields: Record<string, string> = {
  'customer.resource_name': 'resourceName',
  'customer.id': 'id',
  'customer.descriptive_name': 'descriptiveName',
  'customer.manager': 'manager',
  'customer.currency_code': 'currencyCode',
  'customer.time_zone': 'timeZone',
  'customer.status': 'status',
  'customer.test_account': 'testAccount',
};

export const googleSandboxClientId = 'glowtify-sandbox.apps.googleusercontent.com';
export const googleSandboxClientSecret = 'GOCSPX-glowtify-sandbox-secret';

export interface GoogleSimulatorProperty {
  /** Numeric GA4 property id. */
  id: string;
  name: string;
  accountId: string;
  accountName: string;
}

export interface GoogleSimulatorCustomer {
  /** Ten digits, no dashes. */
  id: string;
  name: string;
  manager?: boolean;
  /** A CANCELED customer is still listed as accessible but refuses every query. */
  status?: 'ENABLED' | 'CANCELED';
  /**
   * A client account the user reaches only through this manager: not listed as accessible, listed by the
   * manager's `customer_client`, and every request for it must name the manager in `login-customer-id`.
   */
  managerId?: string;
  /** The account's currency (ISO 4217), what its cost is in; CAD unless said. */
  currencyCode?: string;
}

export interface GoogleSimulatorReportRow {
  /** YYYY-MM-DD (the simulator answers it as GA4 does, YYYYMMDD). */
  date: string;
  sourceMedium: string;
  campaign: string;
  sessions: number;
}

export interface GoogleSimulatorOptions {
  port?: number;
  clientId?: string;
  clientSecret?: string;
  /** Registered redirect URIs; absent: any http(s) URI is accepted. */
  redirectUris?: string[];
  /** expires_in of access tokens (Google: 3599). */
  accessTokenSeconds?: number;
  properties?: GoogleSimulatorProperty[];
  customers?: GoogleSimulatorCustomer[];
  /** Session rows per property id; a property without an entry gets deterministic rows for each day. */
  reports?: Record<string, GoogleSimulatorReportRow[]>;
  /** The most account summaries one answer holds, whatever `pageSize` asks (tests lower it to page). */
  accountSummariesPageLimit?: number;
  /** The simulator's clock: token and code expiry follow it. */
  now?: () => Date;
}

export type GoogleFailureKind =
  | 'unavailable'
  | 'internal'
  | 'rate_limited'
  | 'unauthenticated'
  | 'permission_denied'
  /** Google Ads: a client customer reached without the manager's `login-customer-id`. */
  | 'customer_permission_denied';

/** A campaign made through googleAds:mutate, with what belongs to it, as tests read it. */
export interface GoogleSimulatorCampaign {
  customerId: string;
  resourceName: string;
  name: string;
  status: 'ENABLED' | 'PAUSED' | 'REMOVED';
  budget: { resourceName: string; name: string; amountMicros: string; status: 'ENABLED' | 'REMOVED' };
  containsEuPoliticalAdvertising: string;
  adGroups: { resourceName: string; name: string; status: string }[];
  ads: { adGroup: string; finalUrls: string[]; headlines: string[]; descriptions: string[] }[];
  keywords: { adGroup: string; text: string; matchType: string }[];
  createdAt: Date;
  /** Every status the campaign took, with when (the first is its creation). */
  statusChanges: { status: string; at: Date }[];
}

export type GoogleSimulator = SimulatorServer & {
  /** Every campaign made on every customer, removed ones included. */
  adsCampaigns(): GoogleSimulatorCampaign[];
  /** The next consent is refused by the user (Google redirects with error=access_denied). */
  denyNextConsent(): void;
  /** The user of the next consent leaves only these of the requested scopes ticked (granular consent). */
  grantOnlyScopes(scopes: string[]): void;
  /** Every refresh token issued so far is revoked: the next refresh answers invalid_grant. */
  revokeRefreshTokens(): void;
  /** Every access token issued so far now answers 401 UNAUTHENTICATED. */
  expireAccessTokens(): void;
  /** Makes the next matching requests fail the way Google fails them. */
  failWith(kind: GoogleFailureKind, rule: FailureMatch): void;
};

interface AuthorizationCode extends IssuedCode {
  offline: boolean;
  challenge: { value: string; method: 'S256' | 'plain' } | null;
}

const ok = (body: unknown): SimulatorResponse => ({ status: 200, body });

/** Google's API error shape: `{"error":{"code","message","status","details"?}}`. */
function apiError(
  code: number,
  status: string,
  message: string,
  details?: unknown[],
  headers?: Record<string, string>,
): SimulatorResponse {
  return {
    status: code,
    ...(headers ? { headers } : {}),
    body: { error: { code, message, status, ...(details ? { details } : {}) } },
  };
}

/** The token endpoint's OAuth error shape. */
const oauthError = (status: number, error: string, description: string): SimulatorResponse => ({
  status,
  body: { error, error_description: description },
});

/** The consent page's own error screens are pages for a person, not redirects. */
const consentErrorPage = (status: number, error: string, detail: string): SimulatorResponse => ({
  status,
  headers: { 'content-type': 'text/html; charset=utf-8' },
  body: `<!doctype html><title>Error ${status}: ${error}</title><h1>Access blocked: authorization error</h1><p>${detail}</p><p>Error ${status}: ${error}</p>`,
});

const notFoundPage = (path: string): SimulatorResponse => ({
  status: 404,
  headers: { 'content-type': 'text/html; charset=UTF-8' },
  body: `<!DOCTYPE html><title>Error 404 (Not Found)!!1</title><p><b>404.</b> The requested URL <code>${path}</code> was not found on this server.</p>`,
});

const customerPermissionDenied = () =>
  apiError(403, 'PERMISSION_DENIED', 'The caller does not have permission', [
    adsFailure(
      { authorizationError: 'USER_PERMISSION_DENIED' },
      "User doesn't have permission to access customer. Note: If you're accessing a client customer, the " +
        "manager's customer id must be set in the 'login-customer-id' header. See " +
        'https://developers.google.com/google-ads/api/docs/concepts/call-structure#cid',
    ),
  ]);

const adsFailure = (
  errorCode: Record<string, string>,
  message: string,
  extra: Record<string, unknown> = {},
) => ({
  '@type': `type.googleapis.com/google.ads.googleads.${simulatedAdsVersion}.errors.GoogleAdsFailure`,
  errors: [{ errorCode, message, ...extra }],
  requestId: randomBytes(11).toString('base64url'),
});

const base64url = (buffer: Buffer) => buffer.toString('base64url');
const pkceVerifier = /^[A-Za-z0-9\-._~]{43,128}$/;

/** Deterministic rows for a property and day: the same request always answers the same numbers. */
function defaultRows(propertyId: string, day: string): GoogleSimulatorReportRow[] {
  const seed = createHash('sha256').update(`${propertyId}:${day}`).digest();
  return [
    { date: day, sourceMedium: 'google / organic', campaign: '(organic)', sessions: 40 + (seed[0] ?? 0) },
    {
      date: day,
      sourceMedium: 'klaviyo / email',
      campaign: 'spring-launch',
      sessions: 5 + ((seed[1] ?? 0) % 60),
    },
    {
      date: day,
      sourceMedium: '(direct) / (none)',
      campaign: '(direct)',
      sessions: 10 + ((seed[2] ?? 0) % 90),
    },
  ];
}

const dayMs = 24 * 60 * 60 * 1000;
const isoDay = /^\d{4}-\d{2}-\d{2}$/;

export async function startGoogleSimulator(options: GoogleSimulatorOptions = {}): Promise<GoogleSimulator> {
  const clientId = options.clientId ?? googleSandboxClientId;
  const clientSecret = options.clientSecret ?? googleSandboxClientSecret;
  const accessTokenSeconds = options.accessTokenSeconds ?? 3599;
  const properties = options.properties ?? [
    {
      id: '312345678',
      name: 'glowtify.example (GA4)',
      accountId: '201234567',
      accountName: 'Glowtify Beauty',
    },
  ];
  const customers = options.customers ?? [{ id: '1234567890', name: 'Glowtify Beauty Ads' }];
  const reports = options.reports ?? {};
  const summariesPageLimit = options.accountSummariesPageLimit ?? 200;
  const clock = () => (options.now ?? (() => new Date()))().getTime();

  const grants = createGrantStore<AuthorizationCode>({
    clock,
    accessTokenSeconds,
    codeLifetimeMs,
    // Google does not rotate: the refresh token stays good until revoked.
    refresh: 'keep',
    mint: {
      access: () => `ya29.${base64url(randomBytes(48))}`,
      refresh: () => `1//0${base64url(randomBytes(48))}`,
    },
  });
  /** What the simulated user granted the app so far (include_granted_scopes adds it to new grants). */
  const grantedBefore = new Set<string>();
  let denyNext = false;
  let grantOnly: string[] | null = null;

  // ——— OAuth ———

  const consent = (request: RecordedRequest): SimulatorResponse => {
    const query = request.query;
    if (!query.client_id)
      return consentErrorPage(400, 'invalid_request', 'Missing required parameter: client_id');
    if (query.client_id !== clientId)
      return consentErrorPage(401, 'invalid_client', 'The OAuth client was not found.');
    const redirectUri = query.redirect_uri;
    if (!redirectUri)
      return consentErrorPage(400, 'invalid_request', 'Missing required parameter: redirect_uri');
    let location: URL;
    try {
      location = new URL(redirectUri);
    } catch {
      return consentErrorPage(400, 'invalid_request', 'Invalid parameter value for redirect_uri');
    }
    const registered = options.redirectUris
      ? options.redirectUris.includes(redirectUri)
      : location.protocol === 'http:' || location.protocol === 'https:';
    if (!registered)
      return consentErrorPage(
        400,
        'redirect_uri_mismatch',
        "You can't sign in to this app because it doesn't comply with Google's OAuth 2.0 policy.",
      );
    if (query.response_type !== 'code')
      return consentErrorPage(400, 'invalid_request', `Invalid response_type: ${query.response_type ?? ''}`);
    const requested = (query.scope ?? '').split(/\s+/).filter(Boolean);
    if (requested.length === 0)
      return consentErrorPage(400, 'invalid_request', 'Missing required parameter: scope');
    const unknown = requested.filter((scope) => !knownScopes.has(scope));
    if (unknown.length > 0)
      return consentErrorPage(
        400,
        'invalid_scope',
        `Some requested scopes were invalid. {invalid=[${unknown.join(', ')}]}`,
      );
    if (query.access_type && query.access_type !== 'offline' && query.access_type !== 'online')
      return consentErrorPage(400, 'invalid_request', `Invalid access_type: ${query.access_type}`);
    let challenge: AuthorizationCode['challenge'] = null;
    if (query.code_challenge !== undefined) {
      const method = query.code_challenge_method ?? 'plain';
      if (method !== 'S256' && method !== 'plain')
        return consentErrorPage(400, 'invalid_request', `Invalid code_challenge_method: ${method}`);
      if (!pkceVerifier.test(query.code_challenge))
        return consentErrorPage(400, 'invalid_request', 'Invalid code_challenge');
      challenge = { value: query.code_challenge, method };
    } else if (query.code_challenge_method !== undefined) {
      return consentErrorPage(400, 'invalid_request', 'Missing code_challenge');
    }

    // Google's denial carries no description.
    if (denyNext) {
      denyNext = false;
      location.searchParams.set('error', 'access_denied');
      if (query.state !== undefined) location.searchParams.set('state', query.state);
      return { status: 302, headers: { location: location.toString() } };
    }

    const ticked = grantOnly ? requested.filter((scope) => grantOnly?.includes(scope)) : requested;
    grantOnly = null;
    const scopes = [
      ...new Set([...(query.include_granted_scopes === 'true' ? grantedBefore : []), ...ticked]),
    ];
    for (const scope of ticked) grantedBefore.add(scope);
    const code = `4/0${base64url(randomBytes(40))}`;
    grants.issueCode(code, {
      redirectUri,
      scopes,
      offline: query.access_type === 'offline',
      challenge,
      issuedAt: clock(),
      used: false,
    });
    if (query.state !== undefined) location.searchParams.set('state', query.state);
    location.searchParams.set('code', code);
    location.searchParams.set('scope', scopes.join(' '));
    location.searchParams.set('authuser', '0');
    location.searchParams.set('prompt', 'consent');
    return { status: 302, headers: { location: location.toString() } };
  };

  const token = (request: RecordedRequest): SimulatorResponse => {
    if (request.method !== 'POST') return notFoundPage(request.path);
    const params: Record<string, string> = {};
    if (typeof request.body === 'object' && request.body !== null) {
      for (const [name, value] of Object.entries(request.body))
        if (typeof value === 'string') params[name] = value;
    }
    // Google also takes the client in HTTP Basic.
    const basic = /^Basic\s+(.+)$/i.exec(request.headers.authorization ?? '');
    if (basic?.[1]) {
      const [id, secret] = Buffer.from(basic[1], 'base64').toString('utf8').split(':');
      if (id) params.client_id ??= decodeURIComponent(id);
      if (secret) params.client_secret ??= decodeURIComponent(secret);
    }
    if (!params.client_id)
      return oauthError(400, 'invalid_request', 'Could not determine client ID from request.');
    if (params.client_id !== clientId)
      return oauthError(401, 'invalid_client', 'The OAuth client was not found.');
    if (params.client_secret !== clientSecret) return oauthError(401, 'invalid_client', 'Unauthorized');

    if (params.grant_type === 'authorization_code') {
      if (!params.code) return oauthError(400, 'invalid_request', 'Missing required parameter: code');
      if (!params.redirect_uri) return oauthError(400, 'invalid_request', 'Missing parameter: redirect_uri');
      const code = grants.redeemCode(params.code, params.redirect_uri);
      if (code === 'unknown') return oauthError(400, 'invalid_grant', 'Malformed auth code.');
      if (code === 'spent') return oauthError(400, 'invalid_grant', 'Bad Request');
      if (code === 'redirect_mismatch') return oauthError(400, 'redirect_uri_mismatch', 'Bad Request');
      if (code.challenge) {
        const verifier = params.code_verifier;
        if (!verifier) return oauthError(400, 'invalid_grant', 'Missing code verifier.');
        const computed =
          code.challenge.method === 'S256'
            ? base64url(createHash('sha256').update(verifier).digest())
            : verifier;
        if (!pkceVerifier.test(verifier) || computed !== code.challenge.value)
          return oauthError(400, 'invalid_grant', 'Invalid code verifier.');
      }
      grants.spendCode(code);
      const accessToken = grants.issueAccessToken(code.scopes);
      const refreshToken = code.offline ? grants.issueRefreshToken(code.scopes) : undefined;
      return ok({
        access_token: accessToken,
        expires_in: accessTokenSeconds,
        ...(refreshToken ? { refresh_token: refreshToken } : {}),
        scope: code.scopes.join(' '),
        token_type: 'Bearer',
      });
    }

    if (params.grant_type === 'refresh_token') {
      if (!params.refresh_token)
        return oauthError(400, 'invalid_request', 'Missing required parameter: refresh_token');
      const refresh = grants.redeemRefreshToken(params.refresh_token);
      if (!refresh) return oauthError(400, 'invalid_grant', 'Token has been expired or revoked.');
      // Google does not rotate: no refresh_token in the answer, the old one stays good.
      return ok({
        access_token: grants.issueAccessToken(refresh.scopes),
        expires_in: accessTokenSeconds,
        scope: refresh.scopes.join(' '),
        token_type: 'Bearer',
      });
    }

    return oauthError(400, 'unsupported_grant_type', `Invalid grant_type: ${params.grant_type ?? ''}`);
  };

  // ——— bearer checks ———

  type Authenticated = { token: IssuedAccessToken } | { response: SimulatorResponse };
  const invalidCredentials = apiError(
    401,
    'UNAUTHENTICATED',
    'Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other ' +
      'valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project.',
    [
      {
        '@type': 'type.googleapis.com/google.rpc.ErrorInfo',
        reason: 'ACCESS_TOKEN_EXPIRED',
        domain: 'googleapis.com',
      },
    ],
  );
  const authenticate = (request: RecordedRequest, anyOf: string[], service: string): Authenticated => {
    const match = /^Bearer\s+(.+)$/i.exec(request.headers.authorization ?? '');
    const value = match?.[1]?.trim();
    if (!value) {
      return {
        response: apiError(
          401,
          'UNAUTHENTICATED',
          'Request is missing required authentication credential. Expected OAuth 2 access token, login cookie ' +
            'or other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project.',
          [
            {
              '@type': 'type.googleapis.com/google.rpc.ErrorInfo',
              reason: 'CREDENTIALS_MISSING',
              domain: 'googleapis.com',
            },
          ],
        ),
      };
    }
    const token = grants.findAccessToken(value);
    if (!token || token.revoked || clock() >= token.expiresAt) {
      return {
        response: {
          ...invalidCredentials,
          headers: {
            'www-authenticate': 'Bearer realm="https://accounts.google.com/", error="invalid_token"',
          },
        },
      };
    }
    if (!anyOf.some((scope) => token.scopes.includes(scope))) {
      return {
        response: apiError(403, 'PERMISSION_DENIED', 'Request had insufficient authentication scopes.', [
          {
            '@type': 'type.googleapis.com/google.rpc.ErrorInfo',
            reason: 'ACCESS_TOKEN_SCOPE_INSUFFICIENT',
            domain: 'googleapis.com',
            metadata: { service },
          },
        ]),
      };
    }
    return { token };
  };

  // ——— GA4 Admin: account summaries ———

  const accountSummaries = (request: RecordedRequest): SimulatorResponse => {
    const auth = authenticate(request, analyticsReadScopes, 'analyticsadmin.googleapis.com');
    if ('response' in auth) return auth.response;
    const byAccount = new Map<string, GoogleSimulatorProperty[]>();
    for (const property of properties) {
      byAccount.set(property.accountId, [...(byAccount.get(property.accountId) ?? []), property]);
    }
    const summaries = [...byAccount.entries()].map(([accountId, owned]) => ({
      name: `accountSummaries/${accountId}`,
      account: `accounts/${accountId}`,
      displayName: owned[0]?.accountName ?? accountId,
      propertySummaries: owned.map((property) => ({
        property: `properties/${property.id}`,
        displayName: property.name,
        propertyType: 'PROPERTY_TYPE_ORDINARY',
        parent: `accounts/${accountId}`,
      })),
    }));
    const requestedSize = Number(request.query.pageSize ?? 50);
    if (!Number.isInteger(requestedSize) || requestedSize < 0)
      return apiError(400, 'INVALID_ARGUMENT', 'page_size must be positive');
    const size = Math.min(requestedSize === 0 ? 50 : requestedSize, 200, summariesPageLimit);
    let start = 0;
    if (request.query.pageToken) {
      start = Number(Buffer.from(request.query.pageToken, 'base64url').toString('utf8'));
      if (!Number.isInteger(start) || start < 0)
        return apiError(400, 'INVALID_ARGUMENT', 'Invalid page token.');
    }
    const page = summaries.slice(start, start + size);
    const next = start + page.length;
    return ok({
      ...(page.length > 0 ? { accountSummaries: page } : {}),
      ...(next < summaries.length ? { nextPageToken: Buffer.from(String(next)).toString('base64url') } : {}),
    });
  };

  // ——— GA4 Data: runReport ———

  const runReport = (request: RecordedRequest, propertyId: string): SimulatorResponse => {
    if (request.method !== 'POST') return notFoundPage(request.path);
    const auth = authenticate(request, [analyticsReadonly, analyticsFull], 'analyticsdata.googleapis.com');
    if ('response' in auth) return auth.response;
    if (!properties.some((property) => property.id === propertyId)) {
      return apiError(
        403,
        'PERMISSION_DENIED',
        'User does not have sufficient permissions for this property. To learn more about Property ID, see ' +
          'https://developers.google.com/analytics/devguides/reporting/data/v1/property-id.',
      );
    }
    if (typeof request.body !== 'object' || request.body === null)
      return apiError(400, 'INVALID_ARGUMENT', 'Invalid JSON payload received.');
    const body = request.body as {
      dateRanges?: { startDate?: string; endDate?: string }[];
      dimensions?: { name?: string }[];
      metrics?: { name?: string }[];
      limit?: number | string;
      offset?: number | string;
    };
    const ranges = body.dateRanges ?? [];
    if (ranges.length !== 1)
      return apiError(
        400,
        'INVALID_ARGUMENT',
        'The simulator answers exactly one dateRange (GA4 takes up to 4).',
      );
    const range = ranges[0]!;
    if (!range.startDate || !range.endDate || !isoDay.test(range.startDate) || !isoDay.test(range.endDate))
      return apiError(
        400,
        'INVALID_ARGUMENT',
        'Invalid date range: startDate and endDate must be YYYY-MM-DD.',
      );
    if (range.startDate > range.endDate)
      return apiError(400, 'INVALID_ARGUMENT', 'The dateRange startDate must not be after its endDate.');
    const dimensions = (body.dimensions ?? []).map((dimension) => dimension.name ?? '');
    const metrics = (body.metrics ?? []).map((metric) => metric.name ?? '');
    const validList =
      'For a list of valid dimensions and metrics, see https://developers.google.com/analytics/devguides/reporting/data/v1/api-schema';
    for (const name of dimensions)
      if (!reportDimensions.has(name))
        return apiError(400, 'INVALID_ARGUMENT', `Field ${name} is not a valid dimension. ${validList}`);
    if (metrics.length === 0) return apiError(400, 'INVALID_ARGUMENT', 'At least one metric is required.');
    for (const name of metrics)
      if (!reportMetrics.has(name))
        return apiError(400, 'INVALID_ARGUMENT', `Field ${name} is not a valid metric. ${validList}`);
    const limit = Number(body.limit ?? 10_000);
    const offset = Number(body.offset ?? 0);
    if (!Number.isInteger(limit) || limit < 0 || limit > 250_000 || !Number.isInteger(offset) || offset < 0)
      return apiError(400, 'INVALID_ARGUMENT', 'limit must be between 0 and 250000 and offset non-negative.');

    let source = reports[propertyId];
    if (!source) {
      source = [];
      for (let day = Date.parse(range.startDate); day <= Date.parse(range.endDate); day += dayMs)
        source.push(...defaultRows(propertyId, new Date(day).toISOString().slice(0, 10)));
    }
    // Grouped by the requested dimensions, ordered by them (GA4 orders only when asked; ordering here keeps
    // the simulator deterministic).
    const grouped = new Map<string, { values: string[]; sessions: number }>();
    for (const row of source) {
      if (row.date < range.startDate || row.date > range.endDate) continue;
      const values = dimensions.map((name) =>
        name === 'date'
          ? row.date.replaceAll('-', '')
          : name === 'sessionSourceMedium'
            ? row.sourceMedium
            : row.campaign,
      );
      const key = JSON.stringify(values);
      const entry = grouped.get(key) ?? { values, sessions: 0 };
      entry.sessions += row.sessions;
      grouped.set(key, entry);
    }
    const all = [...grouped.values()].sort((a, b) =>
      JSON.stringify(a.values) < JSON.stringify(b.values) ? -1 : 1,
    );
    const page = all.slice(offset, offset + (limit === 0 ? 10_000 : limit));
    return ok({
      dimensionHeaders: dimensions.map((name) => ({ name })),
      metricHeaders: metrics.map((name) => ({ name, type: 'TYPE_INTEGER' })),
      // proto3 JSON leaves out empty lists and zero counts.
      ...(page.length > 0
        ? {
            rows: page.map((row) => ({
              dimensionValues: row.values.map((value) => ({ value })),
              metricValues: metrics.map(() => ({ value: String(row.sessions) })),
            })),
          }
        : {}),
      ...(all.length > 0 ? { rowCount: all.length } : {}),
      metadata: { currencyCode: 'USD', timeZone: 'America/Toronto' },
      kind: 'analyticsData#runReport',
    });
  };

  // ——— Google Ads ———

  const adsAuthenticate = (request: RecordedRequest) =>
    authenticate(request, [adwords], 'googleads.googleapis.com');

  /**
   * The customer a request may act on: one the user reaches directly (a `login-customer-id`, if sent, naming
   * it), or a manager's client whose request names that manager in `login-customer-id`.
   */
  const reachable = (request: RecordedRequest, customerId: string) => {
    const customer = customers.find((candidate) => candidate.id === customerId);
    const login = request.headers['login-customer-id'];
    if (!customer) return null;
    if (customer.managerId) return login === customer.managerId ? customer : null;
    return login === undefined || login === customer.id ? customer : null;
  };

  const clientFields: Record<string, string> = {
    'customer_client.client_customer': 'clientCustomer',
    'customer_client.id': 'id',
    'customer_client.descriptive_name': 'descriptiveName',
    'customer_client.manager': 'manager',
    'customer_client.level': 'level',
    'customer_client.status': 'status',
  };

  /** GAQL `FROM customer_client` on a customer: itself (level 0) and, for a manager, the clients it manages. */
  const searchClients = (customer: GoogleSimulatorCustomer, query: string): SimulatorResponse => {
    const fields = (/^\s*SELECT\s+(.+?)\s+FROM/i.exec(query)?.[1] ?? '')
      .split(',')
      .map((field) => field.trim());
    const unknown = fields.find((field) => !(field in clientFields));
    if (unknown)
      return apiError(400, 'INVALID_ARGUMENT', 'Request contains an invalid argument.', [
        adsFailure({ queryError: 'UNRECOGNIZED_FIELD' }, `Unrecognized field in the query: '${unknown}'.`),
      ]);
    const managed = customer.manager ? customers.filter((client) => client.managerId === customer.id) : [];
    const rows = [customer, ...managed].map((client, index) => {
      const all: Record<string, unknown> = {
        clientCustomer: `customers/${client.id}`,
        id: client.id,
        descriptiveName: client.name,
        manager: client.manager === true,
        level: index === 0 ? '0' : '1',
        status: client.status ?? 'ENABLED',
      };
      const row: Record<string, unknown> = {
        resourceName: `customers/${customer.id}/customerClients/${client.id}`,
      };
      // proto3 JSON leaves out false and empty values.
      for (const field of fields) {
        const value = all[clientFields[field]!];
        if (value !== false && value !== '') row[clientFields[field]!] = value;
      }
      return { customerClient: row };
    });
    return ok({ results: rows, requestId: randomBytes(11).toString('base64url') });
  };

  const listAccessibleCustomers = (request: RecordedRequest): SimulatorResponse => {
    if (request.method !== 'GET') return notFoundPage(request.path);
    const auth = adsAuthenticate(request);
    if ('response' in auth) return auth.response;
    const direct = customers.filter((customer) => !customer.managerId);
    return ok(
      direct.length > 0 ? { resourceNames: direct.map((customer) => `customers/${customer.id}`) } : {},
    );
  };

  const search = (request: RecordedRequest, customerId: string): SimulatorResponse => {
    if (request.method !== 'POST') return notFoundPage(request.path);
    const auth = adsAuthenticate(request);
    if ('response' in auth) return auth.response;
    const customer = reachable(request, customerId);
    if (!customer) return customerPermissionDenied();
    if (customer.status === 'CANCELED') {
      return apiError(403, 'PERMISSION_DENIED', 'The caller does not have permission', [
        adsFailure(
          { authorizationError: 'CUSTOMER_NOT_ENABLED' },
          "The customer account can't be accessed because it is not yet enabled or has been deactivated.",
        ),
      ]);
    }
    const query =
      typeof request.body === 'object' && request.body !== null
        ? (request.body as { query?: unknown }).query
        : undefined;
    if (typeof query !== 'string')
      return apiError(400, 'INVALID_ARGUMENT', 'Request contains an invalid argument.', [
        adsFailure({ queryError: 'BAD_VALUE' }, 'The query is missing.'),
      ]);
    const metrics = searchCampaignMetrics({
      query,
      customerId,
      campaigns,
      now: clock(),
      currencyCode: customer?.currencyCode ?? 'CAD',
      invalidArgument,
    });
    if (metrics) return metrics;
    if (/\sFROM\s+campaign\b/i.test(query)) return searchCampaigns(customerId, query);
    if (/\sFROM\s+customer_client\s*$/i.test(query)) return searchClients(customer, query);
    const parsed = /^\s*SELECT\s+(.+?)\s+FROM\s+(\w+)(?:\s+LIMIT\s+(\d+))?\s*$/i.exec(query);
    if (!parsed?.[1] || !parsed[2])
      return apiError(400, 'INVALID_ARGUMENT', 'Request contains an invalid argument.', [
        adsFailure({ queryError: 'UNEXPECTED_END_OF_QUERY' }, 'Error in query: unexpected end of query.'),
      ]);
    if (parsed[2] !== 'customer')
      return apiError(400, 'INVALID_ARGUMENT', 'Request contains an invalid argument.', [
        adsFailure(
          { queryError: 'INVALID_RESOURCE_NAME' },
          `The simulator only knows FROM customer, not ${parsed[2]}.`,
        ),
      ]);
    const fields = parsed[1].split(',').map((field) => field.trim());
    const unknown = fields.find((field) => !(field in customerFields));
    if (unknown)
      return apiError(400, 'INVALID_ARGUMENT', 'Request contains an invalid argument.', [
        adsFailure({ queryError: 'UNRECOGNIZED_FIELD' }, `Unrecognized field in the query: '${unknown}'.`),
      ]);
    const values: Record<string, unknown> = {
      resourceName: `customers/${customer.id}`,
      id: customer.id,
      descriptiveName: customer.name,
      manager: customer.manager === true,
      currencyCode: customer.currencyCode ?? 'CAD',
      timeZone: 'America/Toronto',
      status: customer.status ?? 'ENABLED',
      testAccount: false,
    };
    // resourceName always comes back; proto3 JSON leaves out false and empty values.
    const row: Record<string, unknown> = { resourceName: values.resourceName };
    for (const field of fields) {
      const key = customerFields[field]!;
      const value = values[key];
      if (value !== false && value !== '') row[key] = value;
    }
    return ok({
      results: [{ customer: row }],
      fieldMask: fields
        .map((field) => field.replace(/_(\w)/g, (_, letter: string) => letter.toUpperCase()))
        .join(','),
      requestId: randomBytes(11).toString('base64url'),
    });
  };

  const campaigns: GoogleSimulatorCampaign[] = [];
  let nextAdsId = 20_000_000_001;
  const invalidArgument = (errorCode: Record<string, string>, message: string, index?: number) =>
    apiError(400, 'INVALID_ARGUMENT', 'Request contains an invalid argument.', [
      adsFailure(
        errorCode,
        message,
        index === undefined
          ? {}
          : { location: { fieldPathElements: [{ fieldName: 'mutate_operations', index }] } },
      ),
    ]);
  const rejectUnknownCustomer = (request: RecordedRequest, customerId: string) => {
    const auth = adsAuthenticate(request);
    if ('response' in auth) return auth.response;
    if (!reachable(request, customerId)) return customerPermissionDenied();
    return null;
  };

  /**
   * googleAds:mutate, atomic as Google runs it without partialFailure: every operation is checked (temporary
   * resource names resolved in order) before any is applied. Creates budgets, campaigns, ad groups and
   * responsive search ads; updates a campaign's status or name; removes campaigns and budgets.
   */
  const mutate = (request: RecordedRequest, customerId: string): SimulatorResponse => {
    if (request.method !== 'POST') return notFoundPage(request.path);
    const refused = rejectUnknownCustomer(request, customerId);
    if (refused) return refused;
    const operations = (request.body as { mutateOperations?: unknown } | null)?.mutateOperations;
    if (!Array.isArray(operations) || operations.length === 0)
      return invalidArgument({ mutateError: 'INVALID_REQUEST' }, 'No mutate operations.');
    const prefix = `customers/${customerId}/`;
    const temporary = new Map<string, string>();
    const resolve = (name: unknown) => (typeof name === 'string' ? (temporary.get(name) ?? name) : undefined);
    const byName = (name: string | undefined) => campaigns.find((campaign) => campaign.resourceName === name);
    const budgetsByName = (name: string | undefined) =>
      campaigns.find((campaign) => campaign.budget.resourceName === name)?.budget ??
      pendingBudgets.find((budget) => budget.resourceName === name);
    const pendingBudgets: GoogleSimulatorCampaign['budget'][] = [];
    const pendingCampaigns: GoogleSimulatorCampaign[] = [];
    const groupsMade = new Map<string, GoogleSimulatorCampaign>();
    const applied: (() => void)[] = [];
    const results: Record<string, { resourceName: string }>[] = [];
    const now = new Date(clock());
    const newId = (kind: string, temp: unknown) => {
      const real = `${prefix}${kind}/${nextAdsId++}`;
      if (typeof temp === 'string') temporary.set(temp, real);
      return real;
    };
    const text = (value: unknown) => (typeof value === 'string' ? value : '');
    for (const [index, raw] of operations.entries()) {
      const operation = raw as Record<string, Record<string, unknown> | undefined>;
      const [kind, body] = Object.entries(operation)[0] ?? [];
      if (!kind || !body)
        return invalidArgument({ mutateError: 'INVALID_REQUEST' }, 'Empty operation.', index);
      if (kind === 'campaignBudgetOperation' && body.create) {
        const create = body.create as Record<string, unknown>;
        const name = text(create.name);
        if (!name)
          return invalidArgument({ fieldError: 'REQUIRED' }, 'The required field was not present.', index);
        if (!/^\d+$/.test(text(create.amountMicros)) || Number(create.amountMicros) <= 0)
          return invalidArgument(
            { campaignBudgetError: 'NON_MULTIPLE_OF_MINIMUM_CURRENCY_UNIT' },
            'Bad amount.',
            index,
          );
        const taken = [...campaigns.map((campaign) => campaign.budget), ...pendingBudgets].some(
          (budget) => budget.name === name && budget.status !== 'REMOVED',
        );
        if (taken)
          return invalidArgument(
            { campaignBudgetError: 'DUPLICATE_NAME' },
            'Budget name already in use.',
            index,
          );
        const budget = {
          resourceName: newId('campaignBudgets', create.resourceName),
          name,
          amountMicros: text(create.amountMicros),
          status: 'ENABLED' as const,
        };
        pendingBudgets.push(budget);
        results.push({ campaignBudgetResult: { resourceName: budget.resourceName } });
      } else if (kind === 'campaignOperation' && body.create) {
        const create = body.create as Record<string, unknown>;
        const name = text(create.name);
        const budget = budgetsByName(resolve(create.campaignBudget));
        if (!name || !budget || !create.advertisingChannelType)
          return invalidArgument({ fieldError: 'REQUIRED' }, 'The required field was not present.', index);
        if (!['PAUSED', 'ENABLED'].includes(text(create.status)))
          return invalidArgument({ fieldError: 'REQUIRED' }, 'The required field was not present.', index);
        if (!create.containsEuPoliticalAdvertising)
          return invalidArgument(
            { fieldError: 'REQUIRED' },
            'The required field was not present. (contains_eu_political_advertising)',
            index,
          );
        if (
          !['manualCpc', 'maximizeConversions', 'targetSpend', 'maximizeConversionValue'].some(
            (key) => key in create,
          )
        )
          return invalidArgument(
            { biddingError: 'BIDDING_STRATEGY_NOT_SUPPORTED' },
            'A bidding strategy is required.',
            index,
          );
        const taken = [...campaigns, ...pendingCampaigns].some(
          (campaign) =>
            campaign.customerId === customerId && campaign.name === name && campaign.status !== 'REMOVED',
        );
        if (taken)
          return invalidArgument(
            { campaignError: 'DUPLICATE_CAMPAIGN_NAME' },
            'A campaign with this name already exists.',
            index,
          );
        const status = create.status as 'PAUSED' | 'ENABLED';
        const campaign: GoogleSimulatorCampaign = {
          customerId,
          resourceName: newId('campaigns', create.resourceName),
          name,
          status,
          budget,
          containsEuPoliticalAdvertising: text(create.containsEuPoliticalAdvertising),
          adGroups: [],
          ads: [],
          keywords: [],
          createdAt: now,
          statusChanges: [{ status, at: now }],
        };
        pendingCampaigns.push(campaign);
        results.push({ campaignResult: { resourceName: campaign.resourceName } });
      } else if (kind === 'adGroupOperation' && body.create) {
        const create = body.create as Record<string, unknown>;
        const campaign = [...pendingCampaigns, ...campaigns].find(
          (candidate) => candidate.resourceName === resolve(create.campaign),
        );
        if (!campaign || !text(create.name))
          return invalidArgument({ fieldError: 'REQUIRED' }, 'The required field was not present.', index);
        const group = {
          resourceName: newId('adGroups', create.resourceName),
          name: text(create.name),
          status: text(create.status),
        };
        groupsMade.set(group.resourceName, campaign);
        applied.push(() => campaign.adGroups.push(group));
        results.push({ adGroupResult: { resourceName: group.resourceName } });
      } else if (kind === 'adGroupAdOperation' && body.create) {
        const create = body.create as { adGroup?: unknown; ad?: Record<string, unknown> };
        const group = resolve(create.adGroup);
        const campaign =
          groupsMade.get(group ?? '') ??
          campaigns.find((candidate) => candidate.adGroups.some((adGroup) => adGroup.resourceName === group));
        const ad = create.ad ?? {};
        const rsa = ad.responsiveSearchAd as
          | { headlines?: { text?: string }[]; descriptions?: { text?: string }[] }
          | undefined;
        const finalUrls = Array.isArray(ad.finalUrls) ? (ad.finalUrls as string[]) : [];
        if (!campaign || !rsa)
          return invalidArgument({ fieldError: 'REQUIRED' }, 'The required field was not present.', index);
        if (finalUrls.length === 0)
          return invalidArgument({ adError: 'FINAL_URL_REQUIRED' }, 'A final URL is required.', index);
        const headlines = (rsa.headlines ?? []).map((asset) => text(asset.text));
        const descriptions = (rsa.descriptions ?? []).map((asset) => text(asset.text));
        if (headlines.length < 3 || descriptions.length < 2)
          return invalidArgument(
            { collectionSizeError: 'TOO_FEW' },
            'Too few headlines or descriptions.',
            index,
          );
        if (headlines.length > 15 || descriptions.length > 4)
          return invalidArgument(
            { collectionSizeError: 'TOO_MANY' },
            'Too many headlines or descriptions.',
            index,
          );
        if (headlines.some((line) => line.length > 30) || descriptions.some((line) => line.length > 90))
          return invalidArgument({ stringLengthError: 'TOO_LONG' }, 'Too long.', index);
        if (new Set(headlines).size !== headlines.length)
          return invalidArgument({ adError: 'DUPLICATE_ASSET' }, 'Duplicate headlines.', index);
        const adGroupAd = newId('adGroupAds', undefined);
        applied.push(() => campaign.ads.push({ adGroup: group!, finalUrls, headlines, descriptions }));
        results.push({ adGroupAdResult: { resourceName: adGroupAd } });
      } else if (kind === 'adGroupCriterionOperation' && body.create) {
        const create = body.create as {
          adGroup?: unknown;
          keyword?: { text?: unknown; matchType?: unknown };
        };
        const group = resolve(create.adGroup);
        const campaign =
          groupsMade.get(group ?? '') ??
          campaigns.find((candidate) => candidate.adGroups.some((adGroup) => adGroup.resourceName === group));
        const keyword = { text: text(create.keyword?.text), matchType: text(create.keyword?.matchType) };
        if (!campaign || !keyword.text || !['BROAD', 'PHRASE', 'EXACT'].includes(keyword.matchType))
          return invalidArgument({ fieldError: 'REQUIRED' }, 'The required field was not present.', index);
        if (keyword.text.length > 80)
          return invalidArgument(
            { criterionError: 'KEYWORD_TEXT_TOO_LONG' },
            'Keyword text is too long.',
            index,
          );
        const criterion = newId('adGroupCriteria', undefined);
        applied.push(() => campaign.keywords.push({ adGroup: group!, ...keyword }));
        results.push({ adGroupCriterionResult: { resourceName: criterion } });
      } else if (kind === 'campaignOperation' && body.update) {
        const update = body.update as Record<string, unknown>;
        const campaign = byName(text(update.resourceName));
        if (!campaign || campaign.customerId !== customerId)
          return invalidArgument({ mutateError: 'RESOURCE_NOT_FOUND' }, 'Resource was not found.', index);
        if (campaign.status === 'REMOVED')
          return invalidArgument(
            { campaignError: 'CANNOT_MODIFY_REMOVED_CAMPAIGN' },
            'The campaign is removed.',
            index,
          );
        const mask = text(body.updateMask).split(',');
        if (
          mask.length === 0 ||
          mask.some((field) => field !== 'status' && field !== 'name') ||
          (mask.includes('status') && !['PAUSED', 'ENABLED'].includes(text(update.status))) ||
          (mask.includes('name') && !text(update.name))
        )
          return invalidArgument({ fieldMaskError: 'FIELD_NOT_FOUND' }, 'Bad update mask.', index);
        const rename = mask.includes('name') ? text(update.name) : null;
        if (
          rename !== null &&
          campaigns.some(
            (other) =>
              other !== campaign &&
              other.customerId === customerId &&
              other.name === rename &&
              other.status !== 'REMOVED',
          )
        )
          return invalidArgument(
            { campaignError: 'DUPLICATE_CAMPAIGN_NAME' },
            'A campaign with this name already exists.',
            index,
          );
        const status = mask.includes('status') ? (update.status as 'PAUSED' | 'ENABLED') : null;
        applied.push(() => {
          if (rename !== null) campaign.name = rename;
          if (status === null) return;
          if (campaign.status !== status) campaign.statusChanges.push({ status, at: now });
          campaign.status = status;
        });
        results.push({ campaignResult: { resourceName: campaign.resourceName } });
      } else if (kind === 'campaignOperation' && typeof body.remove === 'string') {
        const campaign = byName(body.remove);
        if (!campaign || campaign.customerId !== customerId || campaign.status === 'REMOVED')
          return invalidArgument({ mutateError: 'RESOURCE_NOT_FOUND' }, 'Resource was not found.', index);
        applied.push(() => {
          campaign.status = 'REMOVED';
          campaign.statusChanges.push({ status: 'REMOVED', at: now });
        });
        results.push({ campaignResult: { resourceName: campaign.resourceName } });
      } else if (kind === 'campaignBudgetOperation' && typeof body.remove === 'string') {
        const budget = budgetsByName(body.remove);
        if (!budget || budget.status === 'REMOVED')
          return invalidArgument({ mutateError: 'RESOURCE_NOT_FOUND' }, 'Resource was not found.', index);
        applied.push(() => {
          budget.status = 'REMOVED';
        });
        results.push({ campaignBudgetResult: { resourceName: budget.resourceName } });
      } else {
        return invalidArgument(
          { mutateError: 'MUTATE_NOT_ALLOWED' },
          `The simulator does not know ${kind} this way.`,
          index,
        );
      }
    }
    campaigns.push(...pendingCampaigns);
    for (const apply of applied) apply();
    return ok({ mutateOperationResponses: results });
  };

  const campaignFields: Record<string, keyof GoogleSimulatorCampaign | 'id' | 'campaignBudget'> = {
    'campaign.resource_name': 'resourceName',
    'campaign.id': 'id',
    'campaign.name': 'name',
    'campaign.status': 'status',
    'campaign.campaign_budget': 'campaignBudget',
  };

  /** GAQL over campaigns: SELECT campaign fields FROM campaign [WHERE a AND b…] with =, != and LIKE on name/status/resource_name. */
  const searchCampaigns = (customerId: string, query: string): SimulatorResponse => {
    const parsed = /^\s*SELECT\s+(.+?)\s+FROM\s+campaign(?:\s+WHERE\s+(.+?))?(?:\s+LIMIT\s+(\d+))?\s*$/i.exec(
      query,
    );
    if (!parsed?.[1])
      return invalidArgument(
        { queryError: 'UNEXPECTED_END_OF_QUERY' },
        'Error in query: unexpected end of query.',
      );
    const fields = parsed[1].split(',').map((field) => field.trim());
    const unknown = fields.find((field) => !(field in campaignFields));
    if (unknown)
      return invalidArgument(
        { queryError: 'UNRECOGNIZED_FIELD' },
        `Unrecognized field in the query: '${unknown}'.`,
      );
    const tests: ((campaign: GoogleSimulatorCampaign) => boolean)[] = [];
    for (const condition of parsed[2] ? parsed[2].split(/\s+AND\s+/i) : []) {
      const clause =
        /^(campaign\.name|campaign\.status|campaign\.resource_name)\s*(=|!=|LIKE)\s*'((?:[^'\\]|\\.)*)'$/i.exec(
          condition.trim(),
        );
      if (!clause)
        return invalidArgument({ queryError: 'UNEXPECTED_INPUT' }, `Error in query near '${condition}'.`);
      const [, field, operator, literal] = clause;
      const value = (campaign: GoogleSimulatorCampaign) =>
        field === 'campaign.name'
          ? campaign.name
          : field === 'campaign.resource_name'
            ? campaign.resourceName
            : campaign.status;
      const wanted = literal!.replace(/\\(.)/g, '$1');
      if (operator!.toUpperCase() === 'LIKE') {
        const pattern = new RegExp(
          `^${wanted
            .split('%')
            .map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))
            .join('.*')}$`,
        );
        tests.push((campaign) => pattern.test(value(campaign)));
      } else if (operator === '=') tests.push((campaign) => value(campaign) === wanted);
      else tests.push((campaign) => value(campaign) !== wanted);
    }
    const rows = campaigns
      .filter((campaign) => campaign.customerId === customerId && tests.every((test) => test(campaign)))
      .slice(0, parsed[3] ? Number(parsed[3]) : undefined)
      .map((campaign) => {
        const all: Record<string, unknown> = {
          resourceName: campaign.resourceName,
          id: campaign.resourceName.split('/').pop(),
          name: campaign.name,
          status: campaign.status,
          campaignBudget: campaign.budget.resourceName,
        };
        const row: Record<string, unknown> = { resourceName: campaign.resourceName };
        for (const field of fields) row[campaignFields[field]!] = all[campaignFields[field]!];
        return { campaign: row };
      });
    return ok({
      ...(rows.length > 0 ? { results: rows } : {}),
      fieldMask: fields
        .map((field) => field.replace(/_(\w)/g, (_, letter: string) => letter.toUpperCase()))
        .join(','),
      requestId: randomBytes(11).toString('base64url'),
    });
  };

  const handler = (request: RecordedRequest): SimulatorResponse => {
    const path = request.path;
    if (path === '/o/oauth2/v2/auth' && request.method === 'GET') return consent(request);
    if (path === '/token') return token(request);
    if (path === '/v1beta/accountSummaries' && request.method === 'GET') return accountSummaries(request);
    const report = /^\/v1beta\/properties\/(\d+):runReport$/.exec(path);
    if (report?.[1]) return runReport(request, report[1]);
    if (path === `/${simulatedAdsVersion}/customers:listAccessibleCustomers`)
      return listAccessibleCustomers(request);
    const adsSearch = new RegExp(`^/${simulatedAdsVersion}/customers/(\\d+)/googleAds:search$`).exec(path);
    if (adsSearch?.[1]) return search(request, adsSearch[1]);
    const adsMutate = new RegExp(`^/${simulatedAdsVersion}/customers/(\\d+)/googleAds:mutate$`).exec(path);
    if (adsMutate?.[1]) return mutate(request, adsMutate[1]);
    return notFoundPage(path);
  };

  const failure = (kind: GoogleFailureKind, path: string | RegExp): SimulatorResponse => {
    const onToken = typeof path === 'string' ? path.includes('/token') : path.test('/token');
    const ads =
      typeof path === 'string'
        ? path.includes(`/${simulatedAdsVersion}/`)
        : path.test(`/${simulatedAdsVersion}/customers`);
    switch (kind) {
      case 'unavailable':
        // (unconfirmed) the token endpoint's body under an outage; Google APIs answer their usual shape.
        return onToken
          ? {
              status: 503,
              body: { error: 'temporarily_unavailable', error_description: 'Service unavailable' },
            }
          : apiError(503, 'UNAVAILABLE', 'The service is currently unavailable.');
      case 'internal':
        return apiError(500, 'INTERNAL', 'Internal error encountered.');
      case 'rate_limited':
        return ads
          ? apiError(429, 'RESOURCE_EXHAUSTED', 'Too many requests. Retry in 30 seconds.', [
              adsFailure({ quotaError: 'RESOURCE_EXHAUSTED' }, 'Too many requests. Retry in 30 seconds.', {
                details: {
                  quotaErrorDetails: {
                    rateScope: 'DEVELOPER',
                    rateName: 'Number of operations for basic access',
                    retryDelay: '30s',
                  },
                },
              }),
            ])
          : apiError(
              429,
              'RESOURCE_EXHAUSTED',
              'Exhausted property tokens per hour. This quota will refresh in under an hour. To learn more, see ' +
                'https://developers.google.com/analytics/devguides/reporting/data/v1/quotas',
            );
      case 'unauthenticated':
        return invalidCredentials;
      case 'permission_denied':
        return apiError(403, 'PERMISSION_DENIED', 'The caller does not have permission');
      case 'customer_permission_denied':
        return customerPermissionDenied();
    }
  };

  const server = await startSimulatorServer(handler, {
    ...(options.port === undefined ? {} : { port: options.port }),
  });
  return Object.assign(server, {
    denyNextConsent: () => {
      denyNext = true;
    },
    grantOnlyScopes: (scopes: string[]) => {
      grantOnly = [...scopes];
    },
    revokeRefreshTokens: () => {
      grants.revokeRefreshTokens();
    },
    expireAccessTokens: () => {
      // Google answers an expired token as it answers a revoked one.
      grants.revokeAccessTokens();
    },
    failWith: (kind: GoogleFailureKind, rule: FailureMatch) => {
      server.failNext({ ...rule, response: failure(kind, rule.path) });
    },
    adsCampaigns: () => campaigns.map((campaign) => structuredClone(campaign)),
  });
}
