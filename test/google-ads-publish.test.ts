// Google Ads publishing against the Google simulator over real HTTP: the campaign is prepared PAUSED (budget,
// campaign, ad group and responsive search ad in one atomic mutate) and only enabled at the time; a create
// whose answer was lost is found by its marker, never made twice; a discard removes it; refusals keep their
// class.
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import {
  createGoogleAdsAdapter,
  type GoogleAdsAdapter,
  type GoogleCredentials,
  googleAdsApiVersion,
} from '../connectors/google.ts';
import type { PublicationContext, PublicationProgress } from '../connectors/types.ts';
import { contentSchemas, type TaskContent } from '../domain/content.ts';
import { type GoogleSimulator, startGoogleSimulator } from '../sandbox/google.ts';
import { expectFailureHiding, pkce } from './support/adapter-harness.ts';
import { contentExamples } from './support/examples.ts';

const clientId = 'glowtify-test.apps.googleusercontent.com';
const clientSecret = 'GOCSPX-test-secret-5b8e1d';
const expectFailure = expectFailureHiding([clientSecret]);
const customerId = '1234567890';
const managerId = '9876543210';
const clientCustomerId = '3333333333';
const content = contentExamples.google_ads_campaign as TaskContent<'google_ads_campaign'>;

let sim: GoogleSimulator;
let ads: GoogleAdsAdapter;
let credentials: GoogleCredentials;

beforeEach(async () => {
  sim = await startGoogleSimulator({
    clientId,
    clientSecret,
    customers: [
      { id: customerId, name: 'Acme' },
      { id: managerId, name: 'Acme Agency', manager: true },
      { id: clientCustomerId, name: 'Acme Client', managerId },
    ],
  });
  ads = createGoogleAdsAdapter({
    authBaseUrl: sim.url,
    tokenBaseUrl: sim.url,
    adsApiBaseUrl: sim.url,
    clientId,
    clientSecret,
  });
  const { verifier, challenge } = pkce();
  const redirectUri = 'http://127.0.0.1:3000/v1/oauth/google_ads/callback';
  const authorizeUrl = ads.connector.authorizeUrl({ state: 's', redirectUri, codeChallenge: challenge });
  const response = await fetch(authorizeUrl, { redirect: 'manual' });
  const query = Object.fromEntries(new URL(response.headers.get('location') ?? '').searchParams);
  ({ credentials } = await ads.connector.completeConsent({
    code: query.code ?? '',
    redirectUri,
    codeVerifier: verifier,
    query,
  }));
});
afterEach(() => sim.close());

/** A publication context whose saved progress lands in `stored`, as the publication row keeps it. */
function contextFor(
  stored: PublicationProgress,
  overrides: Partial<PublicationContext<GoogleCredentials>> = {},
) {
  const context: PublicationContext<GoogleCredentials> = {
    taskId: '7f1c2a9e-0000-4000-8000-000000000001',
    channel: 'google_ads_campaign',
    content,
    contentDigest: 'digest-1',
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
    ...overrides,
  };
  return context;
}

const mutates = () => sim.receivedMatching(/googleAds:mutate$/, 'POST');

describe('Google Ads: prepare early, enable at the time', () => {
  it('prepare creates budget, campaign (PAUSED), ad group and ad in one mutate, once', async () => {
    const stored: PublicationProgress = {};
    await ads.prepare(contextFor(stored));
    await ads.prepare(contextFor(stored));
    assert.equal(mutates().length, 1, 'a second prepare reuses what progress names');
    const [campaign, ...others] = sim.adsCampaigns();
    assert.equal(others.length, 0);
    assert.equal(campaign?.status, 'PAUSED');
    assert.equal(campaign?.containsEuPoliticalAdvertising, 'DOES_NOT_CONTAIN_EU_POLITICAL_ADVERTISING');
    assert.equal(campaign?.budget.amountMicros, '25000000');
    assert.equal(campaign?.adGroups.length, 1);
    assert.deepEqual(campaign?.ads, [
      {
        adGroup: campaign?.adGroups[0]?.resourceName,
        finalUrls: [content.link],
        headlines: content.headlines,
        descriptions: content.descriptions,
      },
    ]);
    assert.deepEqual(
      campaign?.keywords.map((keyword) => [keyword.text, keyword.matchType]),
      content.keywords!.map((text) => [text, 'BROAD']),
    );
    assert.equal(stored.googleAdsCampaign, campaign?.resourceName);
    assert.match(campaign!.name, new RegExp(`${stored.googleAdsMarker}`));
    assert.equal(mutates()[0]?.path, `/${googleAdsApiVersion}/customers/${customerId}/googleAds:mutate`);
  });

  it('publish enables the prepared campaign, after the last check, and names it', async () => {
    const stored: PublicationProgress = {};
    await ads.prepare(contextFor(stored));
    const order: string[] = [];
    const published = await ads.publish(
      contextFor(stored, {
        async beforeGoingLive() {
          order.push(`check:${sim.adsCampaigns()[0]?.status}`);
        },
      }),
    );
    const [campaign] = sim.adsCampaigns();
    assert.deepEqual(order, ['check:PAUSED']);
    assert.equal(campaign?.status, 'ENABLED');
    assert.deepEqual(
      campaign?.statusChanges.map((change) => change.status),
      ['PAUSED', 'ENABLED'],
    );
    const campaignId = campaign!.resourceName.split('/').pop();
    assert.equal(published.externalId, campaignId);
    assert.equal(
      published.externalUrl,
      `https://ads.google.com/aw/campaigns?campaignId=${campaignId}&__c=${customerId}`,
    );
    assert.equal(mutates().length, 2);
  });

  it('publish without a preparation prepares first: one campaign, enabled', async () => {
    const stored: PublicationProgress = {};
    await ads.publish(contextFor(stored));
    const campaigns = sim.adsCampaigns();
    assert.equal(campaigns.length, 1);
    assert.equal(campaigns[0]?.status, 'ENABLED');
  });

  it('a create whose answer was lost is found by its marker on the retry: one campaign', async () => {
    const stored: PublicationProgress = {};
    sim.dropAnswerNext({ path: /googleAds:mutate$/ });
    await assert.rejects(ads.prepare(contextFor(stored)));
    assert.equal(sim.adsCampaigns().length, 1, 'Google made it');
    assert.ok(stored.googleAdsMarker && !stored.googleAdsCampaign);
    await ads.publish(contextFor(stored));
    const campaigns = sim.adsCampaigns();
    assert.equal(campaigns.length, 1, 'never made twice');
    assert.equal(campaigns[0]?.status, 'ENABLED');
    assert.equal(stored.googleAdsCampaign, campaigns[0]?.resourceName);
    const searches = sim.receivedMatching(/googleAds:search$/);
    assert.match(JSON.stringify(searches.at(-1)?.body), /FROM campaign WHERE campaign.name LIKE/);
  });

  it('discard removes the campaign and its budget, including one whose create answer was lost', async () => {
    const stored: PublicationProgress = {};
    await ads.prepare(contextFor(stored));
    await ads.discardPrepared({ ...contextFor(stored), progress: { ...stored } });
    assert.equal(sim.adsCampaigns()[0]?.status, 'REMOVED');
    assert.equal(sim.adsCampaigns()[0]?.budget.status, 'REMOVED');
    assert.equal(stored.googleAdsMarker, '');

    const lost: PublicationProgress = {};
    sim.dropAnswerNext({ path: /googleAds:mutate$/ });
    await assert.rejects(ads.prepare(contextFor(lost)));
    await ads.discardPrepared({ ...contextFor(lost), progress: { ...lost } });
    assert.deepEqual(
      sim.adsCampaigns().map((campaign) => campaign.status),
      ['REMOVED', 'REMOVED'],
    );
    // Nothing left to remove: a second discard asks nothing.
    const before = sim.received.length;
    await ads.discardPrepared({ ...contextFor(lost), progress: { ...lost } });
    assert.equal(sim.received.length, before);
  });

  it('content edited after the preparation: the old campaign is removed, a new one made from the new content', async () => {
    const stored: PublicationProgress = {};
    await ads.prepare(contextFor(stored));
    const edited = { ...content, headlines: ['Autumn sale', 'Wool coats', 'Free returns'] };
    await ads.publish(contextFor(stored, { content: edited, contentDigest: 'digest-2' }));
    const [old, fresh] = sim.adsCampaigns();
    assert.equal(old?.status, 'REMOVED');
    assert.equal(fresh?.status, 'ENABLED');
    assert.deepEqual(fresh?.ads[0]?.headlines, edited.headlines);
  });
});

/** What someone does in Google Ads itself, with the connection's token: one mutate on the customer. */
async function inGoogleAds(operation: unknown) {
  const answer = await fetch(`${sim.url}/${googleAdsApiVersion}/customers/${customerId}/googleAds:mutate`, {
    method: 'POST',
    headers: { authorization: `Bearer ${credentials.accessToken}`, 'content-type': 'application/json' },
    body: JSON.stringify({ mutateOperations: [operation] }),
  });
  assert.equal(answer.status, 200, await answer.clone().text());
}
const standing = () => sim.adsCampaigns().filter((campaign) => campaign.status !== 'REMOVED');

describe('Google Ads: a preparation never leaves a campaign no one enables or discards', () => {
  it('the create is fenced: a withdrawn schedule makes nothing, and the fence comes right before the create', async () => {
    const order: string[] = [];
    const withdrawn = contextFor(
      {},
      {
        async beforeCreating() {
          throw new Error('the schedule was withdrawn before this was prepared');
        },
      },
    );
    await assert.rejects(ads.prepare(withdrawn), /withdrawn/);
    await assert.rejects(ads.publish(withdrawn), /withdrawn/);
    assert.equal(mutates().length, 0);
    await ads.prepare(
      contextFor(
        {},
        {
          async beforeCreating() {
            order.push(`fence after ${sim.received.length} requests`);
          },
        },
      ),
    );
    const total = sim.received.length;
    assert.deepEqual(
      order,
      [`fence after ${total - 2} requests`, `fence after ${total - 1} requests`],
      'the create right after the fence, the fence again once it answered, then the twin look-up',
    );
  });

  it('withdrawn while the create was on its way: the try that made the campaign removes it', async () => {
    const stored: PublicationProgress = {};
    let fences = 0;
    const withdrawnMeanwhile = contextFor(stored, {
      async beforeCreating() {
        fences += 1;
        if (fences > 1) throw new Error('the schedule was withdrawn before this was prepared');
      },
    });
    await assert.rejects(ads.prepare(withdrawnMeanwhile), /withdrawn/);
    assert.equal(sim.adsCampaigns().length, 1, 'Google made it');
    assert.deepEqual(standing(), []);
    assert.equal(sim.adsCampaigns()[0]?.budget.status, 'REMOVED');
    assert.equal(stored.googleAdsMarker, '');
  });

  it('a discard whose removal answer was lost: the next preparation makes a new campaign, which publishes', async () => {
    const stored: PublicationProgress = {};
    await ads.prepare(contextFor(stored));
    sim.dropAnswerNext({ path: /googleAds:mutate$/ });
    await assert.rejects(ads.discardPrepared({ ...contextFor(stored), progress: { ...stored } }));
    assert.equal(sim.adsCampaigns()[0]?.status, 'REMOVED');
    assert.ok(stored.googleAdsCampaign, 'progress still names the removed campaign');
    await ads.prepare(contextFor(stored));
    const published = await ads.publish(contextFor(stored));
    const [live, ...others] = standing();
    assert.equal(others.length, 0);
    assert.equal(live?.status, 'ENABLED');
    assert.equal(published.externalId, live?.resourceName.split('/').pop());
  });

  it('a prepared campaign removed in Google Ads before the time: made again and enabled in the same try, behind the last check', async () => {
    const stored: PublicationProgress = {};
    await ads.prepare(contextFor(stored));
    await inGoogleAds({ campaignOperation: { remove: stored.googleAdsCampaign } });
    let checks = 0;
    const published = await ads.publish(
      contextFor(stored, {
        async beforeGoingLive() {
          checks += 1;
        },
      }),
    );
    const [live, ...others] = standing();
    assert.equal(others.length, 0);
    assert.equal(live?.status, 'ENABLED');
    assert.equal(published.externalId, live?.resourceName.split('/').pop());
    assert.equal(stored.googleAdsCampaign, live?.resourceName);
    assert.equal(checks, 2, 'the second enable passed the last check again');
  });

  it('a create Google applies after the client gave up, while the retry creates: one campaign under one marker', async () => {
    const stored: PublicationProgress = {};
    const slow = createGoogleAdsAdapter({
      authBaseUrl: sim.url,
      tokenBaseUrl: sim.url,
      adsApiBaseUrl: sim.url,
      clientId,
      clientSecret,
      requestTimeoutMs: 300,
    });
    const held = sim.holdNext({ path: /googleAds:mutate$/, method: 'POST' });
    await assert.rejects(slow.prepare(contextFor(stored)));
    const late = await held.reached;
    const marker = stored.googleAdsMarker;
    await ads.prepare(contextFor(stored));
    const lateAnswer = new Promise<number>((resolve) =>
      sim.onResponded((request, response) => {
        if (request === late) resolve(response.status ?? 200);
      }),
    );
    held.release();
    assert.equal(await lateAnswer, 400, 'the late create was refused');
    assert.equal(stored.googleAdsMarker, marker, 'the retry sent the same name');
    assert.equal(standing().length, 1, 'Google refused the late one as a duplicate name');
    await ads.discardPrepared({ ...contextFor(stored), progress: { ...stored } });
    assert.equal(standing().length, 0);
  });

  it("a create applied, its answer lost, and the retry's look-up not showing it yet: the duplicate name finds it", async () => {
    const stored: PublicationProgress = {};
    sim.dropAnswerNext({ path: /googleAds:mutate$/ });
    await assert.rejects(ads.prepare(contextFor(stored)));
    // Google's search lags behind its writes: the look-up answers no row.
    sim.failNext({ path: /googleAds:search$/, response: { status: 200, body: { results: [] } } });
    await ads.publish(contextFor(stored));
    assert.equal(sim.adsCampaigns().length, 1);
    assert.equal(sim.adsCampaigns()[0]?.status, 'ENABLED');
    assert.equal(stored.googleAdsCampaign, sim.adsCampaigns()[0]?.resourceName);
  });

  it('a campaign renamed in Google Ads is still found by its saved resource name: discarded, and removed when the content changes', async () => {
    const stored: PublicationProgress = {};
    await ads.prepare(contextFor(stored));
    await inGoogleAds({
      campaignOperation: {
        update: { resourceName: stored.googleAdsCampaign, name: 'Renamed by hand' },
        updateMask: 'name',
      },
    });
    await ads.discardPrepared({ ...contextFor(stored), progress: { ...stored } });
    assert.deepEqual(standing(), []);

    const edited: PublicationProgress = {};
    await ads.prepare(contextFor(edited));
    const first = edited.googleAdsCampaign;
    await inGoogleAds({
      campaignOperation: { update: { resourceName: first, name: 'Renamed again' }, updateMask: 'name' },
    });
    await ads.prepare(
      contextFor(edited, { content: { ...content, name: 'Edited' }, contentDigest: 'digest-2' }),
    );
    assert.deepEqual(
      standing().map((campaign) => campaign.resourceName),
      [edited.googleAdsCampaign],
    );
    assert.notEqual(edited.googleAdsCampaign, first);
  });
});

describe('Google Ads: accounts under a manager', () => {
  const client = { kind: 'ads_customer', externalId: clientCustomerId };

  it('every request for a client account names its manager in login-customer-id', async () => {
    const stored: PublicationProgress = {};
    const account = { ...client, metadata: { loginCustomerId: managerId } };
    await ads.prepare(contextFor(stored, { account }));
    await ads.publish(contextFor(stored, { account }));
    await ads.discardPrepared({ ...contextFor(stored, { account }), progress: { ...stored } });
    const requests = sim.receivedMatching(new RegExp(`/customers/${clientCustomerId}/googleAds:`));
    assert.ok(requests.length >= 3);
    for (const request of requests) assert.equal(request.headers['login-customer-id'], managerId);
    assert.equal(sim.adsCampaigns()[0]?.customerId, clientCustomerId);
    assert.equal(sim.adsCampaigns()[0]?.status, 'REMOVED');
    // A directly reached customer sends none.
    await ads.prepare(contextFor({}));
    assert.equal(
      sim.receivedMatching(`/customers/${customerId}/`).at(-1)?.headers['login-customer-id'],
      undefined,
    );
  });

  it('without it Google answers USER_PERMISSION_DENIED (INVALID_REQUEST); a manager is refused before asking', async () => {
    const error = await expectFailure(ads.prepare(contextFor({}, { account: client })), 'INVALID_REQUEST');
    assert.equal(error.failure.platformCode, 'authorizationError:USER_PERMISSION_DENIED');
    const before = sim.received.length;
    await expectFailure(
      ads.prepare(
        contextFor(
          {},
          { account: { kind: 'ads_customer', externalId: managerId, metadata: { manager: true } } },
        ),
      ),
      'INVALID_REQUEST',
    );
    assert.equal(sim.received.length, before);
  });
});

describe('Google Ads: refusals keep their class', () => {
  it('429 RESOURCE_EXHAUSTED is RATE_LIMITED with the quota delay', async () => {
    // A path naming the Ads API version: the simulator answers in Google Ads' quota shape.
    sim.failWith('rate_limited', {
      path: `/${googleAdsApiVersion}/customers/${customerId}/googleAds:mutate`,
    });
    const error = await expectFailure(ads.prepare(contextFor({})), 'RATE_LIMITED', [credentials.accessToken]);
    assert.equal(error.failure.retryAfterMs, 30_000);
  });

  it('401 is TOKEN_EXPIRED', async () => {
    sim.expireAccessTokens();
    await expectFailure(ads.prepare(contextFor({})), 'TOKEN_EXPIRED', [credentials.accessToken]);
  });

  it('403 naming no customer reason (the grant) is PERMISSION_REVOKED; USER_PERMISSION_DENIED is INVALID_REQUEST', async () => {
    sim.failWith('permission_denied', { path: /googleAds:mutate$/ });
    await expectFailure(ads.prepare(contextFor({})), 'PERMISSION_REVOKED');
    sim.failWith('customer_permission_denied', { path: /googleAds:mutate$/ });
    const error = await expectFailure(ads.prepare(contextFor({})), 'INVALID_REQUEST');
    assert.equal(error.failure.platformCode, 'authorizationError:USER_PERMISSION_DENIED');
  });

  it('a GoogleAdsFailure 400 is INVALID_REQUEST naming the error code; an unknown customer is INVALID_REQUEST', async () => {
    // Past the schema (written before its limits): Google refuses duplicate headlines itself.
    const duplicated = { ...content, headlines: ['Same', 'Same', 'Other'] };
    const error = await expectFailure(
      ads.prepare(contextFor({}, { content: duplicated })),
      'INVALID_REQUEST',
    );
    assert.equal(error.failure.platformCode, 'adError:DUPLICATE_ASSET');
    assert.equal(sim.adsCampaigns().length, 0, 'the mutate is atomic: nothing of it was made');
    const other = await expectFailure(
      ads.prepare(contextFor({}, { account: { kind: 'ads_customer', externalId: '4444444444' } })),
      'INVALID_REQUEST',
    );
    assert.equal(other.failure.platformCode, 'authorizationError:USER_PERMISSION_DENIED');
  });

  it('503 is TRANSIENT', async () => {
    sim.failWith('unavailable', { path: /googleAds:mutate$/ });
    await expectFailure(ads.prepare(contextFor({})), 'TRANSIENT');
  });
});

describe('google_ads_campaign content', () => {
  const schema = contentSchemas.google_ads_campaign;
  const issue = (value: unknown) => schema.safeParse(value).error?.issues[0]?.path.join('.');

  it("takes Google's responsive search ad limits", () => {
    assert.ok(schema.safeParse(content).success);
    assert.equal(issue({ ...content, headlines: ['One', 'Two'] }), 'headlines');
    assert.equal(issue({ ...content, headlines: [...content.headlines, 'x'.repeat(31)] }), 'headlines.3');
    assert.equal(
      issue({ ...content, headlines: Array.from({ length: 16 }, (_, i) => `Line ${i}`) }),
      'headlines',
    );
    assert.equal(issue({ ...content, headlines: ['Same', 'Same', 'Other'] }), 'headlines');
    assert.equal(issue({ ...content, descriptions: ['Only one'] }), 'descriptions');
    assert.equal(
      issue({ ...content, descriptions: [...content.descriptions, 'y'.repeat(91)] }),
      'descriptions.2',
    );
    assert.equal(issue({ ...content, headlines: ['Spring sale', 'SPRING SALE', 'Other'] }), 'headlines');
    assert.equal(issue({ ...content, descriptions: ['Same words', 'Same words'] }), 'descriptions');
    assert.equal(issue({ ...content, keywords: ['fine', 'k'.repeat(81)] }), 'keywords.1');
    assert.equal(
      issue({ ...content, keywords: ['one two three four five six seven eight nine ten eleven'] }),
      'keywords.0',
    );
    assert.ok(
      schema.safeParse({ ...content, keywords: ['one two three four five six seven eight nine ten'] })
        .success,
    );
    assert.equal(issue({ ...content, link: undefined }), 'link');
    assert.equal(issue({ ...content, text: 'no longer a field' }), '');
  });
});
