// The Shopify adapter against the Shopify simulator over real HTTP: the install of one shop (signed callback,
// wrong shop and tampered hmac refused, offline token, granted scopes checked), discovery of the store and its
// blogs, the credential check, the product sync paced by Shopify's cost bucket, and error classes.
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import {
  createShopifyAdapter,
  mapShopifyError,
  normalizeShop,
  type ShopifyAdapter,
  type ShopifyCredentials,
  shopifyApiVersion,
  shopifyScopes,
  shopifyScopesCover,
  verifyShopifyHmac,
} from '../connectors/shopify.ts';
import { PlatformError, type PublicationErrorClass } from '../domain/publication-errors.ts';
import { type ShopifySimulator, signShopifyQuery, startShopifySimulator } from '../sandbox/shopify.ts';
import { closedBaseUrl, expectFailure, expectRejected } from './support/adapter-harness.ts';

const clientId = 'shopify-test-app';
const clientSecret = 'shpss_test_secret_0a9b8c7d';
const redirectUri = 'http://127.0.0.1:3000/v1/oauth/shopify/callback';
const start = new Date('2031-05-01T10:00:00.000Z');
const glow = {
  shop: 'glow-beauty',
  name: 'Glow Beauty',
  blogs: [{ title: 'News' }, { title: 'Skincare tips' }],
  products: 230,
};
const other = { shop: 'other-store', name: 'Other Store', blogs: [], products: 1 };

let clock = start;
let sim: ShopifySimulator;
let adapter: ShopifyAdapter;
/** Every wait the sync asked for; the wait moves the shared clock, so the bucket refills. */
let slept: number[] = [];

async function startHarness(options: Parameters<typeof startShopifySimulator>[0] = {}) {
  clock = start;
  slept = [];
  sim = await startShopifySimulator({
    clientId,
    clientSecret,
    shops: [glow, other],
    now: () => clock,
    ...options,
  });
  adapter = createShopifyAdapter({
    shopBaseUrl: `${sim.url}/shops/{shop}`,
    clientId,
    clientSecret,
    sleep: async (ms) => {
      slept.push(ms);
      clock = new Date(clock.getTime() + ms);
    },
  });
}

/** The merchant's round trip: install page → signed redirect → the whole callback query. */
async function install(shop = 'glow-beauty', state = 'state-42') {
  const answer = await fetch(adapter.connector.authorizeUrl({ state, redirectUri, shop }), {
    redirect: 'manual',
  });
  assert.equal(answer.status, 302, `the install page answered ${answer.status}`);
  const location = new URL(answer.headers.get('location') ?? '');
  return Object.fromEntries(location.searchParams);
}

async function connect(shop = 'glow-beauty') {
  const query = await install(shop);
  assert.ok(query.code, 'no code in the callback');
  const connection = await adapter.connector.completeConsent({ code: query.code, redirectUri, shop, query });
  return { query, connection };
}

describe('normalizeShop', () => {
  it('takes a bare subdomain, name.myshopify.com or its URL; refuses anything else', () => {
    assert.equal(normalizeShop('glow-beauty'), 'glow-beauty');
    assert.equal(normalizeShop(' Glow-Beauty.myshopify.com '), 'glow-beauty');
    assert.equal(normalizeShop('https://glow-beauty.myshopify.com/'), 'glow-beauty');
    for (const bad of [
      '',
      '-glow',
      'glow.example.com',
      'glow_beauty',
      'evil.com/x',
      'a'.repeat(64),
      'glow beauty',
    ])
      assert.equal(normalizeShop(bad), null, `"${bad}" was accepted`);
  });
});

describe('Shopify install', () => {
  beforeEach(() => startHarness());
  afterEach(() => sim.close());

  it('install page → signed callback → offline token → the store and its blogs', async () => {
    assert.equal(adapter.connector.needsShop, true);
    const url = new URL(
      adapter.connector.authorizeUrl({ state: 's-1', redirectUri, shop: 'Glow-Beauty.myshopify.com' }),
    );
    assert.equal(url.pathname, '/shops/glow-beauty/admin/oauth/authorize');
    assert.deepEqual(Object.fromEntries(url.searchParams), {
      client_id: clientId,
      scope: 'write_content,write_products,read_products',
      redirect_uri: redirectUri,
      state: 's-1',
    });

    const { query, connection } = await connect();
    assert.deepEqual(Object.keys(query).sort(), ['code', 'hmac', 'host', 'shop', 'state', 'timestamp']);
    assert.equal(query.shop, 'glow-beauty.myshopify.com');
    assert.equal(query.state, 'state-42');
    assert.equal(connection.expiresAt, null);
    assert.match(connection.credentials.accessToken, /^shpat_/);
    assert.equal(connection.credentials.shop, 'glow-beauty');
    // Shopify leaves out read_products: write_products implies it.
    assert.deepEqual(connection.grantedScopes, ['write_content', 'write_products']);
    assert.deepEqual(
      connection.accounts.map(({ kind, name }) => [kind, name]),
      [
        ['shopify_store', 'Glow Beauty'],
        ['shopify_blog', 'News'],
        ['shopify_blog', 'Skincare tips'],
      ],
    );
    assert.equal(connection.accounts[0]?.externalId, 'glow-beauty.myshopify.com');
    assert.match(connection.accounts[1]?.externalId ?? '', /^gid:\/\/shopify\/Blog\/\d+$/);

    const [token] = sim.receivedMatching('/admin/oauth/access_token', 'POST');
    assert.deepEqual(token?.body, { client_id: clientId, client_secret: clientSecret, code: query.code });
    const [graphql] = sim.receivedMatching(`/admin/api/${shopifyApiVersion}/graphql.json`, 'POST');
    assert.equal(graphql?.headers['x-shopify-access-token'], connection.credentials.accessToken);
  });

  it('a tampered callback (hmac no longer matches) is INVALID_REQUEST, before any code exchange', async () => {
    const query = await install();
    const tampered = { ...query, state: 'another-state' };
    const error = await expectFailure(
      adapter.connector.completeConsent({
        code: query.code ?? '',
        redirectUri,
        shop: 'glow-beauty',
        query: tampered,
      }),
      'INVALID_REQUEST',
      [query.code ?? '', clientSecret],
    );
    assert.match(error.message, /hmac/);
    const unsigned = { ...query, hmac: '' };
    // Signed with another secret: not Shopify.
    const forged = signShopifyQuery(query, 'shpss_someone_else');
    for (const callback of [unsigned, forged]) {
      await expectFailure(
        adapter.connector.completeConsent({
          code: query.code ?? '',
          redirectUri,
          shop: 'glow-beauty',
          query: callback,
        }),
        'INVALID_REQUEST',
        [],
      );
    }
    assert.equal(sim.receivedMatching('/admin/oauth/access_token').length, 0, 'a code was exchanged');
    // The untouched query still goes through: nothing was spent.
    await adapter.connector.completeConsent({
      code: query.code ?? '',
      redirectUri,
      shop: 'glow-beauty',
      query,
    });
  });

  it('a correctly signed callback for another shop than the one connecting is INVALID_REQUEST', async () => {
    const query = await install('other-store');
    assert.ok(verifyShopifyHmac(query, clientSecret), 'the simulator signed the callback wrongly');
    const error = await expectFailure(
      adapter.connector.completeConsent({ code: query.code ?? '', redirectUri, shop: 'glow-beauty', query }),
      'INVALID_REQUEST',
      [],
    );
    assert.match(error.message, /another shop/);
    assert.equal(sim.receivedMatching('/admin/oauth/access_token').length, 0, 'a code was exchanged');
  });

  it('a replayed code is INVALID_REQUEST, and the error does not echo it', async () => {
    const { query } = await connect();
    await expectFailure(
      adapter.connector.completeConsent({ code: query.code ?? '', redirectUri, shop: 'glow-beauty', query }),
      'INVALID_REQUEST',
      [query.code ?? '', clientSecret],
    );
  });

  it('a code past its 10 minutes is refused', async () => {
    const query = await install();
    clock = new Date(start.getTime() + 11 * 60_000);
    await expectFailure(
      adapter.connector.completeConsent({ code: query.code ?? '', redirectUri, shop: 'glow-beauty', query }),
      'INVALID_REQUEST',
      [query.code ?? ''],
    );
  });

  it('a merchant who does not install: the install page answers, and no callback comes', async () => {
    sim.denyNextConsent();
    const answer = await fetch(
      adapter.connector.authorizeUrl({ state: 's', redirectUri, shop: 'glow-beauty' }),
      {
        redirect: 'manual',
      },
    );
    assert.equal(answer.status, 200);
    assert.equal(answer.headers.get('location'), null);
  });

  it('a merchant who unticks a scope is refused with "Scopes insufficient"', async () => {
    sim.grantScopes = ['write_content', 'read_products'];
    const query = await install();
    await expectRejected(
      adapter.connector.completeConsent({ code: query.code ?? '', redirectUri, shop: 'glow-beauty', query }),
      /^Scopes insufficient$/,
    );
  });

  it('an unknown shop answers 404: the install page, and the token exchange as INVALID_REQUEST', async () => {
    const answer = await fetch(
      adapter.connector.authorizeUrl({ state: 's', redirectUri, shop: 'no-such-shop' }),
      {
        redirect: 'manual',
      },
    );
    assert.equal(answer.status, 404);
    const query = signShopifyQuery(
      { code: 'abc123abc123', shop: 'no-such-shop.myshopify.com', state: 's', timestamp: '1' },
      clientSecret,
    );
    const error = await expectFailure(
      adapter.connector.completeConsent({ code: 'abc123abc123', redirectUri, shop: 'no-such-shop', query }),
      'INVALID_REQUEST',
      [],
    );
    assert.match(error.message, /no shop/);
  });

  it('a shop that is not a subdomain is refused before anything is sent', async () => {
    assert.throws(
      () => adapter.connector.authorizeUrl({ state: 's', redirectUri, shop: 'evil.com/x' }),
      (error: unknown) => error instanceof PlatformError && error.failure.class === 'INVALID_REQUEST',
    );
    await expectFailure(
      adapter.connector.completeConsent({ code: 'c', redirectUri, query: {} }),
      'INVALID_REQUEST',
      [],
    );
    assert.equal(sim.received.length, 0);
  });

  it('5xx and a network error on the token exchange are TRANSIENT', async () => {
    const query = await install();
    sim.failWith('transient', { path: '/admin/oauth/access_token' });
    await expectFailure(
      adapter.connector.completeConsent({ code: query.code ?? '', redirectUri, shop: 'glow-beauty', query }),
      'TRANSIENT',
      [query.code ?? '', clientSecret],
    );
    const { port } = new URL(await closedBaseUrl());
    const offline = createShopifyAdapter({
      shopBaseUrl: `http://127.0.0.1:${port}/shops/{shop}`,
      clientId,
      clientSecret,
    });
    const error = await expectFailure(
      offline.connector.completeConsent({ code: query.code ?? '', redirectUri, shop: 'glow-beauty', query }),
      'TRANSIENT',
      [query.code ?? '', clientSecret],
    );
    assert.match(error.message, /could not be reached/);
  });
});

describe('Shopify credentials and sync', () => {
  let credentials: ShopifyCredentials;
  const store = { kind: 'shopify_store', externalId: 'glow-beauty.myshopify.com' };
  const sync = (input: Partial<Parameters<ShopifyAdapter['sync']>[0]> = {}) =>
    adapter.sync({ credentials, account: store, since: start, until: start, ...input });

  beforeEach(async () => {
    await startHarness();
    credentials = (await connect()).connection.credentials;
  });
  afterEach(() => sim.close());

  it('verifyCredentials asks for the shop name; an uninstalled app is refused (CredentialsRejectedError)', async () => {
    await adapter.verifyCredentials(credentials);
    const last = sim.receivedMatching('/graphql.json').at(-1);
    assert.equal((last?.body as { query?: string } | undefined)?.query, '{ shop { name } }');
    sim.revokeTokens('glow-beauty');
    await expectRejected(adapter.verifyCredentials(credentials), /refused the access token/);
  });

  it('sync counts every product, 100 a page (230 → 3 pages)', async () => {
    assert.deepEqual(await sync(), { itemsRead: 230 });
    const pages = sim.receivedMatching('/graphql.json').slice(-3);
    assert.deepEqual(
      pages.map((page) => (page.body as { variables: { after: string | null } }).variables.after === null),
      [true, false, false],
    );
    assert.deepEqual(slept, [], 'a full bucket needed no pause');
  });

  it('sync paces itself by the bucket Shopify reports, so a store larger than the bucket still completes', async () => {
    await sim.close();
    await startHarness({ throttle: { maximumAvailable: 150, restoreRate: 50 } });
    credentials = (await connect()).connection.credentials;
    clock = new Date(clock.getTime() + 60_000);
    assert.deepEqual(await sync(), { itemsRead: 230 });
    // After page 1 (cost 102) 48 points are left: (102 − 48) / 50 a second = 1.08 s; after page 2, none:
    // 102 / 50 = 2.04 s. No request was throttled.
    assert.deepEqual(slept, [1080, 2040]);
  });

  it('THROTTLED (HTTP 200 or 429) → RATE_LIMITED with the delay from the cost', async () => {
    sim.failWith('throttled', { path: '/graphql.json', currentlyAvailable: 2, restoreRate: 50 });
    const error = await expectFailure(sync(), 'RATE_LIMITED', [credentials.accessToken]);
    // (102 − 2) / 50 per second.
    assert.equal(error.failure.retryAfterMs, 2000);
    assert.equal(error.failure.platformCode, 'THROTTLED');
    sim.failWith('throttled_429', { path: '/graphql.json', currentlyAvailable: 52, restoreRate: 100 });
    const again = await expectFailure(sync(), 'RATE_LIMITED', [credentials.accessToken]);
    assert.equal(again.failure.retryAfterMs, 500);
  });

  it('the bucket itself throttles a query costing more than is left', async () => {
    await sim.close();
    await startHarness({ throttle: { maximumAvailable: 100, restoreRate: 10 } });
    credentials = (await connect()).connection.credentials;
    // The discovery cost 53 of 100: a products page (102) is more than the bucket can ever hold.
    const error = await expectFailure(sync(), 'RATE_LIMITED', [credentials.accessToken]);
    assert.equal(error.failure.platformCode, 'THROTTLED');
  });

  it('401 → TOKEN_EXPIRED; ACCESS_DENIED → PERMISSION_REVOKED; 5xx → TRANSIENT; one request each', async () => {
    const cases: [Parameters<ShopifySimulator['failWith']>[0], PublicationErrorClass][] = [
      ['unauthorized', 'TOKEN_EXPIRED'],
      ['access_denied', 'PERMISSION_REVOKED'],
      ['transient', 'TRANSIENT'],
    ];
    for (const [kind, expected] of cases) {
      const before = sim.receivedMatching('/graphql.json').length;
      sim.failWith(kind, { path: '/graphql.json' });
      await expectFailure(sync(), expected, [credentials.accessToken]);
      assert.equal(
        sim.receivedMatching('/graphql.json').length,
        before + 1,
        `${kind}: not exactly one request`,
      );
    }
  });

  it('another account than the store (a blog, another shop) is INVALID_REQUEST', async () => {
    await expectFailure(
      sync({ account: { kind: 'shopify_blog', externalId: 'gid://shopify/Blog/1' } }),
      'INVALID_REQUEST',
      [],
    );
    await expectFailure(
      sync({ account: { kind: 'shopify_store', externalId: 'other-store.myshopify.com' } }),
      'INVALID_REQUEST',
      [],
    );
  });

  it('a token for one shop is refused by another (401)', async () => {
    await expectFailure(
      sync({
        credentials: { ...credentials, shop: 'other-store' },
        account: { kind: 'shopify_store', externalId: 'other-store.myshopify.com' },
      }),
      'TOKEN_EXPIRED',
      [credentials.accessToken],
    );
  });
});

describe('the Shopify simulator as a GraphQL server', () => {
  beforeEach(() => startHarness());
  afterEach(() => sim.close());

  it('refuses unknown fields, a connection without first, and another API version, as Shopify does', async () => {
    const { connection } = await connect();
    const ask = (query: string, version = shopifyApiVersion) =>
      fetch(`${sim.url}/shops/glow-beauty/admin/api/${version}/graphql.json`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'x-shopify-access-token': connection.credentials.accessToken,
        },
        body: JSON.stringify({ query }),
      });
    const unknown = (await (await ask('{ shop { nam } }')).json()) as {
      errors: { extensions: { code: string } }[];
    };
    assert.equal(unknown.errors[0]?.extensions.code, 'undefinedField');
    const unbounded = (await (await ask('{ products { nodes { id } } }')).json()) as {
      errors: { message: string }[];
    };
    assert.match(unbounded.errors[0]?.message ?? '', /first or last/);
    assert.equal((await ask('{ shop { name } }', '2024-01')).status, 404);
    const ok = (await (await ask('{ shop { name } }')).json()) as {
      data: unknown;
      extensions: { cost: { requestedQueryCost: number } };
    };
    assert.deepEqual(ok.data, { shop: { name: 'Glow Beauty' } });
    assert.equal(ok.extensions.cost.requestedQueryCost, 1);
  });
});

describe('Shopify helpers', () => {
  it('verifyShopifyHmac accepts what Shopify signs and nothing else', () => {
    const query = signShopifyQuery(
      {
        code: 'c0de',
        host: 'YWRtaW4uc2hvcGlmeS5jb20vc3RvcmUvZ2xvdw==',
        shop: 'glow.myshopify.com',
        state: 'a b&c',
        timestamp: '1',
      },
      clientSecret,
    );
    assert.ok(verifyShopifyHmac(query, clientSecret), 'a signed query was refused');
    assert.ok(!verifyShopifyHmac(query, 'another-secret'), 'a query signed with another secret was accepted');
    assert.ok(
      !verifyShopifyHmac({ ...query, timestamp: '2' }, clientSecret),
      'a tampered query was accepted',
    );
    assert.ok(!verifyShopifyHmac({ ...query, hmac: 'zz' }, clientSecret), 'a malformed hmac was accepted');
  });

  it('a write scope covers its read scope', () => {
    assert.ok(
      shopifyScopesCover(['write_content', 'write_products'], shopifyScopes),
      'write_products did not cover read_products',
    );
    assert.ok(
      !shopifyScopesCover(['write_content', 'read_products'], shopifyScopes),
      'read_products covered write_products',
    );
  });

  it('mapShopifyError reads THROTTLED from the body whatever the status', () => {
    const body = {
      errors: [{ message: 'Throttled', extensions: { code: 'THROTTLED' } }],
      extensions: {
        cost: { requestedQueryCost: 300, throttleStatus: { currentlyAvailable: 100, restoreRate: 100 } },
      },
    };
    assert.deepEqual(mapShopifyError(200, body, new Headers()), {
      class: 'RATE_LIMITED',
      message: 'Throttled',
      platformCode: 'THROTTLED',
      retryAfterMs: 2000,
    });
    assert.equal(
      mapShopifyError(401, { errors: '[API] Invalid API key' }, new Headers()).class,
      'TOKEN_EXPIRED',
    );
    assert.equal(mapShopifyError(502, null, new Headers()).class, 'TRANSIENT');
    assert.equal(mapShopifyError(402, null, new Headers()).class, 'INVALID_REQUEST');
  });
});
