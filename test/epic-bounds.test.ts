// What stays bounded, on the real stack: cancels and updates that cannot hang (a platform that does not
// answer the cancel, one that applied it and lost the answer, no worker at all), rate-limit waits within the
// lateness budget, a hand-off retried after its time, and an epic's history that stays small.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { maxTasksPerEpic } from '../domain/epic-state-machine.ts';
import { contentExamples } from './support/examples.ts';
import {
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

const stack = useStack({
  config: { PUBLICATION_MAX_LATENESS_MS: '60000', TRANSITION_TIMEOUT_MS: '5000' },
});

const inSeconds = isoInSeconds;
const campaignsOf = (epicId: string) => epicCampaigns(stack, epicId);

const runs = recordedRuns('epic-bounds');
const schedule = runs.schedule;

async function historyOf(epicId: string) {
  return stack.client.workflow.getHandle(`epic-${epicId}`).fetchHistory();
}

const scheduledActivities = (history: Awaited<ReturnType<typeof historyOf>>) =>
  (history.events ?? []).flatMap((event) =>
    event.activityTaskScheduledEventAttributes ? [event.activityTaskScheduledEventAttributes] : [],
  );

describe('every wait is bounded', () => {
  it('a platform that cannot cancel makes the unschedule answer 503 in time; nothing changed', async () => {
    const setup = await connectedWorkspace(stack, 'Cancel down');
    const { epicId } = await reviewedEpic(setup, ['klaviyo_email'], 'Cancel down');
    assert.equal((await schedule(setup, epicId, inSeconds(3600))).statusCode, 200);
    await waitFor(
      () => readEpic(setup.workspace, epicId),
      (epic) => epic.tasks[0]?.publication?.status === 'handed_off',
    );
    stack.klaviyo.failWith('transient', {
      path: /^\/api\/campaign-send-jobs\/[^/]+$/,
      method: 'PATCH',
      times: 20,
    });
    const startedAt = Date.now();
    const response = await setup.workspace.api.post(`/v1/epics/${epicId}/unschedule`);
    const tookMs = Date.now() - startedAt;
    stack.klaviyo.clearFailures();
    assert.equal(response.statusCode, 503, response.body);
    assert.equal(response.json().error.code, 'PLATFORM_UNAVAILABLE');
    assert.ok(tookMs < 15_000, `answered after ${tookMs} ms`);
    const epic = await readEpic(setup.workspace, epicId);
    assert.equal(epic.status, 'scheduled');
    assert.equal(epic.tasks[0]?.publication?.status, 'handed_off');
    assert.deepEqual(
      campaignsOf(epicId).map((campaign) => campaign.sendJob),
      ['queued'],
    );
    // The cancel's attempts are limited and its total time bounded.
    const cancels = scheduledActivities(await historyOf(epicId)).filter(
      (activity) => activity.activityType?.name === 'cancelHandOff',
    );
    assert.ok(cancels.length > 0);
    for (const cancel of cancels) {
      assert.equal(cancel.retryPolicy?.maximumAttempts, 5);
      assert.ok(Number(cancel.scheduleToCloseTimeout?.seconds ?? 0) > 0);
    }

    // With Klaviyo back, the same request is applied.
    const again = await setup.workspace.api.post(`/v1/epics/${epicId}/unschedule`);
    assert.equal(again.statusCode, 200, again.body);
    assert.deepEqual(
      campaignsOf(epicId).map((campaign) => campaign.sendJob),
      ['cancelled'],
    );
  });

  it('a transition no worker can take answers 503 TRANSITION_PENDING within its bound', async () => {
    const setup = await connectedWorkspace(stack, 'No worker');
    const { epicId } = await reviewedEpic(setup, ['facebook_post'], 'No worker');
    assert.equal((await schedule(setup, epicId, inSeconds(3600))).statusCode, 200);
    await waitFor(
      () => readEpic(setup.workspace, epicId),
      (epic) => epic.tasks[0]?.publication !== null,
    );
    await stack.stopWorker();
    try {
      const startedAt = Date.now();
      const response = await setup.workspace.api.post(`/v1/epics/${epicId}/unschedule`);
      const tookMs = Date.now() - startedAt;
      assert.equal(response.statusCode, 503, response.body);
      assert.equal(response.json().error.code, 'TRANSITION_PENDING', response.body);
      // The heartbeat time-out (3 s) + twice TRANSITION_TIMEOUT_MS (5 s) + 10 s: epicTransitionWaitMs.
      assert.ok(tookMs >= 22_000 && tookMs < 35_000, `answered after ${tookMs} ms`);
    } finally {
      await stack.startWorker();
    }
    // Once a worker is back, the workflow and the database agree, whichever way it went.
    const handle = stack.client.workflow.getHandle(`epic-${epicId}`);
    await waitFor(
      async () => ({ epic: await readEpic(setup.workspace, epicId), described: await handle.describe() }),
      ({ epic, described }) =>
        (epic.status === 'review' && described.status.name === 'COMPLETED') ||
        (epic.status === 'scheduled' && described.status.name === 'RUNNING'),
    );
  });

  it('a cancel Klaviyo applied but whose answer was lost is checked and the hand-off put back: the email sends', async () => {
    const setup = await connectedWorkspace(stack, 'Lost cancel');
    const { epicId } = await reviewedEpic(setup, ['klaviyo_email'], 'Lost cancel');
    const at = inSeconds(15);
    assert.equal((await schedule(setup, epicId, at)).statusCode, 200);
    await waitFor(
      () => readEpic(setup.workspace, epicId),
      (epic) => epic.tasks[0]?.publication?.status === 'handed_off',
    );
    const sendJob = /^\/api\/campaign-send-jobs\/[^/]+$/;
    stack.klaviyo.dropAnswerNext({ path: sendJob, method: 'PATCH' });
    stack.klaviyo.failWith('transient', { path: sendJob, method: 'PATCH', times: 20 });
    const response = await setup.workspace.api.post(`/v1/epics/${epicId}/unschedule`);
    stack.klaviyo.clearFailures();
    assert.equal(response.statusCode, 503, response.body);
    assert.equal(response.json().error.code, 'PLATFORM_UNAVAILABLE');
    // Klaviyo did cancel it: the undo saw that and handed the email off again, for the same time.
    await waitFor(
      async () => campaignsOf(epicId).filter((campaign) => campaign.sendJob === 'queued'),
      (queued) => queued.length === 1 && Date.parse(queued[0]!.sendAt!) === Date.parse(at),
    );
    assert.equal((await readEpic(setup.workspace, epicId)).status, 'scheduled');
    await waitForStatus(setup.workspace, epicId, 'published');
    assert.equal(campaignsOf(epicId).filter((campaign) => campaign.status === 'Sent').length, 1);
  });

  it("a platform's Retry-After never delays an attempt past the retry policy's longest interval", async () => {
    const setup = await connectedWorkspace(stack, 'Capped wait');
    const { epicId } = await reviewedEpic(setup, ['klaviyo_email'], 'Capped wait');
    stack.klaviyo.failWith('rate_limited', {
      path: /^\/api\/campaigns\/?$/,
      method: 'POST',
      retryAfterSeconds: 3600,
    });
    const createsBefore = stack.klaviyo.receivedMatching(/^\/api\/campaigns\/?$/, 'POST').length;
    assert.equal((await schedule(setup, epicId, inSeconds(7200))).statusCode, 200);
    await waitFor(
      () => readEpic(setup.workspace, epicId),
      (epic) => epic.tasks[0]?.publication?.status === 'handed_off',
    );
    const [refused, accepted] = stack.klaviyo
      .receivedMatching(/^\/api\/campaigns\/?$/, 'POST')
      .slice(createsBefore);
    // PUBLICATION_RETRY_MAX_INTERVAL_MS is 400 ms here: Klaviyo's hour became that.
    assert.ok(accepted!.receivedAt.getTime() - refused!.receivedAt.getTime() < 5_000);
    await setup.workspace.api.post(`/v1/epics/${epicId}/unschedule`);
  });

  it('a rate-limit wait past the lateness budget fails the publication RATE_LIMITED instead of going out late', async () => {
    const setup = await connectedWorkspace(stack, 'Too late');
    const { epicId } = await reviewedEpic(setup, ['instagram_post'], 'Too late');
    const postsBefore = stack.meta.posts().length;
    // Meta says: come back in 5 minutes; the budget here is 1 minute.
    stack.meta.failWith('rate_limited', { path: /\/media_publish$/, method: 'POST' });
    assert.equal((await schedule(setup, epicId, inSeconds(2))).statusCode, 200);
    const epic = await waitForStatus(setup.workspace, epicId, 'error');
    const publication = epic.tasks[0]!.publication!;
    assert.equal(publication.lastError?.class, 'RATE_LIMITED');
    assert.match(publication.lastError?.message ?? '', /1 min late/);
    assert.equal(publication.attempts, 1, 'not retried into lateness');
    assert.equal(stack.meta.posts().length, postsBefore);
  });
});

describe('a hand-off retried after its time', () => {
  it('hands off for as soon as Klaviyo allows (never a past time) and records how late', async () => {
    const setup = await connectedWorkspace(stack, 'Late hand-off');
    const { epicId } = await reviewedEpic(setup, ['klaviyo_email'], 'Late hand-off');
    const createsBefore = stack.klaviyo.receivedMatching(/^\/api\/campaigns\/?$/, 'POST').length;
    // Klaviyo is down while the epic is scheduled: every attempt of the hand-off fails.
    stack.klaviyo.failWith('transient', { path: /^\/api\/campaigns\/?$/, method: 'POST', times: 3 });
    const at = inSeconds(3);
    assert.equal((await schedule(setup, epicId, at)).statusCode, 200);
    const published = await waitForStatus(setup.workspace, epicId, 'published');

    const creates = stack.klaviyo.receivedMatching(/^\/api\/campaigns\/?$/, 'POST').slice(createsBefore);
    for (const create of creates) {
      const strategy = (
        create.body as { data: { attributes: { send_strategy: { method: string; datetime?: string } } } }
      ).data.attributes.send_strategy;
      if (strategy.method === 'static') {
        assert.ok(Date.parse(strategy.datetime!) > create.receivedAt.getTime(), 'never a time in the past');
      }
    }
    const [campaign] = campaignsOf(epicId);
    assert.equal(campaign?.status, 'Sent');
    assert.equal(campaign?.sendAt, null, 'sent with the immediate strategy');
    assert.equal(published.tasks[0]!.publication?.status, 'published');
    const [row] = await stack.harness.database.sql<{ lateByMs: string | null; lagMs: number | null }[]>`
      select a.details->>'lateByMs' as "lateByMs", p.lag_ms as "lagMs"
      from audit_events a join publications p on p.task_id::text = a.details->>'taskId'
      where a.subject_type = 'publication' and a.action = 'hand_off' and p.task_id = ${published.tasks[0]!.id}`;
    assert.ok(Number(row?.lateByMs) > 0, `the hand-off was late: ${JSON.stringify(row)}`);
    assert.notEqual(row?.lagMs ?? null, null, 'the publication records how late it went out');
  });
});

describe("an epic's history stays small", () => {
  it('asks the platforms about every hand-off in one activity per poll', async () => {
    const setup = await connectedWorkspace(stack, 'Batched');
    const { epicId } = await reviewedEpic(
      setup,
      ['klaviyo_email', 'klaviyo_email', 'klaviyo_email'],
      'Batched',
    );
    assert.equal((await schedule(setup, epicId, inSeconds(3))).statusCode, 200);
    await waitForStatus(setup.workspace, epicId, 'published');
    const activities = scheduledActivities(await historyOf(epicId));
    const polls = activities.filter((activity) => activity.activityType?.name === 'checkHandOffs');
    assert.ok(polls.length >= 1);
    assert.equal(activities.filter((activity) => activity.activityType?.name === 'checkHandOff').length, 0);
    for (const poll of polls) assert.equal(poll.retryPolicy?.maximumAttempts, 3);
  });

  it(`refuses a task beyond ${maxTasksPerEpic} with a 400`, async () => {
    const setup = await connectedWorkspace(stack, 'Full epic');
    const epic = (await setup.workspace.api.post('/v1/epics', { title: 'Full' })).json() as { id: string };
    const task = {
      channel: 'klaviyo_email',
      connectorId: setup.klaviyo.id,
      content: contentExamples.klaviyo_email,
    };
    for (let index = 0; index < maxTasksPerEpic; index += 1) {
      const created = await setup.workspace.api.post(`/v1/epics/${epic.id}/tasks`, task);
      assert.equal(created.statusCode, 201, created.body);
    }
    const refused = await setup.workspace.api.post(`/v1/epics/${epic.id}/tasks`, task);
    assert.equal(refused.statusCode, 400, refused.body);
    assert.match(refused.json().error.message, new RegExp(`at most ${maxTasksPerEpic} tasks`));
  });
});

describe('the histories of these runs', () => {
  it('replay against the current workflow code', async () => {
    assert.deepEqual((await runs.replay(stack)).failures, []);
  });
});
