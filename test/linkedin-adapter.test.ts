// The LinkedIn adapter against the LinkedIn simulator over real HTTP: the consent round trip and organization
// discovery, refused codes and scopes, refresh tokens (only for approved apps, their end never pushed back),
// and every LinkedIn error landing in its publication error class.
import assert from 'node:assert/strict';
import { beforeEach, describe, it } from 'node:test';
import {
  createLinkedInAdapter,
  type LinkedInAdapter,
  type LinkedInCredentials,
  linkedinApiVersion,
  linkedinScopes,
  mapLinkedInError,
} from '../connectors/linkedin.ts';
import type { Connection } from '../connectors/types.ts';
import { PlatformError, type PublicationErrorClass } from '../domain/publication-errors.ts';
import { type LinkedInSimulator, startLinkedInSimulator } from '../sandbox/linkedin.ts';
import {
  expectFailureHiding,
  expectRefreshOutagesTransient,
  expectRejected,
  followConsent,
  harnessPerTest,
} from './support/adapter-harness.ts';

const clientId = 'glowtify-test-linkedin';
const clientSecret = 'glowtify-test-linkedin-secret-5b2e';
const expectFailure = expectFailureHiding([clientSecret]);
const redirectUri = 'http://127.0.0.1:3000/v1/oauth/linkedin/callback';
const organizations = [
  { id: 1001, localizedName: 'Glow Café', vanityName: 'glow-cafe' },
  { id: 1002, localizedName: 'Glow Outlet', vanityName: 'glow-outlet' },
  { id: 1003, localizedName: 'Glow Studio', vanityName: 'glow-studio' },
  // A role that may not post, or a role not approved yet: never offered.
  { id: 1004, localizedName: 'Glow Fans', vanityName: 'glow-fans', role: 'ANALYST' as const },
  { id: 1005, localizedName: 'Glow Pending', vanityName: 'glow-pending', state: 'REQUESTED' as const },
  // Not administrators, but their roles may post as the organization: offered.
  {
    id: 1006,
    localizedName: 'Glow Journal',
    vanityName: 'glow-journal',
    role: 'CONTENT_ADMINISTRATOR' as const,
  },
  {
    id: 1007,
    localizedName: 'Glow Ads',
    vanityName: 'glow-ads',
    role: 'DIRECT_SPONSORED_CONTENT_POSTER' as const,
  },
];
const expectedAccounts = [
  { kind: 'linkedin_organization', externalId: 'urn:li:organization:1001', name: 'Glow Café' },
  { kind: 'linkedin_organization', externalId: 'urn:li:organization:1002', name: 'Glow Outlet' },
  { kind: 'linkedin_organization', externalId: 'urn:li:organization:1003', name: 'Glow Studio' },
  { kind: 'linkedin_organization', externalId: 'urn:li:organization:1006', name: 'Glow Journal' },
  { kind: 'linkedin_organization', externalId: 'urn:li:organization:1007', name: 'Glow Ads' },
];
const grantedScopes = [
  'w_organization_social',
  'r_organization_social',
  'r_organization_admin',
  'rw_organization_admin',
];

interface Harness {
  sim: LinkedInSimulator;
  adapter: LinkedInAdapter;
  /** One clock for both sides, moved by tests that need a code or token to expire. */
  clock: { now: number };
}

async function startHarness(options: Parameters<typeof startLinkedInSimulator>[0] = {}): Promise<Harness> {
  const clock = { now: Date.now() };
  const sim = await startLinkedInSimulator({
    clientId,
    clientSecret,
    redirectUris: [redirectUri],
    organizations,
    accessTokenSeconds: 60,
    refreshTokenSeconds: 3600,
    // Two per answer, so discovery has to page.
    aclsPageLimit: 2,
    now: () => new Date(clock.now),
    ...options,
  });
  const adapter = createLinkedInAdapter({
    apiBaseUrl: sim.url,
    authBaseUrl: sim.url,
    clientId,
    clientSecret,
    now: () => new Date(clock.now),
  });
  return { sim, adapter, clock };
}

const consent = (adapter: LinkedInAdapter, state = 'state-42') =>
  followConsent(adapter.connector.authorizeUrl({ state, redirectUri }));

async function connect(
  adapter: LinkedInAdapter,
): Promise<Connection<LinkedInCredentials> & { code: string }> {
  const { query } = await consent(adapter);
  const code = query.code;
  assert.ok(code, `no code in ${JSON.stringify(query)}`);
  const connection = await adapter.connector.completeConsent({ code, redirectUri, query });
  return { ...connection, code };
}

const secretsOf = (credentials: LinkedInCredentials) =>
  [credentials.accessToken, credentials.refreshToken].filter((value): value is string => Boolean(value));

describe('LinkedIn consent and discovery', () => {
  const harness = harnessPerTest(startHarness);

  it('authorize → consent → code → token dated by expires_in → every organization the member may post for', async () => {
    const { sim, adapter, clock } = harness;
    assert.equal(adapter.platform, 'linkedin');
    assert.equal(adapter.connector.kind, 'oauth');
    assert.equal(adapter.connector.pkce, false);
    const url = new URL(adapter.connector.authorizeUrl({ state: 'state-42', redirectUri }));
    assert.equal(url.pathname, '/oauth/v2/authorization');
    assert.equal(url.searchParams.get('response_type'), 'code');
    assert.equal(url.searchParams.get('client_id'), clientId);
    assert.equal(url.searchParams.get('redirect_uri'), redirectUri);
    assert.equal(url.searchParams.get('state'), 'state-42');
    assert.equal(url.searchParams.get('scope'), grantedScopes.join(' '));
    assert.deepEqual([...linkedinScopes], grantedScopes);

    const { location, query } = await consent(adapter);
    assert.equal(`${location.origin}${location.pathname}`, redirectUri);
    assert.equal(query.state, 'state-42');

    const connectedAt = clock.now;
    const connection = await adapter.connector.completeConsent({
      code: query.code ?? '',
      redirectUri,
      query,
    });
    assert.deepEqual(connection.accounts, expectedAccounts);
    assert.deepEqual(connection.grantedScopes, grantedScopes);
    assert.equal(connection.expiresAt?.getTime(), connectedAt + 60_000);
    const { credentials } = connection;
    assert.ok(credentials.accessToken, 'no access token stored');
    assert.equal(credentials.accessTokenExpiresAt, new Date(connectedAt + 60_000).toISOString());
    assert.ok(credentials.refreshToken, 'no refresh token stored for an approved app');
    assert.equal(credentials.refreshTokenExpiresAt, new Date(connectedAt + 3_600_000).toISOString());
    assert.equal(adapter.canRefresh(credentials), true);

    const [exchange, ...others] = sim.receivedMatching('/oauth/v2/accessToken', 'POST');
    assert.equal(others.length, 0);
    assert.deepEqual(exchange?.body, {
      grant_type: 'authorization_code',
      code: query.code,
      redirect_uri: redirectUri,
      client_id: clientId,
      client_secret: clientSecret,
    });
    assert.match(exchange?.headers['content-type'] ?? '', /application\/x-www-form-urlencoded/);

    // Six approved roles (of every kind), two per page: the finder was followed to its end, asked for no one
    // role; the names come in one lookup, which (unlike organizations/{id}) answers non-administrators too.
    const acls = sim.receivedMatching('/rest/organizationAcls', 'GET');
    assert.deepEqual(
      acls.map((request) => request.query.start),
      ['0', '2', '4'],
    );
    for (const request of acls) {
      assert.equal(request.query.q, 'roleAssignee');
      assert.equal(request.query.role, undefined);
      assert.equal(request.query.state, 'APPROVED');
    }
    const lookups = sim.receivedMatching('/rest/organizationsLookup', 'GET');
    assert.deepEqual(
      lookups.map((request) => request.query.ids),
      ['List(1001,1002,1003,1006,1007)'],
    );
    assert.equal(sim.receivedMatching(/^\/rest\/organizations\/\d+$/).length, 0);
    for (const request of [...acls, ...lookups]) {
      assert.equal(request.headers['linkedin-version'], linkedinApiVersion);
      assert.equal(request.headers['x-restli-protocol-version'], '2.0.0');
      assert.equal(request.headers.authorization, `Bearer ${credentials.accessToken}`);
      assert.ok(!JSON.stringify(request.query).includes(credentials.accessToken), 'a token in a URL');
    }
  });

  it('a denied consent comes back with LinkedIn’s user_cancelled_authorize, the state and no code', async () => {
    const { sim, adapter } = harness;
    sim.denyNextConsent();
    const { location, query } = await consent(adapter, 'state-7');
    assert.equal(`${location.origin}${location.pathname}`, redirectUri);
    assert.equal(query.error, 'user_cancelled_authorize');
    assert.ok(query.error_description, 'no error_description on the denial');
    assert.equal(query.state, 'state-7');
    assert.equal(query.code, undefined);
    await expectRejected(
      adapter.connector.completeConsent({ code: '', redirectUri, query }),
      /consent was not given/,
    );
    assert.equal(sim.receivedMatching('/oauth/v2/accessToken').length, 0, 'a denial was exchanged');
    // Only the next consent was denied.
    assert.ok((await consent(adapter)).query.code, 'the consent after a denial gave no code');
  });

  it('a reused code is refused as INVALID_REQUEST, and the error does not echo the code', async () => {
    const { adapter } = harness;
    const { code } = await connect(adapter);
    const error = await expectFailure(
      adapter.connector.completeConsent({ code, redirectUri, query: { code } }),
      'INVALID_REQUEST',
      [code],
    );
    assert.equal(error.failure.platformCode, 'invalid_request');
    assert.match(error.message, /start the connection again/);
  });

  it('a code is refused for another redirect_uri, after its 30 minutes, and when unknown', async () => {
    const { adapter, clock } = harness;
    const first = (await consent(adapter)).query.code ?? '';
    await expectFailure(
      adapter.connector.completeConsent({
        code: first,
        redirectUri: 'http://127.0.0.1:9/elsewhere',
        query: {},
      }),
      'INVALID_REQUEST',
      [first],
    );
    const second = (await consent(adapter)).query.code ?? '';
    clock.now += 31 * 60_000;
    await expectFailure(
      adapter.connector.completeConsent({ code: second, redirectUri, query: {} }),
      'INVALID_REQUEST',
      [second],
    );
    await expectFailure(
      adapter.connector.completeConsent({ code: 'AQTnot-a-code-at-all', redirectUri, query: {} }),
      'INVALID_REQUEST',
      [],
    );
  });

  /** A consent that grants only `scopes`, which the adapter must refuse in the member's words. */
  async function expectGrantRefused(scopes: string[]) {
    const { sim, adapter } = harness;
    sim.grantOnlyScopes(scopes);
    const { query } = await consent(adapter);
    await expectRejected(
      adapter.connector.completeConsent({ code: query.code ?? '', redirectUri, query }),
      'Scopes insufficient',
    );
  }

  it('a consent without w_organization_social is refused: Scopes insufficient, nothing discovered', async () => {
    await expectGrantRefused(['r_organization_social', 'r_organization_admin']);
    assert.equal(harness.sim.receivedMatching('/rest/').length, 0, 'discovery ran on an insufficient grant');
  });

  it('a consent without r_organization_admin is refused too: discovery could not read the organizations', async () => {
    await expectGrantRefused(['w_organization_social', 'r_organization_social']);
  });

  it('a consent without r_organization_social is refused: a lost answer could not be looked up', async () => {
    await expectGrantRefused(['w_organization_social', 'r_organization_admin']);
  });

  it('the simulator refuses what LinkedIn refuses: no version, a retired version, no bearer', async () => {
    const { sim } = harness;
    const url = `${sim.url}/rest/organizationAcls?q=roleAssignee&role=ADMINISTRATOR&state=APPROVED`;
    const noVersion = await fetch(url, { headers: { authorization: 'Bearer x' } });
    assert.equal(noVersion.status, 400);
    assert.equal(((await noVersion.json()) as { code?: string }).code, 'VERSION_MISSING');
    const retired = await fetch(url, {
      headers: { authorization: 'Bearer x', 'LinkedIn-Version': '202401' },
    });
    assert.equal(retired.status, 426);
    assert.deepEqual(await retired.json(), {
      status: 426,
      code: 'NONEXISTENT_VERSION',
      message: 'Requested version 20240101 is not active',
    });
    const noBearer = await fetch(url, { headers: { 'LinkedIn-Version': linkedinApiVersion } });
    assert.equal(noBearer.status, 401);
    const body = (await noBearer.json()) as { status?: number; serviceErrorCode?: number; message?: string };
    assert.equal(body.status, 401);
    assert.equal(typeof body.serviceErrorCode, 'number');
    assert.ok(body.message, 'no message in the 401 body');
  });
});

describe('LinkedIn token refresh', () => {
  const harness = harnessPerTest(startHarness);

  it('a refresh gives a working access token; the refresh token and its end stay as LinkedIn returns them', async () => {
    const { sim, adapter, clock } = harness;
    const { credentials } = await connect(adapter);
    clock.now += 61_000;
    // The old access token has expired on LinkedIn's side.
    await expectRejected(adapter.verifyCredentials(credentials), /refused the access token/);

    const refreshedAt = clock.now;
    const refreshed = await adapter.refreshCredentials(credentials);
    const fresh = refreshed.credentials;
    assert.notEqual(fresh.accessToken, credentials.accessToken);
    assert.equal(refreshed.expiresAt?.getTime(), refreshedAt + 60_000);
    assert.equal(fresh.accessTokenExpiresAt, new Date(refreshedAt + 60_000).toISOString());
    assert.equal(fresh.refreshToken, credentials.refreshToken);
    // Not reset by the refresh: the same instant as at consent (LinkedIn returns whole seconds left).
    const before = Date.parse(credentials.refreshTokenExpiresAt ?? '');
    const after = Date.parse(fresh.refreshTokenExpiresAt ?? '');
    assert.ok(Math.abs(after - before) < 1000, `refresh token end moved: ${before} → ${after}`);
    assert.deepEqual(fresh.scopes, [...linkedinScopes]);
    await adapter.verifyCredentials(fresh);
    assert.deepEqual(await adapter.discover(fresh.accessToken), expectedAccounts);

    const refresh = sim.receivedMatching('/oauth/v2/accessToken', 'POST').at(-1);
    assert.deepEqual(refresh?.body, {
      grant_type: 'refresh_token',
      refresh_token: credentials.refreshToken,
      client_id: clientId,
      client_secret: clientSecret,
    });
  });

  it('without refresh tokens (an app LinkedIn has not approved): canRefresh is false and no refresh is tried', async () => {
    await harness.restart({ issueRefreshTokens: false });
    const { sim, adapter } = harness;
    const { credentials } = await connect(adapter);
    assert.equal(credentials.refreshToken, undefined);
    assert.equal('refreshToken' in credentials, false, 'an empty refreshToken key would hide the kept one');
    assert.equal(adapter.canRefresh(credentials), false);
    const requests = sim.received.length;
    await expectFailure(adapter.refreshCredentials(credentials), 'TOKEN_EXPIRED', secretsOf(credentials));
    assert.equal(sim.received.length, requests, 'a refresh was sent without a refresh token');
  });

  it('canRefresh turns false once the refresh token’s own end has passed', async () => {
    const { adapter, clock } = harness;
    const { credentials } = await connect(adapter);
    assert.equal(adapter.canRefresh(credentials), true);
    clock.now += 3_600_000 + 1000;
    assert.equal(adapter.canRefresh(credentials), false);
    await expectFailure(adapter.refreshCredentials(credentials), 'TOKEN_EXPIRED', secretsOf(credentials));
  });

  it('a revoked refresh token → invalid_grant → TOKEN_EXPIRED', async () => {
    const { sim, adapter } = harness;
    const { credentials } = await connect(adapter);
    sim.revokeRefreshTokens();
    const error = await expectFailure(
      adapter.refreshCredentials(credentials),
      'TOKEN_EXPIRED',
      secretsOf(credentials),
    );
    assert.equal(error.failure.platformCode, 'invalid_grant');
  });

  it('only a dead grant asks for a reconnect: invalid_request is INVALID_REQUEST, a 401 TOKEN_EXPIRED', async () => {
    const { sim, adapter } = harness;
    const { credentials } = await connect(adapter);
    sim.failNext({
      path: '/oauth/v2/accessToken',
      method: 'POST',
      response: { status: 400, body: { error: 'invalid_request', error_description: 'A parameter is odd' } },
    });
    await expectFailure(adapter.refreshCredentials(credentials), 'INVALID_REQUEST', secretsOf(credentials));
    sim.failNext({
      path: '/oauth/v2/accessToken',
      method: 'POST',
      response: {
        status: 401,
        body: {
          serviceErrorCode: 65601,
          message: 'The token used in the request has been revoked',
          status: 401,
        },
      },
    });
    await expectFailure(adapter.refreshCredentials(credentials), 'TOKEN_EXPIRED', secretsOf(credentials));
  });

  it('a 5xx, a 429, a network error and a timeout on the refresh are never a dead token', async () => {
    const { sim, adapter } = harness;
    const { credentials } = await connect(adapter);
    sim.failWith('transient', { path: '/oauth/v2/accessToken' });
    await expectFailure(adapter.refreshCredentials(credentials), 'TRANSIENT', secretsOf(credentials));
    sim.failWith('rate_limited', { path: '/oauth/v2/accessToken' });
    await expectFailure(adapter.refreshCredentials(credentials), 'RATE_LIMITED', secretsOf(credentials));

    await expectRefreshOutagesTransient({
      adapterAt: (base, requestTimeoutMs) =>
        createLinkedInAdapter({
          apiBaseUrl: base,
          authBaseUrl: base,
          clientId,
          clientSecret,
          ...(requestTimeoutMs === undefined ? {} : { requestTimeoutMs }),
        }),
      credentials,
      secrets: [clientSecret, ...secretsOf(credentials)],
    });
    // Still a good refresh token after all that.
    await adapter.refreshCredentials(credentials);
  });

  it('a wrong client secret is a configuration problem, not a dead token', async () => {
    const { sim } = harness;
    const { credentials } = await connect(harness.adapter);
    const misconfigured = createLinkedInAdapter({
      apiBaseUrl: sim.url,
      authBaseUrl: sim.url,
      clientId,
      clientSecret: 'not-the-secret-at-all',
    });
    const error = await expectFailure(misconfigured.refreshCredentials(credentials), 'INVALID_REQUEST', [
      ...secretsOf(credentials),
      'not-the-secret-at-all',
    ]);
    assert.equal(error.failure.platformCode, 'invalid_client');
  });

  it('an adapter with no client id configured says so instead of calling LinkedIn', () => {
    const unconfigured = createLinkedInAdapter({
      apiBaseUrl: harness.sim.url,
      clientId: '',
      clientSecret: '',
    });
    assert.throws(
      () => unconfigured.connector.authorizeUrl({ state: 's', redirectUri }),
      (error: unknown) => error instanceof PlatformError && /LINKEDIN_CLIENT_ID/.test(error.message),
    );
  });
});

describe('LinkedIn API errors', () => {
  const harness = harnessPerTest(startHarness);
  let credentials: LinkedInCredentials;
  beforeEach(async () => {
    credentials = (await connect(harness.adapter)).credentials;
  });

  const cases: { kind: Parameters<LinkedInSimulator['failWith']>[0]; expected: PublicationErrorClass }[] = [
    { kind: 'token_expired', expected: 'TOKEN_EXPIRED' },
    { kind: 'permission_revoked', expected: 'PERMISSION_REVOKED' },
    { kind: 'rate_limited', expected: 'RATE_LIMITED' },
    { kind: 'transient', expected: 'TRANSIENT' },
  ];
  for (const { kind, expected } of cases) {
    it(`${kind} on discovery → ${expected}, after exactly one request`, async () => {
      const { sim, adapter } = harness;
      sim.failWith(kind, { path: '/rest/organizationAcls' });
      const before = sim.received.length;
      await expectFailure(adapter.discover(credentials.accessToken), expected, secretsOf(credentials));
      assert.equal(sim.received.length, before + 1);
    });
  }

  it('an access token the member revoked → 401 → TOKEN_EXPIRED; verifyCredentials refuses it', async () => {
    const { sim, adapter } = harness;
    sim.revokeAccessTokens();
    const error = await expectFailure(
      adapter.discover(credentials.accessToken),
      'TOKEN_EXPIRED',
      secretsOf(credentials),
    );
    assert.equal(error.failure.platformCode, '65601');
    await expectRejected(adapter.verifyCredentials(credentials), /refused the access token/);
  });

  it('a 403 at verification means the scopes are gone: Scopes insufficient', async () => {
    const { sim, adapter } = harness;
    sim.failWith('permission_revoked', { path: '/rest/organizationAcls' });
    await expectRejected(adapter.verifyCredentials(credentials), 'Scopes insufficient');
  });

  it('a 5xx at verification says nothing about the token: it stays a TRANSIENT PlatformError', async () => {
    const { sim, adapter } = harness;
    sim.failWith('transient', { path: '/rest/organizationAcls' });
    await expectFailure(adapter.verifyCredentials(credentials), 'TRANSIENT', secretsOf(credentials));
  });
});

describe('mapLinkedInError', () => {
  const none = new Headers();
  const body = (status: number, extra: Record<string, unknown> = {}) => ({ status, message: 'x', ...extra });

  it('maps each status LinkedIn documents onto its class', () => {
    const table: [number, PublicationErrorClass][] = [
      [401, 'TOKEN_EXPIRED'],
      [403, 'PERMISSION_REVOKED'],
      [429, 'RATE_LIMITED'],
      [500, 'TRANSIENT'],
      [503, 'TRANSIENT'],
      [504, 'TRANSIENT'],
      [400, 'INVALID_REQUEST'],
      [404, 'INVALID_REQUEST'],
      [426, 'INVALID_REQUEST'],
    ];
    for (const [status, expected] of table) {
      assert.equal(mapLinkedInError(status, body(status), none).class, expected, `HTTP ${status}`);
    }
    assert.equal(mapLinkedInError(502, 'Bad Gateway', none).class, 'TRANSIENT');
  });

  it('names the serviceErrorCode, keeps LinkedIn’s message, and takes Retry-After when there is one', () => {
    assert.deepEqual(
      mapLinkedInError(401, body(401, { serviceErrorCode: 65602, message: 'expired' }), none),
      {
        class: 'TOKEN_EXPIRED',
        message: 'expired',
        platformCode: '65602',
      },
    );
    assert.equal(mapLinkedInError(429, body(429), new Headers({ 'retry-after': '30' })).retryAfterMs, 30_000);
    assert.equal(mapLinkedInError(429, body(429), none).retryAfterMs, undefined);
    // Retry-After as an HTTP date (RFC 9110) is read too, as the time left until then.
    const inAMinute = new Date(Date.now() + 60_000).toUTCString();
    const fromDate = mapLinkedInError(429, body(429), new Headers({ 'retry-after': inAMinute })).retryAfterMs;
    assert.ok(fromDate !== undefined && fromDate > 55_000 && fromDate <= 60_000, `read ${fromDate}`);
    assert.match(
      mapLinkedInError(426, body(426, { code: 'NONEXISTENT_VERSION' }), none).message,
      /LinkedIn-Version/,
    );
  });
});
