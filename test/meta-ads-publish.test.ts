// Facebook ads against the Meta simulator over real HTTP: the campaign, ad set, creative and ad are prepared
// PAUSED and switched ACTIVE only at the time; a create whose answer was lost (or whose id a killed worker
// never saved) is found by its marker, never made twice; a discard deletes what was made; refusals keep their
// class.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  createMetaAdapter,
  type MetaCredentials,
  mapMetaError,
  metaGraphVersion,
} from '../connectors/meta.ts';
import { metaAdsProgressKeys } from '../connectors/meta-ads.ts';
import type { PublicationContext, PublicationProgress } from '../connectors/types.ts';
import { contentSchemas, type TaskContent } from '../domain/content.ts';
import { type MetaSimulatorAdObject, startMetaSimulator } from '../sandbox/meta.ts';
import { expectFailureHiding, harnessPerTest } from './support/adapter-harness.ts';
import { contentExamples } from './support/examples.ts';

const clientId = 'glowtify-test-app';
const clientSecret = 'glowtify-test-secret-ads-41c2';
const redirectUri = 'http://127.0.0.1:3000/v1/oauth/meta/callback';
const expectFailure = expectFailureHiding([clientSecret]);
const content = contentExamples.facebook_ad as TaskContent<'facebook_ad'>;
const adAccount = { kind: 'ad_account', externalId: 'act_770001' };
const keys = metaAdsProgressKeys;

async function start() {
  const sim = await startMetaSimulator({
    clientId,
    clientSecret,
    pages: [{ id: '1001', name: 'Glow Café' }],
    adAccounts: [
      { id: '770001', name: 'Glow Ads' },
      { id: '770002', name: 'Glow Europe', currency: 'EUR' },
      { id: '770003', name: 'Glow Closed', accountStatus: 2 },
    ],
  });
  const adapter = createMetaAdapter({ apiBaseUrl: sim.url, authBaseUrl: sim.url, clientId, clientSecret });
  // The two rounds a user makes: Pages first, then "Enable Ad Account permissions" (ads_management).
  const consent = await fetch(adapter.authorizeUrl({ state: 's', redirectUri, extra: 'ads' }), {
    redirect: 'manual',
  });
  const code = new URL(consent.headers.get('location') ?? '').searchParams.get('code') ?? '';
  const token = await adapter.exchangeCode({ code, redirectUri });
  const { credentials, accounts } = await adapter.discover(token.userAccessToken);
  assert.ok(accounts.some((account) => account.kind === 'ad_account' && account.externalId === 'act_770001'));
  return { sim, adapter, credentials };
}
const h = harnessPerTest(start);

/**
 * A publication context whose saved progress lands in `stored`. `crashOn` names a progress key whose save
 * fails: the worker was killed right after Meta answered, so the id was never kept.
 */
function contextFor(
  stored: PublicationProgress,
  overrides: Partial<PublicationContext<MetaCredentials>> = {},
  options: { crashOn?: string } = {},
) {
  const context: PublicationContext<MetaCredentials> = {
    taskId: '5e0c9a31-0000-4000-8000-000000000013',
    channel: 'facebook_ad',
    content,
    contentDigest: 'digest-1',
    account: adAccount,
    credentials: h.credentials,
    get progress() {
      return { ...stored };
    },
    async saveProgress(update) {
      if (options.crashOn && update[options.crashOn]) throw new Error('worker killed');
      Object.assign(stored, update);
    },
    heartbeat() {},
    async beforeGoingLive() {},
    ...overrides,
  };
  return context;
}

const creates = () =>
  h.sim.receivedMatching(/^\/v\d+\.\d+\/act_\d+\/(campaigns|adsets|adcreatives|ads)$/, 'POST');
/** Every ad object of the simulator, by kind, not deleted. */
const live = () => {
  const alive = (objects: MetaSimulatorAdObject[]) => objects.filter((object) => object.status !== 'DELETED');
  return {
    campaigns: alive(h.sim.adCampaigns()),
    adSets: alive(h.sim.adSets()),
    creatives: alive(h.sim.adCreatives()),
    ads: alive(h.sim.ads()),
  };
};
const statuses = () => {
  const now = live();
  return {
    campaign: now.campaigns.map((object) => object.status),
    adSet: now.adSets.map((object) => object.status),
    ad: now.ads.map((object) => object.status),
  };
};

describe('Facebook ads: prepared PAUSED, switched ACTIVE at the time', () => {
  it('prepare makes campaign, ad set, creative and ad, all PAUSED, once, as Meta takes them', async () => {
    const stored: PublicationProgress = {};
    await h.adapter.prepare!(contextFor(stored));
    await h.adapter.prepare!(contextFor(stored));
    assert.equal(creates().length, 4, 'a second prepare reuses what progress names');
    assert.ok(creates().every((request) => request.path.startsWith(`/${metaGraphVersion}/act_770001/`)));
    const { campaigns, adSets, creatives, ads } = live();
    assert.deepEqual(statuses(), { campaign: ['PAUSED'], adSet: ['PAUSED'], ad: ['PAUSED'] });
    assert.equal(creatives.length, 1);
    const [campaign] = campaigns;
    const [adSet] = adSets;
    assert.deepEqual(campaign?.fields, { objective: 'OUTCOME_TRAFFIC', special_ad_categories: [] });
    assert.equal(adSet?.parentId, campaign?.id);
    assert.equal(adSet?.fields.daily_budget, '5000');
    assert.deepEqual(adSet?.fields.targeting, { geo_locations: { countries: ['US', 'CA'] } });
    assert.equal(adSet?.fields.dsa_payor, undefined, 'no EU country: no DSA fields');
    assert.deepEqual(creatives[0]?.fields.object_story_spec, {
      page_id: '1001',
      link_data: { link: content.link, message: content.text, picture: content.mediaUrls![0] },
    });
    assert.equal(ads[0]?.parentId, adSet?.id);
    assert.deepEqual(ads[0]?.fields.creative, { creative_id: creatives[0]?.id });
    // Object-valued parameters go as JSON strings in the form body.
    const campaignCreate = creates()[0]!;
    assert.match(campaignCreate.headers['content-type'] ?? '', /application\/x-www-form-urlencoded/);
    assert.equal((campaignCreate.body as Record<string, string>).special_ad_categories, '[]');
    const marker = stored[keys.marker]!;
    for (const object of [campaign, adSet, creatives[0], ads[0]]) assert.ok(object?.name.includes(marker));
    assert.deepEqual(
      [stored[keys.campaign], stored[keys.adSet], stored[keys.creative], stored[keys.ad]],
      [campaign?.id, adSet?.id, creatives[0]?.id, ads[0]?.id],
    );
  });

  it('publish switches the ad, its ad set, then its campaign ACTIVE, all after the last check', async () => {
    const stored: PublicationProgress = {};
    await h.adapter.prepare!(contextFor(stored));
    const seen: unknown[] = [];
    const published = await h.adapter.publish!(
      contextFor(stored, {
        async beforeGoingLive() {
          seen.push(statuses());
        },
      }),
    );
    assert.deepEqual(seen, [{ campaign: ['PAUSED'], adSet: ['PAUSED'], ad: ['PAUSED'] }]);
    assert.deepEqual(statuses(), { campaign: ['ACTIVE'], adSet: ['ACTIVE'], ad: ['ACTIVE'] });
    assert.equal(creates().length, 4, 'nothing made at the time');
    const switches = h.sim.receivedMatching(/^\/v\d+\.\d+\/\d+$/, 'POST').map((request) => request.path);
    const { campaigns, adSets, ads } = live();
    assert.deepEqual(
      switches,
      [ads[0]!.id, adSets[0]!.id, campaigns[0]!.id].map((id) => `/${metaGraphVersion}/${id}`),
      'the campaign, which makes it serve, last',
    );
    assert.equal(published.externalId, ads[0]?.id);
    assert.equal(
      published.externalUrl,
      `https://adsmanager.facebook.com/adsmanager/manage/ads?act=770001&selected_ad_ids=${ads[0]?.id}`,
    );
  });

  it('publish without a preparation prepares first: one of each, ACTIVE', async () => {
    await h.adapter.publish!(contextFor({}));
    assert.deepEqual(statuses(), { campaign: ['ACTIVE'], adSet: ['ACTIVE'], ad: ['ACTIVE'] });
    assert.equal(live().creatives.length, 1);
  });

  for (const edge of ['campaigns', 'adsets', 'adcreatives', 'ads'] as const) {
    it(`a ${edge} create whose answer was lost is found by its marker on the retry: one of each`, async () => {
      const stored: PublicationProgress = {};
      h.sim.dropAnswerNext({ method: 'POST', path: new RegExp(`/act_770001/${edge}$`) });
      await assert.rejects(h.adapter.prepare!(contextFor(stored)));
      await h.adapter.publish!(contextFor(stored));
      assert.deepEqual(statuses(), { campaign: ['ACTIVE'], adSet: ['ACTIVE'], ad: ['ACTIVE'] });
      assert.equal(live().creatives.length, 1);
      assert.equal(creates().length, 4, 'never made twice');
      const lookups = h.sim.receivedMatching(new RegExp(`/act_770001/${edge}$`), 'GET');
      assert.ok(lookups.length > 0, 'looked up before creating again');
      assert.match(lookups[0]!.query.filtering ?? '', new RegExp(stored[keys.marker]!));
    });
  }

  it('a worker killed after Meta made the ad, before its id was saved: the retry finds it', async () => {
    const stored: PublicationProgress = {};
    await assert.rejects(h.adapter.prepare!(contextFor(stored, {}, { crashOn: keys.ad })), /worker killed/);
    await h.adapter.publish!(contextFor(stored));
    assert.equal(creates().length, 4);
    assert.deepEqual(statuses(), { campaign: ['ACTIVE'], adSet: ['ACTIVE'], ad: ['ACTIVE'] });
  });

  it("the campaign switch's lost answer, then the retry: the same ad, ACTIVE, nothing made again", async () => {
    const stored: PublicationProgress = {};
    await h.adapter.prepare!(contextFor(stored));
    h.sim.dropAnswerNext({ method: 'POST', path: `/${metaGraphVersion}/${stored[keys.campaign]}` });
    await assert.rejects(h.adapter.publish!(contextFor(stored)));
    assert.equal(live().campaigns[0]?.status, 'ACTIVE', 'Meta applied it');
    const published = await h.adapter.publish!(contextFor(stored));
    assert.equal(published.externalId, stored[keys.ad]);
    assert.equal(creates().length, 4);
    assert.deepEqual(statuses(), { campaign: ['ACTIVE'], adSet: ['ACTIVE'], ad: ['ACTIVE'] });
  });

  it('discard deletes the campaign (its ad set and ad with it) and the creative, lost creates included', async () => {
    const stored: PublicationProgress = {};
    await h.adapter.prepare!(contextFor(stored));
    await h.adapter.discardPrepared!({ ...contextFor(stored), progress: { ...stored } });
    assert.deepEqual(live(), { campaigns: [], adSets: [], creatives: [], ads: [] });
    assert.ok(h.sim.ads().every((ad) => ad.status === 'DELETED'));
    assert.equal(stored[keys.marker], '');

    // The ad set's create answer was lost: the discard still finds everything by the marker.
    const lost: PublicationProgress = {};
    h.sim.dropAnswerNext({ method: 'POST', path: /\/adsets$/ });
    await assert.rejects(h.adapter.prepare!(contextFor(lost)));
    await h.adapter.discardPrepared!({ ...contextFor(lost), progress: { ...lost } });
    assert.deepEqual(live(), { campaigns: [], adSets: [], creatives: [], ads: [] });
    assert.equal(h.sim.adSets().length, 2);
    // Nothing left to remove: a second discard asks nothing.
    const before = h.sim.received.length;
    await h.adapter.discardPrepared!({ ...contextFor(lost), progress: { ...lost } });
    assert.equal(h.sim.received.length, before);
  });

  it('content edited after the preparation: the old objects are deleted, new ones made from the new content', async () => {
    const stored: PublicationProgress = {};
    await h.adapter.prepare!(contextFor(stored));
    const edited = { ...content, text: 'Shop the autumn sale' };
    await h.adapter.publish!(contextFor(stored, { content: edited, contentDigest: 'digest-2' }));
    assert.deepEqual(statuses(), { campaign: ['ACTIVE'], adSet: ['ACTIVE'], ad: ['ACTIVE'] });
    assert.equal(h.sim.adCampaigns()[0]?.status, 'DELETED');
    const [creative] = live().creatives;
    assert.equal(
      (creative!.fields.object_story_spec as { link_data: { message: string } }).link_data.message,
      edited.text,
    );
  });

  it('an ad shown in the EU names the Page as beneficiary and payer (DSA)', async () => {
    await h.adapter.prepare!(contextFor({}, { content: { ...content, countries: ['FR', 'US'] } }));
    assert.equal(live().adSets[0]?.fields.dsa_beneficiary, 'Glow Café');
    assert.equal(live().adSets[0]?.fields.dsa_payor, 'Glow Café');
  });

  it('other Meta channels prepare nothing', async () => {
    const before = h.sim.received.length;
    await h.adapter.prepare!(
      contextFor({}, { channel: 'facebook_post', content: contentExamples.facebook_post as TaskContent }),
    );
    await h.adapter.discardPrepared!({ ...contextFor({}), progress: {} });
    assert.equal(h.sim.received.length, before);
  });
});

/** What someone does in Ads Manager with the same user: one Graph call on an ad object. */
async function inAdsManager(method: 'POST' | 'DELETE', id: string, params: Record<string, string> = {}) {
  const url = new URL(`${h.sim.url}/${metaGraphVersion}/${id}`);
  for (const [name, value] of Object.entries({ ...params, access_token: h.credentials.userAccessToken }))
    url.searchParams.set(name, value);
  const answer = await fetch(url, { method });
  assert.equal(answer.status, 200, await answer.clone().text());
}
/** Meta's look-up lags behind its writes: the next `times` name look-ups of this edge answer no object. */
const lagNext = (edge: string, times = 1) =>
  h.sim.failNext({
    method: 'GET',
    path: new RegExp(`/act_770001/${edge}$`),
    times,
    response: { status: 200, body: { data: [], paging: {} } },
  });

describe('Facebook ads: a preparation never leaves an object no one switches on or deletes', () => {
  it('every create is fenced: a withdrawn schedule makes nothing, and the fence comes right before each create', async () => {
    const withdrawn = contextFor(
      {},
      {
        async beforeCreating() {
          throw new Error('the schedule was withdrawn before this was prepared');
        },
      },
    );
    await assert.rejects(h.adapter.prepare!(withdrawn), /withdrawn/);
    await assert.rejects(h.adapter.publish!(withdrawn), /withdrawn/);
    assert.equal(creates().length, 0);
    const fencedAt: number[] = [];
    await h.adapter.prepare!(
      contextFor(
        {},
        {
          async beforeCreating() {
            fencedAt.push(h.sim.received.length);
          },
        },
      ),
    );
    const createdAt = h.sim.received.flatMap((request, index) =>
      creates().includes(request) ? [index] : [],
    );
    assert.deepEqual(
      fencedAt,
      [...createdAt, h.sim.received.length],
      'each fence is passed with nothing sent before its create, and once more after the last',
    );
  });

  it('withdrawn while a create was on its way: the try that made the objects deletes them', async () => {
    const stored: PublicationProgress = {};
    let fences = 0;
    const withdrawnMeanwhile = contextFor(stored, {
      async beforeCreating() {
        fences += 1;
        // The campaign and the ad set were made; the creative's fence finds the schedule withdrawn.
        if (fences > 2) throw new Error('the schedule was withdrawn before this was prepared');
      },
    });
    await assert.rejects(h.adapter.prepare!(withdrawnMeanwhile), /withdrawn/);
    assert.equal(h.sim.adSets().length, 1, 'Meta made them');
    assert.deepEqual(live(), { campaigns: [], adSets: [], creatives: [], ads: [] });
    assert.equal(stored[keys.marker], '');
  });

  it('a discard whose delete answer was lost: the next preparation makes new objects, which publish', async () => {
    const stored: PublicationProgress = {};
    await h.adapter.prepare!(contextFor(stored));
    h.sim.dropAnswerNext({ method: 'DELETE', path: new RegExp(stored[keys.campaign]!) });
    await assert.rejects(h.adapter.discardPrepared!({ ...contextFor(stored), progress: { ...stored } }));
    assert.ok(stored[keys.campaign], 'progress still names the deleted campaign');
    await h.adapter.prepare!(contextFor(stored));
    const published = await h.adapter.publish!(contextFor(stored));
    assert.deepEqual(statuses(), { campaign: ['ACTIVE'], adSet: ['ACTIVE'], ad: ['ACTIVE'] });
    assert.equal(live().creatives.length, 1);
    assert.equal(published.externalId, live().ads[0]?.id);
  });

  for (const change of ['archived', 'deleted'] as const) {
    it(`a prepared campaign ${change} in Ads Manager before the time: made again and switched on in the same try, behind the last check`, async () => {
      const stored: PublicationProgress = {};
      await h.adapter.prepare!(contextFor(stored));
      const old = stored[keys.campaign]!;
      if (change === 'archived') await inAdsManager('POST', old, { status: 'ARCHIVED' });
      else await inAdsManager('DELETE', old);
      let checks = 0;
      const published = await h.adapter.publish!(
        contextFor(stored, {
          async beforeGoingLive() {
            checks += 1;
          },
        }),
      );
      assert.deepEqual(statuses(), { campaign: ['ACTIVE'], adSet: ['ACTIVE'], ad: ['ACTIVE'] });
      assert.equal(live().creatives.length, 1, 'the old creative was deleted with the rest');
      assert.notEqual(live().campaigns[0]?.id, old);
      assert.equal(published.externalId, live().ads[0]?.id);
      assert.equal(checks, 2, 'the second switch passed the last check again');
    });
  }

  it('a lost create and a look-up that lags behind it: the twin the retry made is deleted right after', async () => {
    const stored: PublicationProgress = {};
    h.sim.dropAnswerNext({ method: 'POST', path: /\/act_770001\/campaigns$/ });
    await assert.rejects(h.adapter.prepare!(contextFor(stored)));
    lagNext('campaigns');
    await h.adapter.prepare!(contextFor(stored));
    assert.equal(h.sim.adCampaigns().length, 2, 'the retry made a twin');
    assert.deepEqual(
      live().campaigns.map((campaign) => campaign.id),
      [stored[keys.campaign]],
    );
  });

  it('a twin still hidden after the preparation is deleted once the ad serves', async () => {
    const stored: PublicationProgress = {};
    h.sim.dropAnswerNext({ method: 'POST', path: /\/act_770001\/campaigns$/ });
    await assert.rejects(h.adapter.prepare!(contextFor(stored)));
    lagNext('campaigns', 2);
    await h.adapter.prepare!(contextFor(stored));
    assert.equal(live().campaigns.length, 2);
    await h.adapter.publish!(contextFor(stored));
    assert.deepEqual(statuses(), { campaign: ['ACTIVE'], adSet: ['ACTIVE'], ad: ['ACTIVE'] });
    assert.equal(live().campaigns[0]?.id, stored[keys.campaign]);
  });

  it('a campaign and creative renamed in Ads Manager are still deleted by their saved ids', async () => {
    const stored: PublicationProgress = {};
    await h.adapter.prepare!(contextFor(stored));
    await inAdsManager('POST', stored[keys.campaign]!, { name: 'Renamed by hand' });
    await inAdsManager('POST', stored[keys.creative]!, { name: 'Creative renamed by hand' });
    await h.adapter.discardPrepared!({ ...contextFor(stored), progress: { ...stored } });
    assert.deepEqual(live(), { campaigns: [], adSets: [], creatives: [], ads: [] });
  });
});

describe('Facebook ads: refusals keep their class, from Meta’s own error bodies', () => {
  it('190 is TOKEN_EXPIRED', async () => {
    h.sim.expireTokens();
    const error = await expectFailure(h.adapter.prepare!(contextFor({})), 'TOKEN_EXPIRED', [
      h.credentials.userAccessToken,
    ]);
    assert.equal(error.failure.platformCode, '190/463');
  });

  it('ads_management taken back is PERMISSION_REVOKED (#200)', async () => {
    h.sim.revokePermission('ads_management');
    const error = await expectFailure(h.adapter.prepare!(contextFor({})), 'PERMISSION_REVOKED');
    assert.equal(error.failure.platformCode, '200');
  });

  it('#80004 is RATE_LIMITED, waiting as long as the usage headers say', async () => {
    h.sim.failWith('rate_limited', { path: /\/act_770001\/campaigns$/, method: 'POST' });
    const error = await expectFailure(h.adapter.prepare!(contextFor({})), 'RATE_LIMITED');
    assert.equal(error.failure.platformCode, '80004/2446079');
    assert.equal(
      error.failure.retryAfterMs,
      120_000,
      'the longer of estimated_time_to_regain_access and reset_time_duration',
    );
  });

  it('is_transient is TRANSIENT; #368 on the creative is CONTENT_REJECTED with the user message', async () => {
    h.sim.failWith('transient', { path: /\/adsets$/, method: 'POST' });
    await expectFailure(h.adapter.prepare!(contextFor({})), 'TRANSIENT');
    h.sim.failWith('content_rejected', { path: /\/adcreatives$/, method: 'POST' });
    const error = await expectFailure(h.adapter.prepare!(contextFor({})), 'CONTENT_REJECTED');
    assert.match(error.message, /Community Standards/);
  });

  it('a location Meta does not know is INVALID_REQUEST in Meta’s words; nothing is made twice after', async () => {
    const stored: PublicationProgress = {};
    const error = await expectFailure(
      h.adapter.prepare!(contextFor(stored, { content: { ...content, countries: ['XY'] } })),
      'INVALID_REQUEST',
    );
    assert.match(error.message, /XY is not a country code/);
    assert.equal(error.failure.platformCode, '100');
  });

  it("a campaign without special_ad_categories gets Meta's 400, which maps to INVALID_REQUEST", async () => {
    const response = await fetch(`${h.sim.url}/${metaGraphVersion}/act_770001/campaigns`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${h.credentials.userAccessToken}`,
        'content-type': 'application/x-www-form-urlencoded',
      },
      body: new URLSearchParams({ name: 'x', objective: 'OUTCOME_TRAFFIC', status: 'PAUSED' }),
    });
    assert.equal(response.status, 400);
    const body = (await response.json()) as { error: Record<string, unknown> };
    assert.equal(body.error.code, 100);
    assert.equal(body.error.type, 'OAuthException');
    assert.match(String(body.error.error_user_msg), /special_ad_categories/);
    assert.equal(typeof body.error.fbtrace_id, 'string');
    const failure = mapMetaError(response.status, body, response.headers);
    assert.equal(failure.class, 'INVALID_REQUEST');
    assert.match(failure.message, /special_ad_categories/);
    assert.equal(h.sim.adCampaigns().length, 0);
  });

  it('what a reconnect cannot fix is INVALID_REQUEST, asked before anything is made', async () => {
    const currency = await expectFailure(
      h.adapter.prepare!(contextFor({}, { account: { kind: 'ad_account', externalId: 'act_770002' } })),
      'INVALID_REQUEST',
    );
    assert.match(currency.message, /bills in EUR; the ad's daily budget is in USD/);
    const closed = await expectFailure(
      h.adapter.prepare!(contextFor({}, { account: { kind: 'ad_account', externalId: 'act_770003' } })),
      'INVALID_REQUEST',
    );
    assert.match(closed.message, /not active/);
    const page = await expectFailure(
      h.adapter.prepare!(contextFor({}, { content: { ...content, pageId: '9999' } })),
      'INVALID_REQUEST',
    );
    assert.match(page.message, /Page 9999 is not among the Pages/);
    await expectFailure(
      h.adapter.prepare!(contextFor({}, { account: { kind: 'facebook_page', externalId: '1001' } })),
      'INVALID_REQUEST',
    );
    assert.equal(creates().length, 0);
  });

  it('the pre-flight tells a revoked ads_management and a closed account before the time', async () => {
    const check = (externalId: string) =>
      h.adapter.preflight!({
        taskId: 't',
        channel: 'facebook_ad',
        content,
        account: { kind: 'ad_account', externalId },
        credentials: h.credentials,
        scheduledAt: new Date(Date.now() + 3_600_000),
      });
    await check('act_770001');
    await expectFailure(check('act_770003'), 'INVALID_REQUEST');
    h.sim.revokePermission('ads_management');
    await expectFailure(check('act_770001'), 'PERMISSION_REVOKED');
    assert.equal(creates().length, 0, 'a check makes nothing');
  });
});

describe('facebook_ad content', () => {
  const schema = contentSchemas.facebook_ad;
  const issue = (value: unknown) => schema.safeParse(value).error?.issues[0]?.path.join('.');

  it('names the field Meta would refuse', () => {
    assert.ok(schema.safeParse(content).success);
    assert.equal(issue({ ...content, pageId: undefined }), 'pageId');
    assert.equal(issue({ ...content, pageId: 'my page' }), 'pageId');
    assert.equal(issue({ ...content, countries: [] }), 'countries');
    assert.equal(issue({ ...content, countries: ['usa'] }), 'countries.0');
    assert.equal(issue({ ...content, countries: ['US', 'US'] }), 'countries');
    assert.equal(
      issue({ ...content, mediaUrls: ['https://a.example/1.jpg', 'https://a.example/2.jpg'] }),
      'mediaUrls',
    );
    assert.equal(
      issue({ ...content, dailyBudget: { amountMinor: 0, currency: 'USD' } }),
      'dailyBudget.amountMinor',
    );
    assert.equal(issue({ ...content, targeting: {} }), '');
  });
});
