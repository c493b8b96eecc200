// Facebook ads end to end through the API on the real stack (Temporal, PostgreSQL, the worker, the Meta
// simulator): the campaign, ad set, creative and ad are made PAUSED before the time, switched ACTIVE at it and
// published once with the ad's id and Ads Manager URL; unscheduled or moved before the time, what was
// prepared is deleted and nothing is left active.
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
/** The runs of this file, replayed at its end (saved as fixtures `epic-fbads-NN` with RECORD_HISTORIES=1). */
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

describe('Facebook ads: prepared PAUSED before the time, ACTIVE at it', () => {
  it('an ad without its Page is refused at task creation, naming the field', async () => {
    const { workspace, connectorId, adAccountId } = await connectMetaWithAds('Ad bad content');
    const epic = (await workspace.api.post('/v1/epics', { title: 'bad' })).json() as { id: string };
    const { pageId: _page, ...withoutPage } = adContent;
    const task = await workspace.api.post(`/v1/epics/${epic.id}/tasks`, {
      channel: 'facebook_ad',
      connectorId,
      accountId: adAccountId,
      content: withoutPage,
    });
    assert.equal(task.statusCode, 400);
    assert.match(task.body, /content\.pageId/);
  });

  it('made PAUSED before the time, ACTIVE at the time, published once with the ad and its Ads Manager URL', async () => {
    const { workspace, epicId, taskId, scheduledAt } = await scheduledAd('Ad at the time', 6);
    const before = await prepared(taskId);
    assert.deepEqual(
      [before.campaigns, before.adSets, before.ads].map((objects) => objects.map((object) => object.status)),
      [['PAUSED'], ['PAUSED'], ['PAUSED']],
    );
    assert.ok(before.ads[0]!.createdAt.getTime() < Date.parse(scheduledAt), 'made before the time');
    assert.equal((await readEpic(workspace, epicId)).status, 'scheduled', 'while the epic still waits');

    const epic = await waitForStatus(workspace, epicId, 'published');
    const publication = publicationOf(epic);
    const { campaigns, adSets, creatives, ads } = objectsOf(taskId);
    assert.deepEqual(
      [campaigns, adSets, creatives, ads].map((objects) => objects.length),
      [1, 1, 1, 1],
      'one of each',
    );
    for (const object of [campaigns[0], adSets[0], ads[0]]) {
      assert.deepEqual(
        object?.statusChanges.map((change) => change.status),
        ['PAUSED', 'ACTIVE'],
      );
      assert.ok(object!.statusChanges[1]!.at.getTime() >= Date.parse(scheduledAt), 'switched at the time');
    }
    assert.equal(publication.status, 'published');
    assert.equal(publication.attempts, 1);
    assert.equal(publication.externalId, ads[0]?.id);
    assert.equal(
      publication.externalUrl,
      `https://adsmanager.facebook.com/adsmanager/manage/ads?act=770001&selected_ad_ids=${ads[0]?.id}`,
    );
  });

  it('unscheduled before the time: everything prepared is deleted, nothing ever served', async () => {
    const { workspace, epicId, taskId } = await scheduledAd('Ad unscheduled', 30);
    await prepared(taskId);
    const response = await workspace.api.post(`/v1/epics/${epicId}/unschedule`);
    assert.equal(response.statusCode, 200, response.body);
    const { campaigns, adSets, creatives, ads } = objectsOf(taskId);
    for (const object of [...campaigns, ...adSets, ...creatives, ...ads]) {
      assert.equal(object.status, 'DELETED', `${object.name} deleted by the time the unschedule answered`);
    }
    assert.ok(![...campaigns, ...adSets, ...ads].some(everServed), 'never ACTIVE');
  });

  it('moved before the time: what was prepared for the old time is deleted, one ad made for the new time goes live', async () => {
    const { workspace, epicId, taskId } = await scheduledAd('Ad moved', 60);
    const old = await prepared(taskId);
    const scheduledAt = isoInSeconds(4);
    const moved = await workspace.api.post(`/v1/epics/${epicId}/reschedule`, { scheduledAt });
    assert.equal(moved.statusCode, 200, moved.body);
    const epic = await waitForStatus(workspace, epicId, 'published');
    const { campaigns, ads } = objectsOf(taskId);
    assert.equal(campaigns.length, 2);
    const [gone, fresh] = campaigns;
    assert.equal(gone?.id, old.campaigns[0]?.id);
    assert.equal(gone?.status, 'DELETED');
    assert.ok(!everServed(gone), 'the old one never served');
    assert.equal(fresh?.status, 'ACTIVE');
    assert.ok(fresh!.createdAt.getTime() < Date.parse(scheduledAt), 'prepared before the new time');
    assert.deepEqual(
      ads.map((ad) => ad.status),
      ['DELETED', 'ACTIVE'],
    );
    assert.equal(publicationOf(epic).externalId, ads[1]?.id);
  });

  it("lost answers (the campaign's create while preparing, its switch at the time), then retries: one ad, published", async () => {
    stack.meta.dropAnswerNext({ method: 'POST', path: /\/act_770001\/campaigns$/ });
    // The third ACTIVE switch of the attempt is the campaign's (after the ad's and the ad set's).
    stack.meta.dropAnswerNext({ method: 'POST', path: /^\/v\d+\.\d+\/\d+$/, body: /ACTIVE/, skip: 2 });
    const { workspace, epicId, taskId } = await scheduledAd('Ad lost answers', 4);
    const epic = await waitForStatus(workspace, epicId, 'published');
    const publication = publicationOf(epic);
    assert.ok(publication.attempts >= 2, 'the lost switch cost an attempt');
    const { campaigns, adSets, creatives, ads } = objectsOf(taskId);
    assert.deepEqual(
      [campaigns, adSets, creatives, ads].map((objects) => objects.length),
      [1, 1, 1, 1],
      'never made twice',
    );
    assert.equal(campaigns[0]?.status, 'ACTIVE');
    assert.equal(ads[0]?.status, 'ACTIVE');
    assert.equal(publication.externalId, ads[0]?.id);
  });

  it('Meta failing at the time: three attempts (the limit), the epic in error, the campaign still PAUSED', async () => {
    stack.meta.failWith('transient', {
      method: 'POST',
      path: /^\/v\d+\.\d+\/\d+$/,
      body: /ACTIVE/,
      times: 10,
    });
    try {
      const { workspace, epicId, taskId } = await scheduledAd('Ad Meta down', 4);
      const epic = await waitForStatus(workspace, epicId, 'error');
      const publication = publicationOf(epic);
      assert.equal(publication.status, 'failed');
      assert.equal(publication.attempts, 3);
      assert.equal(publication.lastError?.class, 'TRANSIENT');
      const { campaigns, ads } = objectsOf(taskId);
      assert.equal(campaigns.length, 1, 'prepared once, reused by every attempt');
      assert.equal(ads.length, 1);
      assert.ok(!everServed(campaigns[0]), 'the campaign never served');
    } finally {
      stack.meta.clearFailures();
    }
  });

  it('the runs replay against the current workflow code', async () => {
    const { failures } = await replayAndRecord(
      stack,
      Object.fromEntries(runs.map((id, index) => [`epic-fbads-${String(index + 1).padStart(2, '0')}`, id])),
    );
    assert.deepEqual(failures, []);
  });
});
