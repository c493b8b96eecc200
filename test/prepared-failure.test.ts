// A prepared publication that fails for good leaves nothing serving, on the real stack (Temporal, PostgreSQL,
// the worker, the Meta simulator): when Meta applied the switch to ACTIVE but every answer was lost, the
// publication fails and what was prepared is deleted at once; when that deletion fails too, an unschedule is
// refused (the epic stays in error) until the ad can be deleted, never answered while the ad still serves.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { MetaSimulatorAdObject } from '../sandbox/meta.ts';
import { createWorkspace } from './support/api.ts';
import { contentExamples } from './support/examples.ts';
import { browserOf, followConsent } from './support/platforms.ts';
import {
  connectMeta,
  isoInSeconds,
  readEpic,
  replayAndRecord,
  useStack,
  waitFor,
  waitForStatus,
} from './support/stack.ts';

const stack = useStack({ meta: { adAccounts: [{ id: '770001', name: 'Acme Ads' }] } });
/** The runs of this file, replayed at its end (saved as fixtures `epic-discard-failed-NN` with RECORD_HISTORIES=1). */
const runs: string[] = [];

interface AdPublication {
  status: string;
  attempts: number;
  externalId: string | null;
  externalUrl: string | null;
  lastError: { class: string } | null;
}
const publicationOf = (epic: { tasks: { publication: unknown }[] }) =>
  epic.tasks[0]?.publication as AdPublication;

/** The objects of one task, by kind: their names carry its marker, which begins with the task's id. */
const objectsOf = (taskId: string) => {
  const mine = (objects: MetaSimulatorAdObject[]) =>
    objects.filter((object) => object.name.includes(`glw-${taskId.slice(0, 8)}-`));
  return {
    campaigns: mine(stack.meta.adCampaigns()),
    adSets: mine(stack.meta.adSets()),
    creatives: mine(stack.meta.adCreatives()),
    ads: mine(stack.meta.ads()),
  };
};
const everServed = (object: MetaSimulatorAdObject | undefined) =>
  object?.statusChanges.some((change) => change.status === 'ACTIVE') ?? false;

/** Meta connected with its second round (ads_management), every account enabled. */
async function connectMetaWithAds(name: string) {
  const workspace = await createWorkspace(stack.harness, name);
  const first = await connectMeta(stack, workspace);
  const round = await workspace.api.post(`/v1/connectors/${first.id}/reconnect`, { permissions: 'ads' });
  assert.equal(round.statusCode, 200, round.body);
  const callback = await stack.harness.app.inject({
    method: 'GET',
    url: await followConsent(round.json().authorizeUrl),
    cookies: browserOf(round),
  });
  assert.equal(callback.statusCode, 200, callback.body);
  const connector = callback.json() as { id: string; accounts: { id: string; kind: string }[] };
  const enabled = await workspace.api.request({
    method: 'PUT',
    url: `/v1/connectors/${connector.id}/accounts`,
    payload: { enabled: connector.accounts.map((account) => account.id) },
  });
  assert.equal(enabled.statusCode, 200, enabled.body);
  const adAccount = connector.accounts.find((account) => account.kind === 'ad_account');
  assert.ok(adAccount, 'the ad account is found once ads_management is granted');
  return { workspace, connectorId: connector.id, adAccountId: adAccount.id };
}

// No media: the pre-flight would look for it on the internet.
const { mediaUrls: _media, ...adContent } = contentExamples.facebook_ad;

/** A workspace with Meta (ads) connected and an epic of one ad, scheduled `seconds` out. */
async function scheduledAd(name: string, seconds: number) {
  const { workspace, connectorId, adAccountId } = await connectMetaWithAds(name);
  const epic = (await workspace.api.post('/v1/epics', { title: name })).json() as { id: string };
  const task = await workspace.api.post(`/v1/epics/${epic.id}/tasks`, {
    channel: 'facebook_ad',
    connectorId,
    accountId: adAccountId,
    content: { ...adContent, name },
  });
  assert.equal(task.statusCode, 201, task.body);
  const taskId = task.json().id as string;
  await workspace.api.post(`/v1/epics/${epic.id}/tasks/${taskId}/approve`);
  assert.equal((await workspace.api.post(`/v1/epics/${epic.id}/review`)).statusCode, 200);
  const scheduledAt = isoInSeconds(seconds);
  runs.push(`epic-${epic.id}`);
  const scheduled = await workspace.api.post(`/v1/epics/${epic.id}/schedule`, { scheduledAt });
  assert.equal(scheduled.statusCode, 200, scheduled.body);
  return { workspace, epicId: epic.id, taskId, scheduledAt };
}

const prepared = (taskId: string) =>
  waitFor(
    async () => objectsOf(taskId),
    (objects) => objects.ads.length > 0,
  );

const campaignPath = (id: string) => new RegExp(`/${id}$`);
const deletes = { method: 'DELETE', path: /^\/v\d+\.\d+\/\d+$/ } as const;

describe('a prepared ad whose publish failed for good', () => {
  it('Meta applied the switch but every answer was lost: the publication fails and the ad is deleted at once', async () => {
    try {
      const { workspace, epicId, taskId } = await scheduledAd('Ad lost switch', 8);
      const ready = await prepared(taskId);
      stack.meta.dropAnswerNext({
        method: 'POST',
        path: campaignPath(ready.campaigns[0]!.id),
        body: /ACTIVE/,
        times: 30,
      });
      const epic = await waitForStatus(workspace, epicId, 'error');
      assert.equal(publicationOf(epic).status, 'failed');
      assert.equal(publicationOf(epic).attempts, 3, 'the attempts limit');
      const { campaigns, ads } = await waitFor(
        async () => objectsOf(taskId),
        (objects) => objects.campaigns.every((campaign) => campaign.status === 'DELETED'),
      );
      assert.ok(everServed(campaigns[0]), 'Meta had made it serve');
      assert.equal(campaigns.length, 1);
      assert.ok(ads.every((ad) => ad.status !== 'ACTIVE' || campaigns[0]?.status === 'DELETED'));
    } finally {
      stack.meta.clearFailures();
    }
  });

  it('the deletion failing too: an unschedule is refused while the ad may serve, and answers once it is deleted', async () => {
    try {
      const { workspace, epicId, taskId } = await scheduledAd('Ad lost switch, delete down', 8);
      const ready = await prepared(taskId);
      stack.meta.dropAnswerNext({
        method: 'POST',
        path: campaignPath(ready.campaigns[0]!.id),
        body: /ACTIVE/,
        times: 30,
      });
      stack.meta.failWith('transient', { ...deletes, times: 1_000 });
      await waitForStatus(workspace, epicId, 'error');
      assert.equal(objectsOf(taskId).campaigns[0]?.status, 'ACTIVE', 'serving: its deletion failed');

      const refused = await workspace.api.post(`/v1/epics/${epicId}/unschedule`);
      assert.ok([409, 503].includes(refused.statusCode), `refused: ${refused.statusCode} ${refused.body}`);
      assert.equal((await readEpic(workspace, epicId)).status, 'error', 'the epic stays in error');

      stack.meta.clearFailures();
      const done = await workspace.api.post(`/v1/epics/${epicId}/unschedule`);
      assert.equal(done.statusCode, 200, done.body);
      assert.equal((await readEpic(workspace, epicId)).status, 'review');
      const { campaigns } = objectsOf(taskId);
      assert.deepEqual(
        campaigns.map((campaign) => campaign.status),
        ['DELETED'],
        'nothing serves once the unschedule answered',
      );
    } finally {
      stack.meta.clearFailures();
    }
  });

  it('the runs replay against the current workflow code', async () => {
    const { failures } = await replayAndRecord(
      stack,
      Object.fromEntries(
        runs.map((id, index) => [`epic-discard-failed-${String(index + 1).padStart(2, '0')}`, id]),
      ),
    );
    assert.deepEqual(failures, []);
  });
});
