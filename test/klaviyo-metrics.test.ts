// Reading Klaviyo campaigns back against the Klaviyo simulator: one campaign values report per hundred
// campaigns with the workspace's "Placed Order" as the conversion metric, counts under the normalised names,
// a deleted campaign recorded as deleted, a throttled report paced, a key without the read scopes shown.
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { createKlaviyoAdapter, type KlaviyoAdapter } from '../connectors/klaviyo.ts';
import type { MetricsAnswer, MetricsItem } from '../connectors/types.ts';
import type { TaskContent } from '../domain/content.ts';
import { type KlaviyoSimulator, klaviyoScopes, startKlaviyoSimulator } from '../sandbox/klaviyo.ts';
import { expectFailure, recordingHandOffContext } from './support/adapter-harness.ts';

const key = 'pk_metrics_0123456789abcdef';
const noReportsKey = 'pk_no_reports_0123456789';
const noMetricsKey = 'pk_no_metrics_0123456789';
const hour = 3_600_000;
const start = new Date('2031-05-01T10:00:00.000Z');
const content: TaskContent<'klaviyo_email'> = {
  subject: 'Spring is here',
  fromName: 'Glowtify Beauty',
  fromEmail: 'hello@brand.example',
  html: '<html><body><a href="https://brand.example/spring">Shop</a></body></html>',
  audiences: { included: ['L00001'] },
};

let clock = start;
let simulator: KlaviyoSimulator;
let adapter: KlaviyoAdapter;

async function startWith(options: Parameters<typeof startKlaviyoSimulator>[0] = {}) {
  clock = start;
  simulator = await startKlaviyoSimulator({
    now: () => clock,
    lists: [{ id: 'L00001', name: 'Newsletter' }],
    editLockSeconds: 0,
    apiKeys: {
      [key]: { scopes: klaviyoScopes },
      [noReportsKey]: {
        scopes: klaviyoScopes.filter((scope) => scope !== 'campaigns:read' && scope !== 'campaigns:write'),
      },
      [noMetricsKey]: { scopes: klaviyoScopes.filter((scope) => scope !== 'metrics:read') },
    },
    ...options,
  });
  adapter = createKlaviyoAdapter({ apiBaseUrl: simulator.url, now: () => clock, reportSpacingMs: 20 });
}

/** Hands a campaign to Klaviyo for an hour from now, as the epic would, and returns what it records. */
async function handOff(index: number) {
  const { context } = recordingHandOffContext(
    {
      taskId: `task-${index}`,
      channel: 'klaviyo_email',
      content,
      contentDigest: `digest-${index}`,
      account: null,
      credentials: { apiKey: key },
      progress: {},
      scheduledAt: new Date(clock.getTime() + hour),
      epicTitle: 'Spring launch',
      handOffKey: `ho-${index}`,
    },
    {},
  );
  const published = await adapter.handOff(context);
  return published.externalId;
}

function item(index: number, externalId: string): MetricsItem {
  return {
    publicationId: `pub-${index}`,
    taskId: `task-${index}`,
    channel: 'klaviyo_email',
    account: null,
    externalId,
    publishedAt: new Date(start.getTime() + hour),
    progress: {},
  };
}

const reports = () => simulator.receivedMatching(/^\/api\/campaign-values-reports$/, 'POST');
const readValue = (answer: MetricsAnswer | undefined, metric: string) => {
  assert.equal(answer?.state, 'read', JSON.stringify(answer));
  return answer.state === 'read'
    ? answer.metrics.find((reading) => reading.metric === metric)?.value
    : undefined;
};

describe('Klaviyo campaign metrics', () => {
  beforeEach(() => startWith());
  afterEach(() => simulator.close());

  it('reads a sent campaign from the values report under the normalised names, and the counts grow', async () => {
    const campaignId = await handOff(1);
    clock = new Date(start.getTime() + 2 * hour);
    const first = await adapter.collectMetrics({
      credentials: { apiKey: key },
      items: [item(1, campaignId)],
    });

    const [request] = reports();
    assert.ok(request);
    const attributes = (request.body as { data: { type: string; attributes: Record<string, unknown> } }).data;
    assert.equal(attributes.type, 'campaign-values-report');
    assert.deepEqual(attributes.attributes.statistics, [
      'opens',
      'opens_unique',
      'clicks',
      'delivered',
      'bounced',
      'unsubscribes',
      'conversions',
    ]);
    assert.equal(attributes.attributes.conversion_metric_id, 'PlcOrd', 'the "Placed Order" metric is used');
    assert.equal(attributes.attributes.filter, `contains-any(campaign_id,["${campaignId}"])`);
    assert.deepEqual(attributes.attributes.timeframe, {
      start: '2031-04-30T11:00:00+00:00',
      end: '2031-05-01T12:00:00+00:00',
    });
    assert.equal(simulator.receivedMatching(/^\/api\/metrics$/, 'GET').length, 1);

    const answer = first['pub-1'];
    assert.equal(answer?.state, 'read');
    if (answer?.state !== 'read') return;
    assert.deepEqual(
      answer.metrics.map((reading) => `${reading.metric}<-${reading.platformMetric}`),
      [
        'opens<-opens',
        'unique_opens<-opens_unique',
        'clicks<-clicks',
        'delivered<-delivered',
        'bounces<-bounced',
        'unsubscribes<-unsubscribes',
        'conversions<-conversions',
      ],
    );
    assert.equal(readValue(answer, 'delivered'), 985);
    assert.equal(readValue(answer, 'bounces'), 15);

    clock = new Date(start.getTime() + 25 * hour);
    const later = await adapter.collectMetrics({
      credentials: { apiKey: key },
      items: [item(1, campaignId)],
    });
    for (const metric of ['opens', 'unique_opens', 'clicks', 'conversions']) {
      assert.ok(
        (readValue(later['pub-1'], metric) ?? 0) > (readValue(answer, metric) ?? 0),
        `${metric} grew between the readings`,
      );
    }
  });

  it('batches: 101 campaigns are read with two reports of at most 100 ids', async () => {
    const items: MetricsItem[] = [];
    for (let index = 0; index < 101; index += 1) items.push(item(index, await handOff(index)));
    clock = new Date(start.getTime() + 3 * hour);
    const answers = await adapter.collectMetrics({ credentials: { apiKey: key }, items });

    const sent = reports().map(
      (request) => (request.body as { data: { attributes: { filter: string } } }).data.attributes.filter,
    );
    assert.equal(sent.length, 2);
    assert.equal(sent[0]?.split(',').length, 101, 'the first report names 100 campaign ids');
    assert.equal(sent[1]?.split(',').length, 2, 'the second names the last one');
    assert.equal(Object.values(answers).filter((answer) => answer.state === 'read').length, 101);
  });

  it('a campaign deleted in Klaviyo is recorded as deleted, the others still read', async () => {
    const kept = await handOff(1);
    const gone = await handOff(2);
    clock = new Date(start.getTime() + 2 * hour);
    simulator.deleteCampaign(gone);
    const answers = await adapter.collectMetrics({
      credentials: { apiKey: key },
      items: [item(1, kept), item(2, gone)],
    });
    assert.equal(answers['pub-1']?.state, 'read');
    assert.deepEqual(answers['pub-2'], { state: 'deleted' });
    assert.equal(reports().length, 1, 'one report for both');
  });

  it('a campaign not sent yet is unavailable, not deleted', async () => {
    const campaignId = await handOff(1);
    const answers = await adapter.collectMetrics({
      credentials: { apiKey: key },
      items: [item(1, campaignId)],
    });
    assert.equal(answers['pub-1']?.state, 'unavailable');
  });

  it('a throttled report is RATE_LIMITED with Retry-After, and nothing is marked deleted', async () => {
    const campaignId = await handOff(1);
    clock = new Date(start.getTime() + 2 * hour);
    simulator.failWith('rate_limited', { path: '/api/campaign-values-reports', retryAfterSeconds: 42 });
    const error = await expectFailure(
      adapter.collectMetrics({ credentials: { apiKey: key }, items: [item(1, campaignId)] }),
      'RATE_LIMITED',
      [key],
    );
    assert.equal(error.failure.retryAfterMs, 42_000);
    const again = await adapter.collectMetrics({
      credentials: { apiKey: key },
      items: [item(1, campaignId)],
    });
    assert.equal(again['pub-1']?.state, 'read', 'the next reading gets it');
  });

  it('a throttle on the second report keeps what the first read; the rest waits the time Klaviyo named', async () => {
    const items: MetricsItem[] = [];
    for (let index = 0; index < 101; index += 1) items.push(item(index, await handOff(index)));
    clock = new Date(start.getTime() + 3 * hour);
    simulator.failWith('rate_limited', { path: '/api/campaign-values-reports', skip: 1 });
    const answers = await adapter.collectMetrics({ credentials: { apiKey: key }, items });
    assert.equal(Object.values(answers).filter((answer) => answer.state === 'read').length, 100);
    const rest = answers['pub-100'];
    assert.equal(rest?.state, 'not_read', 'asked again after the throttle');
    assert.ok(
      rest?.state === 'not_read' && (rest.failure.retryAfterMs ?? 0) > 0,
      'with the wait Klaviyo named',
    );
  });

  it('a key without campaigns:read or metrics:read leaves the items unavailable with the missing scope', async () => {
    const campaignId = await handOff(1);
    clock = new Date(start.getTime() + 2 * hour);
    const noReports = await adapter.collectMetrics({
      credentials: { apiKey: noReportsKey },
      items: [item(1, campaignId)],
    });
    assert.deepEqual(noReports['pub-1'], {
      state: 'unavailable',
      reason: 'The Klaviyo API key cannot read campaign reports',
      missingScopes: ['campaigns:read'],
    });
    const noMetrics = await adapter.collectMetrics({
      credentials: { apiKey: noMetricsKey },
      items: [item(1, campaignId)],
    });
    assert.equal(noMetrics['pub-1']?.state, 'unavailable');
    assert.deepEqual(noMetrics['pub-1']?.state === 'unavailable' && noMetrics['pub-1'].missingScopes, [
      'metrics:read',
    ]);
  });
});

describe('Klaviyo campaign metrics without a "Placed Order" metric', () => {
  beforeEach(() =>
    startWith({
      metrics: [
        { id: 'RcvEml', name: 'Received Email' },
        { id: 'OpnEml', name: 'Opened Email' },
      ],
    }),
  );
  afterEach(() => simulator.close());

  it('reports with another metric (Klaviyo requires one) and without conversions', async () => {
    const campaignId = await handOff(1);
    clock = new Date(start.getTime() + 2 * hour);
    const answers = await adapter.collectMetrics({
      credentials: { apiKey: key },
      items: [item(1, campaignId)],
    });
    const body = reports()[0]?.body as { data: { attributes: Record<string, unknown> } };
    assert.equal(body.data.attributes.conversion_metric_id, 'RcvEml');
    assert.ok(!(body.data.attributes.statistics as string[]).includes('conversions'));
    assert.equal(readValue(answers['pub-1'], 'conversions'), undefined);
    assert.equal(readValue(answers['pub-1'], 'delivered'), 985);
  });
});
