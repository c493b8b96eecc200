// The Shopify adapter against the Shopify simulator over real HTTP: the install of one shop (signed callback,
// wrong shop and tampered hmac refused, offline token, granted scopes checked), discovery of the store and its
// blogs, the credential check, the product sync paced by Shopify's cost bucket, article hand-offs (one hidden
// article for exactly the time, never two after a lost answer, cancel by deletion, confirmation by reading it
// back), and error classes.
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import {
  articleHandle,
  createShopifyAdapter,
  mapShopifyError,
  mapShopifyUserErrors,
  normalizeShop,
  type ShopifyAdapter,
  type ShopifyCredentials,
  shopifyApiVersion,
  shopifyScopes,
  shopifyScopesCover,
  verifyShopifyHmac,
} from '../connectors/shopify.ts';
import type { HandOffContext, PublicationProgress } from '../connectors/types.ts';
import type { TaskContent } from '../domain/content.ts';
import {
  HandOffLockedError,
  PlatformError,
  type PublicationErrorClass,
} from '../domain/publication-errors.ts';
import { type ShopifySimulator, signShopifyQuery, startShopifySimulator } from '../sandbox/shopify.ts';
import {
  closedBaseUrl,
  expectFailure,
  expectRejected,
  recordingHandOffContext,
  recordingOverdue,
} from './support/adapter-harness.ts';

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
    now: () => clock,
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

describe('handing a shopify_article to Shopify', () => {
  let credentials: ShopifyCredentials;
  let blogs: { kind: string; externalId: string }[];
  const content: TaskContent<'shopify_article'> = {
    title: 'Crème de la crème: our spring care guide',
    html: '<p>Wash <strong>cold</strong>. <a href="https://glow.example/care">More</a></p>',
    excerpt: 'Care tips & tricks <3',
    tags: ['care', 'spring'],
    authorName: 'Marie Tremblay',
  };
  const inTwoHours = new Date(start.getTime() + 2 * 60 * 60 * 1000);
  const key = 'e1a2b3c4-t5d6e7f8-k9a0b1c2';
  const creates = () =>
    sim.receivedMatching('/graphql.json').filter((r) => bodyOf(r).includes('articleCreate'));
  const bodyOf = (request: { body: unknown }) => JSON.stringify(request.body);
  /** The `article` input of the first create sent. */
  const createdInput = () => {
    const [create] = creates();
    assert.ok(create, 'no articleCreate was sent');
    return (create.body as { variables: { article: Record<string, unknown> } }).variables.article;
  };
  const liveArticles = () => sim.articles().filter((article) => article.deletedAt === null);

  /** A Shopify hand-off context (see recordingHandOffContext); `goingLive` counts creates at each last check. */
  function handOffContext(overrides: Partial<HandOffContext<ShopifyCredentials>> = {}, crashOn?: string) {
    const goingLive: number[] = [];
    const recorded = recordingHandOffContext<ShopifyCredentials>(
      {
        taskId: 'task-1',
        channel: 'shopify_article',
        content,
        contentDigest: 'shopify-content-1',
        account: blogs[0]!,
        credentials,
        progress: {},
        scheduledAt: inTwoHours,
        epicTitle: 'Spring launch',
        handOffKey: key,
      },
      overrides,
      { crashOn, onGoingLive: () => goingLive.push(creates().length) },
    );
    return { ...recorded, goingLive };
  }
  const cancel = (externalId: string | null, progress: PublicationProgress) =>
    adapter.cancelHandOff({ externalId, handOffKey: key, credentials, progress });

  beforeEach(async () => {
    await startHarness();
    const { connection } = await connect();
    credentials = connection.credentials;
    blogs = connection.accounts.filter((account) => account.kind === 'shopify_blog');
  });
  afterEach(() => sim.close());

  it('creates one hidden article in the task’s blog, to go visible at exactly scheduledAt', async () => {
    const { context, stored, goingLive } = handOffContext();
    const published = await adapter.handOff(context);

    const [article, ...others] = sim.articles();
    assert.ok(article);
    assert.deepEqual(others, []);
    assert.equal(published.externalId, article.id);
    assert.equal(article.blogId, blogs[0]!.externalId);
    assert.equal(article.publishedAt?.toISOString(), inTwoHours.toISOString());
    assert.equal(article.visible, false);
    assert.equal(article.title, content.title);
    assert.equal(article.body, content.html);
    assert.equal(article.summary, 'Care tips &amp; tricks &lt;3');
    assert.deepEqual(article.tags, ['care', 'spring']);
    assert.equal(article.authorName, 'Marie Tremblay');
    assert.equal(article.handle, `creme-de-la-creme-our-spring-care-guide-${key}`);
    assert.equal(article.handle, articleHandle(content.title, key));
    assert.equal(published.externalUrl, `${sim.url}/shops/glow-beauty/blogs/news/${article.handle}`);
    assert.deepEqual(stored, { articleHandle: article.handle, articleId: article.id });
    assert.deepEqual(goingLive, [0], 'beforeGoingLive is asked once, right before the create');

    const input = createdInput();
    assert.equal(input.isPublished, false);
    assert.equal(input.publishDate, inTwoHours.toISOString());
    assert.deepEqual(input.author, { name: 'Marie Tremblay' });
    for (const request of sim.receivedMatching('/graphql.json'))
      assert.equal(request.headers['x-shopify-access-token'], credentials.accessToken);
  });

  it('names the shop as the author when the task names none (Shopify requires one)', async () => {
    const { authorName: _none, ...anonymous } = content;
    await adapter.handOff(handOffContext({ content: anonymous }).context);
    assert.equal(sim.articles()[0]?.authorName, 'Glow Beauty');
  });

  it('a lost answer to the create, then the retry: the article is found by its handle, never made twice', async () => {
    sim.dropAnswerNext({ path: '/graphql.json', body: 'articleCreate' });
    const first = handOffContext();
    await expectFailure(adapter.handOff(first.context), 'TRANSIENT', [credentials.accessToken]);
    assert.equal(liveArticles().length, 1, 'Shopify created it');
    assert.deepEqual(Object.keys(first.stored), ['articleHandle'], 'the handle was saved before the create');

    const retry = handOffContext({ progress: { ...first.stored } });
    const published = await adapter.handOff(retry.context);
    assert.equal(published.externalId, liveArticles()[0]?.id);
    assert.equal(retry.stored.articleId, published.externalId);
    assert.equal(creates().length, 1, 'created once');
    assert.deepEqual(retry.goingLive, [], 'nothing went live again');
  });

  it('a lost answer while Shopify’s search lags: its TAKEN handle stops a second article until search shows it', async () => {
    await sim.close();
    await startHarness({ searchIndexDelayMs: 30_000 });
    const { connection } = await connect();
    credentials = connection.credentials;
    blogs = connection.accounts.filter((account) => account.kind === 'shopify_blog');

    sim.dropAnswerNext({ path: '/graphql.json', body: 'articleCreate' });
    const first = handOffContext();
    await expectFailure(adapter.handOff(first.context), 'TRANSIENT', [credentials.accessToken]);
    const retry = handOffContext({ progress: { ...first.stored } });
    const lagging = await expectFailure(adapter.handOff(retry.context), 'TRANSIENT', [
      credentials.accessToken,
    ]);
    assert.equal(lagging.failure.platformCode, 'TAKEN');
    assert.equal(liveArticles().length, 1, 'Shopify refused the second create');

    clock = new Date(clock.getTime() + 31_000);
    const published = await adapter.handOff(handOffContext({ progress: { ...retry.stored } }).context);
    assert.equal(published.externalId, liveArticles()[0]?.id);
    assert.equal(liveArticles().length, 1);
  });

  it('a worker killed before it saved the article id: the retry adopts that article', async () => {
    const crashed = handOffContext({}, 'articleId');
    await assert.rejects(adapter.handOff(crashed.context), /worker killed/);
    const resumed = handOffContext({ progress: { ...crashed.stored } });
    const published = await adapter.handOff(resumed.context);
    assert.equal(published.externalId, sim.articles()[0]?.id);
    assert.equal(creates().length, 1);
  });

  it('an article deleted since the last attempt is created again under the same handle', async () => {
    const { context, stored } = handOffContext();
    const { externalId } = await adapter.handOff(context);
    await cancel(externalId, stored);
    const again = await adapter.handOff(handOffContext({ progress: { ...stored } }).context);
    assert.notEqual(again.externalId, externalId);
    assert.equal(liveArticles().length, 1);
    assert.equal(liveArticles()[0]?.handle, stored.articleHandle);
  });

  it('a hand-off whose time has come publishes now (visible, no future date)', async () => {
    const late = new Date(start.getTime() - 60_000);
    const { context } = handOffContext({ scheduledAt: late });
    await adapter.handOff(context);
    const [article] = sim.articles();
    assert.equal(article?.visible, true);
    assert.equal(article?.publishedAt?.toISOString(), start.toISOString());
    const input = createdInput();
    assert.equal(input.isPublished, true);
    assert.equal('publishDate' in input, false);
  });

  it('reports pending until the date, then sent at that date', async () => {
    const { externalId } = await adapter.handOff(handOffContext().context);
    assert.deepEqual(await adapter.handOffStatus({ externalId, credentials }), {
      state: 'pending',
      platformStatus: `Scheduled for ${inTwoHours.toISOString()}`,
    });
    clock = new Date(inTwoHours.getTime() + 5_000);
    assert.deepEqual(await adapter.handOffStatus({ externalId, credentials }), {
      state: 'sent',
      sentAt: inTwoHours,
    });
    assert.equal(sim.articles()[0]?.visible, true);
  });

  it('an article hidden by the merchant is cancelled there; one deleted there has failed', async () => {
    const { externalId } = await adapter.handOff(handOffContext().context);
    sim.hideArticle(externalId);
    assert.deepEqual(await adapter.handOffStatus({ externalId, credentials }), {
      state: 'cancelled',
      platformStatus: 'Hidden',
    });
    await cancel(externalId, {});
    assert.equal((await adapter.handOffStatus({ externalId, credentials })).state, 'failed');
  });

  it('cancel deletes the article, so nothing can go visible; cancelling again is fine', async () => {
    const { context, stored } = handOffContext();
    const { externalId } = await adapter.handOff(context);
    await cancel(externalId, stored);
    assert.deepEqual(liveArticles(), []);
    assert.ok(sim.articles()[0]?.deletedAt, 'deleted on Shopify');
    await cancel(externalId, stored);
    clock = new Date(inTwoHours.getTime() + 60_000);
    assert.deepEqual(
      sim.articles().filter((article) => article.visible),
      [],
    );
  });

  it('cancel after a lost answer finds the article by the handle saved before the create, and deletes it', async () => {
    sim.dropAnswerNext({ path: '/graphql.json', body: 'articleCreate' });
    const { context, stored } = handOffContext();
    await expectFailure(adapter.handOff(context), 'TRANSIENT', [credentials.accessToken]);
    await cancel(null, stored);
    assert.deepEqual(liveArticles(), []);
  });

  it('cancel right after a lost create answer, while Shopify’s search lags: not “nothing there” until the index had its time', async () => {
    sim.setSearchIndexDelay(10_000);
    sim.dropAnswerNext({ path: '/graphql.json', body: 'articleCreate' });
    const { context, stored } = handOffContext();
    await expectFailure(adapter.handOff(context), 'TRANSIENT', [credentials.accessToken]);
    assert.equal(liveArticles().length, 1, 'Shopify made the article');
    const cancelAfter = (liveRequest: { sentMsAgo: number; endedMsAgo: number | null } | null) =>
      adapter.cancelHandOff({
        externalId: null,
        handOffKey: key,
        credentials,
        progress: stored,
        liveRequest,
      });

    // The attempt ended 4 s ago: the index gets 15 s from then.
    const early = await expectFailure(cancelAfter({ sentMsAgo: 5_000, endedMsAgo: 4_000 }), 'TRANSIENT', [
      credentials.accessToken,
    ]);
    assert.equal(early.failure.retryAfterMs, 11_250);
    // Not known to have ended: the create could still be applied until its 30 s time-out, and 15 s after.
    const onItsWay = await expectFailure(cancelAfter({ sentMsAgo: 20_000, endedMsAgo: null }), 'TRANSIENT', [
      credentials.accessToken,
    ]);
    assert.equal(onItsWay.failure.retryAfterMs, 25_250);
    // An end recorded before this request was sent belongs to an earlier attempt.
    await expectFailure(cancelAfter({ sentMsAgo: 20_000, endedMsAgo: 60_000 }), 'TRANSIENT', [
      credentials.accessToken,
    ]);
    assert.equal(liveArticles().length, 1);

    clock = new Date(clock.getTime() + 11_250);
    await cancelAfter({ sentMsAgo: 16_250, endedMsAgo: 15_250 });
    assert.deepEqual(liveArticles(), [], 'the article no answer named is deleted');
  });

  it('cancel long after the last live request, or with none made, believes an empty search', async () => {
    const { stored } = handOffContext();
    for (const liveRequest of [
      { sentMsAgo: 60_000, endedMsAgo: 50_000 },
      { sentMsAgo: 46_000, endedMsAgo: null },
      null,
      undefined,
    ])
      await adapter.cancelHandOff({
        externalId: null,
        handOffKey: key,
        credentials,
        progress: { ...stored, articleHandle: 'nothing-here-k1' },
        ...(liveRequest === undefined ? {} : { liveRequest }),
      });
  });

  it('an article Shopify left hidden past its date is published by request once overdue, not before', async () => {
    sim.stallScheduler(true);
    const { externalId } = await adapter.handOff(handOffContext().context);
    clock = new Date(inTwoHours.getTime() + 5_000);
    assert.deepEqual(await adapter.handOffStatus({ externalId, credentials }), {
      state: 'pending',
      platformStatus: `Scheduled for ${inTwoHours.toISOString()}`,
    });
    assert.equal(sim.articles()[0]?.visible, false, 'Shopify missed its date');
    const { overdue, asked } = recordingOverdue(inTwoHours);
    assert.deepEqual(await adapter.handOffStatus({ externalId, credentials, overdue }), {
      state: 'sent',
      sentAt: clock,
    });
    assert.equal(asked.length, 1, 'the fence was asked right before');
    assert.equal(sim.articles()[0]?.visible, true, 'published by request');
    assert.equal(liveArticles().length, 1);
  });

  it('overdue publishes nothing when the fence says no, the date is ahead, or the merchant touched the article', async () => {
    sim.stallScheduler(true);
    const ahead = await adapter.handOff(handOffContext().context);
    const hidden = await adapter.handOff(
      handOffContext({ handOffKey: 'e1a2b3c4-t5d6e7f8-other000' }).context,
    );
    clock = new Date(start.getTime() + 1_000);
    // Hidden by the merchant with its date kept: updated since it was made, so not ours to publish.
    sim.hideArticle(hidden.externalId, { keepDate: true });
    assert.equal(
      (await adapter.handOffStatus({ ...ahead, credentials, overdue: recordingOverdue(inTwoHours).overdue }))
        .state,
      'pending',
    );
    clock = new Date(inTwoHours.getTime() + 5_000);
    const refused = recordingOverdue(inTwoHours, false);
    assert.equal(
      (await adapter.handOffStatus({ ...ahead, credentials, overdue: refused.overdue })).state,
      'pending',
    );
    assert.equal(refused.asked.length, 1);
    // Another epic time than the article's date: someone moved it, it is theirs.
    assert.equal(
      (
        await adapter.handOffStatus({
          ...ahead,
          credentials,
          overdue: recordingOverdue(new Date(inTwoHours.getTime() - 60_000)).overdue,
        })
      ).state,
      'pending',
    );
    const touched = recordingOverdue(inTwoHours);
    assert.equal(
      (await adapter.handOffStatus({ ...hidden, credentials, overdue: touched.overdue })).state,
      'pending',
    );
    assert.deepEqual(touched.asked, [], 'not even asked');
    assert.deepEqual(
      sim.articles().filter((article) => article.visible),
      [],
    );
  });

  it('a scheduled article is dated on a whole second, rounded up: never visible early', async () => {
    const scheduledAt = new Date(inTwoHours.getTime() + 250);
    await adapter.handOff(handOffContext({ scheduledAt }).context);
    assert.equal(createdInput().publishDate, new Date(inTwoHours.getTime() + 1_000).toISOString());
  });

  it('an article already visible is not taken back: HandOffLockedError naming it, and it stays', async () => {
    const { context, stored } = handOffContext();
    const { externalId } = await adapter.handOff(context);
    sim.publishArticleNow(externalId);
    await assert.rejects(
      cancel(null, stored),
      (error: unknown) =>
        error instanceof HandOffLockedError &&
        error.externalId === externalId &&
        /already published/.test(error.message),
    );
    assert.equal(liveArticles()[0]?.visible, true);
  });

  it('refuses another channel, or an account that is not a blog, before any request', async () => {
    const before = sim.received.length;
    await expectFailure(
      adapter.handOff(handOffContext({ channel: 'shopify_product_seo' }).context),
      'INVALID_REQUEST',
    );
    await expectFailure(
      adapter.handOff(
        handOffContext({ account: { kind: 'shopify_store', externalId: 'glow-beauty.myshopify.com' } })
          .context,
      ),
      'INVALID_REQUEST',
    );
    assert.equal(sim.received.length, before);
  });
});

describe('Shopify article failures become publication error classes, one HTTP try each', () => {
  let credentials: ShopifyCredentials;
  let blog: { kind: string; externalId: string };
  const content: TaskContent<'shopify_article'> = { title: 'Care guide', html: '<p>Wash cold</p>' };
  const handOff = (overrides: Partial<HandOffContext<ShopifyCredentials>> = {}) =>
    adapter.handOff({
      taskId: 'task-2',
      channel: 'shopify_article',
      content,
      contentDigest: 'd',
      account: blog,
      credentials,
      progress: {},
      async saveProgress() {},
      heartbeat() {},
      async beforeGoingLive() {},
      scheduledAt: new Date(start.getTime() + 3_600_000),
      epicTitle: 'Errors',
      handOffKey: 'e2e2e2e2-t3t3t3t3-k4k4k4k4',
      ...overrides,
    });
  const graphqlCalls = () => sim.receivedMatching('/graphql.json').length;

  beforeEach(async () => {
    await startHarness();
    const { connection } = await connect();
    credentials = connection.credentials;
    blog = connection.accounts.find((account) => account.kind === 'shopify_blog')!;
  });
  afterEach(() => sim.close());

  it('a title Shopify finds too long → CONTENT_REJECTED with its userError', async () => {
    const error = await expectFailure(
      handOff({ content: { ...content, title: 'A'.repeat(300) } }),
      'CONTENT_REJECTED',
      [credentials.accessToken],
    );
    assert.equal(error.failure.platformCode, 'TOO_LONG');
    assert.match(error.message, /article\.title: Title is too long/);
    assert.deepEqual(sim.articles(), []);
  });

  it('a blog deleted in Shopify → INVALID_REQUEST saying so', async () => {
    const error = await expectFailure(
      handOff({ account: { kind: 'shopify_blog', externalId: 'gid://shopify/Blog/1' } }),
      'INVALID_REQUEST',
      [credentials.accessToken],
    );
    assert.equal(error.failure.platformCode, 'NOT_FOUND');
    assert.match(error.message, /blog of this task no longer exists/);
  });

  it('THROTTLED on the create (HTTP 200, then 429) → RATE_LIMITED after the wait its cost needs', async () => {
    for (const kind of ['throttled', 'throttled_429'] as const) {
      sim.failWith(kind, {
        path: '/graphql.json',
        body: 'articleCreate',
        requestedQueryCost: 10,
        currentlyAvailable: 4,
        restoreRate: 2,
      });
      const error = await expectFailure(handOff(), 'RATE_LIMITED', [credentials.accessToken]);
      // (10 − 4) points at 2 a second.
      assert.equal(error.failure.retryAfterMs, 3000);
      assert.equal(error.failure.platformCode, 'THROTTLED');
    }
    assert.deepEqual(sim.articles(), []);
  });

  it('401 → TOKEN_EXPIRED; ACCESS_DENIED → PERMISSION_REVOKED; 5xx → TRANSIENT; one request each', async () => {
    const cases: [Parameters<ShopifySimulator['failWith']>[0], PublicationErrorClass][] = [
      ['unauthorized', 'TOKEN_EXPIRED'],
      ['access_denied', 'PERMISSION_REVOKED'],
      ['transient', 'TRANSIENT'],
    ];
    for (const [kind, expected] of cases) {
      sim.failWith(kind, { path: '/graphql.json', body: 'articleCreate' });
      const before = graphqlCalls();
      await expectFailure(handOff(), expected, [credentials.accessToken]);
      // The look-up, then the one create that failed.
      assert.equal(graphqlCalls(), before + 2, `${kind}: not exactly one create`);
    }
    assert.deepEqual(sim.articles(), []);
  });

  it('cancel and status map failures too (a 401 while cancelling is TOKEN_EXPIRED)', async () => {
    const { externalId } = await handOff();
    sim.failWith('unauthorized', { path: '/graphql.json' });
    await expectFailure(
      adapter.cancelHandOff({ externalId, handOffKey: null, credentials, progress: {} }),
      'TOKEN_EXPIRED',
      [credentials.accessToken],
    );
    sim.failWith('transient', { path: '/graphql.json' });
    await expectFailure(adapter.handOffStatus({ externalId, credentials }), 'TRANSIENT', [
      credentials.accessToken,
    ]);
    assert.equal(sim.articles().filter((article) => article.deletedAt === null).length, 1);
  });

  it('mapShopifyUserErrors: the content’s own fields are CONTENT_REJECTED, the rest INVALID_REQUEST', () => {
    assert.equal(
      mapShopifyUserErrors([{ field: ['article', 'body'], message: 'Body is invalid', code: 'INVALID' }])
        .class,
      'CONTENT_REJECTED',
    );
    assert.deepEqual(
      mapShopifyUserErrors([
        {
          field: ['article'],
          message: 'Can’t set isPublished to true and also set a future publish date.',
          code: 'INVALID_PUBLISH_DATE',
        },
      ]),
      {
        class: 'INVALID_REQUEST',
        message:
          'Shopify refused the article: article: Can’t set isPublished to true and also set a future publish date.',
        platformCode: 'INVALID_PUBLISH_DATE',
      },
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

  it('refuses article inputs Shopify refuses: a visible article with a future date, bad variables, a taken handle', async () => {
    const { connection } = await connect();
    const blogId = connection.accounts.find((account) => account.kind === 'shopify_blog')!.externalId;
    const create = async (article: Record<string, unknown>, declared = 'ArticleCreateInput!') => {
      const answer = await fetch(`${sim.url}/shops/glow-beauty/admin/api/${shopifyApiVersion}/graphql.json`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'x-shopify-access-token': connection.credentials.accessToken,
        },
        body: JSON.stringify({
          query: `mutation M($article: ${declared}) { articleCreate(article: $article) { article { id handle isPublished publishedAt } userErrors { field message code } } }`,
          variables: { article },
        }),
      });
      assert.equal(answer.status, 200);
      return (await answer.json()) as {
        data?: {
          articleCreate: {
            article: { id: string; handle: string; isPublished: boolean; publishedAt: string | null } | null;
            userErrors: { field: string[]; message: string; code: string }[];
          };
        };
        errors?: { message: string; extensions: { code: string; problems?: { path: string[] }[] } }[];
        extensions: { cost: { requestedQueryCost: number } };
      };
    };
    const later = new Date(start.getTime() + 3_600_000).toISOString();
    const base = { blogId, title: 'Later', author: { name: 'Ana' }, body: '<p>x</p>' };

    const visibleLater = await create({ ...base, publishDate: later });
    assert.deepEqual(visibleLater.data?.articleCreate.userErrors, [
      {
        field: ['article'],
        message: 'Can’t set isPublished to true and also set a future publish date.',
        code: 'INVALID_PUBLISH_DATE',
      },
    ]);
    assert.equal(visibleLater.extensions.cost.requestedQueryCost, 10, 'a mutation costs 10');

    const unknownField = await create({ ...base, bodyHtml: '<p>x</p>' });
    assert.equal(unknownField.errors?.[0]?.extensions.code, 'INVALID_VARIABLE');
    assert.match(
      unknownField.errors?.[0]?.message ?? '',
      /bodyHtml \(Field is not defined on ArticleCreateInput\)/,
    );
    const { author: _author, ...anonymous } = base;
    const noAuthor = await create(anonymous);
    assert.deepEqual(noAuthor.errors?.[0]?.extensions.problems?.[0]?.path, ['author']);
    const mismatch = await create(base, 'String!');
    assert.match(mismatch.errors?.[0]?.message ?? '', /Type mismatch on variable \$article/);

    const scheduled = await create({ ...base, handle: 'later', isPublished: false, publishDate: later });
    assert.deepEqual(scheduled.data?.articleCreate.userErrors, []);
    assert.equal(scheduled.data?.articleCreate.article?.isPublished, false);
    assert.equal(scheduled.data?.articleCreate.article?.publishedAt, later);
    const taken = await create({ ...base, handle: 'later', isPublished: false, publishDate: later });
    assert.deepEqual(taken.data?.articleCreate.userErrors, [
      { field: ['article', 'handle'], message: 'Handle has already been taken', code: 'TAKEN' },
    ]);
    assert.equal(sim.articles().length, 1, 'only the valid article exists');
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
