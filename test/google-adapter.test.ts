// The Google Analytics and Google Ads adapters against the Google simulator over real HTTP: one OAuth app with
// PKCE, property and customer discovery, refresh without rotation, GA4 session reports, and error classes.
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import {
  createGoogleAdsAdapter,
  createGoogleAnalyticsAdapter,
  type GoogleAdapter,
  type GoogleAdapterOptions,
  type GoogleAnalyticsAdapter,
  type GoogleCredentials,
  googleAdsApiVersion,
  googleAdsScopes,
  googleAnalyticsScopes,
  mapGoogleApiError,
} from '../connectors/google.ts';
import type { Connection } from '../connectors/types.ts';
import type { PublicationErrorClass } from '../domain/publication-errors.ts';
import {
  type GoogleSimulator,
  type GoogleSimulatorOptions,
  startGoogleSimulator,
} from '../sandbox/google.ts';
import { closedBaseUrl, expectFailureHiding, expectRejected, pkce } from './support/adapter-harness.ts';

const clientId = 'glowtify-test.apps.googleusercontent.com';
const clientSecret = 'GOCSPX-test-secret-5b8e1d';
const expectFailure = expectFailureHiding([clientSecret]);
const developerToken = 'dev-token-0123456789';
const redirectUri = 'http://127.0.0.1:3000/v1/oauth/google_analytics/callback';
const start = new Date('2031-05-01T10:00:00.000Z');
const accessTokenSeconds = 60;
const properties = [
  { id: '312345678', name: 'Main site', accountId: '201', accountName: 'Glowtify Beauty' },
  { id: '312345679', name: 'Shop', accountId: '201', accountName: 'Glowtify Beauty' },
  { id: '398765432', name: 'Blog', accountId: '202', accountName: 'Glow Studio' },
  { id: '398765433', name: 'Events', accountId: '203', accountName: 'Glow Events' },
];
const customers = [
  { id: '1234567890', name: 'Glowtify Beauty Ads' },
  { id: '9876543210', name: 'Glow Agency MCC', manager: true },
  { id: '5555555555', name: 'Old account', status: 'CANCELED' as const },
  { id: '3333333333', name: 'Client Shop', managerId: '9876543210' },
  { id: '7777777777', name: 'Client closed', managerId: '9876543210', status: 'CANCELED' as const },
];
const report = [
  { date: '2031-04-28', sourceMedium: 'google / cpc', campaign: 'spring-sale', sessions: 120 },
  { date: '2031-04-28', sourceMedium: 'klaviyo / email', campaign: 'spring-sale', sessions: 45 },
  { date: '2031-04-29', sourceMedium: 'google / cpc', campaign: 'spring-sale', sessions: 98 },
  { date: '2031-04-30', sourceMedium: '(direct) / (none)', campaign: '(direct)', sessions: 300 },
  { date: '2031-05-02', sourceMedium: 'google / cpc', campaign: 'spring-sale', sessions: 7 },
];

let clock: Date;
let sim: GoogleSimulator;
let analytics: GoogleAnalyticsAdapter;
let ads: GoogleAdapter;

function adapterOptions(url: string, extra: Partial<GoogleAdapterOptions> = {}): GoogleAdapterOptions {
  return {
    authBaseUrl: url,
    tokenBaseUrl: url,
    analyticsApiBaseUrl: url,
    analyticsAdminApiBaseUrl: url,
    adsApiBaseUrl: url,
    clientId,
    clientSecret,
    now: () => clock,
    ...extra,
  };
}

async function startAll(options: GoogleSimulatorOptions = {}, extra: Partial<GoogleAdapterOptions> = {}) {
  clock = start;
  sim = await startGoogleSimulator({
    clientId,
    clientSecret,
    accessTokenSeconds,
    properties,
    customers,
    reports: { [properties[0]!.id]: report },
    accountSummariesPageLimit: 2,
    now: () => clock,
    ...options,
  });
  analytics = createGoogleAnalyticsAdapter(adapterOptions(sim.url, extra));
  ads = createGoogleAdsAdapter(adapterOptions(sim.url, extra));
}

/** The user's side of the consent: open the authorize URL, get redirected back with a code (or a refusal). */
async function consent(adapter: GoogleAdapter, state = 'state-42') {
  const { verifier, challenge } = pkce();
  const authorizeUrl = adapter.connector.authorizeUrl({ state, redirectUri, codeChallenge: challenge });
  const response = await fetch(authorizeUrl, { redirect: 'manual' });
  assert.equal(response.status, 302, 'the consent page redirects back');
  const location = new URL(response.headers.get('location') ?? '');
  const query = Object.fromEntries(location.searchParams);
  return { verifier, query, code: query.code ?? '', authorizeUrl: new URL(authorizeUrl), location };
}

async function connect(adapter: GoogleAdapter): Promise<Connection<GoogleCredentials>> {
  const { verifier, query, code } = await consent(adapter);
  assert.ok(code, `no code in the redirect: ${JSON.stringify(query)}`);
  return adapter.connector.completeConsent({ code, redirectUri, codeVerifier: verifier, query });
}

const secretsOf = (credentials: GoogleCredentials) => [
  credentials.accessToken,
  ...(credentials.refreshToken ? [credentials.refreshToken] : []),
];

const syncInput = (credentials: GoogleCredentials, externalId = properties[0]!.id) => ({
  credentials,
  account: { kind: 'ga4_property', externalId },
  since: new Date('2031-04-28T00:00:00.000Z'),
  until: new Date('2031-04-30T23:59:59.000Z'),
});

describe('Google consent (one OAuth app, PKCE)', () => {
  beforeEach(() => startAll());
  afterEach(() => sim.close());

  it('authorize URL asks for offline access with PKCE; the code with its verifier gives tokens and properties', async () => {
    const { verifier, query, code, authorizeUrl } = await consent(analytics);
    assert.equal(authorizeUrl.pathname, '/o/oauth2/v2/auth');
    const asked = Object.fromEntries(authorizeUrl.searchParams);
    assert.equal(asked.client_id, clientId);
    assert.equal(asked.redirect_uri, redirectUri);
    assert.equal(asked.response_type, 'code');
    assert.equal(asked.scope, googleAnalyticsScopes.join(' '));
    assert.equal(asked.access_type, 'offline');
    assert.equal(asked.prompt, 'consent');
    assert.equal(asked.include_granted_scopes, undefined, "only this connector's own scope");
    assert.equal(asked.code_challenge_method, 'S256');
    assert.equal(query.state, 'state-42');
    assert.equal(analytics.connector.pkce, true);

    const connection = await analytics.connector.completeConsent({
      code,
      redirectUri,
      codeVerifier: verifier,
      query,
    });
    assert.ok(connection.credentials.refreshToken, 'a refresh token comes with access_type=offline');
    assert.deepEqual(connection.grantedScopes, [...googleAnalyticsScopes]);
    assert.equal(connection.expiresAt?.getTime(), start.getTime() + accessTokenSeconds * 1000);
    assert.equal(connection.credentials.accessTokenExpiresAt, connection.expiresAt?.toISOString());
    assert.deepEqual(connection.accounts, [
      { kind: 'ga4_property', externalId: '312345678', name: 'Glowtify Beauty / Main site' },
      { kind: 'ga4_property', externalId: '312345679', name: 'Glowtify Beauty / Shop' },
      { kind: 'ga4_property', externalId: '398765432', name: 'Glow Studio / Blog' },
      { kind: 'ga4_property', externalId: '398765433', name: 'Glow Events / Events' },
    ]);
    assert.equal(
      sim.receivedMatching('/v1beta/accountSummaries', 'GET').length,
      2,
      'the summaries came in two pages',
    );

    const [exchange] = sim.receivedMatching('/token', 'POST');
    assert.ok(exchange, 'the code was exchanged');
    assert.deepEqual(exchange.body, {
      client_id: clientId,
      client_secret: clientSecret,
      grant_type: 'authorization_code',
      code,
      redirect_uri: redirectUri,
      code_verifier: verifier,
    });
    assert.equal(Object.keys(exchange.query).length, 0, 'no secret travels in the token URL');
  });

  it('a wrong PKCE verifier is refused, and so is a missing one', async () => {
    const { query, code } = await consent(analytics);
    const error = await expectFailure(
      analytics.connector.completeConsent({ code, redirectUri, codeVerifier: pkce().verifier, query }),
      'INVALID_REQUEST',
      [code],
    );
    assert.match(error.message, /start the connection again/);
    assert.equal(error.failure.platformCode, 'invalid_grant');
    await expectFailure(
      analytics.connector.completeConsent({ code, redirectUri, query }),
      'INVALID_REQUEST',
      [code],
    );
  });

  it('a denied consent comes back with access_denied and no code', async () => {
    sim.denyNextConsent();
    const { query, location } = await consent(analytics, 'state-denied');
    assert.equal(location.origin + location.pathname, redirectUri);
    assert.equal(query.error, 'access_denied');
    assert.equal(query.state, 'state-denied');
    assert.equal(query.code, undefined);
    await expectRejected(
      analytics.connector.completeConsent({ code: '', redirectUri, query }),
      /consent was not given.*access_denied/,
    );
    assert.equal(sim.receivedMatching('/token').length, 0, 'nothing is exchanged after a refusal');
  });

  it('a code works once: the reused code is refused as an invalid request', async () => {
    const { verifier, query, code } = await consent(analytics);
    await analytics.connector.completeConsent({ code, redirectUri, codeVerifier: verifier, query });
    const error = await expectFailure(
      analytics.connector.completeConsent({ code, redirectUri, codeVerifier: verifier, query }),
      'INVALID_REQUEST',
      [code],
    );
    assert.match(error.message, /already used/);
  });

  it('an expired code (past 10 minutes) is refused', async () => {
    const { verifier, query, code } = await consent(analytics);
    clock = new Date(start.getTime() + 11 * 60 * 1000);
    await expectFailure(
      analytics.connector.completeConsent({ code, redirectUri, codeVerifier: verifier, query }),
      'INVALID_REQUEST',
    );
  });

  it('a consent with the scope unticked is refused: Scopes insufficient (Analytics and Ads)', async () => {
    for (const adapter of [analytics, ads]) {
      // The simulator's unticked scopes last one consent, as a user's choice does.
      sim.grantOnlyScopes([]);
      const { code, verifier, query } = await consent(adapter);
      await expectRejected(
        adapter.connector.completeConsent({ code, redirectUri, codeVerifier: verifier, query }),
        'Scopes insufficient',
      );
    }
    assert.equal(
      sim.receivedMatching('/v1beta/accountSummaries').length,
      0,
      'no discovery without the scope',
    );
    assert.equal(
      sim.receivedMatching('customers:listAccessibleCustomers').length,
      0,
      'no Ads discovery either',
    );
  });

  it('a redirect_uri different from the consent one is refused', async () => {
    const { verifier, query, code } = await consent(analytics);
    await expectFailure(
      analytics.connector.completeConsent({
        code,
        redirectUri: 'http://127.0.0.1:3000/elsewhere',
        codeVerifier: verifier,
        query,
      }),
      'INVALID_REQUEST',
    );
  });

  it('a wrong client secret is a configuration problem, never shown', async () => {
    const wrong = createGoogleAnalyticsAdapter(
      adapterOptions(sim.url, { clientSecret: 'GOCSPX-wrong-secret' }),
    );
    const { verifier, query, code } = await consent(wrong);
    const error = await expectFailure(
      wrong.connector.completeConsent({ code, redirectUri, codeVerifier: verifier, query }),
      'INVALID_REQUEST',
      ['GOCSPX-wrong-secret'],
    );
    assert.equal(error.failure.platformCode, 'invalid_client');
  });
});

describe('Google Ads discovery', () => {
  afterEach(() => sim.close());

  it('lists accessible customers and names them; a cancelled one is left out; no developer-token by default', async () => {
    await startAll();
    const { query } = await consent(ads);
    assert.equal(new URLSearchParams(query).get('scope'), googleAdsScopes.join(' '));
    const connection = await connect(ads);
    assert.deepEqual(connection.accounts, [
      { kind: 'ads_customer', externalId: '1234567890', name: 'Glowtify Beauty Ads' },
      {
        kind: 'ads_customer',
        externalId: '9876543210',
        name: 'Glow Agency MCC (manager account)',
        metadata: { manager: true },
      },
      // Reached through the manager only: it keeps the manager, its login-customer-id.
      {
        kind: 'ads_customer',
        externalId: '3333333333',
        name: 'Client Shop',
        metadata: { loginCustomerId: '9876543210' },
      },
    ]);
    assert.ok(connection.credentials.refreshToken, 'Ads credentials carry the refresh token');
    const searches = sim.receivedMatching(/googleAds:search$/, 'POST');
    assert.deepEqual(
      searches.map((request) => request.path),
      ['1234567890', '9876543210', '5555555555', '9876543210'].map(
        (id) => `/${googleAdsApiVersion}/customers/${id}/googleAds:search`,
      ),
    );
    assert.deepEqual(searches[0]?.body, {
      query: 'SELECT customer.id, customer.descriptive_name, customer.manager FROM customer',
    });
    assert.match(JSON.stringify(searches[3]?.body), /FROM customer_client/);
    assert.equal(searches[3]?.headers['login-customer-id'], '9876543210');
    for (const request of sim.receivedMatching(`/${googleAdsApiVersion}/`)) {
      assert.equal(request.headers['developer-token'], undefined, 'the retired developer-token is not sent');
      assert.match(request.headers.authorization ?? '', /^Bearer ya29\./, 'Ads calls carry the bearer token');
    }
  });

  it('sends the developer-token header when one is configured', async () => {
    await startAll({}, { adsDeveloperToken: developerToken });
    await connect(ads);
    const adsRequests = sim.receivedMatching(`/${googleAdsApiVersion}/`);
    assert.ok(adsRequests.length >= 2, 'the Ads API was called');
    for (const request of adsRequests) assert.equal(request.headers['developer-token'], developerToken);
  });

  it('a customer refused for its login-customer-id (USER_PERMISSION_DENIED) is INVALID_REQUEST, not a reconnect', async () => {
    await startAll();
    sim.failWith('customer_permission_denied', { path: /googleAds:search$/, times: 1 });
    const error = await expectFailure(connect(ads), 'INVALID_REQUEST');
    assert.equal(error.failure.platformCode, 'authorizationError:USER_PERMISSION_DENIED');
    assert.match(error.message, /USER_PERMISSION_DENIED/);
  });

  it('a user with no Ads account connects with nothing to pick', async () => {
    await startAll({ customers: [] });
    const connection = await connect(ads);
    assert.deepEqual(connection.accounts, []);
  });

  it('a 5xx during discovery is TRANSIENT', async () => {
    await startAll();
    sim.failWith('unavailable', { path: /googleAds:search$/ });
    await expectFailure(connect(ads), 'TRANSIENT');
  });
});

describe('Google token refresh (both adapters)', () => {
  beforeEach(() => startAll());
  afterEach(() => sim.close());

  it('a refresh gives a new access token that works and keeps the refresh token Google does not rotate', async () => {
    const { credentials } = await connect(analytics);
    assert.equal(analytics.canRefresh(credentials), true);
    clock = new Date(start.getTime() + (accessTokenSeconds + 1) * 1000);
    await expectFailure(analytics.sync(syncInput(credentials)), 'TOKEN_EXPIRED', secretsOf(credentials));

    const refreshed = await analytics.refreshCredentials(credentials);
    assert.notEqual(refreshed.credentials.accessToken, credentials.accessToken);
    assert.equal(refreshed.credentials.refreshToken, credentials.refreshToken);
    assert.equal(refreshed.expiresAt?.getTime(), clock.getTime() + accessTokenSeconds * 1000);
    assert.equal(refreshed.credentials.accessTokenExpiresAt, refreshed.expiresAt?.toISOString());
    const [refreshRequest] = sim.receivedMatching('/token', 'POST').slice(-1);
    assert.deepEqual(refreshRequest?.body, {
      client_id: clientId,
      client_secret: clientSecret,
      grant_type: 'refresh_token',
      refresh_token: credentials.refreshToken,
    });
    const result = await analytics.sync(syncInput(refreshed.credentials));
    assert.ok(result.itemsRead > 0, 'the new access token reads reports');

    // Not rotated: the same refresh token works again, from the Ads adapter as well.
    const again = await ads.refreshCredentials(refreshed.credentials);
    assert.equal(again.credentials.refreshToken, credentials.refreshToken);
  });

  it('a refresh token Google revoked answers invalid_grant: TOKEN_EXPIRED, reconnect required', async () => {
    const { credentials } = await connect(ads);
    sim.revokeRefreshTokens();
    const error = await expectFailure(
      ads.refreshCredentials(credentials),
      'TOKEN_EXPIRED',
      secretsOf(credentials),
    );
    assert.equal(error.failure.platformCode, 'invalid_grant');
    assert.match(error.message, /reconnect required/);
  });

  it('credentials without a refresh token cannot be refreshed', async () => {
    const { credentials } = await connect(analytics);
    const { refreshToken: _dropped, ...online } = credentials;
    assert.equal(analytics.canRefresh(online), false);
    await expectFailure(analytics.refreshCredentials(online), 'TOKEN_EXPIRED', secretsOf(credentials));
  });

  it("an app the grant is not for (unauthorized_client) is the app's configuration, not a dead token", async () => {
    const { credentials } = await connect(analytics);
    sim.failNext({
      path: '/token',
      method: 'POST',
      response: { status: 400, body: { error: 'unauthorized_client', error_description: 'Unauthorized' } },
    });
    const error = await expectFailure(
      analytics.refreshCredentials(credentials),
      'INVALID_REQUEST',
      secretsOf(credentials),
    );
    assert.equal(error.failure.platformCode, 'unauthorized_client');
  });

  it('a 503 from the token endpoint is TRANSIENT, never a dead token', async () => {
    const { credentials } = await connect(analytics);
    sim.failWith('unavailable', { path: '/token' });
    await expectFailure(analytics.refreshCredentials(credentials), 'TRANSIENT', secretsOf(credentials));
    const refreshed = await analytics.refreshCredentials(credentials);
    assert.ok(refreshed.credentials.accessToken, 'the next try succeeds');
  });

  it('a closed port (no answer at all) is TRANSIENT and names no secret', async () => {
    const { credentials } = await connect(analytics);
    const { port } = new URL(await closedBaseUrl());
    const offline = createGoogleAnalyticsAdapter(adapterOptions(`http://127.0.0.1:${port}`));
    const error = await expectFailure(
      offline.refreshCredentials(credentials),
      'TRANSIENT',
      secretsOf(credentials),
    );
    assert.match(error.message, /could not be reached/);
    await expectFailure(offline.sync(syncInput(credentials)), 'TRANSIENT', secretsOf(credentials));
  });
});

describe('GA4 sync (runReport)', () => {
  afterEach(() => sim.close());

  it('reads sessions by date, source/medium and campaign, dates converted from YYYYMMDD', async () => {
    await startAll();
    const { credentials } = await connect(analytics);
    const result = await analytics.sync(syncInput(credentials));
    assert.deepEqual(result, {
      sessions: [
        { date: '2031-04-28', sourceMedium: 'google / cpc', campaign: 'spring-sale', sessions: 120 },
        { date: '2031-04-28', sourceMedium: 'klaviyo / email', campaign: 'spring-sale', sessions: 45 },
        { date: '2031-04-29', sourceMedium: 'google / cpc', campaign: 'spring-sale', sessions: 98 },
        { date: '2031-04-30', sourceMedium: '(direct) / (none)', campaign: '(direct)', sessions: 300 },
      ],
      itemsRead: 4,
    });
    const [request] = sim.receivedMatching(`/v1beta/properties/${properties[0]!.id}:runReport`, 'POST');
    assert.ok(request, 'runReport was called');
    assert.match(request.headers.authorization ?? '', /^Bearer ya29\./, 'with the bearer token');
    const body = request.body as Record<string, unknown>;
    assert.deepEqual(body.dateRanges, [{ startDate: '2031-04-28', endDate: '2031-04-30' }]);
    assert.deepEqual(body.dimensions, [
      { name: 'date' },
      { name: 'sessionSourceMedium' },
      { name: 'sessionCampaignName' },
    ]);
    assert.deepEqual(body.metrics, [{ name: 'sessions' }]);
  });

  it('walks report pages with limit/offset', async () => {
    await startAll({}, { reportPageSize: 3 });
    const { credentials } = await connect(analytics);
    const result = await analytics.sync({
      ...syncInput(credentials, properties[2]!.id),
      since: new Date('2031-04-01T00:00:00.000Z'),
      until: new Date('2031-04-03T00:00:00.000Z'),
    });
    // The simulator's default report: three rows a day.
    assert.equal(result.itemsRead, 9);
    assert.equal(new Set(result.sessions?.map((row) => row.date)).size, 3);
    assert.ok(
      result.sessions?.every((row) => /^\d{4}-\d{2}-\d{2}$/.test(row.date) && row.sessions > 0),
      'every row has a YYYY-MM-DD date and a count',
    );
    const pages = sim
      .receivedMatching(':runReport', 'POST')
      .map((request) => (request.body as { offset: number }).offset);
    assert.deepEqual(pages, [0, 3, 6]);
  });

  it('a range with no data reads nothing', async () => {
    await startAll();
    const { credentials } = await connect(analytics);
    const result = await analytics.sync({
      ...syncInput(credentials),
      since: new Date('2030-01-01T00:00:00.000Z'),
      until: new Date('2030-01-02T00:00:00.000Z'),
    });
    assert.deepEqual(result, { sessions: [], itemsRead: 0 });
  });

  it('errors land in their classes: 403 PERMISSION_REVOKED, 429 RATE_LIMITED, 503 TRANSIENT, revoked token', async () => {
    await startAll();
    const { credentials } = await connect(analytics);
    const secrets = secretsOf(credentials);
    await expectFailure(analytics.sync(syncInput(credentials, '111111111')), 'PERMISSION_REVOKED', secrets);
    sim.failWith('rate_limited', { path: ':runReport' });
    await expectFailure(analytics.sync(syncInput(credentials)), 'RATE_LIMITED', secrets);
    sim.failWith('unavailable', { path: ':runReport' });
    await expectFailure(analytics.sync(syncInput(credentials)), 'TRANSIENT', secrets);
    await expectFailure(
      analytics.sync({ ...syncInput(credentials), account: { kind: 'ads_customer', externalId: '1' } }),
      'INVALID_REQUEST',
    );
    sim.expireAccessTokens();
    await expectFailure(analytics.sync(syncInput(credentials)), 'TOKEN_EXPIRED', secrets);
  });
});

describe('Google simulator', () => {
  afterEach(() => sim.close());

  it('issues a refresh token only with access_type=offline', async () => {
    await startAll();
    const url = new URL(analytics.connector.authorizeUrl({ state: 's', redirectUri }));
    url.searchParams.delete('access_type');
    const response = await fetch(url, { redirect: 'manual' });
    const code = new URL(response.headers.get('location') ?? '').searchParams.get('code');
    assert.ok(code, 'the consent gave a code');
    const connection = await analytics.connector.completeConsent({ code, redirectUri, query: { code } });
    assert.equal(connection.credentials.refreshToken, undefined);
    assert.equal(analytics.canRefresh(connection.credentials), false);
  });

  it('refuses an unknown scope on the consent page', async () => {
    await startAll();
    const url = new URL(analytics.connector.authorizeUrl({ state: 's', redirectUri }));
    url.searchParams.set('scope', 'https://www.googleapis.com/auth/not-a-scope');
    const response = await fetch(url, { redirect: 'manual' });
    assert.equal(response.status, 400);
    assert.match(await response.text(), /invalid_scope/);
  });
});

describe('mapGoogleApiError', () => {
  const none = new Headers();
  const body = (code: number, status: string, details?: unknown[]) => ({
    error: { code, message: 'said by Google', status, ...(details ? { details } : {}) },
  });

  it('maps statuses onto classes', () => {
    const table: [number, string, PublicationErrorClass][] = [
      [401, 'UNAUTHENTICATED', 'TOKEN_EXPIRED'],
      [403, 'PERMISSION_DENIED', 'PERMISSION_REVOKED'],
      [429, 'RESOURCE_EXHAUSTED', 'RATE_LIMITED'],
      [500, 'INTERNAL', 'TRANSIENT'],
      [503, 'UNAVAILABLE', 'TRANSIENT'],
      [504, 'DEADLINE_EXCEEDED', 'TRANSIENT'],
      [400, 'INVALID_ARGUMENT', 'INVALID_REQUEST'],
      [404, 'NOT_FOUND', 'INVALID_REQUEST'],
    ];
    for (const [status, canonical, expected] of table) {
      assert.equal(
        mapGoogleApiError(status, body(status, canonical), none).class,
        expected,
        `${status} ${canonical}`,
      );
    }
    assert.equal(mapGoogleApiError(502, '<html>bad gateway</html>', none).class, 'TRANSIENT');
  });

  it('reads the retry delay from Retry-After, RetryInfo or the Ads quota details', () => {
    assert.equal(
      mapGoogleApiError(429, body(429, 'RESOURCE_EXHAUSTED'), new Headers({ 'retry-after': '12' }))
        .retryAfterMs,
      12_000,
    );
    const retryInfo = [{ '@type': 'type.googleapis.com/google.rpc.RetryInfo', retryDelay: '7s' }];
    assert.equal(
      mapGoogleApiError(429, body(429, 'RESOURCE_EXHAUSTED', retryInfo), none).retryAfterMs,
      7_000,
    );
    const adsQuota = [
      {
        '@type': `type.googleapis.com/google.ads.googleads.${googleAdsApiVersion}.errors.GoogleAdsFailure`,
        errors: [
          {
            errorCode: { quotaError: 'RESOURCE_EXHAUSTED' },
            details: { quotaErrorDetails: { retryDelay: '30s' } },
          },
        ],
      },
    ];
    const failure = mapGoogleApiError(429, body(429, 'RESOURCE_EXHAUSTED', adsQuota), none);
    assert.equal(failure.retryAfterMs, 30_000);
    assert.equal(failure.platformCode, 'quotaError:RESOURCE_EXHAUSTED');
  });

  it('a 403 is PERMISSION_REVOKED only when it names the OAuth grant; customer or project refusals keep their reason', () => {
    const errorInfo = (reason: string) => [{ '@type': 'type.googleapis.com/google.rpc.ErrorInfo', reason }];
    const adsError = (errorCode: Record<string, string>) => [
      {
        '@type': `type.googleapis.com/google.ads.googleads.${googleAdsApiVersion}.errors.GoogleAdsFailure`,
        errors: [{ errorCode, message: 'said by Google Ads' }],
      },
    ];
    const table: [unknown[], PublicationErrorClass, string][] = [
      [errorInfo('ACCESS_TOKEN_SCOPE_INSUFFICIENT'), 'PERMISSION_REVOKED', 'ACCESS_TOKEN_SCOPE_INSUFFICIENT'],
      [
        adsError({ authenticationError: 'OAUTH_TOKEN_REVOKED' }),
        'PERMISSION_REVOKED',
        'authenticationError:OAUTH_TOKEN_REVOKED',
      ],
      [
        adsError({ authorizationError: 'USER_PERMISSION_DENIED' }),
        'INVALID_REQUEST',
        'authorizationError:USER_PERMISSION_DENIED',
      ],
      [
        adsError({ authorizationError: 'CUSTOMER_NOT_ENABLED' }),
        'INVALID_REQUEST',
        'authorizationError:CUSTOMER_NOT_ENABLED',
      ],
      [errorInfo('USER_PROJECT_DENIED'), 'INVALID_REQUEST', 'USER_PROJECT_DENIED'],
    ];
    for (const [details, expected, reason] of table) {
      const failure = mapGoogleApiError(403, body(403, 'PERMISSION_DENIED', details), none);
      assert.equal(failure.class, expected, reason);
      assert.equal(failure.platformCode, reason);
    }
  });

  it('a disabled API in the Cloud project is the operator’s to fix, not a revoked permission', () => {
    const details = [{ '@type': 'type.googleapis.com/google.rpc.ErrorInfo', reason: 'SERVICE_DISABLED' }];
    assert.equal(
      mapGoogleApiError(403, body(403, 'PERMISSION_DENIED', details), none).class,
      'INVALID_REQUEST',
    );
  });
});
