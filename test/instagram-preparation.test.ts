// Instagram prepared ahead on the real stack (dev server, worker, API, PostgreSQL, the Meta simulator): the
// media container is made when the epic is scheduled within PUBLICATION_PREPARE_AHEAD_MS, only media_publish
// waits for the time, and an unschedule after the preparation publishes nothing while a later schedule of the
// same content reuses the container instead of making another.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  type ConnectedWorkspace,
  connectedWorkspace,
  readEpic,
  replayEpicHistories,
  reviewedEpic,
  useStack,
  waitFor,
  waitForStatus,
} from './support/stack.ts';

const stack = useStack();
const workflowIds: string[] = [];

const inSeconds = (seconds: number) => new Date(Date.now() + seconds * 1000);
const creates = () => stack.meta.receivedMatching(/\/media$/, 'POST');
const goingLive = () => stack.meta.receivedMatching(/\/media_publish$/, 'POST');
const bodyOf = (request: { body: unknown }) => request.body as Record<string, string>;

async function schedule(setup: ConnectedWorkspace, epicId: string, at: Date) {
  const response = await setup.workspace.api.post(`/v1/epics/${epicId}/schedule`, {
    scheduledAt: at.toISOString(),
  });
  assert.equal(response.statusCode, 200, response.body);
  workflowIds.push(`epic-${epicId}`);
}

describe('Instagram prepared ahead of the time', () => {
  it('makes the containers when scheduled, and only media_publish at the time, once each', async () => {
    const setup = await connectedWorkspace(stack, 'Prepared');
    const { epicId, taskIds } = await reviewedEpic(setup, ['instagram_post', 'instagram_story'], 'Ahead');
    const [createsBefore, liveBefore, postsBefore] = [
      creates().length,
      goingLive().length,
      stack.meta.posts().length,
    ];
    const scheduledAt = inSeconds(6);
    await schedule(setup, epicId, scheduledAt);

    // The carousel's two children and itself, and the story: made before the time, each once.
    const made = await waitFor(
      async () => creates().slice(createsBefore),
      (list) => list.length >= 4,
    );
    assert.ok(Date.now() < scheduledAt.getTime(), 'prepared before the time');
    assert.deepEqual(made.map((request) => bodyOf(request).media_type ?? 'child').sort(), [
      'CAROUSEL',
      'STORIES',
      'child',
      'child',
    ]);
    assert.equal(goingLive().length, liveBefore, 'nothing went live before the time');

    const published = await waitForStatus(setup.workspace, epicId, 'published');
    assert.equal(creates().length - createsBefore, 4, 'publishing made no container again');
    const live = goingLive().slice(liveBefore);
    assert.equal(live.length, 2);
    for (const request of live) assert.ok(request.receivedAt.getTime() >= scheduledAt.getTime());
    assert.equal(stack.meta.posts().length - postsBefore, 2, 'one post and one story');
    for (const taskId of [taskIds.instagram_post, taskIds.instagram_story]) {
      const publication = published.tasks.find((task) => task.id === taskId)!.publication!;
      assert.equal(publication.status, 'published');
      assert.equal(publication.attempts, 1);
    }
  });

  it('an unschedule after the preparation publishes nothing; the next schedule reuses the container', async () => {
    const setup = await connectedWorkspace(stack, 'Unscheduled');
    const { epicId } = await reviewedEpic(setup, ['instagram_story'], 'Moved');
    const [createsBefore, liveBefore, postsBefore] = [
      creates().length,
      goingLive().length,
      stack.meta.posts().length,
    ];
    await schedule(setup, epicId, inSeconds(60));
    await waitFor(
      async () => creates().length - createsBefore,
      (count) => count >= 1,
    );
    const unscheduled = await setup.workspace.api.post(`/v1/epics/${epicId}/unschedule`);
    assert.equal(unscheduled.statusCode, 200, unscheduled.body);
    assert.equal((await readEpic(setup.workspace, epicId)).status, 'review');
    assert.equal(goingLive().length, liveBefore);

    const scheduledAt = inSeconds(4);
    await schedule(setup, epicId, scheduledAt);
    await waitForStatus(setup.workspace, epicId, 'published');
    assert.equal(creates().length - createsBefore, 1, 'the container made for the first time was reused');
    const live = goingLive().slice(liveBefore);
    assert.equal(live.length, 1);
    assert.ok(live[0]!.receivedAt.getTime() >= scheduledAt.getTime());
    assert.equal(stack.meta.posts().length - postsBefore, 1);
  });

  it('the runs above replay on today’s workflow code', async () => {
    const { histories, failures } = await replayEpicHistories(stack, workflowIds);
    assert.equal(histories.length, 3);
    assert.deepEqual(failures, []);
  });
});
