// LinkedIn's published posts read back against the LinkedIn simulator over real HTTP:
// organizationalEntityShareStatistics per organization for many posts at once, under the normalised names;
// growth, deleted posts, the daily throttle, a grant without rw_organization_admin and a non-administrator.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createLinkedInAdapter, type LinkedInCredentials } from '../connectors/linkedin.ts';
import type { MetricsAnswer, MetricsItem, PublicationProgress } from '../connectors/types.ts';
import { startLinkedInSimulator } from '../sandbox/linkedin.ts';
import { expectFailureHiding, followConsent, harnessPerTest } from './support/adapter-harness.ts';

const clientId = 'glowtify-test-linkedin';
const clientSecret = 'glowtify-test-linkedin-secret-m3tr';
const expectFailure = expectFailureHiding([clientSecret]);
const redirectUri = 'http://127.0.0.1:3000/v1/oauth/linkedin/callback';
const cafe = 'urn:li:organization:1001';
const journal = 'urn:li:organization:1006';
const hour = 3_600_000;
const statsPath = '/rest/organizationalEntityShareStatistics';

async function start(grantScopes?: string[]) {
  const clock = { now: Date.parse('2026-11-02T09:00:00Z') };
  const sim = await startLinkedInSimulator({
    clientId,
    clientSecret,
    redirectUris: [redirectUri],
    organizations: [
      { id: 1001, localizedName: 'Glow Café', vanityName: 'glow-cafe' },
      { id: 1006, localizedName: 'Glow Journal', vanityName: 'glow-journal', role: 'CONTENT_ADMINISTRATOR' },
    ],
    now: () => new Date(clock.now),
    ...(grantScopes ? { grantScopes } : {}),
  });
  const adapter = createLinkedInAdapter({
    apiBaseUrl: sim.url,
    authBaseUrl: sim.url,
    clientId,
    clientSecret,
    now: () => new Date(clock.now),
  });
  const { query } = await followConsent(adapter.connector.authorizeUrl({ state: 's', redirectUri }));
  const connection = await adapter.connector.completeConsent({ code: query.code ?? '', redirectUri, query });
  return { sim, adapter, clock, credentials: connection.credentials };
}
const h = harnessPerTest(start);

let sequence = 0;
/** Posts as the organization through the adapter, and returns the item the collection would read. */
async function published(
  organization = cafe,
  withLink = false,
  harness: { adapter: typeof h.adapter; credentials: LinkedInCredentials; clock: { now: number } } = h,
): Promise<MetricsItem> {
  sequence += 1;
  const stored: PublicationProgress = {};
  const account = { kind: 'linkedin_organization', externalId: organization };
  const result = await harness.adapter.publish!({
    taskId: `5e0c9a31-0000-4000-8000-${String(sequence).padStart(12, '0')}`,
    channel: 'linkedin_post',
    content: withLink
      ? { text: `Roastery news ${sequence}`, link: 'https://acme.example/news' }
      : { text: `We are hiring ${sequence}` },
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
    channel: 'linkedin_post',
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

describe('LinkedIn: published posts read back', () => {
  it('a post is read at organizationalEntityShareStatistics under the normalised names, and grows', async () => {
    const item = await published();
    h.clock.now += hour;
    const first = await collect([item]);
    const [request] = h.sim.receivedMatching(statsPath, 'GET');
    assert.equal(request?.query.q, 'organizationalEntity');
    assert.equal(request?.query.organizationalEntity, cafe);
    const kind = item.externalId.startsWith('urn:li:share:') ? 'shares' : 'ugcPosts';
    assert.equal(request?.query[kind], `List(${item.externalId})`);
    assert.equal(request?.headers['x-restli-protocol-version'], '2.0.0');
    const early = valuesOf(first[item.publicationId]);
    assert.deepEqual(Object.keys(early).sort(), [
      'clicks',
      'comments',
      'impressions',
      'likes',
      'reach',
      'shares',
    ]);
    const names = (first[item.publicationId] as Extract<MetricsAnswer, { state: 'read' }>).metrics;
    assert.equal(names.find((one) => one.metric === 'impressions')?.platformMetric, 'impressionCount');
    assert.equal(names.find((one) => one.metric === 'reach')?.platformMetric, 'uniqueImpressionsCount');

    h.clock.now += 7 * 24 * hour;
    const later = valuesOf((await collect([item]))[item.publicationId]);
    assert.ok((later.impressions ?? 0) > (early.impressions ?? 0));
    assert.ok((later.likes ?? 0) > (early.likes ?? 0));
  });

  it('many posts of one organization take one call (shares=List(…) of their URNs), every one read', async () => {
    const items = [
      await published(),
      await published(cafe, true),
      await published(),
      await published(cafe, true),
    ];
    h.clock.now += 6 * hour;
    const answers = await collect(items);
    const calls = h.sim.receivedMatching(statsPath, 'GET');
    assert.equal(calls.length, 1);
    const listed = [calls[0]?.query.shares, calls[0]?.query.ugcPosts].join(',');
    for (const item of items) {
      assert.ok(listed.includes(item.externalId), `${item.externalId} not asked`);
      assert.equal(answers[item.publicationId]?.state, 'read');
    }
  });

  it('a deleted post is deleted (the Posts API’s 404); the others are still read', async () => {
    const gone = await published();
    const kept = await published();
    h.clock.now += hour;
    h.sim.deletePost(gone.externalId);
    const answers = await collect([gone, kept]);
    assert.deepEqual(answers[gone.publicationId], { state: 'deleted' });
    assert.equal(answers[kept.publicationId]?.state, 'read');
  });

  it('a throttle ends the read RATE_LIMITED until LinkedIn’s daily reset; nothing is marked deleted', async () => {
    const items = [await published(), await published()];
    h.clock.now += hour;
    h.sim.failWith('rate_limited', { path: statsPath });
    const error = await expectFailure(collect(items), 'RATE_LIMITED', [h.credentials.accessToken]);
    // No Retry-After: LinkedIn's limits are daily, so the read waits for the next midnight UTC (10:00 → 14 h).
    assert.equal(error.failure.retryAfterMs, Date.UTC(2026, 10, 3) - h.clock.now);
    assert.equal(error.failure.retryAfterMs, 14 * hour);
    const answers = await collect(items);
    for (const item of items) assert.equal(answers[item.publicationId]?.state, 'read');
  });

  it('a dead token ends the read TOKEN_EXPIRED', async () => {
    const item = await published();
    h.sim.failWith('token_expired', { path: statsPath });
    await expectFailure(collect([item]), 'TOKEN_EXPIRED');
  });

  it('a content administrator posts, but the statistics of that organization are unavailable (ADMINISTRATOR only)', async () => {
    const item = await published(journal);
    h.clock.now += hour;
    const answer = (await collect([item]))[item.publicationId];
    assert.equal(answer?.state, 'unavailable');
    assert.match((answer as { reason: string }).reason, /administrators/);
    assert.equal((answer as { missingScopes?: string[] }).missingScopes, undefined);
  });
});

describe('LinkedIn: a grant without rw_organization_admin', () => {
  const g = harnessPerTest(start, ['w_organization_social', 'r_organization_social', 'r_organization_admin']);

  it('connects and posts, and each post is unavailable naming rw_organization_admin, without asking LinkedIn', async () => {
    assert.ok(!g.credentials.scopes.includes('rw_organization_admin'));
    const item = await published(cafe, false, g);
    g.clock.now += hour;
    const answers = await g.adapter.collectMetrics!({ credentials: g.credentials, items: [item] });
    assert.deepEqual(answers[item.publicationId], {
      state: 'unavailable',
      reason: 'The LinkedIn grant lacks rw_organization_admin',
      missingScopes: ['rw_organization_admin'],
    });
    assert.equal(g.sim.receivedMatching(statsPath).length, 0);
  });
});
