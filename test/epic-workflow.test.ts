// The epic workflow end to end, through HTTP: real Temporal, real PostgreSQL, the Meta and Klaviyo simulators.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { eq } from 'drizzle-orm';
import { notifications } from '../db/schema.ts';
import { rescheduleSignal, stateQuery, unscheduleSignal } from '../workflows/epic-messages.ts';
import {
  connectedWorkspace,
  epicCampaigns,
  klaviyoKey,
  readEpic,
  replayAndRecord,
  reviewedEpic,
  useStack,
  waitFor,
  waitForStatus,
} from './support/stack.ts';

// Publishing at the time, its retries and failures: nothing is prepared ahead here (Instagram's preparation
// ahead is played in instagram-preparation.test.ts), so every call to Meta is one of a publish try.
const stack = useStack({ config: { PUBLICATION_PREPARE_AHEAD_MS: '0' } });
const workflowIds: string[] = [];

const inSeconds = (seconds: number) => new Date(Date.now() + seconds * 1000);
const publishingRequests = () =>
  stack.meta.received.filter(
    (request) => request.method === 'POST' && /\/(media|media_publish|feed)$/.test(request.path),
  );

async function schedule(setup: Awaited<ReturnType<typeof connectedWorkspace>>, epicId: string, at: Date) {
  const response = await setup.workspace.api.post(`/v1/epics/${epicId}/schedule`, {
    scheduledAt: at.toISOString(),
  });
  assert.equal(response.statusCode, 200, response.body);
  workflowIds.push(`epic-${epicId}`);
  return response.json();
}

/**
 * An epic scheduled 30 s ahead whose Klaviyo campaign is already handed off: the workflow sleeps until the
 * Instagram post is due, so whatever a test sends now lands during that sleep.
 */
async function sleepingAfterKlaviyoHandOff(workspaceName: string, title: string) {
  const setup = await connectedWorkspace(stack, workspaceName);
  const { epicId } = await reviewedEpic(setup, ['instagram_post', 'klaviyo_email'], title);
  const postsBefore = stack.meta.posts().length;
  await schedule(setup, epicId, inSeconds(30));
  await waitFor(
    async () =>
      (await readEpic(setup.workspace, epicId)).tasks.find((task) => task.channel === 'klaviyo_email'),
    (task) => task?.publication?.status === 'handed_off',
  );
  return { setup, epicId, postsBefore };
}

describe('the epic workflow', () => {
  it('hands Klaviyo the campaign at once, publishes Instagram once at the time, and ends published', async () => {
    const setup = await connectedWorkspace(stack, 'Full path');
    const { epicId, taskIds } = await reviewedEpic(setup, ['instagram_post', 'klaviyo_email']);
    const scheduledAt = inSeconds(4);
    const before = publishingRequests().length;
    const scheduled = await schedule(setup, epicId, scheduledAt);
    assert.equal(scheduled.status, 'scheduled');
    assert.equal(scheduled.scheduledAt, scheduledAt.toISOString());

    const campaigns = await waitFor(
      async () => epicCampaigns(stack, epicId),
      (list) => list.some((campaign) => campaign.sendJob === 'queued'),
    );
    assert.equal(campaigns.length, 1, 'exactly one campaign');
    assert.equal(Date.parse(campaigns[0]!.sendAt!), scheduledAt.getTime(), 'sent at exactly scheduledAt');
    assert.ok(campaigns[0]!.templateHtml?.includes('shop'), 'the HTML template is assigned');
    assert.ok(Date.now() < scheduledAt.getTime(), 'the hand-off happened before the time');

    const published = await waitForStatus(setup.workspace, epicId, 'published');
    const requests = publishingRequests().slice(before);
    assert.ok(requests.length >= 2);
    for (const request of requests) {
      assert.ok(
        request.receivedAt.getTime() >= scheduledAt.getTime(),
        `${request.path} reached Meta before the time`,
      );
    }
    const posts = stack.meta
      .posts()
      .filter((post) => post.publishedAt.getTime() >= scheduledAt.getTime() - 1);
    assert.equal(posts.length, 1, 'Instagram received exactly one post');
    const instagram = published.tasks.find((task) => task.id === taskIds.instagram_post)!;
    assert.equal(instagram.publication?.status, 'published');
    assert.equal(instagram.publication?.externalId, posts[0]!.id);
    const email = published.tasks.find((task) => task.id === taskIds.klaviyo_email)!;
    assert.equal(email.publication?.status, 'published');
    assert.equal(email.publication?.externalId, campaigns[0]!.id);

    const page = await setup.workspace.api.get('/v1/connectors');
    assert.equal(page.statusCode, 200);
    assert.equal(page.json().counts.connected, 2);
    assert.doesNotMatch(page.body, /EAA[A-Za-z0-9_-]{20,}/, 'no Meta token in a response');
    assert.ok(!page.body.includes(klaviyoKey), 'no Klaviyo key in a response');
    const stored = JSON.stringify(
      await stack.harness.database.sql`select *, encode(credentials, 'escape') as readable from connectors`,
    );
    assert.ok(!stored.includes(klaviyoKey), 'the key is stored only encrypted');
  });

  it('unschedule through the API while the workflow sleeps cancels the Klaviyo send and publishes nothing', async () => {
    const { setup, epicId, postsBefore } = await sleepingAfterKlaviyoHandOff('Unschedule', 'To unschedule');
    const response = await setup.workspace.api.post(`/v1/epics/${epicId}/unschedule`);
    assert.equal(response.statusCode, 200, response.body);
    assert.equal(response.json().status, 'review');
    const outcome = await stack.client.workflow.getHandle(`epic-${epicId}`).result();
    assert.equal(outcome.status, 'review');
    assert.equal(epicCampaigns(stack, epicId)[0]?.sendJob, 'cancelled');
    assert.equal(stack.meta.posts().length, postsBefore, 'nothing was published');
    const epic = await readEpic(setup.workspace, epicId);
    assert.equal(epic.status, 'review');
    assert.equal(epic.scheduledAt, null);
  });

  it('editBackToDraft sent by the temporal CLI while the workflow sleeps cancels and goes to draft', async () => {
    const { setup, epicId, postsBefore } = await sleepingAfterKlaviyoHandOff('CLI edit', 'To edit');
    await stack.temporalCli(
      'workflow',
      'signal',
      '--workflow-id',
      `epic-${epicId}`,
      '--name',
      'editBackToDraft',
      '--input',
      '{"reason":"operator fix","requestedBy":"ops@glowtify"}',
    );
    const outcome = await stack.client.workflow.getHandle(`epic-${epicId}`).result();
    assert.equal(outcome.status, 'draft');
    assert.equal(epicCampaigns(stack, epicId)[0]?.sendJob, 'cancelled');
    assert.equal(stack.meta.posts().length, postsBefore);
    const epic = await readEpic(setup.workspace, epicId);
    assert.equal(epic.status, 'draft');
    assert.equal(epic.tasks.length, 2, 'content is kept');
  });

  it('calls a transiently failing platform exactly PUBLICATION_ATTEMPTS_LIMIT times, then retry publishes once', async () => {
    const setup = await connectedWorkspace(stack, 'Transient');
    const { epicId, taskIds } = await reviewedEpic(setup, ['facebook_post', 'instagram_post'], 'Flaky');
    const limit = stack.harness.config.PUBLICATION_ATTEMPTS_LIMIT;
    stack.meta.failWith('transient', { path: /\/media$/, method: 'POST', times: limit });
    const mediaCalls = () => stack.meta.receivedMatching(/\/media$/, 'POST').length;
    const publishCalls = () => stack.meta.receivedMatching(/\/media_publish$/, 'POST').length;
    const feedCalls = () => stack.meta.receivedMatching(/\/feed$/, 'POST').length;
    const [mediaBefore, publishBefore, feedBefore] = [mediaCalls(), publishCalls(), feedCalls()];
    await schedule(setup, epicId, inSeconds(2));

    const failed = await waitForStatus(setup.workspace, epicId, 'error');
    const instagram = failed.tasks.find((task) => task.id === taskIds.instagram_post)!.publication!;
    assert.equal(instagram.status, 'failed');
    assert.equal(instagram.attempts, limit);
    assert.equal(instagram.lastError?.class, 'TRANSIENT');
    // Each attempt failed at its first call (creating the container): the platform saw exactly `limit` tries.
    assert.equal(mediaCalls() - mediaBefore, limit, 'the platform saw exactly the limit of attempts');
    assert.equal(publishCalls() - publishBefore, 0);
    const facebook = failed.tasks.find((task) => task.id === taskIds.facebook_post)!.publication!;
    assert.equal(facebook.status, 'published');
    assert.equal(feedCalls() - feedBefore, 1);

    const retried = await setup.workspace.api.post(`/v1/epics/${epicId}/retry`);
    assert.equal(retried.statusCode, 200, retried.body);
    const published = await waitForStatus(setup.workspace, epicId, 'published');
    assert.equal(publishCalls() - publishBefore, 1, 'retry published once');
    const instagramPublication = published.tasks.find((task) => task.id === taskIds.instagram_post)!
      .publication!;
    assert.equal(stack.meta.posts().filter((post) => post.id === instagramPublication.externalId).length, 1);
    assert.equal(feedCalls() - feedBefore, 1, 'the Facebook post that had succeeded was not sent again');
    assert.equal(
      published.tasks.find((task) => task.id === taskIds.facebook_post)!.publication!.externalId,
      facebook.externalId,
    );
  });

  it('retries a rate-limited answer after the platform’s delay and succeeds', async () => {
    const setup = await connectedWorkspace(stack, 'Rate limited');
    const { epicId } = await reviewedEpic(setup, ['klaviyo_email'], 'Throttled');
    const answers: { at: number; status: number; retryAfter?: string }[] = [];
    stack.klaviyo.onResponded((request, response) => {
      if (request.method === 'POST' && request.path === '/api/campaigns') {
        answers.push({
          at: request.receivedAt.getTime(),
          status: response.status,
          retryAfter: response.headers?.['Retry-After'] ?? response.headers?.['retry-after'],
        });
      }
    });
    stack.klaviyo.failWith('rate_limited', { path: /^\/api\/campaigns$/, method: 'POST', times: 1 });
    await schedule(setup, epicId, inSeconds(60));
    await waitFor(
      async () => (await readEpic(setup.workspace, epicId)).tasks[0]?.publication?.status,
      (status) => status === 'handed_off',
    );
    assert.equal(answers.length, 2);
    assert.equal(answers[0]!.status, 429);
    const delayMs = Number(answers[0]!.retryAfter) * 1000;
    assert.ok(delayMs > 0, 'the simulator gave a Retry-After');
    assert.ok(answers[1]!.at - answers[0]!.at >= delayMs - 50, 'the retry waited for the platform’s delay');
    await setup.workspace.api.post(`/v1/epics/${epicId}/unschedule`);
  });

  it('an expired token fails after one call and flips the connector to reconnect_required', async () => {
    const setup = await connectedWorkspace(stack, 'Expired');
    const { epicId } = await reviewedEpic(setup, ['instagram_post'], 'Expired token');
    await schedule(setup, epicId, inSeconds(2));
    const mediaBefore = stack.meta.receivedMatching(/\/media$/, 'POST').length;
    stack.meta.expireTokens();
    const failed = await waitForStatus(setup.workspace, epicId, 'error');
    const publication = failed.tasks[0]!.publication!;
    assert.equal(publication.lastError?.class, 'TOKEN_EXPIRED');
    assert.equal(publication.attempts, 1);
    assert.equal(stack.meta.receivedMatching(/\/media$/, 'POST').length - mediaBefore, 1);
    const connector = (await setup.workspace.api.get(`/v1/connectors/${setup.meta.id}`)).json();
    assert.equal(connector.status, 'reconnect_required');
    assert.deepEqual(connector.actions, ['Reconnect', 'Disconnect']);
    const raised = await stack.harness.database.db
      .select()
      .from(notifications)
      .where(eq(notifications.workspaceId, setup.workspace.id));
    assert.equal(raised.filter((row) => row.kind === 'reconnect_required').length, 1);
  });

  it('content rejected stops at once', async () => {
    const setup = await connectedWorkspace(stack, 'Rejected');
    const { epicId } = await reviewedEpic(setup, ['instagram_story'], 'Rejected');
    stack.meta.failWith('content_rejected', { path: /\/media$/, method: 'POST', times: 1 });
    const mediaBefore = stack.meta.receivedMatching(/\/media$/, 'POST').length;
    await schedule(setup, epicId, inSeconds(2));
    const failed = await waitForStatus(setup.workspace, epicId, 'error');
    assert.equal(failed.tasks[0]!.publication!.lastError?.class, 'CONTENT_REJECTED');
    assert.equal(failed.tasks[0]!.publication!.attempts, 1);
    assert.equal(stack.meta.receivedMatching(/\/media$/, 'POST').length - mediaBefore, 1);
  });

  it('ignores malformed signals and keeps its schedule', async () => {
    const setup = await connectedWorkspace(stack, 'Malformed');
    const { epicId } = await reviewedEpic(setup, ['facebook_post'], 'Malformed signals');
    const scheduledAt = inSeconds(4);
    await schedule(setup, epicId, scheduledAt);
    const handle = stack.client.workflow.getHandle(`epic-${epicId}`);
    await handle.signal(rescheduleSignal, { scheduledAt: 'next tuesday' });
    await handle.signal(unscheduleSignal, 'please stop');
    const state = await waitFor(
      () => handle.query(stateQuery),
      (current) => current.ignoredSignals.length === 2,
    );
    assert.deepEqual(
      state.ignoredSignals.map((entry) => entry.signal),
      ['reschedule', 'unschedule'],
    );
    assert.equal(state.status, 'scheduled');
    assert.equal(state.scheduledAt, scheduledAt.toISOString());
    const published = await waitForStatus(setup.workspace, epicId, 'published');
    assert.ok(Date.parse(published.tasks[0]!.publication!.publishedAt!) >= scheduledAt.getTime());
  });

  it('an unschedule racing the timer either wins (nothing published) or is refused with 409', async () => {
    const setup = await connectedWorkspace(stack, 'Race');
    const { epicId } = await reviewedEpic(setup, ['facebook_post'], 'Race');
    const feedBefore = stack.meta.receivedMatching(/\/feed$/, 'POST').length;
    const scheduledAt = inSeconds(2);
    await schedule(setup, epicId, scheduledAt);
    await waitFor(
      async () => Date.now(),
      (now) => now >= scheduledAt.getTime() - 5,
      1,
    );
    const response = await setup.workspace.api.post(`/v1/epics/${epicId}/unschedule`);
    if (response.statusCode === 200) {
      await stack.client.workflow.getHandle(`epic-${epicId}`).result();
      assert.equal(
        stack.meta.receivedMatching(/\/feed$/, 'POST').length,
        feedBefore,
        'nothing published after success',
      );
    } else {
      assert.equal(response.statusCode, 409, response.body);
      assert.equal(response.json().error.code, 'PUBLISHING_IN_PROGRESS');
      await waitForStatus(setup.workspace, epicId, 'published');
      assert.equal(stack.meta.receivedMatching(/\/feed$/, 'POST').length, feedBefore + 1);
    }
  });

  it('is found in Temporal by its search attributes', async () => {
    const setup = await connectedWorkspace(stack, 'Search');
    const { epicId } = await reviewedEpic(setup, ['instagram_post', 'klaviyo_email'], 'Searchable');
    await schedule(setup, epicId, inSeconds(120));
    const listed = await waitFor(
      () => stack.temporalCli('workflow', 'list', '--query', "EpicStatus='scheduled'", '--output', 'json'),
      (output) => output.includes(`epic-${epicId}`),
    );
    assert.ok(listed.includes(`epic-${epicId}`));
    const described = JSON.parse(
      await stack.temporalCli('workflow', 'describe', '--workflow-id', `epic-${epicId}`, '--output', 'json'),
    );
    const attributes = JSON.stringify(described);
    assert.ok(attributes.includes(setup.workspace.id), 'WorkspaceId is set');
    await setup.workspace.api.post(`/v1/epics/${epicId}/unschedule`);
    await waitFor(
      () =>
        stack.temporalCli(
          'workflow',
          'list',
          '--query',
          `EpicId='${epicId}' AND EpicStatus='review'`,
          '--output',
          'json',
        ),
      (output) => output.includes(`epic-${epicId}`),
    );
  });

  it('the recorded histories replay against the current workflow code', async () => {
    // Saved as `epic-workflow-NN` with RECORD_HISTORIES=1; epic-01…10 are runs from before the patch
    // `in-flight-hand-offs` and stay as they were recorded.
    const runs = Object.fromEntries(
      workflowIds.map((workflowId, index) => [
        `epic-workflow-${String(index + 1).padStart(2, '0')}`,
        workflowId,
      ]),
    );
    const { histories, failures } = await replayAndRecord(stack, runs);
    assert.deepEqual(failures, []);
    assert.ok(histories.length >= 8);
    // No token or key in any workflow input, activity result or signal of these runs.
    const exported = JSON.stringify(histories);
    assert.doesNotMatch(exported, /EAA[A-Za-z0-9_-]{20,}/, 'no Meta token in a history');
    assert.ok(!exported.includes(klaviyoKey), 'no Klaviyo key in a history');
  });
});
