// An item published by a retry, while the epic's metrics workflow already sleeps until its next round (an
// hour away), is announced to it and enrolled and read at once: its first reading is not held back by the
// items published before it. On the real stack (dev server, worker, PostgreSQL, the Meta simulator).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { eq } from 'drizzle-orm';
import { publications } from '../db/schema.ts';
import { epicMetricsWorkflowId } from '../workflows/epic-metrics.ts';
import {
  connectedWorkspace,
  isoInSeconds,
  replayEpicHistories,
  reviewedEpic,
  useStack,
  waitFor,
  waitForStatus,
} from './support/stack.ts';

// Publish-time failures only (nothing prepared ahead), and the channels' schedules as they are: the metrics
// workflow's next round after the first is an hour away.
const stack = useStack({ config: { PUBLICATION_PREPARE_AHEAD_MS: '0' } });

describe('an item published by a retry', () => {
  it('is announced to the running metrics workflow, which enrols it at once instead of at its next round', async () => {
    const setup = await connectedWorkspace(stack, 'Announced');
    const { epicId, taskIds } = await reviewedEpic(setup, ['facebook_post', 'instagram_story'], 'Retried');
    // The story fails for good at the time; the Page post goes out.
    stack.meta.failWith('content_rejected', { path: /\/media$/, method: 'POST', times: 1 });
    const scheduled = await setup.workspace.api.post(`/v1/epics/${epicId}/schedule`, {
      scheduledAt: isoInSeconds(2),
    });
    assert.equal(scheduled.statusCode, 200, scheduled.body);
    await waitForStatus(setup.workspace, epicId, 'error');

    const metrics = stack.client.workflow.getHandle(epicMetricsWorkflowId(epicId));
    const publicationOf = async (taskId: string) =>
      (
        await stack.harness.database.db.select().from(publications).where(eq(publications.taskId, taskId))
      )[0]!;
    // The first round enrolled the Page post and sleeps until its next reading, an hour away.
    await waitFor(
      () => publicationOf(taskIds.facebook_post!),
      (publication) => publication.metricsState === 'reading',
    );
    assert.equal((await publicationOf(taskIds.instagram_story!)).metricsState, null);

    stack.meta.clearFailures();
    const retried = await setup.workspace.api.post(`/v1/epics/${epicId}/retry`);
    assert.equal(retried.statusCode, 200, retried.body);
    await waitForStatus(setup.workspace, epicId, 'published');
    // Enrolled when its publication was recorded (or by a round the announcement started), not by the round an
    // hour away.
    const story = await waitFor(
      () => publicationOf(taskIds.instagram_story!),
      (publication) => publication.metricsState === 'reading',
    );
    assert.ok(story.metricsDueAt, 'its first reading is scheduled');

    // The round the announcement starts is in the history a moment after the publish that enrolled the story.
    const afterSignal = (events: NonNullable<Awaited<ReturnType<typeof metrics.fetchHistory>>['events']>) => {
      const signalled = events.findIndex(
        (event) => event.workflowExecutionSignaledEventAttributes?.signalName === 'itemsPublished',
      );
      return (
        signalled > 0 &&
        events.some((event, index) => index > signalled && event.activityTaskScheduledEventAttributes)
      );
    };
    const events = await waitFor(async () => (await metrics.fetchHistory()).events ?? [], afterSignal);
    const signalled = events.findIndex(
      (event) => event.workflowExecutionSignaledEventAttributes?.signalName === 'itemsPublished',
    );
    assert.ok(signalled > 0, 'the metrics workflow was told');
    const nextRound = events.findIndex(
      (event, index) =>
        index > signalled &&
        event.activityTaskScheduledEventAttributes !== null &&
        event.activityTaskScheduledEventAttributes !== undefined,
    );
    const timerFired = events.findIndex(
      (event, index) =>
        index > signalled &&
        event.timerFiredEventAttributes !== null &&
        event.timerFiredEventAttributes !== undefined,
    );
    assert.ok(nextRound > signalled, 'a round ran after the announcement');
    assert.equal(timerFired, -1, 'without waiting for the hour');
    assert.equal((await metrics.describe()).status.name, 'RUNNING');

    const { failures } = await replayEpicHistories(stack, [`epic-${epicId}`, epicMetricsWorkflowId(epicId)]);
    assert.deepEqual(failures, []);
  });
});
