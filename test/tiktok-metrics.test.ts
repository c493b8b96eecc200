// TikTok's published videos read back against the TikTok simulator over real HTTP: POST /v2/video/query/ with
// at most 20 public ids per call, the counts under the normalised names; growth, deleted videos, the
// per-minute throttle, a grant without video.list, and a post moderation has not named yet.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createTikTokAdapter, type TikTokCredentials } from '../connectors/tiktok.ts';
import type { MetricsAnswer, MetricsItem, PublicationProgress } from '../connectors/types.ts';
import type { TaskContent } from '../domain/content.ts';
import { startTikTokSimulator } from '../sandbox/tiktok.ts';
import { expectFailureHiding, followConsent, harnessPerTest } from './support/adapter-harness.ts';

const clientKey = 'glowtifytestkey';
const clientSecret = 'glowtify-test-tiktok-secret-m3tr';
const expectFailure = expectFailureHiding([clientSecret]);
const redirectUri = 'http://127.0.0.1:3000/v1/oauth/tiktok/callback';
const openId = '-000MetricsOpenId0123456789abcd';
const hour = 3_600_000;
const queryPath = '/v2/video/query/';

async function start(grantScopes?: string[]) {
  const clock = { now: Date.parse('2026-11-02T09:00:00Z') };
  const sim = await startTikTokSimulator({
    clientKey,
    clientSecret,
    redirectUris: [redirectUri],
    user: { openId, unionId: 'u-1', displayName: 'Glow Café', avatarUrl: 'https://p16.example.test/a.jpeg' },
    publishing: { downloadMs: 0, processingMs: 0, moderationMs: 0 },
    // Many posts within one simulated minute: the publishing limits are not what these tests are about.
    rateLimits: false,
    // The readings span days; refreshing the 2-hour token is not what these tests are about.
    accessTokenSeconds: 60 * 24 * 3600,
    now: () => new Date(clock.now),
    ...(grantScopes ? { grantScopes } : {}),
  });
  const adapter = createTikTokAdapter({
    apiBaseUrl: sim.url,
    authBaseUrl: sim.url,
    clientId: clientKey,
    clientSecret,
    statusPoll: { intervalMs: 10, maxWaitMs: 1_000 },
    moderationWaitMs: 50,
  });
  const { query } = await followConsent(adapter.connector.authorizeUrl({ state: 's', redirectUri }));
  const connection = await adapter.connector.completeConsent({ code: query.code ?? '', redirectUri, query });
  return { sim, adapter, clock, credentials: connection.credentials };
}
const h = harnessPerTest(start);

let sequence = 0;
/** Posts a video through the adapter as the epic would, and returns the item the collection would read. */
async function published(
  harness: { adapter: typeof h.adapter; credentials: TikTokCredentials; clock: { now: number } } = h,
  privacyLevel: TaskContent<'tiktok_video'>['privacyLevel'] = 'PUBLIC_TO_EVERYONE',
): Promise<MetricsItem> {
  sequence += 1;
  const stored: PublicationProgress = {};
  const account = { kind: 'tiktok_account', externalId: openId };
  const result = await harness.adapter.publish({
    taskId: `5e0c9a31-0000-4000-8000-${String(sequence).padStart(12, '0')}`,
    channel: 'tiktok_video',
    content: { title: `Roastery ${sequence}`, videoUrl: 'https://cdn.acme.example/v.mp4', privacyLevel },
    contentDigest: `digest-${sequence}`,
    account,
    credentials: harness.credentials,
    get progress() {
      return { ...stored };
    },
    async saveProgress(update) {
      Object.assign(stored, update);
    },
    heartbeat() {},
    async beforeGoingLive() {},
  });
  return {
    publicationId: `pub-${sequence}`,
    taskId: 't',
    channel: 'tiktok_video',
    account,
    externalId: result.externalId,
    publishedAt: new Date(harness.clock.now),
    progress: { ...stored },
  };
}

const collect = (items: MetricsItem[]) => h.adapter.collectMetrics!({ credentials: h.credentials, items });
function valuesOf(answer: MetricsAnswer | undefined): Record<string, number> {
  assert.equal(answer?.state, 'read', `not read: ${JSON.stringify(answer)}`);
  return Object.fromEntries(
    (answer as Extract<MetricsAnswer, { state: 'read' }>).metrics.map((reading) => [
      reading.metric,
      reading.value,
    ]),
  );
}

describe('TikTok: published videos read back', () => {
  it('a video is read at POST /v2/video/query/ by its public id, under the normalised names, and grows', async () => {
    const item = await published();
    assert.match(item.externalId, /^\d{19}$/, 'published under its public id');
    h.clock.now += hour;
    const first = await collect([item]);
    const [request] = h.sim.receivedMatching(queryPath, 'POST');
    assert.equal(request?.query.fields, 'id,view_count,like_count,comment_count,share_count');
    assert.deepEqual(request?.body, { filters: { video_ids: [item.externalId] } });
    assert.equal(request?.headers.authorization, `Bearer ${h.credentials.accessToken}`);
    const early = valuesOf(first[item.publicationId]);
    assert.deepEqual(Object.keys(early).sort(), ['comments', 'likes', 'shares', 'views']);
    const reading = (first[item.publicationId] as Extract<MetricsAnswer, { state: 'read' }>).metrics;
    assert.equal(reading.find((one) => one.metric === 'views')?.platformMetric, 'view_count');
    assert.ok((early.views ?? 0) > 0);

    h.clock.now += 3 * 24 * hour;
    const later = valuesOf((await collect([item]))[item.publicationId]);
    assert.ok((later.views ?? 0) > (early.views ?? 0));
    assert.ok((later.likes ?? 0) > (early.likes ?? 0));
  });

  it('25 videos take two calls (20 ids, then 5), every one read', async () => {
    const items: MetricsItem[] = [];
    for (let index = 0; index < 25; index += 1) items.push(await published());
    h.clock.now += 6 * hour;
    const answers = await collect(items);
    const calls = h.sim.receivedMatching(queryPath, 'POST');
    assert.deepEqual(
      calls.map((call) => (call.body as { filters: { video_ids: string[] } }).filters.video_ids.length),
      [20, 5],
    );
    for (const item of items) assert.equal(answers[item.publicationId]?.state, 'read');
  });

  it('a deleted video is deleted; the others in the same call are still read', async () => {
    const gone = await published();
    const kept = await published();
    h.clock.now += hour;
    h.sim.deleteVideo(gone.externalId);
    const answers = await collect([gone, kept]);
    assert.deepEqual(answers[gone.publicationId], { state: 'deleted' });
    assert.equal(answers[kept.publicationId]?.state, 'read');
  });

  it('a video posted from the account connected before is unavailable, not deleted, and not asked for', async () => {
    const item = await published();
    h.clock.now += hour;
    const callsBefore = h.sim.receivedMatching(queryPath, 'POST').length;
    // The connector now speaks for another TikTok user: its video/query cannot see this video.
    const answers = await h.adapter.collectMetrics!({
      credentials: { ...h.credentials, openId: 'another-creator-open-id' },
      items: [item],
    });
    const answer = answers[item.publicationId];
    assert.equal(answer?.state, 'unavailable');
    assert.match(answer?.state === 'unavailable' ? answer.reason : '', /another TikTok account/);
    assert.equal(h.sim.receivedMatching(queryPath, 'POST').length, callsBefore);
  });

  it('a post moderation has not named yet (still its publish_id) is unavailable, not asked, not deleted', async () => {
    h.sim.setPublishing({ moderationMs: 10 * hour });
    const pending = await published();
    assert.equal(pending.externalId, pending.progress.publishId, 'published under its publish_id');
    const privateOne = await published(h, 'SELF_ONLY');
    h.clock.now += hour;
    const answers = await collect([pending, privateOne]);
    assert.equal(answers[pending.publicationId]?.state, 'unavailable');
    assert.match((answers[pending.publicationId] as { reason: string }).reason, /not yet named/);
    assert.match((answers[privateOne.publicationId] as { reason: string }).reason, /SELF_ONLY/);
    assert.equal(h.sim.receivedMatching(queryPath).length, 0);
  });

  it('a throttle ends the read RATE_LIMITED after TikTok’s one-minute window; nothing is marked deleted', async () => {
    const items = [await published(), await published()];
    h.clock.now += hour;
    h.sim.failWith('rate_limited', { path: queryPath });
    const error = await expectFailure(collect(items), 'RATE_LIMITED', [h.credentials.accessToken]);
    assert.equal(error.failure.retryAfterMs, 60_000);
    const answers = await collect(items);
    for (const item of items) assert.equal(answers[item.publicationId]?.state, 'read');
  });

  it('a dead token ends the read TOKEN_EXPIRED', async () => {
    const item = await published();
    h.sim.failWith('token_expired', { path: queryPath });
    await expectFailure(collect([item]), 'TOKEN_EXPIRED');
  });

  it('a grant whose video.list was withdrawn since makes the items unavailable naming it, not a reconnect', async () => {
    const item = await published();
    h.sim.failWith('permission_revoked', { path: queryPath });
    const answers = await collect([item]);
    assert.deepEqual((answers[item.publicationId] as { missingScopes?: string[] }).missingScopes, [
      'video.list',
    ]);
  });
});

describe('TikTok: a grant without video.list', () => {
  const g = harnessPerTest(start, ['user.info.basic', 'video.publish']);

  it('connects and posts, and each video is unavailable naming video.list, without asking TikTok', async () => {
    assert.deepEqual(g.credentials.scopes, ['user.info.basic', 'video.publish']);
    const item = await published(g);
    g.clock.now += hour;
    const answers = await g.adapter.collectMetrics!({ credentials: g.credentials, items: [item] });
    assert.deepEqual(answers[item.publicationId], {
      state: 'unavailable',
      reason: 'The TikTok grant lacks video.list',
      missingScopes: ['video.list'],
    });
    assert.equal(g.sim.receivedMatching(queryPath).length, 0);
  });
});
