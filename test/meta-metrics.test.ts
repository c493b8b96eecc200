// Meta's published items read back against the Meta simulator over real HTTP: Instagram media and story
// insights, Page post insights and ad insights at their documented endpoints, under the normalised names;
// values that grow, deleted objects, Business Use Case throttling and grants without the insights permissions.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createMetaAdapter, type MetaCredentials, metaGraphVersion } from '../connectors/meta.ts';
import { metaConversionActionTypes, spendToMinor } from '../connectors/meta-metrics.ts';
import type {
  MetricsAnswer,
  MetricsItem,
  PublicationContext,
  PublicationProgress,
} from '../connectors/types.ts';
import type { Channel } from '../domain/channels.ts';
import type { TaskContent } from '../domain/content.ts';
import { startMetaSimulator } from '../sandbox/meta.ts';
import { expectFailureHiding, harnessPerTest } from './support/adapter-harness.ts';
import { contentExamples } from './support/examples.ts';

const clientId = 'glowtify-test-app';
const clientSecret = 'glowtify-test-secret-metrics-5d1e';
const redirectUri = 'http://127.0.0.1:3000/v1/oauth/meta/callback';
const expectFailure = expectFailureHiding([clientSecret]);
const cafe = { id: '1001', name: 'Glow Café', instagram: { id: '17841400000000001', username: 'glowcafe' } };
const tiny = { id: '1002', name: 'Glow Corner', fanCount: 40 };
const hour = 3_600_000;
const publishingOnly = [
  'pages_show_list',
  'pages_read_engagement',
  'pages_manage_posts',
  'instagram_basic',
  'instagram_content_publish',
  'business_management',
  'ads_management',
];

async function start(grantOnly: string[] | null = null) {
  const clock = { now: Date.parse('2026-11-02T09:00:00Z') };
  const now = () => new Date(clock.now);
  const sim = await startMetaSimulator({
    clientId,
    clientSecret,
    pages: [cafe, tiny],
    adAccounts: [{ id: '770001', name: 'Glow Ads' }],
    now,
  });
  const adapter = createMetaAdapter({
    apiBaseUrl: sim.url,
    authBaseUrl: sim.url,
    clientId,
    clientSecret,
    containerPoll: { intervalMs: 10, maxWaitMs: 2000 },
    now,
  });
  sim.grantOnly = grantOnly;
  const consent = await fetch(adapter.authorizeUrl({ state: 's', redirectUri, extra: 'ads' }), {
    redirect: 'manual',
  });
  const query = Object.fromEntries(new URL(consent.headers.get('location') ?? '').searchParams);
  const connection = await adapter.connector.completeConsent({ code: query.code ?? '', redirectUri, query });
  return { sim, adapter, clock, credentials: connection.credentials, connection };
}
const h = harnessPerTest(start);

const accounts = {
  instagram_post: { kind: 'instagram_account', externalId: cafe.instagram.id },
  instagram_story: { kind: 'instagram_account', externalId: cafe.instagram.id },
  facebook_post: { kind: 'facebook_page', externalId: cafe.id },
  facebook_ad: { kind: 'ad_account', externalId: 'act_770001' },
} as const;
type MetaChannel = keyof typeof accounts;

/** Publishes through the adapter as the epic would, and returns the item the collection would read. */
async function published(
  channel: MetaChannel,
  account: { kind: string; externalId: string } = accounts[channel],
): Promise<MetricsItem> {
  const stored: PublicationProgress = {};
  const context: PublicationContext<MetaCredentials> = {
    taskId: `5e0c9a31-0000-4000-8000-${String(Math.floor(Math.random() * 1e12)).padStart(12, '0')}`,
    channel,
    content: contentExamples[channel] as TaskContent,
    contentDigest: `digest-${channel}`,
    account,
    credentials: h.credentials,
    get progress() {
      return { ...stored };
    },
    async saveProgress(update) {
      Object.assign(stored, update);
    },
    heartbeat() {},
    async beforeGoingLive() {},
  };
  const result = await h.adapter.publish!(context);
  return {
    publicationId: `pub-${channel}-${result.externalId}`,
    taskId: context.taskId,
    channel: channel as Channel,
    account,
    externalId: result.externalId,
    publishedAt: new Date(h.clock.now),
    progress: { ...stored },
  };
}

async function collect(items: MetricsItem[], credentials: MetaCredentials = h.credentials) {
  return h.adapter.collectMetrics!({ credentials, items });
}

function valuesOf(answer: MetricsAnswer | undefined): Record<string, number> {
  assert.equal(answer?.state, 'read', `not read: ${JSON.stringify(answer)}`);
  return Object.fromEntries(
    (answer as Extract<MetricsAnswer, { state: 'read' }>).metrics.map((reading) => [
      reading.metric,
      reading.value,
    ]),
  );
}
function platformNamesOf(answer: MetricsAnswer | undefined): Record<string, string> {
  assert.equal(answer?.state, 'read');
  return Object.fromEntries(
    (answer as Extract<MetricsAnswer, { state: 'read' }>).metrics.map((reading) => [
      reading.metric,
      reading.platformMetric,
    ]),
  );
}
const insightsRequests = () => h.sim.receivedMatching(/\/insights$/, 'GET');

describe('Meta: published items read back', () => {
  it('an Instagram post is read at GET /{media-id}/insights with the metrics Meta still serves, and grows', async () => {
    const item = await published('instagram_post');
    h.clock.now += hour;
    const first = await collect([item]);
    const [request] = insightsRequests();
    assert.equal(request?.path, `/${metaGraphVersion}/${item.externalId}/insights`);
    assert.equal(request?.query.metric, 'views,reach,likes,comments,shares,saved');
    const pageToken = h.credentials.pages[cafe.id]?.accessToken;
    assert.equal(request?.headers.authorization, `Bearer ${pageToken}`, 'read with the Page token');
    const early = valuesOf(first[item.publicationId]);
    assert.deepEqual(Object.keys(early).sort(), ['comments', 'likes', 'reach', 'saves', 'shares', 'views']);
    assert.equal(platformNamesOf(first[item.publicationId]).saves, 'saved');
    assert.ok((early.views ?? 0) > 0);

    h.clock.now += 24 * hour;
    const later = valuesOf((await collect([item]))[item.publicationId]);
    for (const metric of ['views', 'reach', 'likes'])
      assert.ok((later[metric] ?? 0) > (early[metric] ?? 0), `${metric} did not grow`);
  });

  it('the simulator refuses a removed Instagram metric with #100, as Meta does', async () => {
    const item = await published('instagram_post');
    h.clock.now += hour;
    const token = h.credentials.pages[cafe.id]?.accessToken ?? '';
    const answer = await fetch(
      `${h.sim.url}/${metaGraphVersion}/${item.externalId}/insights?metric=views,impressions`,
      {
        headers: { authorization: `Bearer ${token}` },
      },
    );
    assert.equal(answer.status, 400);
    const body = (await answer.json()) as { error: { code: number; message: string } };
    assert.equal(body.error.code, 100);
    assert.match(body.error.message, /impressions/);
  });

  it('an Instagram post just published has no data yet: unavailable, not stored, asked again', async () => {
    const item = await published('instagram_post');
    const answers = await collect([item]);
    assert.equal(answers[item.publicationId]?.state, 'unavailable');
  });

  it('a story is read within its 24 hours (views, reach, shares); after them it is unavailable, not deleted, and not asked', async () => {
    const item = await published('instagram_story');
    h.clock.now += hour;
    const within = await collect([item]);
    assert.equal(insightsRequests()[0]?.query.metric, 'views,reach,shares');
    assert.deepEqual(Object.keys(valuesOf(within[item.publicationId])).sort(), ['reach', 'shares', 'views']);

    h.clock.now += 24 * hour;
    const after = await collect([item]);
    assert.equal(after[item.publicationId]?.state, 'unavailable');
    assert.match((after[item.publicationId] as { reason: string }).reason, /24 hours/);
    assert.equal(insightsRequests().length, 1, 'a story past its day is not asked');
  });

  it('a Page post is read at GET /{post-id}/insights (post_media_view, not post_impressions) and grows', async () => {
    const item = await published('facebook_post');
    h.clock.now += 6 * hour;
    const first = await collect([item]);
    const [request] = insightsRequests();
    assert.equal(request?.path, `/${metaGraphVersion}/${item.externalId}/insights`);
    assert.equal(
      request?.query.metric,
      'post_media_view,post_total_media_view_unique,post_clicks,post_reactions_by_type_total',
    );
    assert.doesNotMatch(request?.query.metric ?? '', /post_impressions/);
    const early = valuesOf(first[item.publicationId]);
    assert.deepEqual(platformNamesOf(first[item.publicationId]), {
      views: 'post_media_view',
      reach: 'post_total_media_view_unique',
      clicks: 'post_clicks',
      likes: 'post_reactions_by_type_total',
    });
    h.clock.now += 24 * hour;
    const later = valuesOf((await collect([item]))[item.publicationId]);
    assert.ok((later.views ?? 0) > (early.views ?? 0));
    assert.ok((later.likes ?? 0) > (early.likes ?? 0));
  });

  it('a post of a Page under 100 likes is unavailable (Meta keeps no insights for it)', async () => {
    const item = await published('facebook_post', { kind: 'facebook_page', externalId: tiny.id });
    h.clock.now += 6 * hour;
    const answer = (await collect([item]))[item.publicationId];
    assert.equal(answer?.state, 'unavailable');
    assert.match((answer as { reason: string }).reason, /100 likes/);
  });

  it('a Facebook ad is read at GET /{ad-id}/insights over its life: spend in cents, pixel conversions counted once', async () => {
    const item = await published('facebook_ad');
    h.clock.now += 3 * hour;
    const first = await collect([item]);
    const [request] = insightsRequests();
    assert.equal(request?.path, `/${metaGraphVersion}/${item.externalId}/insights`);
    assert.equal(request?.query.fields, 'impressions,reach,clicks,spend,actions,account_currency');
    assert.equal(request?.query.date_preset, 'maximum');
    const early = valuesOf(first[item.publicationId]);
    assert.deepEqual(Object.keys(early).sort(), [
      'clicks',
      'conversions',
      'impressions',
      'reach',
      'spend_minor',
    ]);
    assert.equal(platformNamesOf(first[item.publicationId]).spend_minor, 'spend');
    // The simulator's spend is 1.1 cents per impression; its conversions are pixel purchases and leads, which
    // Meta also lists aggregated (purchase, lead): counted once.
    assert.equal(early.spend_minor, Math.floor((early.impressions ?? 0) * 1.1));
    const clicks = early.clicks ?? 0;
    assert.equal(early.conversions, Math.floor(clicks / 25) + Math.floor(clicks / 30));

    h.clock.now += 24 * hour;
    const later = valuesOf((await collect([item]))[item.publicationId]);
    assert.ok((later.impressions ?? 0) > (early.impressions ?? 0));
    assert.ok((later.spend_minor ?? 0) > (early.spend_minor ?? 0));
  });

  it('spend is converted to the currency’s minor units exactly', () => {
    assert.equal(spendToMinor('12.34', 'USD'), 1234);
    assert.equal(spendToMinor('0.1', 'EUR'), 10);
    assert.equal(spendToMinor('1500', 'JPY'), 1500);
    assert.equal(spendToMinor('19.999', 'USD'), 2000);
    assert.equal(spendToMinor('n/a', 'USD'), null);
    assert.ok(metaConversionActionTypes.every((type) => type.startsWith('offsite_conversion.fb_pixel_')));
  });

  it('deleted objects answer deleted; the others in the same read are still read', async () => {
    const post = await published('facebook_post');
    const media = await published('instagram_post');
    const ad = await published('facebook_ad');
    const kept = await published('instagram_post');
    h.clock.now += 6 * hour;
    for (const item of [post, media, ad]) h.sim.deleteObject(item.externalId);
    const answers = await collect([post, media, ad, kept]);
    assert.deepEqual(answers[post.publicationId], { state: 'deleted' });
    assert.deepEqual(answers[media.publicationId], { state: 'deleted' });
    assert.deepEqual(answers[ad.publicationId], { state: 'deleted' });
    assert.equal(answers[kept.publicationId]?.state, 'read');
  });

  it('a throttle ends the read RATE_LIMITED with the wait Meta names; nothing is marked deleted', async () => {
    const post = await published('facebook_post');
    const media = await published('instagram_post');
    const ad = await published('facebook_ad');
    h.clock.now += 6 * hour;
    h.sim.rateLimitInsights(media.externalId, 7);
    const error = await expectFailure(collect([post, media, ad]), 'RATE_LIMITED', [
      h.credentials.userAccessToken,
    ]);
    assert.equal(error.failure.retryAfterMs, 7 * 60_000);
    assert.equal(insightsRequests().length, 2, 'the read stops at the throttle');

    h.sim.rateLimitInsights(ad.externalId, 3);
    const adError = await expectFailure(collect([ad]), 'RATE_LIMITED');
    assert.equal(adError.failure.retryAfterMs, 3 * 60_000);
    // Once the budget is back, every item is read: none was given up.
    const answers = await collect([post, media, ad]);
    for (const item of [post, media, ad]) assert.equal(answers[item.publicationId]?.state, 'read');
  });

  it('a dead token ends the read TOKEN_EXPIRED (the only refusal that touches the connector)', async () => {
    const media = await published('instagram_post');
    h.clock.now += hour;
    h.sim.expireTokens();
    await expectFailure(collect([media]), 'TOKEN_EXPIRED');
  });

  it('N items take N insights calls and one permissions check (Meta batches nothing at these endpoints)', async () => {
    const items = [
      await published('instagram_post'),
      await published('instagram_post'),
      await published('facebook_post'),
      await published('facebook_ad'),
    ];
    h.clock.now += 6 * hour;
    const before = h.sim.received.length;
    const answers = await collect(items);
    assert.equal(Object.keys(answers).length, 4);
    assert.equal(insightsRequests().length, 4);
    assert.equal(h.sim.receivedMatching('/me/permissions', 'GET').length, 1);
    assert.equal(h.sim.received.length - before, 5);
  });
});

describe('Meta: a grant without the insights permissions', () => {
  const g = harnessPerTest(start, publishingOnly);

  it('connects and publishes, and each item is unavailable naming the permission it lacks', async () => {
    assert.ok(g.connection.accounts.some((account) => account.kind === 'instagram_account'));
    // The helpers above read the other harness: publish here by hand through this one.
    const make = async (channel: MetaChannel) => {
      const stored: PublicationProgress = {};
      const result = await g.adapter.publish!({
        taskId: '5e0c9a31-0000-4000-8000-000000000099',
        channel,
        content: contentExamples[channel] as TaskContent,
        contentDigest: 'd',
        account: accounts[channel],
        credentials: g.credentials,
        progress: stored,
        async saveProgress(update) {
          Object.assign(stored, update);
        },
        heartbeat() {},
        async beforeGoingLive() {},
      });
      return {
        publicationId: channel,
        taskId: 't',
        channel: channel as Channel,
        account: accounts[channel],
        externalId: result.externalId,
        publishedAt: new Date(g.clock.now),
        progress: { ...stored },
      } satisfies MetricsItem;
    };
    const items = [await make('instagram_post'), await make('facebook_post'), await make('facebook_ad')];
    g.clock.now += hour;
    g.sim.revokePermission('ads_management');
    const answers = await g.adapter.collectMetrics!({ credentials: g.credentials, items });
    assert.deepEqual(answers.instagram_post, {
      state: 'unavailable',
      reason: 'The Meta grant lacks instagram_manage_insights',
      missingScopes: ['instagram_manage_insights'],
    });
    assert.deepEqual((answers.facebook_post as { missingScopes?: string[] }).missingScopes, [
      'read_insights',
    ]);
    assert.deepEqual((answers.facebook_ad as { missingScopes?: string[] }).missingScopes, ['ads_read']);
    assert.equal(g.sim.receivedMatching(/\/insights$/).length, 0, 'nothing asked that the grant cannot get');
  });
});
