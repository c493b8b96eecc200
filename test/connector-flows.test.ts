// Every connection flow through HTTP against its simulator (SPEC §6): OAuth with a single-use state (PKCE where
// the platform takes it), API keys, WordPress site credentials; denied consents, replayed states, wrong keys,
// missing scopes; the connectors page with its tabs, plan limit, Meta's "2 / 4" and each state's actions.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type MetaSimulator, startMetaSimulator } from '../sandbox/meta.ts';
import { simulatorConfig } from '../sandbox/platforms.ts';
import { signShopifyQuery } from '../sandbox/shopify.ts';
import { type ApiHarness, createWorkspace, startApiHarness } from './support/api.ts';
import {
  browserOf,
  type ConnectorBody,
  connectOAuth,
  cyberImpactNarrowToken,
  cyberImpactToken,
  followConsent,
  type PlatformSimulators,
  shopifyTestSecret,
  startPlatformSimulators,
  wordPressAdmin,
  wordPressContributor,
} from './support/platforms.ts';

let harness: ApiHarness;
let sims: PlatformSimulators;
let meta: MetaSimulator;
// Its own Meta app, beside the other platforms' test apps.
const metaApp = { id: 'flows-meta-app', secret: 'flows-meta-secret' };

before(async () => {
  sims = await startPlatformSimulators();
  meta = await startMetaSimulator({
    clientId: metaApp.id,
    clientSecret: metaApp.secret,
    pages: [
      { id: '3001', name: 'Glow Café', instagram: { id: '17841400000000301', username: 'glowcafe' } },
      { id: '3002', name: 'Glow Outlet' },
    ],
    businesses: [{ id: '880001', name: 'Glow Inc.' }],
    adAccounts: [{ id: '770001', name: 'Glow Ads' }],
  });
  harness = await startApiHarness({
    config: {
      ...sims.config,
      ...simulatorConfig({ meta }, { meta: metaApp }),
    },
  });
});
after(async () => {
  await harness?.close();
  await sims?.close();
  await meta?.close();
});

const secretsOf = () => [
  cyberImpactToken,
  wordPressAdmin.applicationPassword,
  shopifyTestSecret,
  'li-test-secret',
  'tt-test-secret',
  'GOCSPX-test-secret',
  'mc-test-secret',
  'cnvca-test-secret',
];
const noSecrets = (body: string) => {
  for (const secret of secretsOf()) assert.ok(!body.includes(secret), 'no secret in a response');
  assert.doesNotMatch(body, /"(access|refresh)_?[tT]oken"/, 'no token field in a response');
};

async function startConnect(
  workspace: Awaited<ReturnType<typeof createWorkspace>>,
  platform: string,
  body = {},
) {
  const started = await workspace.api.post(`/v1/connectors/${platform}/connect`, body);
  assert.equal(started.statusCode, 200, started.body);
  const authorizeUrl = new URL(started.json().authorizeUrl as string);
  browsers.set(authorizeUrl.toString(), browserOf(started));
  return authorizeUrl;
}

/** The cookies each consent started here set on its browser, by its authorize URL. */
const browsers = new Map<string, Record<string, string>>();
const browserFor = (authorizeUrl: URL) => browsers.get(authorizeUrl.toString()) ?? {};

/**
 * The browser's part: through the platform's consent page and back to the API's callback, as it answers;
 * `beforeConsent` sets the platform up once the connect has started, before the user reaches its page.
 */
async function throughConsent(authorizeUrl: URL, beforeConsent?: () => void) {
  beforeConsent?.();
  return harness.app.inject({
    method: 'GET',
    url: await followConsent(authorizeUrl.toString()),
    cookies: browserFor(authorizeUrl),
  });
}

const oauthPlatforms = [
  { platform: 'linkedin', kind: 'linkedin_organization', count: 2, pkce: false, simulator: 'linkedin' },
  { platform: 'tiktok', kind: 'tiktok_account', count: 1, pkce: false, simulator: 'tiktok' },
  { platform: 'google_analytics', kind: 'ga4_property', count: 2, pkce: true, simulator: 'google' },
  { platform: 'google_ads', kind: 'ads_customer', count: 1, pkce: true, simulator: 'google' },
  { platform: 'mailchimp', kind: 'mailchimp_audience', count: 2, pkce: false, simulator: 'mailchimp' },
  { platform: 'canva', kind: 'canva_team', count: 1, pkce: true, simulator: 'canva' },
] as const;

describe('OAuth connection flows', () => {
  for (const { platform, kind, count, pkce, simulator } of oauthPlatforms) {
    it(`${platform}: consent → callback → ${kind} accounts; the state cannot be replayed`, async () => {
      const workspace = await createWorkspace(harness, `OAuth ${platform}`);
      const authorizeUrl = await startConnect(workspace, platform);
      assert.equal(
        authorizeUrl.origin,
        new URL(sims[simulator].url).origin,
        'the consent page is on the platform host',
      );
      assert.equal(
        authorizeUrl.searchParams.get('redirect_uri'),
        `${harness.config.PUBLIC_URL}/v1/oauth/${platform}/callback`,
      );
      assert.ok((authorizeUrl.searchParams.get('state') ?? '').length >= 32, 'an unguessable state');
      assert.equal(
        authorizeUrl.searchParams.has('code_challenge'),
        pkce,
        `PKCE ${pkce ? 'sent' : 'not used'}`,
      );

      const callback = await followConsent(authorizeUrl.toString());
      const returned = await harness.app.inject({
        method: 'GET',
        url: callback,
        cookies: browserFor(authorizeUrl),
      });
      assert.equal(returned.statusCode, 200, returned.body);
      noSecrets(returned.body);
      const connector = returned.json() as ConnectorBody;
      assert.equal(connector.platform, platform);
      assert.equal(connector.status, 'connected');
      assert.equal(connector.accounts.length, count, 'every sub-account discovered');
      assert.ok(
        connector.accounts.every((account) => account.kind === kind),
        `accounts are ${kind}`,
      );
      assert.ok(
        connector.accounts.every((account) => !account.enabled),
        'the user picks which to enable',
      );

      const replayed = await harness.app.inject({ method: 'GET', url: callback });
      assert.equal(replayed.statusCode, 400);
      assert.equal(replayed.json().error.code, 'INVALID_STATE');

      const [row] = await harness.database.sql<{ credentials: Buffer }[]>`
        select credentials from connectors where id = ${connector.id}`;
      assert.ok(Buffer.isBuffer(row?.credentials), 'credentials are stored sealed');
      assert.ok(!row?.credentials.toString('utf8').includes('oken'), 'nothing readable in the column');
    });
  }

  it('a consent comes back only in the browser that started it: a shared link connects nothing', async () => {
    const workspace = await createWorkspace(harness, 'Bound consents');
    const exchanges = () => sims.linkedin.receivedMatching('/oauth/v2/accessToken', 'POST').length;
    const started = await workspace.api.post('/v1/connectors/linkedin/connect', {});
    assert.equal(started.statusCode, 200, started.body);
    const [cookie] = started.cookies as {
      name: string;
      value: string;
      path?: string;
      httpOnly?: boolean;
      sameSite?: string;
      maxAge?: number;
    }[];
    assert.ok(cookie, 'the start sets a cookie on the browser');
    assert.match(cookie.name, /^gw_oauth_[0-9a-f]{16}$/);
    assert.equal(cookie.path, '/v1/oauth/');
    assert.equal(cookie.httpOnly, true);
    assert.equal(cookie.sameSite, 'Lax');
    assert.equal(cookie.maxAge, 600);
    const authorizeUrl = new URL(started.json().authorizeUrl);
    assert.ok(!authorizeUrl.toString().includes(cookie.value), 'the nonce never travels in the link');

    // Someone else's browser (no cookie, or the cookie of another consent) is refused before any exchange.
    const before = exchanges();
    const callback = await followConsent(authorizeUrl.toString());
    const elsewhere = await harness.app.inject({ method: 'GET', url: callback });
    assert.equal(elsewhere.statusCode, 403, elsewhere.body);
    assert.equal(elsewhere.json().error.code, 'OTHER_BROWSER');
    assert.equal(exchanges(), before, 'no code exchange');
    // The state is spent: the right browser cannot finish that consent afterwards either.
    const late = await harness.app.inject({ method: 'GET', url: callback, cookies: browserOf(started) });
    assert.equal(late.json().error.code, 'INVALID_STATE');

    const first = await startConnect(workspace, 'linkedin');
    const second = await startConnect(workspace, 'tiktok');
    const swapped = await harness.app.inject({
      method: 'GET',
      url: await followConsent(first.toString()),
      cookies: browserFor(second),
    });
    assert.equal(swapped.json().error.code, 'OTHER_BROWSER', "another consent's cookie does not do");
    assert.equal((await workspace.api.get('/v1/connectors')).json().counts.connected, 0, 'nothing connected');

    // Two consents in flight in one browser each keep their own cookie, and both complete.
    const [linkedin, tiktok] = [
      await startConnect(workspace, 'linkedin'),
      await startConnect(workspace, 'tiktok'),
    ];
    const oneBrowser = { ...browserFor(linkedin), ...browserFor(tiktok) };
    for (const authorize of [tiktok, linkedin]) {
      const done = await harness.app.inject({
        method: 'GET',
        url: await followConsent(authorize.toString()),
        cookies: oneBrowser,
      });
      assert.equal(done.statusCode, 200, done.body);
      assert.match(String(done.headers['set-cookie']), /Max-Age=0/, 'the cookie is cleared');
    }
    assert.equal((await workspace.api.get('/v1/connectors')).json().counts.connected, 2);

    // A consent started before consents were bound (a deploy in its ten minutes) still completes.
    const legacy = await startConnect(workspace, 'mailchimp');
    await harness.database.sql`update oauth_states set browser_binding_hash = null where used_at is null`;
    const completed = await harness.app.inject({
      method: 'GET',
      url: await followConsent(legacy.toString()),
    });
    assert.equal(completed.statusCode, 200, completed.body);
  });

  it('a denied consent comes back as CONSENT_DENIED on every platform that redirects on denial', async () => {
    const workspace = await createWorkspace(harness, 'Denials');
    const deny = {
      linkedin: () => sims.linkedin.denyNextConsent(),
      tiktok: () => sims.tiktok.denyNextConsent(),
      google_analytics: () => sims.google.denyNextConsent(),
      mailchimp: () => sims.mailchimp.denyNextConsent(),
      canva: () => sims.canva.denyNextConsent(),
    };
    for (const [platform, denyNext] of Object.entries(deny)) {
      const callback = await throughConsent(await startConnect(workspace, platform), denyNext);
      assert.equal(callback.statusCode, 400, `${platform}: ${callback.body}`);
      assert.equal(callback.json().error.code, 'CONSENT_DENIED', platform);
    }
    const page = (await workspace.api.get('/v1/connectors')).json();
    assert.equal(page.counts.connected, 0, 'nothing was connected');
  });

  it('a consent that grants fewer scopes than needed is refused with "Scopes insufficient"', async () => {
    const workspace = await createWorkspace(harness, 'Narrow grants');
    const narrow = {
      google_analytics: () => sims.google.grantOnlyScopes(['openid']),
      linkedin: () => sims.linkedin.grantOnlyScopes(['r_organization_admin']),
      tiktok: () => sims.tiktok.grantOnlyScopes(['user.info.basic']),
      canva: () => {
        sims.canva.grantScopes = ['profile:read'];
      },
    };
    try {
      for (const [platform, grantLess] of Object.entries(narrow)) {
        const callback = await throughConsent(await startConnect(workspace, platform), grantLess);
        assert.equal(callback.statusCode, 400, `${platform}: ${callback.body}`);
        assert.equal(callback.json().error.code, 'INVALID_CREDENTIALS', platform);
        assert.equal(callback.json().error.message, 'Scopes insufficient', platform);
      }
    } finally {
      sims.linkedin.grantOnlyScopes(null);
      sims.tiktok.grantOnlyScopes(null);
      sims.canva.grantScopes = null;
    }
  });

  it('Shopify: the store comes in the body; a forged or foreign callback is refused before any token exchange', async () => {
    const workspace = await createWorkspace(harness, 'Shopify');
    const missing = await workspace.api.post('/v1/connectors/shopify/connect', {});
    assert.equal(missing.statusCode, 400);
    assert.equal(missing.json().error.details.issues[0].field, 'body.shop');
    const bad = await workspace.api.post('/v1/connectors/shopify/connect', { shop: 'not a shop/../x' });
    assert.equal(bad.statusCode, 400);

    const authorizeUrl = await startConnect(workspace, 'shopify', { shop: 'glow-beauty.myshopify.com' });
    assert.match(authorizeUrl.pathname, /\/shops\/glow-beauty\/admin\/oauth\/authorize$/);
    const callback = new URL(await followConsent(authorizeUrl.toString()), 'http://local');
    const query = Object.fromEntries(callback.searchParams);
    const exchanges = () => sims.shopify.receivedMatching(/\/admin\/oauth\/access_token$/).length;
    const before = exchanges();
    // Tampered: the hmac no longer matches the parameters.
    const forged = new URLSearchParams({ ...query, shop: 'evil-store.myshopify.com' });
    const refused = await harness.app.inject({
      method: 'GET',
      url: `${callback.pathname}?${forged}`,
      cookies: browserFor(authorizeUrl),
    });
    assert.equal(refused.statusCode, 400, refused.body);
    assert.equal(exchanges(), before, 'no code exchange for a forged callback');

    // A correctly signed callback for another shop than the one asked for is refused too.
    const authorizeAgain = await startConnect(workspace, 'shopify', { shop: 'glow-beauty' });
    const second = new URL(await followConsent(authorizeAgain.toString()), 'http://local');
    const foreign = signShopifyQuery(
      { ...Object.fromEntries(second.searchParams), shop: 'other-store.myshopify.com' },
      shopifyTestSecret,
    );
    const foreignAnswer = await harness.app.inject({
      method: 'GET',
      url: `${second.pathname}?${new URLSearchParams(foreign)}`,
      cookies: browserFor(authorizeAgain),
    });
    assert.equal(foreignAnswer.statusCode, 400, foreignAnswer.body);
    assert.equal(exchanges(), before, 'no code exchange for another shop');

    const connector = await connectOAuth(harness.app, workspace, 'shopify', { shop: 'glow-beauty' });
    assert.equal(connector.status, 'connected');
    assert.deepEqual(connector.accounts.map((account) => account.kind).sort(), [
      'shopify_blog',
      'shopify_store',
    ]);
  });

  it('an OAuth platform without its app configured answers 503, and a body field of another flow 400', async () => {
    const bare = await startApiHarness({ config: { ...sims.config, TIKTOK_CLIENT_ID: '' } });
    try {
      const workspace = await createWorkspace(bare, 'No app');
      const answer = await workspace.api.post('/v1/connectors/tiktok/connect', {});
      assert.equal(answer.statusCode, 503, answer.body);
      assert.equal(answer.json().error.code, 'PLATFORM_NOT_CONFIGURED');
    } finally {
      await bare.close();
    }
    const workspace = await createWorkspace(harness, 'Wrong fields');
    const keyForOAuth = await workspace.api.post('/v1/connectors/linkedin/connect', { apiKey: 'x' });
    assert.equal(keyForOAuth.statusCode, 400);
    assert.deepEqual(keyForOAuth.json().error.details.issues, [
      { field: 'body.apiKey', message: 'does not apply to LinkedIn' },
    ]);
    const adsOnLinkedIn = await workspace.api.post('/v1/connectors/linkedin/connect', { permissions: 'ads' });
    assert.equal(adsOnLinkedIn.statusCode, 400);
  });
});

describe('API key and site credential flows', () => {
  it('CyberImpact: a verified token connects its groups; a wrong one and a narrow one are refused', async () => {
    const workspace = await createWorkspace(harness, 'CyberImpact');
    const wrong = await workspace.api.post('/v1/connectors/cyberimpact/connect', { apiKey: 'ci-wrong' });
    assert.equal(wrong.statusCode, 400);
    assert.equal(wrong.json().error.message, 'Invalid API key');
    const narrow = await workspace.api.post('/v1/connectors/cyberimpact/connect', {
      apiKey: cyberImpactNarrowToken,
    });
    assert.equal(narrow.statusCode, 400);
    assert.equal(narrow.json().error.message, 'Scopes insufficient');
    const missing = await workspace.api.post('/v1/connectors/cyberimpact/connect', {});
    assert.equal(missing.statusCode, 400);
    assert.equal(missing.json().error.details.issues[0].field, 'body.apiKey');

    const connected = await workspace.api.post('/v1/connectors/cyberimpact/connect', {
      apiKey: cyberImpactToken,
    });
    assert.equal(connected.statusCode, 201, connected.body);
    noSecrets(connected.body);
    const connector = connected.json() as ConnectorBody;
    assert.equal(connector.status, 'connected');
    assert.deepEqual(connector.accounts.map((account) => account.name).sort(), ['Clients', 'Prospects']);
    const audiences = await workspace.api.get(`/v1/connectors/${connector.id}/audiences`);
    assert.equal(audiences.statusCode, 200, audiences.body);
    assert.equal(audiences.json().items.length, 2);
  });

  it('WordPress: an administrator connects; a contributor, a wrong password and missing fields are refused', async () => {
    const workspace = await createWorkspace(harness, 'WordPress');
    const siteUrl = `${sims.wordpress.url}/`;
    const missing = await workspace.api.post('/v1/connectors/wordpress/connect', { siteUrl });
    assert.equal(missing.statusCode, 400);
    assert.deepEqual(
      missing.json().error.details.issues.map((detail: { field: string }) => detail.field),
      ['body.username', 'body.applicationPassword'],
    );
    const contributor = await workspace.api.post('/v1/connectors/wordpress/connect', {
      siteUrl,
      ...wordPressContributor,
    });
    assert.equal(contributor.statusCode, 400);
    assert.match(contributor.json().error.message, /publish_posts/);
    const wrong = await workspace.api.post('/v1/connectors/wordpress/connect', {
      siteUrl,
      username: wordPressAdmin.username,
      applicationPassword: 'wrong wrong wrong wrong',
    });
    assert.equal(wrong.statusCode, 400);
    assert.match(wrong.json().error.message, /Invalid username or application password/);
    const notHttp = await workspace.api.post('/v1/connectors/wordpress/connect', {
      siteUrl: 'ftp://example.com',
      ...wordPressAdmin,
    });
    assert.equal(notHttp.statusCode, 400);

    const connected = await workspace.api.post('/v1/connectors/wordpress/connect', {
      siteUrl,
      ...wordPressAdmin,
    });
    assert.equal(connected.statusCode, 201, connected.body);
    noSecrets(connected.body);
    const connector = connected.json() as ConnectorBody;
    assert.equal(connector.accounts[0]?.kind, 'wordpress_site');
    assert.equal(connector.accounts[0]?.name, 'Glow Journal');
  });

  it('WordPress: a site URL on a private or loopback address is refused before any request', async () => {
    const strict = await startApiHarness({
      config: { ...sims.config, WORDPRESS_ALLOW_PRIVATE_HOSTS: 'false' },
    });
    try {
      const workspace = await createWorkspace(strict, 'Strict WordPress');
      const before = sims.wordpress.received.length;
      for (const siteUrl of [
        sims.wordpress.url,
        'http://10.0.0.5/',
        'http://[::1]:8080/',
        'http://localhost/',
      ]) {
        const answer = await workspace.api.post('/v1/connectors/wordpress/connect', {
          siteUrl,
          ...wordPressAdmin,
        });
        assert.equal(answer.statusCode, 400, `${siteUrl}: ${answer.body}`);
        assert.match(answer.json().error.message, /private or loopback/, siteUrl);
      }
      assert.equal(sims.wordpress.received.length, before, 'the simulator was never called');
    } finally {
      await strict.close();
    }
  });
});

describe('the connectors page', () => {
  it('counts the tabs, counts a platform once however many accounts, and refuses a connector past the limit', async () => {
    const workspace = await createWorkspace(harness, 'Starter plan');
    const empty = (await workspace.api.get('/v1/connectors')).json();
    assert.deepEqual(empty.counts, { connected: 0, available: 11, comingSoon: empty.comingSoon.length });
    assert.deepEqual(empty.plan, { name: 'starter', connectorLimit: 3, used: 0 });
    const metaEntry = empty.available.find((entry: { platform: string }) => entry.platform === 'meta');
    assert.deepEqual(
      metaEntry.subConnections.map((sub: { name: string }) => sub.name),
      ['Instagram', 'Facebook Pages', 'Facebook Business Account', 'Facebook Ad Account'],
    );
    const wordpressEntry = empty.available.find(
      (entry: { platform: string }) => entry.platform === 'wordpress',
    );
    assert.deepEqual(wordpressEntry.connectWith, ['siteUrl', 'username', 'applicationPassword']);
    assert.deepEqual(wordpressEntry.channels, [{ channel: 'wordpress_article', mode: 'real' }]);

    // Meta with two Pages, an Instagram account and a Business: several accounts, one connector.
    const metaConnector = await connectOAuth(harness.app, workspace, 'meta');
    assert.ok(
      metaConnector.accounts.filter((account) => account.kind === 'facebook_page').length === 2,
      'two Pages',
    );
    await connectOAuth(harness.app, workspace, 'linkedin');
    const third = await workspace.api.post('/v1/connectors/cyberimpact/connect', {
      apiKey: cyberImpactToken,
    });
    assert.equal(third.statusCode, 201, third.body);
    const page = (await workspace.api.get('/v1/connectors')).json();
    assert.equal(page.counts.connected, 3);
    assert.equal(page.counts.available, 8);
    assert.deepEqual(page.plan, { name: 'starter', connectorLimit: 3, used: 3 });

    const fourth = await workspace.api.post('/v1/connectors/tiktok/connect', {});
    assert.equal(fourth.statusCode, 403, fourth.body);
    assert.equal(fourth.json().error.code, 'CONNECTOR_LIMIT_REACHED');
    assert.equal(fourth.json().error.details.connectorLimit, 3);
    const fourthKey = await workspace.api.post('/v1/connectors/wordpress/connect', {
      siteUrl: sims.wordpress.url,
      ...wordPressAdmin,
    });
    assert.equal(fourthKey.statusCode, 403, 'the limit holds for every flow');

    // Connecting Meta again (another account) is not a new connector: the limit does not stop it.
    const again = await workspace.api.post('/v1/connectors/meta/connect', {});
    assert.equal(again.statusCode, 200, again.body);
  });

  it('Meta: "3 / 4" partially connected until the Ad Account permissions round makes it "4 / 4"', async () => {
    const workspace = await createWorkspace(harness, 'Meta sub-connections');
    const partial = await connectOAuth(harness.app, workspace, 'meta');
    assert.equal(partial.status, 'partially_connected');
    assert.equal(`${partial.connectedCount} / ${partial.totalCount}`, '3 / 4');
    assert.deepEqual(partial.actions, [
      'Connect a different account',
      'Continue connection',
      'Enable Ad Account permissions',
      'Disconnect',
    ]);

    const round = await workspace.api.post(`/v1/connectors/${partial.id}/reconnect`, { permissions: 'ads' });
    assert.equal(round.statusCode, 200, round.body);
    const authorizeUrl = new URL(round.json().authorizeUrl);
    browsers.set(authorizeUrl.toString(), browserOf(round));
    assert.match(
      authorizeUrl.searchParams.get('scope') ?? '',
      /ads_management/,
      'the second round asks for ads',
    );
    const callback = await throughConsent(authorizeUrl);
    assert.equal(callback.statusCode, 200, callback.body);
    const full = callback.json() as ConnectorBody;
    assert.equal(full.id, partial.id, 'the same connector');
    assert.equal(full.status, 'connected');
    assert.equal(`${full.connectedCount} / ${full.totalCount}`, '4 / 4');
    assert.deepEqual(full.actions, ['Connect a different account', 'Disconnect']);
    const adAccount = full.accounts.find((account) => account.kind === 'ad_account');
    assert.equal(adAccount?.externalId, 'act_770001');
    assert.ok(
      full.accounts.filter((account) => account.kind !== 'ad_account').every((account) => account.enabled),
      'the choices made before the second round are kept',
    );
  });

  it('offers the actions of each state: Google views and customers, reconnect, connect', async () => {
    const workspace = await createWorkspace(harness, 'Actions');
    const analytics = await connectOAuth(harness.app, workspace, 'google_analytics');
    assert.deepEqual(analytics.actions, ['Connect a different account', 'Select a new view', 'Disconnect']);
    const ads = await connectOAuth(harness.app, workspace, 'google_ads');
    assert.deepEqual(ads.actions, ['Connect a different account', 'Change Customer Account', 'Disconnect']);

    await harness.database.sql`update connectors set status = 'reconnect_required' where id = ${ads.id}`;
    const down = (await workspace.api.get(`/v1/connectors/${ads.id}`)).json();
    assert.deepEqual(down.actions, ['Reconnect', 'Disconnect']);
    const gone = await workspace.api.delete(`/v1/connectors/${ads.id}`);
    assert.deepEqual(gone.json().actions, ['Connect']);
  });

  it('PATCH changes settings: autoUtm on Google Analytics, refused elsewhere and for unknown fields', async () => {
    const workspace = await createWorkspace(harness, 'Settings');
    const analytics = await connectOAuth(harness.app, workspace, 'google_analytics');
    const off = await workspace.api.patch(`/v1/connectors/${analytics.id}`, { settings: { autoUtm: false } });
    assert.equal(off.statusCode, 200, off.body);
    assert.deepEqual(off.json().settings, { autoUtm: false });
    const linkedin = await connectOAuth(harness.app, workspace, 'linkedin');
    const elsewhere = await workspace.api.patch(`/v1/connectors/${linkedin.id}`, {
      settings: { autoUtm: true },
    });
    assert.equal(elsewhere.statusCode, 400);
    const unknown = await workspace.api.patch(`/v1/connectors/${analytics.id}`, {
      settings: { color: 'red' },
    });
    assert.equal(unknown.statusCode, 400);
    const other = await createWorkspace(harness, 'Other');
    const foreign = await other.api.patch(`/v1/connectors/${analytics.id}`, { settings: { autoUtm: true } });
    assert.equal(foreign.statusCode, 404);
  });
});
