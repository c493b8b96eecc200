// Reading Google Ads campaigns back against the Google simulator: one GAQL search per customer and hundred
// campaigns (`campaign.resource_name IN (…)`), impressions, clicks, cost (in the currency's minor units) and
// conversions under the normalised names and growing, a REMOVED campaign recorded as deleted, a quota
// refusal paced, a grant without the Google Ads scope shown.
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import {
  createGoogleAdsAdapter,
  type GoogleAdsAdapter,
  type GoogleCredentials,
  googleAdsApiVersion,
} from '../connectors/google.ts';
import type {
  MetricsAnswer,
  MetricsItem,
  PublicationContext,
  PublicationProgress,
} from '../connectors/types.ts';
import type { TaskContent } from '../domain/content.ts';
import { type GoogleSimulator, startGoogleSimulator } from '../sandbox/google.ts';
import { expectFailureHiding, pkce } from './support/adapter-harness.ts';
import { contentExamples } from './support/examples.ts';

const clientId = 'glowtify-test.apps.googleusercontent.com';
const clientSecret = 'GOCSPX-metrics-secret-41c7';
const expectFailure = expectFailureHiding([clientSecret]);
const customerId = '1234567890';
const content = contentExamples.google_ads_campaign as TaskContent<'google_ads_campaign'>;
const hour = 3_600_000;
const start = new Date('2031-05-01T10:00:00.000Z');
const adwords = 'https://www.googleapis.com/auth/adwords';

let clock = start;
let sim: GoogleSimulator;
let ads: GoogleAdsAdapter;
let credentials: GoogleCredentials;

async function connect() {
  const { verifier, challenge } = pkce();
  const redirectUri = 'http://127.0.0.1:3000/v1/oauth/google_ads/callback';
  const response = await fetch(
    ads.connector.authorizeUrl({ state: 's', redirectUri, codeChallenge: challenge }),
    {
      redirect: 'manual',
    },
  );
  const query = Object.fromEntries(new URL(response.headers.get('location') ?? '').searchParams);
  return (
    await ads.connector.completeConsent({
      code: query.code ?? '',
      redirectUri,
      codeVerifier: verifier,
      query,
    })
  ).credentials;
}

/** A simulator whose customer bills in `currencyCode`, the adapter on it, and a grant. */
async function startWith(currencyCode?: string) {
  clock = start;
  sim = await startGoogleSimulator({
    clientId,
    clientSecret,
    customers: [{ id: customerId, name: 'Acme', ...(currencyCode ? { currencyCode } : {}) }],
    accessTokenSeconds: 60 * 24 * 3600,
    now: () => clock,
  });
  ads = createGoogleAdsAdapter({
    authBaseUrl: sim.url,
    tokenBaseUrl: sim.url,
    adsApiBaseUrl: sim.url,
    clientId,
    clientSecret,
    now: () => clock,
  });
  credentials = await connect();
}

beforeEach(() => startWith());
afterEach(() => sim.close());

/** Prepares and publishes a campaign as the epic does; returns the item the collector gets. */
async function published(index: number): Promise<MetricsItem> {
  const stored: PublicationProgress = {};
  const context: PublicationContext<GoogleCredentials> = {
    taskId: `7f1c2a9e-0000-4000-8000-${String(index).padStart(12, '0')}`,
    channel: 'google_ads_campaign',
    content,
    contentDigest: `digest-${index}`,
    account: { kind: 'ads_customer', externalId: customerId },
    credentials,
    get progress() {
      return { ...stored };
    },
    async saveProgress(update) {
      Object.assign(stored, update);
    },
    heartbeat() {},
    async beforeGoingLive() {},
  };
  const { externalId } = await ads.publish(context);
  return {
    publicationId: `pub-${index}`,
    taskId: context.taskId,
    channel: 'google_ads_campaign',
    account: { kind: 'ads_customer', externalId: customerId },
    externalId,
    publishedAt: clock,
    progress: { ...stored },
  };
}

const collect = (items: MetricsItem[]) => {
  assert.ok(ads.collectMetrics, 'the Google Ads adapter reads metrics');
  return ads.collectMetrics({ credentials, items });
};
const searches = () =>
  sim
    .receivedMatching(/googleAds:search$/, 'POST')
    .map((request) => (request.body as { query: string }).query)
    .filter((query) => query.includes('metrics.'));
const values = (answer: MetricsAnswer | undefined) => {
  assert.equal(answer?.state, 'read', JSON.stringify(answer));
  return answer?.state === 'read'
    ? Object.fromEntries(answer.metrics.map((reading) => [reading.metric, reading]))
    : {};
};

describe('Google Ads campaign metrics', () => {
  it('reads impressions, clicks, cost and conversions by GAQL under the normalised names, growing', async () => {
    const item = await published(1);
    clock = new Date(start.getTime() + 3 * hour);
    const first = values((await collect([item]))['pub-1']);

    const request = sim.receivedMatching(/googleAds:search$/, 'POST').at(-1);
    assert.equal(request?.path, `/${googleAdsApiVersion}/customers/${customerId}/googleAds:search`);
    assert.deepEqual(searches(), [
      'SELECT campaign.resource_name, campaign.status, customer.currency_code, metrics.impressions, ' +
        'metrics.clicks, metrics.cost_micros, metrics.conversions FROM campaign ' +
        `WHERE campaign.resource_name IN ('customers/${customerId}/campaigns/${item.externalId}')`,
    ]);
    assert.deepEqual(
      Object.values(first).map((reading) => `${reading.metric}<-${reading.platformMetric}`),
      [
        'impressions<-metrics.impressions',
        'clicks<-metrics.clicks',
        'spend_minor<-metrics.cost_micros',
        'conversions<-metrics.conversions',
      ],
    );
    // 0.85 CAD per click, in cents.
    assert.equal(first.spend_minor?.value, (first.clicks?.value ?? 0) * 85);

    clock = new Date(start.getTime() + 48 * hour);
    const later = values((await collect([item]))['pub-1']);
    for (const metric of ['impressions', 'clicks', 'spend_minor', 'conversions']) {
      assert.ok((later[metric]?.value ?? 0) > (first[metric]?.value ?? 0), `${metric} grew`);
    }
  });

  it('cost is in the account currency’s own minor units: fils for KWD (three decimals), yen for JPY', async () => {
    for (const [currency, perClick] of [
      ['KWD', 850],
      ['JPY', 0.85],
    ] as const) {
      await sim.close();
      await startWith(currency);
      const item = await published(1);
      clock = new Date(start.getTime() + 3 * hour);
      const read = values((await collect([item]))['pub-1']);
      assert.ok((read.clicks?.value ?? 0) > 0);
      // 0.85 per click: 850 fils, or 0.85 yen (rounded to whole yen).
      assert.equal(read.spend_minor?.value, Math.round((read.clicks?.value ?? 0) * perClick), currency);
    }
  });

  it('batches: 101 campaigns of one customer are read with two searches', async () => {
    const items: MetricsItem[] = [];
    for (let index = 0; index < 101; index += 1) items.push(await published(index));
    clock = new Date(start.getTime() + 5 * hour);
    const answers = await collect(items);
    const sent = searches();
    assert.equal(sent.length, 2);
    assert.equal(sent[0]?.match(/'customers\//g)?.length, 100);
    assert.equal(sent[1]?.match(/'customers\//g)?.length, 1);
    assert.equal(Object.values(answers).filter((answer) => answer.state === 'read').length, 101);
  });

  it('a campaign removed in Google Ads is deleted; the others are still read', async () => {
    const kept = await published(1);
    const gone = await published(2);
    clock = new Date(start.getTime() + hour);
    const removal = await fetch(
      `${sim.url}/${googleAdsApiVersion}/customers/${customerId}/googleAds:mutate`,
      {
        method: 'POST',
        headers: { authorization: `Bearer ${credentials.accessToken}`, 'content-type': 'application/json' },
        body: JSON.stringify({
          mutateOperations: [{ campaignOperation: { remove: gone.progress.googleAdsCampaign } }],
        }),
      },
    );
    assert.equal(removal.status, 200, await removal.text());
    const answers = await collect([kept, gone]);
    assert.equal(answers['pub-1']?.state, 'read');
    assert.deepEqual(answers['pub-2'], { state: 'deleted' });
  });

  it('a quota refusal is RATE_LIMITED with its retry delay, and nothing is marked deleted', async () => {
    const item = await published(1);
    sim.failWith('rate_limited', {
      path: `/${googleAdsApiVersion}/customers/${customerId}/googleAds:search`,
    });
    const error = await expectFailure(collect([item]), 'RATE_LIMITED', [credentials.accessToken]);
    assert.equal(error.failure.retryAfterMs, 30_000);
    assert.equal((await collect([item]))['pub-1']?.state, 'read', 'the next reading gets it');
  });

  it('a quota refusal on the second search keeps what the first read; the rest waits the time Google named', async () => {
    const items: MetricsItem[] = [];
    for (let index = 0; index < 101; index += 1) items.push(await published(index));
    clock = new Date(start.getTime() + 3 * hour);
    // The first metrics search is answered; Google refuses the second.
    let metricSearches = 0;
    sim.onResponded((request) => {
      if (!JSON.stringify(request.body).includes('metrics.')) return;
      metricSearches += 1;
      if (metricSearches === 1)
        sim.failWith('rate_limited', {
          path: `/${googleAdsApiVersion}/customers/${customerId}/googleAds:search`,
          body: /metrics\./,
        });
    });
    const answers = await collect(items);
    assert.equal(Object.values(answers).filter((answer) => answer.state === 'read').length, 100);
    const rest = answers['pub-100'];
    assert.equal(rest?.state, 'not_read');
    assert.equal(rest?.state === 'not_read' && rest.failure.retryAfterMs, 30_000);
  });

  it('a grant without the Google Ads scope leaves the items unavailable, naming the scope', async () => {
    const item = await published(1);
    // What Google answers a token whose grant lacks the scope (Glowtify asks for it at connect; a user can untick it).
    sim.failNext({
      path: 'googleAds:search',
      response: {
        status: 403,
        body: {
          error: {
            code: 403,
            message: 'Request had insufficient authentication scopes.',
            status: 'PERMISSION_DENIED',
            details: [
              {
                '@type': 'type.googleapis.com/google.rpc.ErrorInfo',
                reason: 'ACCESS_TOKEN_SCOPE_INSUFFICIENT',
                domain: 'googleapis.com',
              },
            ],
          },
        },
      },
    });
    const answers = await collect([item]);
    assert.deepEqual(answers['pub-1'], {
      state: 'unavailable',
      reason: 'The Google grant does not include Google Ads',
      missingScopes: [adwords],
    });
  });
});
