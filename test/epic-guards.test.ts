// What survives transitions, on the real stack: the duplicate guard across an edit and a new run (lost
// answers, content edited after a container was prepared), a run whose schedule was never committed, a
// start whose answer was lost, and transitions around an epic's error.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ApiError } from '../api/errors.ts';
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

/** What the API's link to Temporal does wrong next (null: nothing). */
let startFault: 'commit-fails' | 'answer-lost' | null = null;

// The guards of publishing at the time: nothing is prepared ahead here (see instagram-preparation.test.ts),
// so the failures injected are met by publish tries, not spent by a preparation.
const stack = useStack({
  config: { PUBLICATION_MAX_LATENESS_MS: '60000', PUBLICATION_PREPARE_AHEAD_MS: '0' },
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

const inSeconds = isoInSeconds;
const campaignsOf = (epicId: string) => epicCampaigns(stack, epicId);

const runs = recordedRuns('epic-guards');
const schedule = runs.schedule;

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
  it('a container prepared for content edited since is not published: the new content goes out, once', async () => {
    const setup = await connectedWorkspace(stack, 'Edited');
    const { epicId, taskIds } = await reviewedEpic(setup, ['instagram_post'], 'Edited');
    const postsBefore = stack.meta.posts().length;
    // The container is made and ready, then Meta asks for 5 minutes: past the budget, the epic errs.
    stack.meta.failWith('rate_limited', { path: /\/media_publish$/, method: 'POST' });
    assert.equal((await schedule(setup, epicId, inSeconds(2))).statusCode, 200);
    await waitForStatus(setup.workspace, epicId, 'error');

    assert.equal(
      (await setup.workspace.api.post(`/v1/epics/${epicId}/edit`, { confirm: true })).statusCode,
      200,
    );
    const taskId = taskIds.instagram_post!;
    const edited = await setup.workspace.api.patch(`/v1/epics/${epicId}/tasks/${taskId}`, {
      content: { ...contentExamples.instagram_post, caption: 'Edited caption' },
    });
    assert.equal(edited.statusCode, 200, edited.body);
    await setup.workspace.api.post(`/v1/epics/${epicId}/tasks/${taskId}/approve`);
    assert.equal((await setup.workspace.api.post(`/v1/epics/${epicId}/review`)).statusCode, 200);
    assert.equal((await schedule(setup, epicId, inSeconds(2))).statusCode, 200);
    await waitForStatus(setup.workspace, epicId, 'published');
    const posts = stack.meta.posts().slice(postsBefore);
    assert.deepEqual(
      posts.map((post) => post.text),
      ['Edited caption'],
    );
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

describe('transitions around an error', () => {
  it('an unschedule while the error is being recorded applies after it: the database ends in review', async () => {
    const setup = await connectedWorkspace(stack, 'Error window');
    const { epicId } = await reviewedEpic(setup, ['instagram_post'], 'Error window');
    // The first write of this epic's `error` fails (the database hiccups); its retry comes a second later.
    const sql = stack.harness.database.sql;
    await sql.unsafe(`
      create sequence error_write_${epicId.slice(0, 8)};
      create function fail_error_write_once() returns trigger language plpgsql as $$
      begin
        if new.id = '${epicId}' and new.status = 'error' and nextval('error_write_${epicId.slice(0, 8)}') = 1 then
          raise exception 'the database hiccuped';
        end if;
        return new;
      end $$;
      create trigger fail_error_write_once before update on epics
        for each row execute function fail_error_write_once();`);
    try {
      stack.meta.failWith('content_rejected', { path: /\/\d+\/media$/, method: 'POST' });
      assert.equal((await schedule(setup, epicId, inSeconds(2))).statusCode, 200);
      await waitFor(
        async () =>
          (await sql`select last_value, is_called from ${sql(`error_write_${epicId.slice(0, 8)}`)}`)[0],
        (row) => row?.is_called === true,
        20,
      );
      // The workflow knows it is in error; the database does not yet: an unschedule now...
      const response = await setup.workspace.api.post(`/v1/epics/${epicId}/unschedule`);
      assert.equal(response.statusCode, 200, response.body);
      await stack.client.workflow.getHandle(`epic-${epicId}`).result();
      // ...is written after `error`, never before it: the database says what the answer said.
      assert.equal((await readEpic(setup.workspace, epicId)).status, 'review');
    } finally {
      await sql.unsafe('drop trigger fail_error_write_once on epics; drop function fail_error_write_once();');
    }
  });

  it('a hand-off that failed on a refused key does not block the unschedule', async () => {
    const setup = await connectedWorkspace(stack, 'Dead key');
    const { epicId } = await reviewedEpic(setup, ['klaviyo_email'], 'Dead key');
    stack.klaviyo.failWith('invalid_key', { path: /^\/api\/campaigns\/?$/, method: 'POST' });
    assert.equal((await schedule(setup, epicId, inSeconds(3600))).statusCode, 200);
    await waitFor(
      () => readEpic(setup.workspace, epicId),
      (epic) => epic.tasks[0]?.publication?.status === 'failed',
    );
    const response = await setup.workspace.api.post(`/v1/epics/${epicId}/unschedule`);
    assert.equal(response.statusCode, 200, response.body);
    assert.equal(response.json().status, 'review');
  });
});

describe('the histories of these runs', () => {
  it('replay against the current workflow code', async () => {
    assert.deepEqual((await runs.replay(stack)).failures, []);
  });
});
