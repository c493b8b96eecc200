// Google Ads campaigns end to end through the API on the real stack (Temporal, PostgreSQL, the worker, the
// Google simulator): prepared PAUSED before the time, enabled at it and published once with the campaign's id
// and URL; unscheduled before the time, nothing is left active (the prepared campaign is removed).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { GoogleSimulator, GoogleSimulatorCampaign } from '../sandbox/google.ts';
import { createWorkspace } from './support/api.ts';
import { contentExamples } from './support/examples.ts';
import { connectOAuth } from './support/platforms.ts';
import {
  isoInSeconds,
  readEpic,
  replayAndRecord,
  useStack,
  waitFor,
  waitForStatus,
} from './support/stack.ts';

// A direct customer, a manager, and a client reached only through that manager.
const stack = useStack({
  platforms: {
    google: {
      customers: [
        { id: '1234567890', name: 'Glow Ads' },
        { id: '9876543210', name: 'Glow Agency', manager: true },
        { id: '3333333333', name: 'Glow Client Shop', managerId: '9876543210' },
      ],
    },
  },
});
const google = (): GoogleSimulator => stack.platforms!.google;
/** The runs of this file, replayed at its end (saved as fixtures `epic-prepare-ahead-NN` with RECORD_HISTORIES=1). */
const runs: string[] = [];

interface AdsPublication {
  status: string;
  attempts: number;
  externalId: string | null;
  externalUrl: string | null;
}

const publicationOf = (epic: { tasks: { publication: unknown }[] }) =>
  epic.tasks[0]?.publication as AdsPublication & { lastError: { class: string } | null };

const riskOf = (epic: { tasks: { publication: unknown }[] }) =>
  epic.tasks[0]?.publication as { atRisk: boolean; atRiskReason: string | null } | undefined;

/** The campaigns of one task: their names carry its marker, which begins with the task's id. */
const campaignsOf = (taskId: string): GoogleSimulatorCampaign[] =>
  google()
    .adsCampaigns()
    .filter((campaign) => campaign.name.includes(`glw-${taskId.slice(0, 8)}-`));

/** A workspace with Google Ads connected and an epic of one campaign, scheduled `seconds` out. */
async function scheduledCampaign(name: string, seconds: number, customerId = '1234567890') {
  const workspace = await createWorkspace(stack.harness, name);
  const connector = await connectOAuth(stack.harness.app, workspace, 'google_ads');
  const customer = connector.accounts.find((account) => account.externalId === customerId)!;
  const epic = (await workspace.api.post('/v1/epics', { title: name })).json() as { id: string };
  const task = await workspace.api.post(`/v1/epics/${epic.id}/tasks`, {
    channel: 'google_ads_campaign',
    connectorId: connector.id,
    accountId: customer.id,
    content: { ...contentExamples.google_ads_campaign, name },
  });
  assert.equal(task.statusCode, 201, task.body);
  const taskId = task.json().id as string;
  await workspace.api.post(`/v1/epics/${epic.id}/tasks/${taskId}/approve`);
  assert.equal((await workspace.api.post(`/v1/epics/${epic.id}/review`)).statusCode, 200);
  const scheduledAt = isoInSeconds(seconds);
  runs.push(`epic-${epic.id}`);
  const scheduled = await workspace.api.post(`/v1/epics/${epic.id}/schedule`, { scheduledAt });
  assert.equal(scheduled.statusCode, 200, scheduled.body);
  return { workspace, epicId: epic.id, taskId, customerId: customer.externalId, scheduledAt };
}

describe('Google Ads: prepared before the time, enabled at it', () => {
  it('a bad campaign is refused at task creation, naming the field', async () => {
    const workspace = await createWorkspace(stack.harness, 'Ads bad content');
    const connector = await connectOAuth(stack.harness.app, workspace, 'google_ads');
    const epic = (await workspace.api.post('/v1/epics', { title: 'bad' })).json() as { id: string };
    const task = await workspace.api.post(`/v1/epics/${epic.id}/tasks`, {
      channel: 'google_ads_campaign',
      connectorId: connector.id,
      accountId: connector.accounts[0]!.id,
      content: { ...contentExamples.google_ads_campaign, headlines: ['x'.repeat(31), 'b', 'c'] },
    });
    assert.equal(task.statusCode, 400);
    assert.match(task.body, /headlines/);
  });

  it('a manager account is refused as a target at task creation; its client publishes with login-customer-id', async () => {
    const workspace = await createWorkspace(stack.harness, 'Ads manager');
    const connector = await connectOAuth(stack.harness.app, workspace, 'google_ads');
    const manager = connector.accounts.find((account) => account.externalId === '9876543210')!;
    const epic = (await workspace.api.post('/v1/epics', { title: 'manager' })).json() as { id: string };
    const refused = await workspace.api.post(`/v1/epics/${epic.id}/tasks`, {
      channel: 'google_ads_campaign',
      connectorId: connector.id,
      accountId: manager.id,
      content: contentExamples.google_ads_campaign,
    });
    assert.equal(refused.statusCode, 400);
    assert.match(refused.body, /body\.accountId/);
    assert.match(refused.body, /manager account/);

    const {
      workspace: clientWorkspace,
      epicId,
      taskId,
    } = await scheduledCampaign('Ads client', 4, '3333333333');
    const published = publicationOf(await waitForStatus(clientWorkspace, epicId, 'published'));
    const [campaign, ...more] = campaignsOf(taskId);
    assert.equal(more.length, 0);
    assert.equal(campaign?.customerId, '3333333333');
    assert.equal(campaign?.status, 'ENABLED');
    assert.equal(published.externalId, campaign?.resourceName.split('/').pop());
    const clientRequests = google().receivedMatching(/\/customers\/3333333333\/googleAds:/);
    assert.ok(clientRequests.length >= 2);
    for (const request of clientRequests) assert.equal(request.headers['login-customer-id'], '9876543210');
  });

  it('the campaign is made PAUSED before the time, ENABLED at the time, published once', async () => {
    const { workspace, epicId, taskId, customerId, scheduledAt } = await scheduledCampaign(
      'Ads at the time',
      6,
    );
    const prepared = await waitFor(
      async () => campaignsOf(taskId),
      (campaigns) => campaigns.length > 0,
    );
    assert.equal(prepared[0]?.status, 'PAUSED');
    assert.ok(prepared[0]!.createdAt.getTime() < Date.parse(scheduledAt), 'made before the time');
    assert.equal((await readEpic(workspace, epicId)).status, 'scheduled');

    const epic = await waitForStatus(workspace, epicId, 'published');
    const publication = publicationOf(epic);
    const campaigns = campaignsOf(taskId);
    assert.equal(campaigns.length, 1, 'one campaign');
    const [campaign] = campaigns;
    assert.equal(campaign?.status, 'ENABLED');
    assert.deepEqual(
      campaign?.statusChanges.map((change) => change.status),
      ['PAUSED', 'ENABLED'],
    );
    assert.ok(campaign!.statusChanges[1]!.at.getTime() >= Date.parse(scheduledAt), 'enabled at the time');
    const campaignId = campaign!.resourceName.split('/').pop();
    assert.equal(publication.status, 'published');
    assert.equal(publication.attempts, 1);
    assert.equal(publication.externalId, campaignId);
    assert.equal(
      publication.externalUrl,
      `https://ads.google.com/aw/campaigns?campaignId=${campaignId}&__c=${customerId}`,
    );
    const enables = google()
      .receivedMatching(/googleAds:mutate$/, 'POST')
      .filter((request) => JSON.stringify(request.body).includes(`"${campaign!.resourceName}"`));
    assert.equal(enables.length, 1, 'one request at the time');
  });

  it('unscheduled before the time: the prepared campaign is removed, nothing is active', async () => {
    const { workspace, epicId, taskId } = await scheduledCampaign('Ads unscheduled', 30);
    await waitFor(
      async () => campaignsOf(taskId),
      (campaigns) => campaigns.length > 0,
    );
    const response = await workspace.api.post(`/v1/epics/${epicId}/unschedule`);
    assert.equal(response.statusCode, 200, response.body);
    const campaigns = campaignsOf(taskId);
    assert.equal(campaigns.length, 1);
    assert.equal(campaigns[0]?.status, 'REMOVED', 'removed by the time the unschedule answered');
    assert.equal(campaigns[0]?.budget.status, 'REMOVED');
    assert.ok(!campaigns[0]!.statusChanges.some((change) => change.status === 'ENABLED'), 'never served');
  });

  it('moved before the time: the campaign prepared for the old time is removed, one made for the new time goes live', async () => {
    const { workspace, epicId, taskId } = await scheduledCampaign('Ads moved', 60);
    await waitFor(
      async () => campaignsOf(taskId),
      (campaigns) => campaigns.length > 0,
    );
    const scheduledAt = isoInSeconds(4);
    const moved = await workspace.api.post(`/v1/epics/${epicId}/reschedule`, { scheduledAt });
    assert.equal(moved.statusCode, 200, moved.body);
    await waitForStatus(workspace, epicId, 'published');
    const [old, fresh, ...more] = campaignsOf(taskId);
    assert.equal(more.length, 0);
    assert.equal(old?.status, 'REMOVED');
    assert.ok(!old!.statusChanges.some((change) => change.status === 'ENABLED'), 'the old one never served');
    assert.equal(fresh?.status, 'ENABLED');
    assert.ok(fresh!.createdAt.getTime() < Date.parse(scheduledAt), 'prepared before the new time');
    assert.ok(fresh!.statusChanges[1]!.at.getTime() >= Date.parse(scheduledAt), 'enabled at the new time');
  });

  it('a preparation refused is told ahead (at risk, one notification) and holds nothing back: the time makes the campaign and enables it', async () => {
    google().failWith('customer_permission_denied', { path: /googleAds:mutate$/, body: /PAUSED/ });
    const { workspace, epicId, taskId, scheduledAt } = await scheduledCampaign('Ads prepare refused', 6);
    const flagged = await waitFor(
      () => readEpic(workspace, epicId),
      (epic) => riskOf(epic)?.atRisk === true,
    );
    assert.ok(Date.now() < Date.parse(scheduledAt), 'told before the time');
    assert.equal(flagged.status, 'scheduled', 'the epic stays scheduled');
    assert.match(riskOf(flagged)?.atRiskReason ?? '', /refused to prepare it/);
    const told = (
      (await workspace.api.get('/v1/notifications')).json().items as {
        kind: string;
        data: { check: string };
      }[]
    ).filter((notification) => notification.kind === 'publications_at_risk');
    assert.deepEqual(
      told.map((notification) => notification.data.check),
      ['prepare'],
    );
    const epic = await waitForStatus(workspace, epicId, 'published');
    assert.equal(publicationOf(epic).attempts, 1);
    const campaigns = campaignsOf(taskId);
    assert.equal(campaigns.length, 1);
    assert.equal(campaigns[0]?.status, 'ENABLED');
  });

  it('the enable whose answer was lost, then the retry: one campaign, published', async () => {
    google().dropAnswerNext({ path: /googleAds:mutate$/, body: /updateMask/ });
    const { workspace, epicId, taskId } = await scheduledCampaign('Ads lost enable', 4);
    const epic = await waitForStatus(workspace, epicId, 'published');
    const publication = publicationOf(epic);
    assert.ok(publication.attempts >= 2, 'the lost answer cost an attempt');
    const campaigns = campaignsOf(taskId);
    assert.equal(campaigns.length, 1, 'one campaign');
    assert.equal(campaigns[0]?.status, 'ENABLED');
    assert.equal(publication.externalId, campaigns[0]!.resourceName.split('/').pop());
  });

  it('Google failing at the time: three attempts (the limit), then the epic is in error and its campaign removed, never served', async () => {
    google().failWith('unavailable', { path: /googleAds:mutate$/, body: /updateMask/, times: 10 });
    try {
      const { workspace, epicId, taskId } = await scheduledCampaign('Ads Google down', 4);
      const epic = await waitForStatus(workspace, epicId, 'error');
      const publication = publicationOf(epic);
      assert.equal(publication.status, 'failed');
      assert.equal(publication.attempts, 3);
      assert.equal(publication.lastError?.class, 'TRANSIENT');
      const campaigns = campaignsOf(taskId);
      assert.equal(campaigns.length, 1, 'prepared once, reused by every attempt');
      // A publication that failed for good leaves nothing on Google: a retry prepares again.
      assert.equal(campaigns[0]?.status, 'REMOVED');
    } finally {
      google().clearFailures();
    }
  });

  it('the runs replay against the current workflow code', async () => {
    const { failures } = await replayAndRecord(
      stack,
      Object.fromEntries(
        runs.map((id, index) => [`epic-prepare-ahead-${String(index + 1).padStart(2, '0')}`, id]),
      ),
    );
    assert.deepEqual(failures, []);
  });
});
