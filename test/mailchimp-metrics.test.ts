// Reading Mailchimp campaigns back against the Mailchimp simulator: `GET /reports/{campaign_id}` per
// campaign, proxy-excluded opens preferred, counts under the normalised names and growing, a deleted
// campaign recorded as deleted, a throttle paced.
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import {
  createMailchimpAdapter,
  type MailchimpAdapter,
  type MailchimpCredentials,
  mailchimpApiVersion,
} from '../connectors/mailchimp.ts';
import type { MetricsAnswer, MetricsItem } from '../connectors/types.ts';
import type { TaskContent } from '../domain/content.ts';
import { type MailchimpSimulator, startMailchimpSimulator } from '../sandbox/mailchimp.ts';
import { expectFailure, recordingHandOffContext } from './support/adapter-harness.ts';

const clientId = '998877665544';
const clientSecret = 'mailchimp-metrics-secret-7e2f';
const redirectUri = 'http://127.0.0.1:3000/v1/oauth/mailchimp/callback';
const hour = 3_600_000;
const start = new Date('2031-05-01T10:00:00.000Z');
const noon = new Date('2031-05-01T12:00:00.000Z');
const content: TaskContent<'mailchimp_email'> = {
  subject: 'Spring is here',
  fromName: 'Glowtify Beauty',
  fromEmail: 'news@brand.example',
  replyTo: 'hello@brand.example',
  html: '<html><body><a href="https://brand.example/spring">Shop</a></body></html>',
  audiences: { included: ['list000001'] },
};

let clock = start;
let sim: MailchimpSimulator;
let adapter: MailchimpAdapter;
let credentials: MailchimpCredentials;

beforeEach(async () => {
  clock = start;
  sim = await startMailchimpSimulator({
    clientId,
    clientSecret,
    lists: [{ id: 'list000001', name: 'Newsletter' }],
    now: () => clock,
  });
  adapter = createMailchimpAdapter({ authBaseUrl: sim.url, clientId, clientSecret, now: () => clock });
  const consent = await fetch(adapter.connector.authorizeUrl({ state: 's', redirectUri }), {
    redirect: 'manual',
  });
  const location = new URL(consent.headers.get('location') ?? '');
  const connection = await adapter.connector.completeConsent({
    code: location.searchParams.get('code') ?? '',
    redirectUri,
    query: Object.fromEntries(location.searchParams),
  });
  credentials = connection.credentials;
});
afterEach(() => sim.close());

/** Hands a campaign to Mailchimp for noon, as the epic would, and returns the id it records. */
async function handOff(index: number, scheduledAt = noon) {
  const { context } = recordingHandOffContext<MailchimpCredentials>({
    taskId: `task-${index}`,
    channel: 'mailchimp_email',
    content,
    contentDigest: `digest-${index}`,
    account: null,
    credentials,
    progress: {},
    scheduledAt,
    epicTitle: 'Spring launch',
    handOffKey: `ho-${index}`,
  });
  return (await adapter.handOff(context)).externalId;
}

const item = (index: number, externalId: string): MetricsItem => ({
  publicationId: `pub-${index}`,
  taskId: `task-${index}`,
  channel: 'mailchimp_email',
  account: null,
  externalId,
  publishedAt: noon,
  progress: {},
});
const reportPath = (id: string) => `/${mailchimpApiVersion}/reports/${id}`;
const readings = (answer: MetricsAnswer | undefined) => {
  assert.equal(answer?.state, 'read', JSON.stringify(answer));
  return answer?.state === 'read'
    ? Object.fromEntries(answer.metrics.map((reading) => [reading.metric, reading]))
    : {};
};

describe('Mailchimp campaign metrics', () => {
  it('reads the campaign report under the normalised names, proxy-excluded opens first, growing', async () => {
    const campaignId = await handOff(1);
    clock = new Date(noon.getTime() + hour);
    const first = await adapter.collectMetrics({ credentials, items: [item(1, campaignId)] });

    const asked = sim.receivedMatching(/\/reports\//, 'GET');
    assert.deepEqual(
      asked.map((request) => request.path),
      [reportPath(campaignId)],
    );
    assert.match(asked[0]?.headers.authorization ?? '', /^Bearer /);
    const now = readings(first['pub-1']);
    assert.deepEqual(
      Object.values(now).map((reading) => `${reading.metric}<-${reading.platformMetric}`),
      [
        'opens<-opens.proxy_excluded_opens',
        'unique_opens<-opens.proxy_excluded_unique_opens',
        'clicks<-clicks.clicks_total',
        'bounces<-bounces.hard_bounces+soft_bounces',
        'unsubscribes<-unsubscribed',
        'conversions<-ecommerce.total_orders',
      ],
    );
    assert.equal(now.bounces?.value, 10);

    clock = new Date(noon.getTime() + 24 * hour);
    const later = readings(
      (await adapter.collectMetrics({ credentials, items: [item(1, campaignId)] }))['pub-1'],
    );
    for (const metric of ['opens', 'unique_opens', 'clicks', 'conversions']) {
      assert.ok((later[metric]?.value ?? 0) > (now[metric]?.value ?? 0), `${metric} grew`);
    }
  });

  it('one report per campaign: three campaigns, three reports', async () => {
    const items = [item(1, await handOff(1)), item(2, await handOff(2)), item(3, await handOff(3))];
    clock = new Date(noon.getTime() + 2 * hour);
    const answers = await adapter.collectMetrics({ credentials, items });
    assert.equal(sim.receivedMatching(/\/reports\//, 'GET').length, 3);
    assert.deepEqual(
      Object.values(answers).map((answer) => answer.state),
      ['read', 'read', 'read'],
    );
  });

  it('a campaign deleted in Mailchimp is deleted; one not sent yet is unavailable', async () => {
    const gone = await handOff(1);
    const waiting = await handOff(2, new Date(noon.getTime() + 6 * hour));
    clock = new Date(noon.getTime() + hour);
    const removed = await fetch(`${sim.url}/${mailchimpApiVersion}/campaigns/${gone}`, {
      method: 'DELETE',
      headers: { authorization: `Bearer ${credentials.accessToken}` },
    });
    assert.equal(removed.status, 204);
    const answers = await adapter.collectMetrics({ credentials, items: [item(1, gone), item(2, waiting)] });
    assert.deepEqual(answers['pub-1'], { state: 'deleted' });
    assert.equal(answers['pub-2']?.state, 'unavailable');
  });

  it('a throttled report is RATE_LIMITED; after a first report, what was read is kept and the rest waits the throttle', async () => {
    const items = [item(1, await handOff(1)), item(2, await handOff(2))];
    clock = new Date(noon.getTime() + hour);
    sim.failWith('rate_limited', { path: '/reports/' });
    const error = await expectFailure(adapter.collectMetrics({ credentials, items }), 'RATE_LIMITED', [
      credentials.accessToken,
    ]);
    assert.ok((error.failure.retryAfterMs ?? 0) > 0, 'a delay to pace by');

    // The second report of the read is the one throttled (Mailchimp's 429 problem document).
    sim.failNext({
      path: '/reports/',
      skip: 1,
      response: {
        status: 429,
        headers: { 'content-type': 'application/problem+json' },
        body: {
          type: 'about:blank',
          title: 'Too Many Requests',
          status: 429,
          detail: 'Too many connections.',
        },
      },
    });
    const answers = await adapter.collectMetrics({ credentials, items });
    assert.equal(answers['pub-1']?.state, 'read');
    const rest = answers['pub-2'];
    assert.equal(rest?.state, 'not_read', 'not read this time, not deleted');
    assert.equal(rest?.state === 'not_read' && rest.failure.class, 'RATE_LIMITED');
  });
});
