// The Canva adapter against the Canva simulator over real HTTP: the PKCE consent, the refresh that rotates the
// refresh token (the old one then refused), the design sync across continuations, and error classes.
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import {
  type CanvaAdapter,
  type CanvaCredentials,
  canvaScopes,
  createCanvaAdapter,
  mapCanvaError,
} from '../connectors/canva.ts';
import { CredentialsRejectedError } from '../connectors/types.ts';
import type { PublicationErrorClass } from '../domain/publication-errors.ts';
import { type CanvaSimulator, startCanvaSimulator } from '../sandbox/canva.ts';
import { closedBaseUrl, expectFailure, pkce } from './support/adapter-harness.ts';

const clientId = 'OC-test-integration';
const clientSecret = 'cnvca-test-secret-81f2a0';
const redirectUri = 'http://127.0.0.1:3000/v1/oauth/canva/callback';
const user = { userId: 'UAF0000001', teamId: 'TAF0000001', displayName: 'Glow Studio' };
const designs = Array.from({ length: 7 }, (_, index) => ({ id: `DAF${index}`, title: `Design ${index}` }));
const start = new Date('2031-05-01T10:00:00.000Z');

let clock = start;
let sim: CanvaSimulator;
let adapter: CanvaAdapter;

beforeEach(async () => {
  clock = start;
  sim = await startCanvaSimulator({
    clientId,
    clientSecret,
    user,
    designs,
    designsPageSize: 3,
    accessTokenSeconds: 60,
    now: () => clock,
  });
  adapter = createCanvaAdapter({
    apiBaseUrl: sim.url,
    authBaseUrl: sim.url,
    clientId,
    clientSecret,
    now: () => clock,
  });
});
afterEach(() => sim.close());

async function consent(state = 'state-42', challenge = pkce().challenge) {
  const answer = await fetch(
    adapter.connector.authorizeUrl({ state, redirectUri, codeChallenge: challenge }),
    {
      redirect: 'manual',
    },
  );
  assert.equal(answer.status, 302);
  return new URL(answer.headers.get('location') ?? '');
}

async function connect() {
  const { verifier, challenge } = pkce();
  const location = await consent('state-42', challenge);
  const code = location.searchParams.get('code');
  assert.ok(code, `no code in ${location}`);
  const connection = await adapter.connector.completeConsent({
    code,
    redirectUri,
    codeVerifier: verifier,
    query: Object.fromEntries(location.searchParams),
  });
  return { code, verifier, connection };
}

describe('Canva connection', () => {
  it('consent with PKCE → tokens dated from expires_in → one canva_team account named after the profile', async () => {
    assert.equal(adapter.connector.pkce, true);
    const url = new URL(
      adapter.connector.authorizeUrl({ state: 's', redirectUri, codeChallenge: 'c'.repeat(43) }),
    );
    assert.equal(url.pathname, '/api/oauth/authorize');
    assert.equal(url.searchParams.get('scope'), 'design:meta:read profile:read');
    assert.equal(url.searchParams.get('code_challenge_method'), 's256');
    assert.equal(url.searchParams.get('response_type'), 'code');

    const { connection } = await connect();
    assert.equal(connection.expiresAt?.toISOString(), new Date(start.getTime() + 60_000).toISOString());
    assert.equal(connection.credentials.teamId, user.teamId);
    assert.equal(connection.credentials.userId, user.userId);
    assert.ok(connection.credentials.refreshToken, 'no refresh token stored under refreshToken');
    assert.deepEqual(connection.accounts, [
      { kind: 'canva_team', externalId: user.teamId, name: user.displayName },
    ]);
    assert.deepEqual(connection.grantedScopes, [...canvaScopes]);

    const [tokenRequest] = sim.receivedMatching('/rest/v1/oauth/token', 'POST');
    const basic = Buffer.from(`${clientId}:${clientSecret}`).toString('base64');
    assert.equal(tokenRequest?.headers.authorization, `Basic ${basic}`);
    assert.equal(
      (tokenRequest?.body as Record<string, string> | undefined)?.client_secret,
      undefined,
      'the secret went in the body',
    );
  });

  it('authorizeUrl refuses to build a URL without a PKCE challenge', () => {
    assert.throws(() => adapter.connector.authorizeUrl({ state: 's', redirectUri }), /PKCE/);
  });

  it('a replayed code is INVALID_REQUEST, and the error does not echo it', async () => {
    const { code, verifier } = await connect();
    const error = await expectFailure(
      adapter.connector.completeConsent({ code, redirectUri, codeVerifier: verifier, query: {} }),
      'INVALID_REQUEST',
      [code, verifier, clientSecret],
    );
    assert.equal(error.failure.platformCode, 'invalid_grant');
  });

  it('a verifier that does not match the challenge is refused', async () => {
    const code = (await consent()).searchParams.get('code') ?? '';
    await expectFailure(
      adapter.connector.completeConsent({ code, redirectUri, codeVerifier: pkce().verifier, query: {} }),
      'INVALID_REQUEST',
      [code],
    );
  });

  it('a code past its 10 minutes is refused', async () => {
    const { verifier, challenge } = pkce();
    const code = (await consent('s', challenge)).searchParams.get('code') ?? '';
    clock = new Date(start.getTime() + 11 * 60_000);
    await expectFailure(
      adapter.connector.completeConsent({ code, redirectUri, codeVerifier: verifier, query: {} }),
      'INVALID_REQUEST',
      [code],
    );
  });

  it('a denied consent comes back with error=access_denied, the state and no code', async () => {
    sim.denyNextConsent();
    const location = await consent('state-7');
    assert.equal(`${location.origin}${location.pathname}`, redirectUri);
    assert.equal(location.searchParams.get('error'), 'access_denied');
    assert.ok(location.searchParams.get('error_description'), 'no error_description');
    assert.equal(location.searchParams.get('state'), 'state-7');
    assert.equal(location.searchParams.get('code'), null);
  });

  it('a user who grants fewer scopes is refused with "Scopes insufficient"', async () => {
    sim.grantScopes = ['profile:read'];
    const error = await connect().then(
      () => assert.fail('the connection succeeded'),
      (caught: unknown) => caught,
    );
    assert.ok(
      error instanceof CredentialsRejectedError,
      `expected CredentialsRejectedError, got ${String(error)}`,
    );
    assert.equal(error.message, 'Scopes insufficient');
  });
});

describe('Canva token refresh', () => {
  let credentials: CanvaCredentials;
  beforeEach(async () => {
    credentials = (await connect()).connection.credentials;
  });

  it('refresh: a new access token that works, the rotated refresh token stored, the old one then refused', async () => {
    assert.equal(adapter.canRefresh?.(credentials), true);
    clock = new Date(start.getTime() + 61_000);
    // The first access token has expired on Canva's clock.
    await expectFailure(
      adapter.sync({
        credentials,
        account: { kind: 'canva_team', externalId: user.teamId },
        since: start,
        until: clock,
      }),
      'TOKEN_EXPIRED',
      [credentials.accessToken],
    );
    const refreshed = await adapter.refreshCredentials(credentials);
    assert.notEqual(refreshed.credentials.accessToken, credentials.accessToken);
    assert.notEqual(refreshed.credentials.refreshToken, credentials.refreshToken);
    assert.equal(refreshed.expiresAt?.getTime(), clock.getTime() + 60_000);
    assert.equal(refreshed.credentials.teamId, user.teamId);
    const synced = await adapter.sync({
      credentials: refreshed.credentials,
      account: { kind: 'canva_team', externalId: user.teamId },
      since: start,
      until: clock,
    });
    assert.equal(synced.itemsRead, designs.length);

    const error = await expectFailure(adapter.refreshCredentials(credentials), 'TOKEN_EXPIRED', [
      credentials.refreshToken,
      clientSecret,
    ]);
    assert.equal(error.failure.platformCode, 'invalid_grant');
    // The rotated one keeps working.
    await adapter.refreshCredentials(refreshed.credentials);
  });

  it('a revoked refresh token → TOKEN_EXPIRED (invalid_grant)', async () => {
    sim.revokeRefreshTokens();
    await expectFailure(adapter.refreshCredentials(credentials), 'TOKEN_EXPIRED', [credentials.refreshToken]);
  });

  it('a 5xx or no answer on refresh is TRANSIENT, never a dead token', async () => {
    sim.failWith('transient', { path: '/rest/v1/oauth/token' });
    await expectFailure(adapter.refreshCredentials(credentials), 'TRANSIENT', [credentials.refreshToken]);
    const { port } = new URL(await closedBaseUrl());
    const offline = createCanvaAdapter({
      apiBaseUrl: `http://127.0.0.1:${port}`,
      authBaseUrl: `http://127.0.0.1:${port}`,
      clientId,
      clientSecret,
    });
    const error = await expectFailure(offline.refreshCredentials(credentials), 'TRANSIENT', [
      credentials.refreshToken,
      clientSecret,
    ]);
    assert.match(error.message, /could not be reached/);
    // Neither failure spent the refresh token.
    await adapter.refreshCredentials(credentials);
  });

  it('any other refusal of a refresh (a 400 invalid_request, a 403) is not a dead grant: never TOKEN_EXPIRED', async () => {
    for (const [status, error] of [
      [400, 'invalid_request'],
      [403, 'access_denied'],
    ] as const) {
      sim.failNext({
        path: '/rest/v1/oauth/token',
        method: 'POST',
        response: { status, body: { error, error_description: 'refused for another reason' } },
      });
      const failure = await expectFailure(adapter.refreshCredentials(credentials), 'INVALID_REQUEST', [
        credentials.refreshToken,
      ]);
      assert.equal(failure.failure.platformCode, error);
    }
    // The refresh token is still good: nothing asked the user to reconnect for these.
    await adapter.refreshCredentials(credentials);
  });

  it("wrong app credentials are INVALID_REQUEST (configuration), not the user's dead token", async () => {
    const wrong = createCanvaAdapter({
      apiBaseUrl: sim.url,
      authBaseUrl: sim.url,
      clientId,
      clientSecret: 'nope-not-it',
    });
    const error = await expectFailure(wrong.refreshCredentials(credentials), 'INVALID_REQUEST', [
      'nope-not-it',
      credentials.refreshToken,
    ]);
    assert.equal(error.failure.platformCode, 'invalid_client');
  });
});

describe('Canva sync', () => {
  let credentials: CanvaCredentials;
  const account = { kind: 'canva_team', externalId: user.teamId };
  beforeEach(async () => {
    credentials = (await connect()).connection.credentials;
  });

  it('reads every design across continuations (3 per page → 3 requests)', async () => {
    const result = await adapter.sync({ credentials, account, since: start, until: start });
    assert.deepEqual(result, { itemsRead: 7 });
    const pages = sim.receivedMatching('/rest/v1/designs', 'GET');
    assert.equal(pages.length, 3);
    assert.equal(pages[0]?.query.continuation, undefined);
    assert.ok(pages[1]?.query.continuation, 'the second page was asked without the continuation');
    assert.equal(pages[2]?.headers.authorization, `Bearer ${credentials.accessToken}`);
  });

  it('another account than its team is INVALID_REQUEST', async () => {
    await expectFailure(
      adapter.sync({
        credentials,
        account: { kind: 'canva_team', externalId: 'other' },
        since: start,
        until: start,
      }),
      'INVALID_REQUEST',
      [],
    );
  });

  it('Connect API errors land in their classes, after exactly one request each', async () => {
    const cases: [Parameters<CanvaSimulator['failWith']>[0], PublicationErrorClass][] = [
      ['token_invalid', 'TOKEN_EXPIRED'],
      ['forbidden', 'PERMISSION_REVOKED'],
      ['rate_limited', 'RATE_LIMITED'],
      ['transient', 'TRANSIENT'],
    ];
    for (const [kind, expected] of cases) {
      const before = sim.receivedMatching('/rest/v1/designs').length;
      sim.failWith(kind, { path: '/rest/v1/designs' });
      const error = await expectFailure(
        adapter.sync({ credentials, account, since: start, until: start }),
        expected,
        [credentials.accessToken],
      );
      assert.equal(
        sim.receivedMatching('/rest/v1/designs').length,
        before + 1,
        `${kind}: not exactly one request`,
      );
      if (expected === 'RATE_LIMITED') assert.ok((error.failure.retryAfterMs ?? 0) > 0, 'no delay on a 429');
    }
  });

  it('expired access tokens → TOKEN_EXPIRED (invalid_access_token)', async () => {
    sim.expireAccessTokens();
    const error = await expectFailure(
      adapter.sync({ credentials, account, since: start, until: start }),
      'TOKEN_EXPIRED',
      [credentials.accessToken],
    );
    assert.equal(error.failure.platformCode, 'invalid_access_token');
  });
});

describe('mapCanvaError', () => {
  it("maps each status onto its class and keeps Canva's code", () => {
    const none = new Headers();
    const body = (code: string) => ({ code, message: 'm' });
    assert.deepEqual(mapCanvaError(401, body('invalid_access_token'), none), {
      class: 'TOKEN_EXPIRED',
      message: 'm',
      platformCode: 'invalid_access_token',
    });
    assert.equal(mapCanvaError(403, body('permission_denied'), none).class, 'PERMISSION_REVOKED');
    assert.equal(mapCanvaError(429, null, new Headers({ 'retry-after': '2' })).retryAfterMs, 2000);
    assert.equal(mapCanvaError(502, null, none).class, 'TRANSIENT');
    assert.equal(mapCanvaError(400, body('invalid_field'), none).class, 'INVALID_REQUEST');
  });
});
