// Connecting Klaviyo (API key) and Meta (OAuth) through HTTP against their simulators: verified keys, a
// single-use expiring state, account choices, fresh audiences, and no credential in any response.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type KlaviyoSimulator, klaviyoScopes, startKlaviyoSimulator } from '../sandbox/klaviyo.ts';
import { type MetaSimulator, startMetaSimulator } from '../sandbox/meta.ts';
import { simulatorConfig } from '../sandbox/platforms.ts';
import { type ApiHarness, createWorkspace, startApiHarness } from './support/api.ts';
import { browserOf } from './support/platforms.ts';

const goodKey = 'pk_test_connectors_good_0001';
const narrowKey = 'pk_test_connectors_narrow_0001';
const metaApp = { id: 'connectors-app', secret: 'connectors-secret' };
let harness: ApiHarness;
let meta: MetaSimulator;
let klaviyo: KlaviyoSimulator;

before(async () => {
  meta = await startMetaSimulator({
    clientId: metaApp.id,
    clientSecret: metaApp.secret,
    pages: [
      { id: '2001', name: 'Bakery', instagram: { id: '17841400000000201', username: 'bakery' } },
      { id: '2002', name: 'Bakery Outlet' },
    ],
  });
  klaviyo = await startKlaviyoSimulator({
    apiKeys: {
      [goodKey]: {
        scopes: klaviyoScopes,
      },
      [narrowKey]: { scopes: ['accounts:read'] },
    },
    lists: Array.from({ length: 12 }, (_, index) => ({ id: `L${index}`, name: `List ${index}` })),
    segments: [{ id: 'S1', name: 'VIP' }],
  });
  harness = await startApiHarness({
    config: simulatorConfig({ meta, klaviyo }, { meta: metaApp }),
  });
});
after(async () => {
  await harness?.close();
  await meta?.close();
  await klaviyo?.close();
});

const noSecrets = (body: string) => {
  assert.doesNotMatch(body, /EAA[A-Za-z0-9_-]{20,}/, 'no Meta token in a response');
  assert.ok(!body.includes(goodKey), 'no Klaviyo key in a response');
};

/** Starts Meta's OAuth and returns the callback path the consent page sends the browser to. */
async function consent(workspace: Awaited<ReturnType<typeof createWorkspace>>) {
  const started = await workspace.api.post('/v1/connectors/meta/connect', {});
  assert.equal(started.statusCode, 200, started.body);
  const authorizeUrl = new URL(started.json().authorizeUrl);
  const answer = await fetch(authorizeUrl, { redirect: 'manual' });
  assert.equal(answer.status, 302);
  const location = new URL(answer.headers.get('location')!);
  // The browser that started the consent carries its cookie back.
  return { authorizeUrl, callback: `${location.pathname}${location.search}`, cookies: browserOf(started) };
}

describe('connectors over HTTP', () => {
  it('connects Klaviyo with a verified key; its lists and segments become accounts and audiences come fresh', async () => {
    const workspace = await createWorkspace(harness, 'Klaviyo shop');
    const response = await workspace.api.post('/v1/connectors/klaviyo/connect', { apiKey: goodKey });
    assert.equal(response.statusCode, 201, response.body);
    noSecrets(response.body);
    const connector = response.json();
    assert.equal(connector.platform, 'klaviyo');
    assert.equal(connector.status, 'connected');
    assert.equal(connector.accounts.length, 13, 'all 12 lists across pages and the segment');
    assert.deepEqual(
      [...new Set(connector.accounts.map((account: { kind: string }) => account.kind))].sort(),
      ['list', 'segment'],
    );
    const audiences = await workspace.api.get(`/v1/connectors/${connector.id}/audiences`);
    assert.equal(audiences.statusCode, 200, audiences.body);
    assert.ok(
      audiences
        .json()
        .items.some((item: { id: string; kind: string }) => item.id === 'S1' && item.kind === 'segment'),
    );
    const page = await workspace.api.get('/v1/connectors');
    assert.equal(page.statusCode, 200);
    assert.equal(page.json().counts.connected, 1);
    assert.ok(page.json().available.every((entry: { platform: string }) => entry.platform !== 'klaviyo'));
    noSecrets(page.body);
  });

  it('refuses a wrong Klaviyo key with "Invalid API key" and a narrow one with "Scopes insufficient"', async () => {
    const workspace = await createWorkspace(harness, 'Bad keys');
    const wrong = await workspace.api.post('/v1/connectors/klaviyo/connect', {
      apiKey: 'pk_wrong_key_000000000',
    });
    assert.equal(wrong.statusCode, 400);
    assert.equal(wrong.json().error.message, 'Invalid API key');
    const narrow = await workspace.api.post('/v1/connectors/klaviyo/connect', { apiKey: narrowKey });
    assert.equal(narrow.statusCode, 400);
    assert.equal(narrow.json().error.message, 'Scopes insufficient');
    assert.equal((await workspace.api.get('/v1/connectors')).json().counts.connected, 0, 'nothing was saved');
    const missing = await workspace.api.post('/v1/connectors/klaviyo/connect', {});
    assert.equal(missing.statusCode, 400);
    assert.match(missing.json().error.message, /body\.apiKey/);
  });

  it("connects Meta through its consent page: Pages and their Instagram accounts, then the user's choice", async () => {
    const workspace = await createWorkspace(harness, 'Meta shop');
    const { authorizeUrl, callback, cookies } = await consent(workspace);
    assert.equal(authorizeUrl.searchParams.get('client_id'), metaApp.id);
    assert.equal(
      authorizeUrl.searchParams.get('redirect_uri'),
      `${harness.config.PUBLIC_URL}/v1/oauth/meta/callback`,
    );
    assert.ok((authorizeUrl.searchParams.get('state') ?? '').length >= 32, 'an unguessable state');
    assert.match(authorizeUrl.searchParams.get('scope') ?? '', /instagram_content_publish/);

    const returned = await harness.app.inject({ method: 'GET', url: callback, cookies });
    assert.equal(returned.statusCode, 200, returned.body);
    noSecrets(returned.body);
    const connector = returned.json();
    // Pages and Instagram, but no Business or Ad Account: "2 / 4".
    assert.equal(connector.status, 'partially_connected');
    assert.equal(`${connector.connectedCount} / ${connector.totalCount}`, '2 / 4');
    assert.ok(connector.tokenExpiresAt, 'the long-lived token expiry is kept');
    assert.ok(Date.parse(connector.tokenExpiresAt) > Date.now() + 50 * 86_400_000, 'about 60 days ahead');
    assert.deepEqual(
      connector.accounts
        .map((account: { kind: string; externalId: string }) => `${account.kind}:${account.externalId}`)
        .sort(),
      ['facebook_page:2001', 'facebook_page:2002', 'instagram_account:17841400000000201'],
    );
    assert.ok(
      connector.accounts.every((account: { enabled: boolean }) => !account.enabled),
      'nothing enabled until chosen',
    );

    const instagram = connector.accounts.find(
      (account: { kind: string }) => account.kind === 'instagram_account',
    );
    const chosen = await workspace.api.request({
      method: 'PUT',
      url: `/v1/connectors/${connector.id}/accounts`,
      payload: { enabled: [instagram.id] },
    });
    assert.equal(chosen.statusCode, 200, chosen.body);
    assert.deepEqual(
      chosen
        .json()
        .accounts.filter((account: { enabled: boolean }) => account.enabled)
        .map((account: { id: string }) => account.id),
      [instagram.id],
    );
    const unknown = await workspace.api.request({
      method: 'PUT',
      url: `/v1/connectors/${connector.id}/accounts`,
      payload: { enabled: ['00000000-0000-4000-8000-000000000000'] },
    });
    assert.equal(unknown.statusCode, 400);

    // Reconnecting keeps the choice.
    const again = await consent(workspace);
    const reconnected = await harness.app.inject({
      method: 'GET',
      url: again.callback,
      cookies: again.cookies,
    });
    assert.equal(reconnected.statusCode, 200, reconnected.body);
    assert.equal(reconnected.json().id, connector.id);
    assert.deepEqual(
      reconnected
        .json()
        .accounts.filter((account: { enabled: boolean }) => account.enabled)
        .map((account: { id: string }) => account.id),
      [instagram.id],
    );
  });

  it('refuses a replayed, unknown or denied state with a 400', async () => {
    const workspace = await createWorkspace(harness, 'States');
    const { callback, cookies } = await consent(workspace);
    assert.equal((await harness.app.inject({ method: 'GET', url: callback, cookies })).statusCode, 200);
    const replayed = await harness.app.inject({ method: 'GET', url: callback, cookies });
    assert.equal(replayed.statusCode, 400);
    assert.equal(replayed.json().error.code, 'INVALID_STATE');

    const unknown = await harness.app.inject({
      method: 'GET',
      url: '/v1/oauth/meta/callback?code=abc&state=not-a-state-we-issued',
    });
    assert.equal(unknown.statusCode, 400);
    assert.equal(unknown.json().error.code, 'INVALID_STATE');

    meta.consent = 'deny';
    try {
      const denied = await consent(workspace);
      const response = await harness.app.inject({
        method: 'GET',
        url: denied.callback,
        cookies: denied.cookies,
      });
      assert.equal(response.statusCode, 400);
      assert.equal(response.json().error.code, 'CONSENT_DENIED');
    } finally {
      meta.consent = 'approve';
    }
  });

  it("never shows one workspace another's connector", async () => {
    const owner = await createWorkspace(harness, 'Owner');
    const other = await createWorkspace(harness, 'Other');
    const connector = (await owner.api.post('/v1/connectors/klaviyo/connect', { apiKey: goodKey })).json();
    for (const response of [
      await other.api.get(`/v1/connectors/${connector.id}`),
      await other.api.get(`/v1/connectors/${connector.id}/audiences`),
      await other.api.request({
        method: 'PUT',
        url: `/v1/connectors/${connector.id}/accounts`,
        payload: { enabled: [] },
      }),
    ]) {
      assert.equal(response.statusCode, 404, response.body);
    }
  });
});
