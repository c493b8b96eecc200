// What survives transitions and what stays bounded, on the real stack: the duplicate guard across an edit
// and a new run, a run whose schedule was never committed, a start whose answer was lost, cancels and
// updates that cannot hang, rate-limit waits within the lateness budget, a hand-off retried after its time,
// and an epic's history that stays small.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ApiError } from '../api/errors.ts';
import { maxTasksPerEpic } from '../domain/epic-state-machine.ts';
import { contentExamples } from './support/examples.ts';
import {
  type ConnectedWorkspace,
  connectedWorkspace,
  readEpic,
  replayAndRecord,
  reviewedEpic,
  type Stack,
  startStack,
  waitFor,
  waitForStatus,
} from './support/stack.ts';

/** What the API's link to Temporal does wrong next (null: nothing). */
let startFault: 'commit-fails' | 'answer-lost' | null = null;

let stack: Stack;
before(async () => {
  stack = await startStack({
    config: { PUBLICATION_MAX_LATENESS_MS: '60000', TRANSITION_TIMEOUT_MS: '5000' },
    wrapEpicWorkflows: (real) => ({
      ...real,
      async start(input, facts) {
        await real.start(input, facts);
        const fault = startFault;
        startFault = null;
        // The run started; then the database lost the transaction, or the answer never reached the API.
        if (fault === 'commit-fails') throw new Error('connection terminated while committing');
        if (fault === 'answer-lost') throw new ApiError(503, 'TEMPORAL_UNAVAILABLE', 'deadline exceeded');
      },
    }),
  });
});
after(async () => stack?.close());

const inSeconds = (seconds: number) => new Date(Date.now() + seconds * 1000).toISOString();
const campaignsOf = (epicId: string) =>
  stack.klaviyo.campaigns().filter((campaign) => campaign.name.includes(epicId.slice(0, 8)));

/** The runs of this file, replayed at the end (and saved as fixtures with RECORD_HISTORIES=1). */
const workflowIds = new Set<string>();

async function schedule(setup: ConnectedWorkspace, epicId: string, at: string) {
  workflowIds.add(`epic-${epicId}`);
  return setup.workspace.api.post(`/v1/epics/${epicId}/schedule`, { scheduledAt: at });
}

async function historyOf(epicId: string) {
  return stack.client.workflow.getHandle(`epic-${epicId}`).fetchHistory();
}

const scheduledActivities = (history: Awaited<ReturnType<typeof historyOf>>) =>
  (history.events ?? []).flatMap((event) =>
    event.activityTaskScheduledEventAttributes ? [event.activityTaskScheduledEventAttributes] : [],
  );

describe('the duplicate guard across transitions', () => {
  it('a post whose answers were lost, then an edit and a new schedule, is published once', async () => {
    const setup = await connectedWorkspace(stack, 'Guard');
    const { epicId } = await reviewedEpic(setup, ['instagram_post', 'facebook_post'], 'Guarded');
    const postsBefore = stack.meta.posts().length;
    // Meta publishes both, but neither answer arrives; the retries cannot ask Meta what happened.
    stack.meta.dropAnswerNext({ path: /\/media_publish$/, method: 'POST' });
    stack.meta.dropAnswerNext({ path: /\/feed$/, method: 'POST' });
    stack.meta.failWith('transient', { path: /\/179\d{8}$/, method: 'GET', times: 2 });
    stack.meta.failWith('transient', { path: /\/posts$/, method: 'GET', times: 2 });
    assert.equal((await schedule(setup, epicId, inSeconds(2))).statusCode, 200);
    const failed = await waitForStatus(setup.workspace, epicId, 'error');
    assert.deepEqual(
      failed.tasks.map((task) => task.publication?.status),
      ['failed', 'failed'],
    );
    assert.equal(stack.meta.posts().length, postsBefore + 2, 'both went out, unbeknownst to us');

    const edited = await setup.workspace.api.post(`/v1/epics/${epicId}/edit`, { confirm: true });
    assert.equal(edited.statusCode, 200, edited.body);
    assert.equal((await setup.workspace.api.post(`/v1/epics/${epicId}/review`)).statusCode, 200);
    assert.equal((await schedule(setup, epicId, inSeconds(2))).statusCode, 200);
    const published = await waitForStatus(setup.workspace, epicId, 'published');
    // The new run asked Meta first (the container is PUBLISHED, the Page holds the post): nothing twice.
    assert.equal(stack.meta.posts().length, postsBefore + 2);
    for (const task of published.tasks) {
      assert.equal(task.publication?.status, 'published');
      assert.ok(task.publication?.externalId);
    }
  });
});

describe('starting a run and committing the schedule', () => {
  it('a run started while its schedule failed to commit acts on nothing', async () => {
    const setup = await connectedWorkspace(stack, 'Rolled back');
    const { epicId } = await reviewedEpic(setup, ['instagram_post', 'klaviyo_email'], 'Rolled back');
    const postsBefore = stack.meta.posts().length;
    startFault = 'commit-fails';
    const response = await schedule(setup, epicId, inSeconds(2));
    assert.equal(response.statusCode, 503, response.body);
    assert.equal(response.json().error.code, 'SCHEDULE_NOT_SAVED');
    assert.equal((await readEpic(setup.workspace, epicId)).status, 'review');
    // The run did start, saw the epic in review under no schedule of its own, and ended.
    const outcome = await stack.client.workflow.getHandle(`epic-${epicId}`).result();
    assert.deepEqual(outcome, { status: 'review', superseded: true });
    await new Promise((resolve) => setTimeout(resolve, 2_500));
    assert.equal(stack.meta.posts().length, postsBefore, 'nothing published');
    assert.deepEqual(campaignsOf(epicId), [], 'nothing handed off');
    assert.equal((await readEpic(setup.workspace, epicId)).status, 'review');

    // Scheduling again works, and publishes once.
    assert.equal((await schedule(setup, epicId, inSeconds(2))).statusCode, 200);
    await waitForStatus(setup.workspace, epicId, 'published');
    assert.equal(stack.meta.posts().length, postsBefore + 1);
  });

  it('a start whose answer was lost answers with what holds: scheduled, and publishes once', async () => {
    const setup = await connectedWorkspace(stack, 'Lost start');
    const { epicId } = await reviewedEpic(setup, ['instagram_post'], 'Lost start');
    const postsBefore = stack.meta.posts().length;
    startFault = 'answer-lost';
    const response = await schedule(setup, epicId, inSeconds(2));
    assert.equal(response.statusCode, 200, response.body);
    assert.equal(response.json().status, 'scheduled');
    await waitForStatus(setup.workspace, epicId, 'published');
    assert.equal(stack.meta.posts().length, postsBefore + 1);
  });

  it('scheduling again right after an unschedule waits for the ending run instead of refusing', async () => {
    const setup = await connectedWorkspace(stack, 'Again at once');
    const { epicId } = await reviewedEpic(setup, ['facebook_post'], 'Again at once');
    assert.equal((await schedule(setup, epicId, inSeconds(3600))).statusCode, 200);
    assert.equal((await setup.workspace.api.post(`/v1/epics/${epicId}/unschedule`)).statusCode, 200);
    const again = await schedule(setup, epicId, inSeconds(3600));
    assert.equal(again.statusCode, 200, again.body);
    assert.equal((await setup.workspace.api.post(`/v1/epics/${epicId}/unschedule`)).statusCode, 200);
  });
});

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
      assert.equal(response.json().error.code, 'TRANSITION_PENDING');
      // TRANSITION_TIMEOUT_MS (5 s) plus the API's 10 s margin.
      assert.ok(tookMs >= 14_000 && tookMs < 25_000, `answered after ${tookMs} ms`);
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
    const runs = Object.fromEntries(
      [...workflowIds].map((workflowId, index) => [
        `epic-bounds-${String(index + 1).padStart(2, '0')}`,
        workflowId,
      ]),
    );
    assert.deepEqual((await replayAndRecord(stack, runs)).failures, []);
  });
});
