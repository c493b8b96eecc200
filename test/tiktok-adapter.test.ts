// The TikTok adapter against the TikTok simulator over real HTTP: the Login Kit round trip and the account
// behind the token, refused codes and unticked scopes, refresh-token rotation (the old one dies), and every
// TikTok error landing in its publication error class.
import assert from 'node:assert/strict';
import { beforeEach, describe, it } from 'node:test';
import {
  createTikTokAdapter,
  mapTikTokError,
  type TikTokAdapter,
  type TikTokCredentials,
  tiktokScopes,
} from '../connectors/tiktok.ts';
import type { Connection } from '../connectors/types.ts';
import type { PublicationErrorClass } from '../domain/publication-errors.ts';
import { startTikTokSimulator, type TikTokFailureKind, type TikTokSimulator } from '../sandbox/tiktok.ts';
import {
  expectFailureHiding,
  expectRefreshOutagesTransient,
  expectRejected,
  followConsent,
  harnessPerTest,
} from './support/adapter-harness.ts';

const clientKey = 'glowtifytestkey';
const clientSecret = 'glowtify-test-tiktok-secret-9c1d';
const expectFailure = expectFailureHiding([clientSecret]);
const redirectUri = 'http://127.0.0.1:3000/v1/oauth/tiktok/callback';
const user = {
  openId: '-000TestOpenId0123456789abcdef',
  unionId: 'a1b2c3d4-0000-4000-8000-000000000001',
  displayName: 'Glow Studio',
  avatarUrl: 'https://p16.example.test/avatar.jpeg',
};
// The privacy levels come from creator_info: a public account on an app TikTok has audited.
const expectedAccount = {
  kind: 'tiktok_account',
  externalId: user.openId,
  name: 'Glow Studio',
  metadata: { privacyLevelOptions: ['PUBLIC_TO_EVERYONE', 'MUTUAL_FOLLOW_FRIENDS', 'SELF_ONLY'] },
};

interface Harness {
  sim: TikTokSimulator;
  adapter: TikTokAdapter;
  /** One clock for both sides, moved by tests that need a code or token to expire. */
  clock: { now: number };
}

async function startHarness(options: Parameters<typeof startTikTokSimulator>[0] = {}): Promise<Harness> {
  const clock = { now: Date.now() };
  const sim = await startTikTokSimulator({
    clientKey,
    clientSecret,
    redirectUris: [redirectUri],
    user,
    accessTokenSeconds: 60,
    refreshTokenSeconds: 3600,
    now: () => new Date(clock.now),
    ...options,
  });
  const adapter = createTikTokAdapter({
    apiBaseUrl: sim.url,
    authBaseUrl: sim.url,
    // The uniform option name: clientId is TikTok's client key.
    clientId: clientKey,
    clientSecret,
    now: () => new Date(clock.now),
  });
  return { sim, adapter, clock };
}

const consent = (adapter: TikTokAdapter, state = 'state-42') =>
  followConsent(adapter.connector.authorizeUrl({ state, redirectUri }));

async function connect(adapter: TikTokAdapter): Promise<Connection<TikTokCredentials> & { code: string }> {
  const { query } = await consent(adapter);
  const code = query.code;
  assert.ok(code, `no code in ${JSON.stringify(query)}`);
  const connection = await adapter.connector.completeConsent({ code, redirectUri, query });
  return { ...connection, code };
}

const secretsOf = (credentials: TikTokCredentials) => [credentials.accessToken, credentials.refreshToken];

describe('TikTok consent and discovery', () => {
  const harness = harnessPerTest(startHarness);

  it('authorize → consent → code → tokens dated by expires_in and refresh_expires_in → the TikTok account', async () => {
    const { sim, adapter, clock } = harness;
    assert.equal(adapter.platform, 'tiktok');
    assert.equal(adapter.connector.kind, 'oauth');
    assert.equal(adapter.connector.pkce, false);
    const url = new URL(adapter.connector.authorizeUrl({ state: 'state-42', redirectUri }));
    assert.equal(url.pathname, '/v2/auth/authorize/');
    assert.equal(url.searchParams.get('client_key'), clientKey);
    assert.equal(url.searchParams.get('scope'), 'user.info.basic,video.publish,video.list');
    assert.equal(url.searchParams.get('response_type'), 'code');
    assert.equal(url.searchParams.get('redirect_uri'), redirectUri);
    assert.equal(url.searchParams.get('state'), 'state-42');
    assert.deepEqual([...tiktokScopes], ['user.info.basic', 'video.publish', 'video.list']);

    const { location, query } = await consent(adapter);
    assert.equal(`${location.origin}${location.pathname}`, redirectUri);
    assert.equal(query.state, 'state-42');
    assert.equal(query.scopes, 'user.info.basic,video.publish,video.list');
    // TikTok codes carry characters that only survive if the code is sent URL-decoded.
    assert.match(query.code ?? '', /\*!/);

    const connectedAt = clock.now;
    const connection = await adapter.connector.completeConsent({
      code: query.code ?? '',
      redirectUri,
      query,
    });
    assert.deepEqual(connection.accounts, [expectedAccount]);
    assert.deepEqual(connection.grantedScopes, ['user.info.basic', 'video.publish', 'video.list']);
    assert.equal(connection.expiresAt?.getTime(), connectedAt + 60_000);
    const { credentials } = connection;
    assert.ok(credentials.accessToken.startsWith('act.'), 'not an access token');
    assert.ok(credentials.refreshToken.startsWith('rft.'), 'not a refresh token');
    assert.equal(credentials.accessTokenExpiresAt, new Date(connectedAt + 60_000).toISOString());
    assert.equal(credentials.refreshTokenExpiresAt, new Date(connectedAt + 3_600_000).toISOString());
    assert.equal(credentials.openId, user.openId);
    assert.equal(adapter.canRefresh(credentials), true);

    const [exchange, ...others] = sim.receivedMatching('/v2/oauth/token/', 'POST');
    assert.equal(others.length, 0);
    assert.deepEqual(exchange?.body, {
      client_key: clientKey,
      client_secret: clientSecret,
      code: query.code,
      grant_type: 'authorization_code',
      redirect_uri: redirectUri,
    });
    assert.match(exchange?.headers['content-type'] ?? '', /application\/x-www-form-urlencoded/);

    const [info] = sim.receivedMatching('/v2/user/info/', 'GET');
    assert.equal(info?.query.fields, 'open_id,union_id,avatar_url,display_name');
    assert.equal(info?.headers.authorization, `Bearer ${credentials.accessToken}`);
  });

  it('a denied consent comes back with access_denied, the state and no code', async () => {
    const { sim, adapter } = harness;
    sim.denyNextConsent();
    const { location, query } = await consent(adapter, 'state-7');
    assert.equal(`${location.origin}${location.pathname}`, redirectUri);
    assert.equal(query.error, 'access_denied');
    assert.ok(query.error_description, 'no error_description on the denial');
    assert.equal(query.state, 'state-7');
    assert.equal(query.code, undefined);
    await expectRejected(
      adapter.connector.completeConsent({ code: '', redirectUri, query }),
      /consent was not given/,
    );
    assert.equal(sim.receivedMatching('/v2/oauth/token/').length, 0, 'a denial was exchanged');
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
    assert.equal(error.failure.platformCode, 'invalid_grant');
    assert.match(error.message, /start the connection again/);
    assert.match(error.message, /log_id/);
  });

  it('a code is refused for another redirect_uri and once expired', async () => {
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
    clock.now += 11 * 60_000;
    await expectFailure(
      adapter.connector.completeConsent({ code: second, redirectUri, query: {} }),
      'INVALID_REQUEST',
      [second],
    );
  });

  it('a user who unticks video.publish is refused: Scopes insufficient, nothing discovered', async () => {
    const { sim, adapter } = harness;
    sim.grantOnlyScopes(['user.info.basic']);
    const { query } = await consent(adapter);
    assert.equal(query.scopes, 'user.info.basic');
    await expectRejected(
      adapter.connector.completeConsent({ code: query.code ?? '', redirectUri, query }),
      'Scopes insufficient',
    );
    assert.equal(sim.receivedMatching('/v2/user/info/').length, 0, 'discovery ran on an insufficient grant');
  });

  it('an OAuth error TikTok wraps in an HTTP 200 is still an error', async () => {
    const { sim, adapter } = harness;
    const { query } = await consent(adapter);
    sim.failNext({
      path: '/v2/oauth/token/',
      response: {
        status: 200,
        body: { error: 'invalid_grant', error_description: 'Authorization code is expired.', log_id: 'L1' },
      },
    });
    await expectFailure(
      adapter.connector.completeConsent({ code: query.code ?? '', redirectUri, query }),
      'INVALID_REQUEST',
      [query.code ?? ''],
    );
  });

  it('the simulator checks the bearer like TikTok: none, unknown → 401 access_token_invalid', async () => {
    const { sim } = harness;
    const attempts: Record<string, string>[] = [{}, { authorization: 'Bearer act.unknown' }];
    for (const headers of attempts) {
      const response = await fetch(`${sim.url}/v2/user/info/?fields=open_id`, { headers });
      assert.equal(response.status, 401);
      const body = (await response.json()) as { error?: { code?: string; log_id?: string } };
      assert.equal(body.error?.code, 'access_token_invalid');
      assert.ok(body.error?.log_id, 'no log_id in the error');
    }
  });
});

describe('TikTok token refresh', () => {
  const harness = harnessPerTest(startHarness);

  it('a refresh rotates the refresh token: the new pair works, the old refresh token is refused', async () => {
    const { sim, adapter, clock } = harness;
    const { credentials } = await connect(adapter);
    clock.now += 61_000;
    await expectRejected(adapter.verifyCredentials(credentials), /refused the access token/);

    const refreshedAt = clock.now;
    const refreshed = await adapter.refreshCredentials(credentials);
    const fresh = refreshed.credentials;
    assert.notEqual(fresh.accessToken, credentials.accessToken);
    assert.notEqual(fresh.refreshToken, credentials.refreshToken, 'the refresh token was not rotated');
    assert.equal(refreshed.expiresAt?.getTime(), refreshedAt + 60_000);
    assert.equal(fresh.accessTokenExpiresAt, new Date(refreshedAt + 60_000).toISOString());
    assert.equal(fresh.refreshTokenExpiresAt, new Date(refreshedAt + 3_600_000).toISOString());
    assert.equal(fresh.openId, user.openId);
    await adapter.verifyCredentials(fresh);
    assert.deepEqual(await adapter.discover(fresh.accessToken), expectedAccount);

    const refresh = sim.receivedMatching('/v2/oauth/token/', 'POST').at(-1);
    assert.deepEqual(refresh?.body, {
      client_key: clientKey,
      client_secret: clientSecret,
      grant_type: 'refresh_token',
      refresh_token: credentials.refreshToken,
    });

    // The old refresh token is dead; the rotated one keeps working (and rotates again).
    const error = await expectFailure(adapter.refreshCredentials(credentials), 'TOKEN_EXPIRED', [
      ...secretsOf(credentials),
      ...secretsOf(fresh),
    ]);
    assert.equal(error.failure.platformCode, 'invalid_grant');
    const again = await adapter.refreshCredentials(fresh);
    assert.notEqual(again.credentials.refreshToken, fresh.refreshToken);
  });

  it('a revoked refresh token → invalid_grant → TOKEN_EXPIRED; canRefresh follows the refresh token’s end', async () => {
    const { sim, adapter, clock } = harness;
    const { credentials } = await connect(adapter);
    sim.revokeRefreshTokens();
    await expectFailure(adapter.refreshCredentials(credentials), 'TOKEN_EXPIRED', secretsOf(credentials));
    assert.equal(adapter.canRefresh(credentials), true);
    clock.now += 3_600_000 + 1000;
    assert.equal(adapter.canRefresh(credentials), false);
  });

  it('a 5xx, a 429, a network error and a timeout on the refresh are never a dead token', async () => {
    const { sim, adapter } = harness;
    const { credentials } = await connect(adapter);
    sim.failWith('transient', { path: '/v2/oauth/token/' });
    await expectFailure(adapter.refreshCredentials(credentials), 'TRANSIENT', secretsOf(credentials));
    sim.failWith('rate_limited', { path: '/v2/oauth/token/' });
    await expectFailure(adapter.refreshCredentials(credentials), 'RATE_LIMITED', secretsOf(credentials));

    await expectRefreshOutagesTransient({
      adapterAt: (base, requestTimeoutMs) =>
        createTikTokAdapter({
          apiBaseUrl: base,
          authBaseUrl: base,
          clientKey,
          clientSecret,
          ...(requestTimeoutMs === undefined ? {} : { requestTimeoutMs }),
        }),
      credentials,
      secrets: [clientSecret, ...secretsOf(credentials)],
    });
    // None of those consumed the refresh token.
    await adapter.refreshCredentials(credentials);
  });

  it('a wrong client secret is a configuration problem, not a dead token', async () => {
    const { sim } = harness;
    const { credentials } = await connect(harness.adapter);
    const misconfigured = createTikTokAdapter({
      apiBaseUrl: sim.url,
      authBaseUrl: sim.url,
      clientKey,
      clientSecret: 'not-the-secret-at-all',
    });
    const error = await expectFailure(misconfigured.refreshCredentials(credentials), 'INVALID_REQUEST', [
      ...secretsOf(credentials),
      'not-the-secret-at-all',
    ]);
    assert.equal(error.failure.platformCode, 'invalid_client');
  });
});

describe('TikTok API errors', () => {
  const harness = harnessPerTest(startHarness);
  let credentials: TikTokCredentials;
  beforeEach(async () => {
    credentials = (await connect(harness.adapter)).credentials;
  });

  const cases: { kind: TikTokFailureKind; expected: PublicationErrorClass; code: string }[] = [
    { kind: 'token_expired', expected: 'TOKEN_EXPIRED', code: 'access_token_invalid' },
    { kind: 'permission_revoked', expected: 'PERMISSION_REVOKED', code: 'scope_not_authorized' },
    { kind: 'rate_limited', expected: 'RATE_LIMITED', code: 'rate_limit_exceeded' },
    { kind: 'invalid_params', expected: 'INVALID_REQUEST', code: 'invalid_params' },
    { kind: 'transient', expected: 'TRANSIENT', code: 'internal_error' },
  ];
  for (const { kind, expected, code } of cases) {
    it(`${code} on user/info → ${expected}, after exactly one request`, async () => {
      const { sim, adapter } = harness;
      sim.failWith(kind, { path: '/v2/user/info/' });
      const before = sim.received.length;
      const error = await expectFailure(
        adapter.discover(credentials.accessToken),
        expected,
        secretsOf(credentials),
      );
      assert.equal(error.failure.platformCode, code);
      assert.equal(sim.received.length, before + 1);
    });
  }

  it('a revoked access token → access_token_invalid → TOKEN_EXPIRED; verifyCredentials refuses it', async () => {
    const { sim, adapter } = harness;
    sim.revokeAccessTokens();
    await expectFailure(adapter.discover(credentials.accessToken), 'TOKEN_EXPIRED', secretsOf(credentials));
    await expectRejected(adapter.verifyCredentials(credentials), /refused the access token/);
  });

  it('scope_not_authorized at verification means the scopes are gone: Scopes insufficient', async () => {
    const { sim, adapter } = harness;
    sim.failWith('permission_revoked', { path: '/v2/user/info/' });
    await expectRejected(adapter.verifyCredentials(credentials), 'Scopes insufficient');
  });

  it('a 5xx at verification says nothing about the token: it stays a TRANSIENT PlatformError', async () => {
    const { sim, adapter } = harness;
    sim.failWith('transient', { path: '/v2/user/info/' });
    await expectFailure(adapter.verifyCredentials(credentials), 'TRANSIENT', secretsOf(credentials));
  });
});

describe('mapTikTokError', () => {
  const none = new Headers();
  const body = (code: string) => ({ data: {}, error: { code, message: 'x', log_id: 'L' } });

  it('the error code decides, whatever the status', () => {
    const table: [string, number, PublicationErrorClass][] = [
      ['access_token_invalid', 401, 'TOKEN_EXPIRED'],
      ['scope_not_authorized', 401, 'PERMISSION_REVOKED'],
      ['scope_permission_missed', 401, 'PERMISSION_REVOKED'],
      ['rate_limit_exceeded', 429, 'RATE_LIMITED'],
      ['invalid_params', 400, 'INVALID_REQUEST'],
      ['internal_error', 500, 'TRANSIENT'],
    ];
    for (const [code, status, expected] of table) {
      const failure = mapTikTokError(status, body(code), none);
      assert.equal(failure.class, expected, code);
      assert.equal(failure.platformCode, code);
    }
  });

  it('a direct-post refusal (HTTP 403) keeps its code and never asks for a reconnect', () => {
    const table: [string, PublicationErrorClass][] = [
      ['spam_risk_too_many_posts', 'CONTENT_REJECTED'],
      ['spam_risk_user_banned_from_posting', 'CONTENT_REJECTED'],
      ['reached_active_user_cap', 'INVALID_REQUEST'],
      ['unaudited_client_can_only_post_to_private_accounts', 'INVALID_REQUEST'],
      ['url_ownership_unverified', 'INVALID_REQUEST'],
      ['privacy_level_option_mismatch', 'INVALID_REQUEST'],
      ['some_future_refusal', 'INVALID_REQUEST'],
    ];
    for (const [code, expected] of table) {
      const failure = mapTikTokError(403, body(code), none);
      assert.equal(failure.class, expected, code);
      assert.equal(failure.platformCode, code);
    }
    assert.equal(mapTikTokError(403, null, none).class, 'PERMISSION_REVOKED', 'a bare 403 is lost access');
  });

  it('falls back on the status when there is no code', () => {
    assert.equal(mapTikTokError(503, null, none).class, 'TRANSIENT');
    assert.equal(mapTikTokError(502, 'Bad Gateway', none).class, 'TRANSIENT');
    assert.equal(mapTikTokError(429, null, none).class, 'RATE_LIMITED');
    assert.equal(mapTikTokError(401, null, none).class, 'TOKEN_EXPIRED');
    assert.equal(mapTikTokError(404, null, none).class, 'INVALID_REQUEST');
    assert.equal(mapTikTokError(429, null, new Headers({ 'retry-after': '5' })).retryAfterMs, 5000);
  });
});
