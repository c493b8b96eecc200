// Requests racing the epic workflow, on the real stack with failures injected at the instant that matters:
// an unschedule or reschedule while a hand-off waits out a Retry-After or retries after a lost answer, a
// platform refusing the second of two cancels, a reschedule once publishing started, a disconnect while an
// attempt runs. Retries wait 20 s here, so a request always lands while an attempt is waiting.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { stateQuery } from '../workflows/epic-messages.ts';
import {
  type ConnectedWorkspace,
  connectedWorkspace,
  epicCampaigns,
  isoInSeconds,
  readEpic,
  recordedRuns,
  reviewedEpic,
  useStack,
  waitFor,
  waitForStatus,
} from './support/stack.ts';

// Races with publishing at the time: nothing is prepared ahead here (see instagram-preparation.test.ts and
// preflight-checks.test.ts for a preparation overtaken by a publish try), so a held request is a publish try's.
const stack = useStack({
  config: {
    PUBLICATION_PREPARE_AHEAD_MS: '0',
    PUBLICATION_RETRY_INITIAL_INTERVAL_MS: '20000',
    PUBLICATION_RETRY_MAX_INTERVAL_MS: '60000',
    TRANSITION_TIMEOUT_MS: '20000',
  },
});

const inSeconds = isoInSeconds;
const campaignsOf = (epicId: string) => epicCampaigns(stack, epicId);
const queuedCampaignsOf = (epicId: string) =>
  campaignsOf(epicId).filter((campaign) => campaign.sendJob === 'queued' || campaign.status === 'Sent');
const requestsTo = (path: string | RegExp, method: string) =>
  stack.klaviyo.receivedMatching(path, method).length;

const runs = recordedRuns('epic-races');

async function scheduled(setup: ConnectedWorkspace, epicId: string, at: string) {
  const response = await runs.schedule(setup, epicId, at);
  assert.equal(response.statusCode, 200, response.body);
}

/**
 * An epic of `emails` Klaviyo tasks scheduled in an hour, whose first send job Klaviyo refused with
 * Retry-After 20: that hand-off now waits to retry (the others went through).
 */
async function waitingOutRetryAfter(setup: ConnectedWorkspace, emails: number, title: string) {
  const { epicId } = await reviewedEpic(setup, Array(emails).fill('klaviyo_email'), title);
  const sendJobsBefore = requestsTo('/api/campaign-send-jobs', 'POST');
  stack.klaviyo.failWith('rate_limited', {
    path: '/api/campaign-send-jobs',
    method: 'POST',
    retryAfterSeconds: 20,
  });
  await scheduled(setup, epicId, inSeconds(3600));
  await waitFor(
    async () => requestsTo('/api/campaign-send-jobs', 'POST'),
    (count) => count >= sendJobsBefore + emails,
  );
  return { epicId, sendJobsBefore };
}

const publicationsOf = async (setup: ConnectedWorkspace, epicId: string) =>
  (await readEpic(setup.workspace, epicId)).tasks.map((task) => task.publication?.status);

describe('transitions racing hand-offs still being attempted', () => {
  it('an unschedule while a Klaviyo hand-off waits out a Retry-After leaves nothing scheduled on Klaviyo', async () => {
    const setup = await connectedWorkspace(stack, 'Retry-After');
    const { epicId, sendJobsBefore } = await waitingOutRetryAfter(setup, 1, 'Waiting out');

    const response = await setup.workspace.api.post(`/v1/epics/${epicId}/unschedule`);
    assert.equal(response.statusCode, 200, response.body);
    assert.equal(response.json().status, 'review');
    // The run ends without waiting for the retry, and nothing of the epic can send.
    await stack.client.workflow.getHandle(`epic-${epicId}`).result();
    assert.deepEqual(queuedCampaignsOf(epicId), []);
    assert.equal(requestsTo('/api/campaign-send-jobs', 'POST'), sendJobsBefore + 1, 'no send job after');
    assert.deepEqual(await publicationsOf(setup, epicId), ['cancelled']);
  });

  it('an unschedule after a lost answer finds and removes the campaign that answer would have named', async () => {
    const setup = await connectedWorkspace(stack, 'Lost create');
    const { epicId } = await reviewedEpic(setup, ['klaviyo_email'], 'Lost answer');
    const createsBefore = requestsTo(/^\/api\/campaigns\/?$/, 'POST');
    // Klaviyo creates the campaign, but its answer never arrives: we do not know its id.
    stack.klaviyo.dropAnswerNext({ path: /^\/api\/campaigns\/?$/, method: 'POST' });
    await scheduled(setup, epicId, inSeconds(3600));
    await waitFor(
      async () => campaignsOf(epicId),
      (campaigns) => campaigns.length === 1 && requestsTo(/^\/api\/campaigns\/?$/, 'POST') > createsBefore,
    );
    await sleep(300);

    const response = await setup.workspace.api.post(`/v1/epics/${epicId}/unschedule`);
    assert.equal(response.statusCode, 200, response.body);
    await stack.client.workflow.getHandle(`epic-${epicId}`).result();
    // Found by its hand-off key and deleted (a draft), never sent.
    assert.deepEqual(campaignsOf(epicId), []);
    assert.equal(requestsTo(/^\/api\/campaigns\/?$/, 'POST'), createsBefore + 1, 'created once');
  });

  it('an unschedule after a send job was applied and its answer lost cancels that send job', async () => {
    const setup = await connectedWorkspace(stack, 'Lost send job');
    const { epicId } = await reviewedEpic(setup, ['klaviyo_email'], 'Lost send job');
    stack.klaviyo.dropAnswerNext({ path: '/api/campaign-send-jobs', method: 'POST' });
    await scheduled(setup, epicId, inSeconds(3600));
    await waitFor(
      async () => campaignsOf(epicId),
      (campaigns) => campaigns[0]?.sendJob === 'queued',
    );
    await sleep(300);

    const response = await setup.workspace.api.post(`/v1/epics/${epicId}/unschedule`);
    assert.equal(response.statusCode, 200, response.body);
    await stack.client.workflow.getHandle(`epic-${epicId}`).result();
    assert.deepEqual(
      campaignsOf(epicId).map((campaign) => campaign.sendJob),
      ['cancelled'],
    );
  });

  it('a reschedule while a hand-off waits to retry moves it: every hand-off ends at the new time', async () => {
    const setup = await connectedWorkspace(stack, 'Moving in flight');
    // The first send job waits out a Retry-After; the other hand-off goes through.
    const { epicId } = await waitingOutRetryAfter(setup, 2, 'Moving');
    await waitFor(
      () => publicationsOf(setup, epicId),
      (statuses) => statuses.includes('handed_off'),
    );

    const newTime = inSeconds(7200);
    const response = await setup.workspace.api.post(`/v1/epics/${epicId}/reschedule`, {
      scheduledAt: newTime,
    });
    assert.equal(response.statusCode, 200, response.body);
    await waitFor(
      () => publicationsOf(setup, epicId),
      (statuses) => statuses.every((status) => status === 'handed_off'),
    );
    const live = queuedCampaignsOf(epicId);
    assert.equal(live.length, 2, 'one live campaign per task');
    for (const campaign of live) assert.equal(Date.parse(campaign.sendAt!), Date.parse(newTime));
    // Past the first attempt's Retry-After nothing at the old time appears.
    assert.ok(
      campaignsOf(epicId).every((campaign) => campaign.sendJob !== 'queued' || campaign.sendAt === newTime),
    );
    await setup.workspace.api.post(`/v1/epics/${epicId}/unschedule`);
  });
});

describe('transitions racing an attempt mid-request', () => {
  it('an unschedule while a hand-off request is on its way stops it, and nothing is left on Klaviyo', async () => {
    const setup = await connectedWorkspace(stack, 'Mid-request');
    const { epicId } = await reviewedEpic(setup, ['klaviyo_email'], 'Mid-request');
    const held = stack.klaviyo.holdNext({ path: /^\/api\/templates\/?$/, method: 'POST' });
    await scheduled(setup, epicId, inSeconds(3600));
    await held.reached;

    const response = await setup.workspace.api.post(`/v1/epics/${epicId}/unschedule`);
    assert.equal(response.statusCode, 200, response.body);
    held.release();
    await stack.client.workflow.getHandle(`epic-${epicId}`).result();
    await sleep(500);
    assert.deepEqual(queuedCampaignsOf(epicId), []);
    assert.deepEqual(await publicationsOf(setup, epicId), ['cancelled']);
  });

  it('a reschedule while a hand-off request is on its way ends with the hand-off at the new time', async () => {
    const setup = await connectedWorkspace(stack, 'Mid-request move');
    const { epicId } = await reviewedEpic(setup, ['klaviyo_email'], 'Mid-request move');
    const held = stack.klaviyo.holdNext({ path: /^\/api\/templates\/?$/, method: 'POST' });
    await scheduled(setup, epicId, inSeconds(3600));
    await held.reached;

    const newTime = inSeconds(7200);
    const moving = setup.workspace.api.post(`/v1/epics/${epicId}/reschedule`, { scheduledAt: newTime });
    await sleep(300);
    held.release();
    const response = await moving;
    assert.equal(response.statusCode, 200, response.body);
    await waitFor(
      () => publicationsOf(setup, epicId),
      (statuses) => statuses[0] === 'handed_off',
    );
    const live = queuedCampaignsOf(epicId);
    assert.equal(live.length, 1);
    assert.equal(Date.parse(live[0]!.sendAt!), Date.parse(newTime));
    await setup.workspace.api.post(`/v1/epics/${epicId}/unschedule`);
  });

  it('a hand-off waiting out a Retry-After does not hold back the soft posts due at the time', async () => {
    const setup = await connectedWorkspace(stack, 'Not held back');
    const { epicId } = await reviewedEpic(setup, ['facebook_post', 'klaviyo_email'], 'Not held back');
    const sendJobsBefore = requestsTo('/api/campaign-send-jobs', 'POST');
    stack.klaviyo.failWith('rate_limited', {
      path: '/api/campaign-send-jobs',
      method: 'POST',
      retryAfterSeconds: 20,
    });
    const at = inSeconds(3);
    const feedBefore = stack.meta.receivedMatching(/\/feed$/, 'POST').length;
    await scheduled(setup, epicId, at);
    const [post] = await waitFor(
      async () => stack.meta.receivedMatching(/\/feed$/, 'POST').slice(feedBefore),
      (posts) => posts.length === 1,
    );
    const lateByMs = post!.receivedAt.getTime() - Date.parse(at);
    assert.ok(lateByMs < 3_000, `posted ${lateByMs} ms after its time`);
    assert.equal(requestsTo('/api/campaign-send-jobs', 'POST'), sendJobsBefore + 1, 'the email still waits');
    // The email goes out once its Retry-After is over, and the epic is published.
    await waitForStatus(setup.workspace, epicId, 'published');
  });
});

describe('a transition refused half-way', () => {
  it('a lock on the second of two cancels answers 409 and hands the first off again: both emails send', async () => {
    const setup = await connectedWorkspace(stack, 'Half-way');
    const { epicId } = await reviewedEpic(setup, ['klaviyo_email', 'klaviyo_email'], 'Half-way');
    const at = inSeconds(10);
    await scheduled(setup, epicId, at);
    await waitFor(
      () => publicationsOf(setup, epicId),
      (statuses) => statuses.every((status) => status === 'handed_off'),
    );
    stack.klaviyo.failWith('locked', {
      path: /^\/api\/campaign-send-jobs\/[^/]+$/,
      method: 'PATCH',
      skip: 1,
    });

    const response = await setup.workspace.api.post(`/v1/epics/${epicId}/unschedule`);
    assert.equal(response.statusCode, 409, response.body);
    assert.equal(response.json().error.code, 'LOCKED_BY_PLATFORM');
    const epic = await readEpic(setup.workspace, epicId);
    assert.equal(epic.status, 'scheduled');
    assert.deepEqual(
      epic.tasks.map((task) => task.publication?.status),
      ['handed_off', 'handed_off'],
    );
    // The one that had been cancelled is on Klaviyo again, for the same time.
    const live = queuedCampaignsOf(epicId);
    assert.equal(live.length, 2);
    for (const campaign of live) assert.equal(Date.parse(campaign.sendAt!), Date.parse(at));
    assert.equal(campaignsOf(epicId).filter((campaign) => campaign.sendJob === 'cancelled').length, 1);

    const published = await waitForStatus(setup.workspace, epicId, 'published');
    assert.deepEqual(
      published.tasks.map((task) => task.publication?.status),
      ['published', 'published'],
    );
    assert.equal(campaignsOf(epicId).filter((campaign) => campaign.status === 'Sent').length, 2);
  });
});

describe('once publishing has started', () => {
  it('a reschedule is refused with PUBLISHING_IN_PROGRESS, and the post goes out once', async () => {
    const setup = await connectedWorkspace(stack, 'Publishing');
    const { epicId } = await reviewedEpic(setup, ['instagram_post'], 'Publishing');
    const postsBefore = stack.meta.posts().length;
    const held = stack.meta.holdNext({ path: /\/media_publish$/, method: 'POST' });
    await scheduled(setup, epicId, inSeconds(2));
    await held.reached;

    const response = await setup.workspace.api.post(`/v1/epics/${epicId}/reschedule`, {
      scheduledAt: inSeconds(3600),
    });
    assert.equal(response.statusCode, 409, response.body);
    assert.equal(response.json().error.code, 'PUBLISHING_IN_PROGRESS');
    const state = await stack.client.workflow.getHandle(`epic-${epicId}`).query(stateQuery);
    assert.equal(state.publishingStarted, true);

    held.release();
    await waitForStatus(setup.workspace, epicId, 'published');
    assert.equal(stack.meta.posts().length, postsBefore + 1);
  });
});

describe('a disconnect racing an attempt already running', () => {
  it('an attempt that started before the disconnect does not publish after it', async () => {
    const setup = await connectedWorkspace(stack, 'Disconnect mid-way');
    const { epicId } = await reviewedEpic(setup, ['instagram_post'], 'Disconnected');
    const publishesBefore = stack.meta.receivedMatching(/\/media_publish$/, 'POST').length;
    // The attempt is running: its container is being created.
    const held = stack.meta.holdNext({ path: /\/\d+\/media$/, method: 'POST' });
    await scheduled(setup, epicId, inSeconds(2));
    await held.reached;

    const disconnected = await setup.workspace.api.delete(`/v1/connectors/${setup.meta.id}`);
    assert.equal(disconnected.statusCode, 200, disconnected.body);
    held.release();

    const epic = await waitForStatus(setup.workspace, epicId, 'error');
    assert.equal(
      stack.meta.receivedMatching(/\/media_publish$/, 'POST').length,
      publishesBefore,
      'never sent',
    );
    const publication = epic.tasks[0]!.publication!;
    assert.equal(publication.status, 'failed');
    assert.equal(publication.lastError?.class, 'TOKEN_EXPIRED');
    assert.match(publication.lastError?.message ?? '', /disconnected/);
  });

  it('a disconnect arriving during the final request answers only after that request was answered', async () => {
    const setup = await connectedWorkspace(stack, 'Disconnect at the call');
    const { epicId } = await reviewedEpic(setup, ['instagram_post'], 'Going live');
    const held = stack.meta.holdNext({ path: /\/media_publish$/, method: 'POST' });
    await scheduled(setup, epicId, inSeconds(2));
    await held.reached;

    let answeredAt: number | null = null;
    const disconnecting = setup.workspace.api.delete(`/v1/connectors/${setup.meta.id}`).then((response) => {
      answeredAt = Date.now();
      return response;
    });
    await sleep(1_000);
    assert.equal(answeredAt, null, 'the disconnect waits for the request already on its way');
    const releasedAt = Date.now();
    held.release();
    assert.equal((await disconnecting).statusCode, 200);
    assert.ok(answeredAt! >= releasedAt);
    // It went out before the disconnect answered: published, once.
    const epic = await waitForStatus(setup.workspace, epicId, 'published');
    assert.equal(epic.tasks[0]!.publication!.status, 'published');
  });
});

describe('the histories of these runs', () => {
  it('replay against the current workflow code', async () => {
    assert.deepEqual((await runs.replay(stack)).failures, []);
  });
});
