// The epic's analytics route over a real database: spends read in two currencies (a Facebook ad account in
// CAD, a Google Ads account in JPY) are given per currency, never added up into one meaningless total.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { eq } from 'drizzle-orm';
import { analyticsSessions, publicationMetrics, publications } from '../db/schema.ts';
import { type KlaviyoSimulator, klaviyoScopes, startKlaviyoSimulator } from '../sandbox/klaviyo.ts';
import { type ApiHarness, createWorkspace, startApiHarness, type TestWorkspace } from './support/api.ts';
import { contentExamples } from './support/examples.ts';
import { klaviyoKey } from './support/stack.ts';

let klaviyo: KlaviyoSimulator;
let harness: ApiHarness;
before(async () => {
  klaviyo = await startKlaviyoSimulator({
    apiKeys: { [klaviyoKey]: { scopes: klaviyoScopes } },
    lists: [{ id: 'Y6nRLr', name: 'Newsletter' }],
    segments: [],
  });
  harness = await startApiHarness({ config: { KLAVIYO_API_BASE_URL: klaviyo.url } });
});
after(async () => {
  await harness?.close();
  await klaviyo?.close();
});

/** An epic with `count` tasks, each with a publication row, as publishing leaves them. */
async function epicWithPublications(workspace: TestWorkspace, count: number) {
  const connected = await workspace.api.post('/v1/connectors/klaviyo/connect', { apiKey: klaviyoKey });
  assert.equal(connected.statusCode, 201, connected.body);
  const epic = (await workspace.api.post('/v1/epics', { title: 'Two currencies' })).json() as { id: string };
  const publicationIds: string[] = [];
  for (let index = 0; index < count; index += 1) {
    const task = await workspace.api.post(`/v1/epics/${epic.id}/tasks`, {
      channel: 'klaviyo_email',
      connectorId: connected.json().id,
      content: contentExamples.klaviyo_email,
    });
    assert.equal(task.statusCode, 201, task.body);
    const [row] = await harness.database.db
      .insert(publications)
      .values({ workspaceId: workspace.id, epicId: epic.id, taskId: task.json().id, status: 'published' })
      .returning({ id: publications.id });
    publicationIds.push(row!.id);
  }
  const accountId = (connected.json() as { accounts: { id: string }[] }).accounts[0]!.id;
  return { epicId: epic.id, publicationIds, accountId };
}

async function record(
  workspace: TestWorkspace,
  epicId: string,
  publicationId: string,
  readings: { metric: 'spend_minor' | 'clicks'; value: number; currency?: string }[],
) {
  await harness.database.db.insert(publicationMetrics).values(
    readings.map((reading) => ({
      workspaceId: workspace.id,
      epicId,
      publicationId,
      metric: reading.metric,
      platformMetric: reading.metric === 'spend_minor' ? 'spend' : 'clicks',
      value: reading.value,
      currency: reading.currency ?? null,
      readAt: new Date(),
    })),
  );
}

interface Analytics {
  sessions: { campaign: string; campaigns: string[]; total: number };
  totals: Record<string, number>;
  spendByCurrency: Record<string, number>;
  tasks: { metrics: Record<string, { value: number; currency: string | null }> }[];
}

describe('an epic’s totals', () => {
  it('gives spends per currency and a total spend only when they share one', async () => {
    const workspace = await createWorkspace(harness, 'Currencies');
    const { epicId, publicationIds } = await epicWithPublications(workspace, 3);
    await record(workspace, epicId, publicationIds[0]!, [
      { metric: 'spend_minor', value: 1250, currency: 'CAD' },
      { metric: 'clicks', value: 40 },
    ]);
    await record(workspace, epicId, publicationIds[1]!, [
      { metric: 'spend_minor', value: 750, currency: 'CAD' },
      { metric: 'clicks', value: 10 },
    ]);
    const read = async () => {
      const response = await workspace.api.get(`/v1/epics/${epicId}/analytics`);
      assert.equal(response.statusCode, 200, response.body);
      return response.json() as Analytics;
    };

    const oneCurrency = await read();
    assert.equal(oneCurrency.totals.spend_minor, 2000);
    assert.deepEqual(oneCurrency.spendByCurrency, { CAD: 2000 });
    assert.equal(oneCurrency.tasks[0]?.metrics.spend_minor?.currency, 'CAD');
    assert.equal(oneCurrency.tasks[0]?.metrics.clicks?.currency, null);

    await record(workspace, epicId, publicationIds[2]!, [
      { metric: 'spend_minor', value: 900, currency: 'JPY' },
      { metric: 'clicks', value: 5 },
    ]);
    const twoCurrencies = await read();
    assert.equal(twoCurrencies.totals.spend_minor, undefined, 'cents and yen are not added up');
    assert.deepEqual(twoCurrencies.spendByCurrency, { CAD: 2000, JPY: 900 });
    assert.equal(twoCurrencies.totals.clicks, 55, 'counts still add up');
  });

  it('counts the GA4 sessions of the campaign the links carried when they went out, after a title edit', async () => {
    const workspace = await createWorkspace(harness, 'Renamed');
    const { epicId, publicationIds, accountId } = await epicWithPublications(workspace, 1);
    // Published under the first title: its links carried utm_campaign=two-currencies.
    await harness.database.db
      .update(publications)
      .set({ progress: { utmCampaign: 'two-currencies' } })
      .where(eq(publications.id, publicationIds[0]!));
    const renamed = await workspace.api.patch(`/v1/epics/${epicId}`, { title: 'Summer launch' });
    assert.equal(renamed.statusCode, 200, renamed.body);
    const row = { workspaceId: workspace.id, accountId, day: '2026-12-01', syncedAt: new Date() };
    await harness.database.db.insert(analyticsSessions).values([
      { ...row, sourceMedium: 'instagram / social', campaign: 'two-currencies', sessions: 30 },
      { ...row, sourceMedium: 'newsletter / email', campaign: 'summer-launch', sessions: 5 },
      { ...row, sourceMedium: 'google / cpc', campaign: 'another-epic', sessions: 100 },
    ]);
    const response = await workspace.api.get(`/v1/epics/${epicId}/analytics`);
    assert.equal(response.statusCode, 200, response.body);
    const { sessions } = response.json() as Analytics;
    assert.equal(sessions.campaign, 'summer-launch');
    assert.deepEqual([...sessions.campaigns].sort(), ['summer-launch', 'two-currencies']);
    assert.equal(sessions.total, 35);
  });
});
