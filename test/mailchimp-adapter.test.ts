// The Mailchimp adapter against the Mailchimp simulator over real HTTP: the OAuth connection (code → token
// that never expires → the data center from the metadata → audiences), the credential check, and error classes.
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import {
  createMailchimpAdapter,
  type MailchimpAdapter,
  type MailchimpCredentials,
  mapMailchimpError,
} from '../connectors/mailchimp.ts';
import { type MailchimpSimulator, startMailchimpSimulator } from '../sandbox/mailchimp.ts';
import { closedBaseUrl, expectFailure, expectRejected, withHungServer } from './support/adapter-harness.ts';

const clientId = '998877665544';
const clientSecret = 'mailchimp-test-secret-5c1d9e';
const redirectUri = 'http://127.0.0.1:3000/v1/oauth/mailchimp/callback';
const lists = Array.from({ length: 5 }, (_, index) => ({
  id: `list${String(index + 1).padStart(6, '0')}`,
  name: `Audience ${index + 1}`,
}));

let sim: MailchimpSimulator;
let adapter: MailchimpAdapter;

async function start(options: Parameters<typeof startMailchimpSimulator>[0] = {}) {
  sim = await startMailchimpSimulator({ clientId, clientSecret, lists, listsPageLimit: 2, ...options });
  adapter = createMailchimpAdapter({ authBaseUrl: sim.url, clientId, clientSecret });
}

/** The user's round trip: consent page → redirect with a code → the code, as the callback receives it. */
async function consent(state = 'state-42') {
  const answer = await fetch(adapter.connector.authorizeUrl({ state, redirectUri }), { redirect: 'manual' });
  assert.equal(answer.status, 302);
  return new URL(answer.headers.get('location') ?? '');
}

async function connect() {
  const location = await consent();
  const code = location.searchParams.get('code');
  assert.ok(code, `no code in ${location}`);
  const connection = await adapter.connector.completeConsent({
    code,
    redirectUri,
    query: Object.fromEntries(location.searchParams),
  });
  return { code, connection };
}

describe('Mailchimp connection', () => {
  beforeEach(() => start());
  afterEach(() => sim.close());

  it('consent → code → token (never expires) → data center from the metadata → one account per audience', async () => {
    const url = new URL(adapter.connector.authorizeUrl({ state: 's-1', redirectUri }));
    assert.equal(url.pathname, '/oauth2/authorize');
    assert.deepEqual(Object.fromEntries(url.searchParams), {
      response_type: 'code',
      client_id: clientId,
      redirect_uri: redirectUri,
      state: 's-1',
    });
    assert.equal(adapter.connector.pkce, false);

    const location = await consent('state-42');
    assert.equal(`${location.origin}${location.pathname}`, redirectUri);
    assert.equal(location.searchParams.get('state'), 'state-42');

    const { connection } = await connect();
    assert.equal(connection.expiresAt, null);
    assert.equal(connection.credentials.dc, 'us19');
    assert.equal(connection.credentials.apiEndpoint, sim.url);
    assert.ok(connection.credentials.accessToken.length > 10, 'no access token');
    assert.deepEqual(
      connection.accounts,
      lists.map((list) => ({ kind: 'mailchimp_audience', externalId: list.id, name: list.name })),
    );

    const [token] = sim.receivedMatching('/oauth2/token', 'POST');
    assert.deepEqual(
      { ...(token?.body as Record<string, string>), code: 'x' },
      {
        grant_type: 'authorization_code',
        client_id: clientId,
        client_secret: clientSecret,
        redirect_uri: redirectUri,
        code: 'x',
      },
    );
    const [metadata] = sim.receivedMatching('/oauth2/metadata', 'GET');
    assert.equal(metadata?.headers.authorization, `OAuth ${connection.credentials.accessToken}`);
    // Five lists, two per answer (the simulator caps count): three pages, each from where the last one ended.
    const pages = sim.receivedMatching('/3.0/lists', 'GET');
    assert.deepEqual(
      pages.map((page) => [page.query.count, page.query.offset]),
      [
        ['1000', '0'],
        ['1000', '2'],
        ['1000', '4'],
      ],
    );
  });

  it('a replayed code is refused as INVALID_REQUEST, and the error does not echo it', async () => {
    const { code } = await connect();
    await expectFailure(
      adapter.connector.completeConsent({ code, redirectUri, query: { code } }),
      'INVALID_REQUEST',
      [code, clientSecret],
    );
  });

  it('a code is refused for another redirect_uri', async () => {
    const code = (await consent()).searchParams.get('code') ?? '';
    const error = await expectFailure(
      adapter.connector.completeConsent({
        code,
        redirectUri: 'http://127.0.0.1:9/elsewhere',
        query: { code },
      }),
      'INVALID_REQUEST',
      [code],
    );
    assert.equal(error.failure.platformCode, 'invalid_grant');
  });

  it('a denied consent comes back with error=access_denied, the state and no code', async () => {
    sim.denyNextConsent();
    const location = await consent('state-7');
    assert.equal(`${location.origin}${location.pathname}`, redirectUri);
    assert.equal(location.searchParams.get('error'), 'access_denied');
    assert.equal(location.searchParams.get('state'), 'state-7');
    assert.equal(location.searchParams.get('code'), null);
    // Only the next one: the one after that is approved again.
    assert.ok((await consent()).searchParams.get('code'), 'the consent after a denial gave no code');
  });

  it('a user whose role cannot send campaigns (viewer) is refused with "Scopes insufficient"', async () => {
    await sim.close();
    await start({ role: 'viewer' });
    const code = (await consent()).searchParams.get('code') ?? '';
    await expectRejected(
      adapter.connector.completeConsent({ code, redirectUri, query: { code } }),
      /^Scopes insufficient$/,
    );
  });

  it('wrong app credentials are INVALID_REQUEST (a configuration problem), never echoing the secret', async () => {
    const wrong = createMailchimpAdapter({
      authBaseUrl: sim.url,
      clientId,
      clientSecret: 'not-the-secret-123',
    });
    const code = (await consent()).searchParams.get('code') ?? '';
    const error = await expectFailure(
      wrong.connector.completeConsent({ code, redirectUri, query: { code } }),
      'INVALID_REQUEST',
      ['not-the-secret-123', code],
    );
    assert.equal(error.failure.platformCode, 'invalid_client');
  });

  it('the metadata endpoint refusing the token with HTTP 200 {"error":"invalid_token"} → TOKEN_EXPIRED, not TRANSIENT', async () => {
    sim.failWith('metadata_token_refused', { path: '/oauth2/metadata', method: 'GET' });
    const location = await consent();
    const code = location.searchParams.get('code') ?? '';
    const error = await expectFailure(
      adapter.connector.completeConsent({
        code,
        redirectUri,
        query: Object.fromEntries(location.searchParams),
      }),
      'TOKEN_EXPIRED',
      [clientSecret, code],
    );
    assert.equal(error.failure.platformCode, 'invalid_token');
    assert.equal(
      sim.receivedMatching('/3.0/lists', 'GET').length,
      0,
      'no audience read with a refused token',
    );
  });

  it('the apiBaseUrl option overrides the data-center endpoint from the metadata', async () => {
    const { connection } = await connect();
    const elsewhere = await startMailchimpSimulator({ clientId, clientSecret, lists: [] });
    try {
      const overridden = createMailchimpAdapter({
        authBaseUrl: sim.url,
        apiBaseUrl: elsewhere.url,
        clientId,
        clientSecret,
      });
      // The other simulator knows no token: the call reached it, not the account's own endpoint.
      await expectRejected(overridden.verifyCredentials(connection.credentials), /refused the access token/);
      assert.equal(elsewhere.receivedMatching('/3.0/ping').length, 1);
    } finally {
      await elsewhere.close();
    }
  });
});

describe('Mailchimp credentials and audiences', () => {
  let credentials: MailchimpCredentials;
  beforeEach(async () => {
    await start();
    credentials = (await connect()).connection.credentials;
  });
  afterEach(() => sim.close());

  it('verifyCredentials pings the data center with the Bearer token', async () => {
    await adapter.verifyCredentials(credentials);
    const pings = sim.receivedMatching('/3.0/ping', 'GET');
    assert.equal(pings.at(-1)?.headers.authorization, `Bearer ${credentials.accessToken}`);
  });

  it('listAudiences pages through every list (kind list)', async () => {
    const before = sim.receivedMatching('/3.0/lists').length;
    const audiences = await adapter.listAudiences(credentials);
    assert.deepEqual(
      audiences,
      lists.map((list) => ({ id: list.id, name: list.name, kind: 'list' })),
    );
    const pages = sim.receivedMatching('/3.0/lists').slice(before);
    assert.deepEqual(
      pages.map((page) => page.query.offset),
      ['0', '2', '4'],
    );
  });

  it('a token the user disconnected: verifyCredentials says so (CredentialsRejectedError), listAudiences is TOKEN_EXPIRED', async () => {
    sim.revokeTokens();
    await expectRejected(adapter.verifyCredentials(credentials), /refused the access token/);
    const error = await expectFailure(adapter.listAudiences(credentials), 'TOKEN_EXPIRED', [
      credentials.accessToken,
    ]);
    assert.equal(error.failure.platformCode, 'API Key Invalid');
  });

  it('a 403 with its problem document → PERMISSION_REVOKED; verifyCredentials says "Scopes insufficient"', async () => {
    sim.failWith('forbidden', { path: '/3.0/lists' });
    await expectFailure(adapter.listAudiences(credentials), 'PERMISSION_REVOKED', [credentials.accessToken]);
    sim.failWith('forbidden', { path: '/3.0/ping' });
    await expectRejected(adapter.verifyCredentials(credentials), /^Scopes insufficient$/);
  });

  it('429 and a bare 403 (throttling) → RATE_LIMITED with a delay, never a reconnect', async () => {
    sim.failWith('rate_limited', { path: '/3.0/lists' });
    const limited = await expectFailure(adapter.listAudiences(credentials), 'RATE_LIMITED', []);
    assert.ok((limited.failure.retryAfterMs ?? 0) > 0, 'no delay on a 429');
    sim.failWith('throttled_403', { path: '/3.0/ping' });
    await expectFailure(adapter.verifyCredentials(credentials), 'RATE_LIMITED', []);
  });

  it('5xx → TRANSIENT, after exactly one request', async () => {
    const before = sim.receivedMatching('/3.0/ping').length;
    sim.failWith('transient', { path: '/3.0/ping' });
    await expectFailure(adapter.verifyCredentials(credentials), 'TRANSIENT', [credentials.accessToken]);
    assert.equal(sim.receivedMatching('/3.0/ping').length, before + 1);
    // The next call is answered normally: the failure was only the next one.
    await adapter.verifyCredentials(credentials);
  });

  it('a network error (nothing listening) is TRANSIENT and names no secret', async () => {
    const { port } = new URL(await closedBaseUrl());
    const offline = `http://127.0.0.1:${port}`;
    const error = await expectFailure(
      adapter.verifyCredentials({ ...credentials, apiEndpoint: offline }),
      'TRANSIENT',
      [credentials.accessToken],
    );
    assert.match(error.message, /could not be reached/);
    const cut = createMailchimpAdapter({ authBaseUrl: offline, clientId, clientSecret });
    await expectFailure(
      cut.connector.completeConsent({ code: 'some-code-value', redirectUri, query: {} }),
      'TRANSIENT',
      [clientSecret, 'some-code-value'],
    );
  });

  it('a request left unanswered past requestTimeoutMs is TRANSIENT', async () => {
    await withHungServer(async (base) => {
      const impatient = createMailchimpAdapter({
        authBaseUrl: sim.url,
        clientId,
        clientSecret,
        requestTimeoutMs: 200,
      });
      const error = await expectFailure(
        impatient.verifyCredentials({ ...credentials, apiEndpoint: base }),
        'TRANSIENT',
        [credentials.accessToken],
      );
      assert.match(error.message, /no answer within/);
    });
  });
});

describe('mapMailchimpError', () => {
  const body = (status: number, title: string) => ({ type: 'x', title, status, detail: 'd', instance: 'i' });
  it('maps each status onto its class', () => {
    const none = new Headers();
    assert.equal(mapMailchimpError(401, body(401, 'API Key Invalid'), none).class, 'TOKEN_EXPIRED');
    assert.equal(mapMailchimpError(403, body(403, 'Forbidden'), none).class, 'PERMISSION_REVOKED');
    assert.equal(mapMailchimpError(403, null, none).class, 'RATE_LIMITED');
    // A proxy's HTML page is not Mailchimp's problem document either: throttling, not lost access.
    assert.equal(mapMailchimpError(403, '<html>Forbidden</html>', none).class, 'RATE_LIMITED');
    assert.equal(
      mapMailchimpError(429, body(429, 'Too Many Requests'), new Headers({ 'retry-after': '3' }))
        .retryAfterMs,
      3000,
    );
    assert.equal(mapMailchimpError(500, null, none).class, 'TRANSIENT');
    assert.equal(mapMailchimpError(400, body(400, 'Invalid Resource'), none).class, 'INVALID_REQUEST');
  });
});
